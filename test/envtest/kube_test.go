//go:build linux

package envtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/hermes-reconcile/hermes-reconcile/backends/kube"
	"github.com/hermes-reconcile/hermes-reconcile/desired"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile/loop"
	"github.com/hermes-reconcile/hermes-reconcile/test/testkit"
)

var settings = kube.Settings{Image: "example.org/hermes:1", Claim: "hermes-data", MountPath: "/opt/data", GatewayCommand: "hermes", UID: 10000, GID: 10000}

// home writes a Hermes home: default running, run running, stop stopped,
// nointent with no intent file, bad with a broken config.yaml.
func home() string {
	h := GinkgoT().TempDir()
	w := func(rel, data string) { testkit.WriteFile(filepath.Join(h, rel), data) }
	w("config.yaml", "model: x\n")
	w("gateway_state.json", `{"desired_state":"running"}`)
	w("profiles/run/config.yaml", "model: x\n")
	w("profiles/run/gateway_state.json", `{"desired_state":"running"}`)
	w("profiles/stop/config.yaml", "model: x\n")
	w("profiles/stop/gateway_state.json", `{"desired_state":"stopped"}`)
	w("profiles/nointent/SOUL.md", "soul\n")
	w("profiles/bad/config.yaml", "a: [\n")
	return h
}

func newPass(h, ns string, c client.Client) *reconcile.Pass {
	return &reconcile.Pass{Reader: desired.NewReader(h, desired.Options{HermesVersion: "0.21.3"}), Engine: kube.New(c, ns, settings),
		Policy: reconcile.Policy{MaxRemove: &reconcile.RemoveLimit{Flag: "--max-remove", Allow: "--allow-mass-remove"}}}
}

func deployments(ns string) map[string]appsv1.Deployment {
	var list appsv1.DeploymentList
	Expect(raw.List(context.Background(), &list, client.InNamespace(ns))).To(Succeed())
	out := map[string]appsv1.Deployment{}
	for _, d := range list.Items {
		out[d.Name] = d
	}
	return out
}

func replicasOf(d appsv1.Deployment) int32 { return *d.Spec.Replicas }

func run(p *reconcile.Pass) reconcile.Outcome {
	out := p.Run(context.Background(), nil, nil)
	Expect(out.Err).NotTo(HaveOccurred())
	for _, r := range out.Results {
		Expect(r.Err).NotTo(HaveOccurred(), "%s %s", r.Action.Kind, r.Action.Unit)
	}
	return out
}

