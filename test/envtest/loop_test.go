//go:build linux

package envtest

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/hermes-reconcile/hermes-reconcile/backends/kube"
	"github.com/hermes-reconcile/hermes-reconcile/desired"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile/loop"
	"github.com/hermes-reconcile/hermes-reconcile/test/testkit"
)

// creates counts the Deployment creates a client tried, by name.
type creates struct {
	client.Client
	mu sync.Mutex
	n  map[string]int
}

func (c *creates) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	c.mu.Lock()
	c.n[obj.GetName()]++
	c.mu.Unlock()
	return c.Client.Create(ctx, obj, opts...)
}

// Apply counts a server-side apply of a Deployment not there yet: the
// engine creates by applying.
func (c *creates) Apply(ctx context.Context, obj runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
	if named, ok := obj.(interface{ GetName() string }); ok {
		var d appsv1.Deployment
		if err := c.Client.Get(ctx, client.ObjectKey{Namespace: obj.(interface{ GetNamespace() string }).GetNamespace(), Name: named.GetName()}, &d); apierrors.IsNotFound(err) {
			c.mu.Lock()
			c.n[named.GetName()]++
			c.mu.Unlock()
		}
	}
	return c.Client.Apply(ctx, obj, opts...)
}

func (c *creates) of(name string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[name]
}

// The Kubernetes engine in watch mode runs the loop every engine runs: the
// same rules for the topology, terminal failures and settle windows.
var _ = Describe("the one loop on Kubernetes", func() {
	// start runs a controller of its own (no resync: only the loop's
	// sources and timers can act) with the engine's client wrapped.
	start := func(h, ns string, s kube.Settings, wrap func(client.Client) client.Client, settleFor time.Duration) {
		mgr, err := kube.NewManager(cfg, kube.ManagerOptions{Namespace: ns, MetricsAddr: "0", HealthAddr: "0", SkipNameValidation: true})
		Expect(err).NotTo(HaveOccurred())
		eng := kube.New(wrap(mgr.GetClient()), ns, s)
		reader := desired.NewReader(h, desired.Options{HermesVersion: "0.21.3"})
		pass := &reconcile.Pass{Reader: reader, Engine: eng, Policy: reconcile.Policy{Settle: settleFor}}
		opt := loop.Options{Resync: time.Hour, Quiet: 50 * time.Millisecond,
			Sources: []loop.Source{loop.Profiles{W: desired.NewWatcher(reader.Layout(), desired.WatchOptions{}, GinkgoLogr)}, eng.Source(mgr.GetCache())}}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- kube.Serve(ctx, mgr, func(ctx context.Context) error { return loop.Run(ctx, pass, opt) })
		}()
		DeferCleanup(func() {
			cancel()
			Eventually(done, time.Minute).Should(Receive(BeNil()))
		})
	}
	same := func(c client.Client) client.Client { return c }

	It("in multiplex topology, scales the root gateway when a named intent flips, through the watch", func() {
		ns, h := newNamespace(), home()
		testkit.WriteFile(filepath.Join(h, "config.yaml"), "multiplex_profiles: true\n")
		testkit.WriteFile(filepath.Join(h, "gateway_state.json"), `{"desired_state":"stopped"}`)
		testkit.WriteFile(filepath.Join(h, "profiles", "run", "gateway_state.json"), `{"desired_state":"stopped"}`)
		start(h, ns, settings, same, 0)
		Eventually(func() map[string]appsv1.Deployment { return deployments(ns) }, 30*time.Second).Should(HaveLen(4))
		Expect(replicasOf(deployments(ns)["hermes-gateway-default"])).To(BeZero())

		testkit.WriteFile(filepath.Join(h, "profiles", "stop", "gateway_state.json"), `{"desired_state":"running"}`)
		Eventually(func() int32 { return replicasOf(deployments(ns)["hermes-gateway-default"]) }, 10*time.Second).Should(Equal(int32(1)),
			"the root gateway serves stop now, without waiting for a resync")
		Expect(replicasOf(deployments(ns)["hermes-gateway-stop"])).To(BeZero(), "a named gateway stays down in multiplex")
	})

	It("does not retry a step the API server refuses until its profile's inputs change", func() {
		ns, h := newNamespace(), home()
		bad := settings
		bad.Env = map[string]string{"BAD=NAME": "x"} // refused: 422 Invalid
		var counted *creates
		start(h, ns, bad, func(c client.Client) client.Client {
			counted = &creates{Client: c, n: map[string]int{}}
			return counted
		}, 0)
		Eventually(func() int { return counted.of("hermes-gateway-run") }, 30*time.Second).Should(Equal(1))
		Consistently(func() int { return counted.of("hermes-gateway-run") }, 3*time.Second).Should(Equal(1),
			"a terminal failure is not retried (the backoff would have retried after 1 s and 2 s)")
		Expect(deployments(ns)).To(BeEmpty())

		// As Hermes writes: a temp file renamed into place.
		testkit.WriteFile(filepath.Join(h, "profiles", "run", "config.yaml.tmp"), "model: y\n")
		Expect(os.Rename(filepath.Join(h, "profiles", "run", "config.yaml.tmp"), filepath.Join(h, "profiles", "run", "config.yaml"))).To(Succeed())
		Eventually(func() int { return counted.of("hermes-gateway-run") }, 10*time.Second).Should(Equal(2), "its input changed: tried again")
		Consistently(func() int { return counted.of("hermes-gateway-run") }, 3*time.Second).Should(Equal(2), "once")
		Expect(counted.of("hermes-gateway-stop")).To(Equal(1), "another profile's change is not this one's")
	})

	It("wakes a profile held for the settle window at its deadline", func() {
		ns, h := newNamespace(), home()
		start(h, ns, settings, same, 2*time.Second)
		Eventually(func() map[string]appsv1.Deployment { return deployments(ns) }, 30*time.Second).Should(HaveLen(4))

		By("a profile created after the first pass is left to its creator for the window")
		testkit.WriteFile(filepath.Join(h, "profiles", "fresh", "SOUL.md"), "soul\n")
		Consistently(func() map[string]appsv1.Deployment { return deployments(ns) }, 1500*time.Millisecond).ShouldNot(HaveKey("hermes-gateway-fresh"))
		Eventually(func() map[string]appsv1.Deployment { return deployments(ns) }, 5*time.Second).Should(HaveKey("hermes-gateway-fresh"),
			"created when the window ends, with no event and no resync")
	})
})