var _ = Describe("the Kubernetes engine", func() {
	var (
		ns string
		h  string
		c  *counting
		p  *reconcile.Pass
	)
	BeforeEach(func() {
		ns, h = newNamespace(), home()
		c = &counting{Client: raw}
		p = newPass(h, ns, c)
	})

	It("makes exactly the right Deployments, pinned, then no write; a bad profile is a diagnostic", func() {
		out := run(p)
		ds := deployments(ns)
		Expect(ds).To(HaveLen(4))
		want := map[string]int32{"hermes-gateway-default": 1, "hermes-gateway-run": 1, "hermes-gateway-stop": 0, "hermes-gateway-nointent": 0}
		for name, n := range want {
			Expect(ds).To(HaveKey(name))
			Expect(replicasOf(ds[name])).To(Equal(n), name)
		}
		Expect(c.writes.Load()).To(BeNumerically("==", 4), "one create each")
		d := ds["hermes-gateway-run"]
		Expect(d.Labels).To(HaveKeyWithValue(kube.LabelManagedBy, kube.ManagedBy))
		Expect(d.Labels).To(HaveKeyWithValue(kube.LabelInstance, "run"))
		Expect(d.Annotations).To(HaveKey(kube.AnnotationHash))
		Expect(d.Spec.Strategy.Type).To(Equal(appsv1.RecreateDeploymentStrategyType))
		ctr := d.Spec.Template.Spec.Containers[0]
		Expect(ctr.Image).To(Equal("example.org/hermes:1"))
		Expect(ctr.Command).To(Equal([]string{"hermes"}))
		Expect(ctr.Args).To(Equal([]string{"-p", "run", "gateway", "run", "--replace"}))
		Expect(ds["hermes-gateway-default"].Spec.Template.Spec.Containers[0].Args).To(Equal([]string{"gateway", "run", "--replace"}))
		Expect(d.Spec.Template.Spec.Volumes[0].PersistentVolumeClaim.ClaimName).To(Equal("hermes-data"))
		Expect(ctr.EnvFrom[0].SecretRef.Name).To(Equal("hermes-gateway-run-env"))
		var bad []string
		for _, dg := range out.Desired.Diagnostics {
			if dg.Profile == "bad" {
				bad = append(bad, dg.String())
			}
		}
		Expect(bad).To(ConsistOf(ContainSubstring(filepath.Join(h, "profiles", "bad", "config.yaml") + ":")))

		By("a second pass writes nothing")
		before := c.writes.Load()
		out = run(p)
		Expect(out.Plan.Actions).To(BeEmpty())
		Expect(c.writes.Load()).To(Equal(before))

		By("--dry-run writes nothing, even with a change to make")
		testkit.WriteFile(filepath.Join(h, "profiles", "stop", "gateway_state.json"), `{"desired_state":"running"}`)
		o := p.Observe(context.Background(), nil)
		Expect(o.Plan.Actions).To(HaveLen(1))
		Expect(c.writes.Load()).To(Equal(before))

		By("a flipped intent changes the replicas, nothing else")
		tmpl := ds["hermes-gateway-stop"].Spec.Template
		out = run(p)
		Expect(out.Plan.Actions).To(HaveLen(1))
		Expect(out.Plan.Actions[0].Kind).To(Equal(reconcile.Start))
		Expect(c.writes.Load()).To(Equal(before + 1))
		after := deployments(ns)["hermes-gateway-stop"]
		Expect(replicasOf(after)).To(Equal(int32(1)))
		Expect(after.Spec.Template).To(Equal(tmpl))
		Expect(after.Annotations[kube.AnnotationHash]).To(Equal(ds["hermes-gateway-stop"].Annotations[kube.AnnotationHash]))
	})

	It("restores a hand-edited template, leaves foreign Deployments, deletes a tombstoned profile's, holds a bad profile's", func() {
		run(p)
		ctx := context.Background()
		By("a hand edit of the image")
		var d appsv1.Deployment
		Expect(raw.Get(ctx, client.ObjectKey{Namespace: ns, Name: "hermes-gateway-run"}, &d)).To(Succeed())
		d.Spec.Template.Spec.Containers[0].Image = "evil.example/other:2"
		Expect(raw.Update(ctx, &d)).To(Succeed())

		By("two foreign Deployments: one of another app, one named like ours without our label")
		for _, name := range []string{"other-app", "hermes-gateway-ghost"} {
			f, err := settings.Deployment(ns, "ghost")
			Expect(err).NotTo(HaveOccurred())
			f.Name, f.Labels = name, map[string]string{"app": "other"}
			Expect(raw.Create(ctx, f)).To(Succeed())
		}
		foreign := map[string]string{}
		for _, name := range []string{"other-app", "hermes-gateway-ghost"} {
			foreign[name] = deployments(ns)[name].ResourceVersion
		}

		before := c.writes.Load()
		out := run(p)
		Expect(out.Plan.Actions).To(HaveLen(1))
		Expect(out.Plan.Actions[0].Kind).To(Equal(reconcile.Update))
		Expect(c.writes.Load()).To(Equal(before + 1))
		Expect(deployments(ns)["hermes-gateway-run"].Spec.Template.Spec.Containers[0].Image).To(Equal("example.org/hermes:1"))

		By("a tombstone: its Deployment goes")
		Expect(os.RemoveAll(filepath.Join(h, "profiles", "run"))).To(Succeed())
		testkit.WriteFile(filepath.Join(h, "profiles", ".deleted", "run"), "")
		out = run(p)
		Expect(out.Plan.Actions).To(ConsistOf(HaveField("Kind", reconcile.Remove)))
		Expect(deployments(ns)).NotTo(HaveKey("hermes-gateway-run"))

		By("a profile gone bad: its Deployment stays as it is")
		rv := deployments(ns)["hermes-gateway-stop"].ResourceVersion
		testkit.WriteFile(filepath.Join(h, "profiles", "stop", "config.yaml"), "a: [\n")
		out = run(p)
		Expect(out.Plan.Actions).To(BeEmpty())
		Expect(deployments(ns)["hermes-gateway-stop"].ResourceVersion).To(Equal(rv))
		for name, rv := range foreign {
			Expect(deployments(ns)[name].ResourceVersion).To(Equal(rv), "%s untouched", name)
		}
	})

	It("adopts a running Deployment someone else made without a new pod, now or at the next pass; its next start runs ours", func() {
		ctx := context.Background()
		By("a running Deployment for profile run, made by hand with another template")
		f, err := settings.Deployment(ns, "run")
		Expect(err).NotTo(HaveOccurred())
		f.Labels = map[string]string{"app": "hand-made"}
		f.Annotations = nil
		f.Spec.Replicas = ptr(int32(1))
		f.Spec.Template.Spec.Containers[0].Env = append(f.Spec.Template.Spec.Containers[0].Env, corev1.EnvVar{Name: "EXTRA_FLAG", Value: "1"})
		Expect(raw.Create(ctx, f)).To(Succeed())
		tmpl := deployments(ns)["hermes-gateway-run"].Spec.Template

		out := run(p)
		Expect(out.Plan.Actions).To(ContainElement(SatisfyAll(HaveField("Kind", reconcile.Adopt), HaveField("Unit", "hermes-gateway-run"))))
		d := deployments(ns)["hermes-gateway-run"]
		Expect(d.Spec.Template).To(Equal(tmpl), "adopting writes no new template: no new pod")
		Expect(d.Labels).To(HaveKeyWithValue(kube.LabelManagedBy, kube.ManagedBy))

		By("a second and third pass change nothing")
		for range 2 {
			before := c.writes.Load()
			out = run(p)
			Expect(out.Plan.Actions).To(BeEmpty())
			Expect(c.writes.Load()).To(Equal(before))
			Expect(deployments(ns)["hermes-gateway-run"].Spec.Template).To(Equal(tmpl))
		}

		By("a stop writes our template while nothing runs; the start runs it")
		testkit.WriteFile(filepath.Join(h, "profiles", "run", "gateway_state.json"), `{"desired_state":"stopped"}`)
		run(p)
		Expect(replicasOf(deployments(ns)["hermes-gateway-run"])).To(BeZero())
		out = run(p)
		Expect(out.Plan.Actions).To(ConsistOf(HaveField("Kind", reconcile.Update)), "the template, at replicas 0")
		Expect(deployments(ns)["hermes-gateway-run"].Spec.Template.Spec.Containers[0].Env).NotTo(ContainElement(HaveField("Name", "EXTRA_FLAG")))
		testkit.WriteFile(filepath.Join(h, "profiles", "run", "gateway_state.json"), `{"desired_state":"running"}`)
		out = run(p)
		Expect(out.Plan.Actions).To(ConsistOf(HaveField("Kind", reconcile.Start)))
		Expect(run(p).Plan.Actions).To(BeEmpty())
	})

	It("runs as a controller: repairs a hand-deleted Deployment at once, one leader of two, failover when it stops", func() {
		passes := [2]*passCount{{}, {}}
		ctxs := [2]context.Context{}
		cancels := [2]context.CancelFunc{}
		done := [2]chan error{make(chan error, 1), make(chan error, 1)}
		start := func(i int) {
			ctxs[i], cancels[i] = context.WithCancel(context.Background())
			mgr, err := kube.NewManager(cfg, kube.ManagerOptions{Namespace: ns, LeaderElection: true, LeaseName: "hermes-reconcile",
				MetricsAddr: "0", HealthAddr: "0", SkipNameValidation: true})
			Expect(err).NotTo(HaveOccurred())
			go func() {
				done[i] <- controller(ctxs[i], mgr, h, ns, desired.Options{HermesVersion: "0.21.3"}, 500*time.Millisecond, passes[i].add)
			}()
		}
		DeferCleanup(func() {
			for i := range cancels {
				if cancels[i] != nil {
					cancels[i]()
				}
			}
		})
		start(0)
		Eventually(func() map[string]appsv1.Deployment { return deployments(ns) }, 30*time.Second).Should(HaveLen(4))
		start(1)
		Consistently(passes[1].n, 3*time.Second).Should(BeZero(), "the second replica is not the leader")
		Expect(done[1]).NotTo(Receive(), "the second replica runs, waiting for the lease")

		repair := func(who int) time.Duration {
			var d appsv1.Deployment
			Expect(raw.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "hermes-gateway-run"}, &d)).To(Succeed())
			t0 := time.Now()
			Expect(raw.Delete(context.Background(), &d)).To(Succeed())
			var took time.Duration
			Eventually(func() error {
				var back appsv1.Deployment
				err := raw.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "hermes-gateway-run"}, &back)
				if err == nil && back.UID == d.UID {
					return fmt.Errorf("still the old one")
				}
				took = time.Since(t0)
				return err
			}, 10*time.Second, 10*time.Millisecond).Should(Succeed())
			return took
		}
		first := repair(0)
		Expect(passes[1].n()).To(BeZero())
		GinkgoWriter.Printf("hand-deleted Deployment recreated after %v by the leader\n", first)
		Expect(first).To(BeNumerically("<", 5*time.Second))

		By("the leader stops: the other takes over")
		cancels[0]()
		Eventually(done[0], time.Minute).Should(Receive(BeNil()))
		Eventually(passes[1].n, time.Minute).Should(BeNumerically(">", 0))
		second := repair(1)
		GinkgoWriter.Printf("after failover, recreated after %v by the new leader\n", second)

		By("a profile written on the volume is picked up (fsnotify or the poll)")
		testkit.WriteFile(filepath.Join(h, "profiles", "stop", "gateway_state.json"), `{"desired_state":"running"}`)
		Eventually(func() int32 { return replicasOf(deployments(ns)["hermes-gateway-stop"]) }, 10*time.Second).Should(Equal(int32(1)))
	})
})

func ptr[T any](v T) *T { return &v }

// controller runs the loop in mgr as the kube binary does: the profile
// watcher (with a poll), the Deployment informer, and the Lease.
func controller(ctx context.Context, mgr manager.Manager, h, ns string, ropt desired.Options, poll time.Duration, onPass func(reconcile.Outcome)) error {
	eng := kube.New(mgr.GetClient(), ns, settings)
	reader := desired.NewReader(h, ropt)
	pass := &reconcile.Pass{Reader: reader, Engine: eng, Policy: reconcile.Policy{MaxRemove: &reconcile.RemoveLimit{}, Settle: settle}}
	opt := loop.Options{Resync: time.Hour, OnPass: onPass, Quiet: 50 * time.Millisecond,
		Sources: []loop.Source{loop.Profiles{W: desired.NewWatcher(reader.Layout(), desired.WatchOptions{Poll: poll}, GinkgoLogr)}, eng.Source(mgr.GetCache())}}
	return kube.Serve(logr.NewContext(ctx, GinkgoLogr), mgr, func(ctx context.Context) error { return loop.Run(ctx, pass, opt) })
}

// settle is the controllers' settle window in these specs.
var settle time.Duration

// passCount counts a controller's passes.
type passCount struct {
	mu    sync.Mutex
	count int
}

func (p *passCount) add(reconcile.Outcome) { p.mu.Lock(); p.count++; p.mu.Unlock() }
func (p *passCount) n() int                { p.mu.Lock(); defer p.mu.Unlock(); return p.count }
