//go:build linux

package envtest

import (
	"context"
	"fmt"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/hermes-reconcile/hermes-reconcile/backends/kube"
	"github.com/hermes-reconcile/hermes-reconcile/desired"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
)

// reasons keeps the reasons of the actions a controller's passes planned,
// by unit.
type reasons struct {
	mu sync.Mutex
	by map[string][]desired.Reason
}

func (r *reasons) add(out reconcile.Outcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, a := range out.Plan.Actions {
		r.by[a.Unit] = append(r.by[a.Unit], a.Reason)
	}
}

func (r *reasons) of(unit string) []desired.Reason {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]desired.Reason(nil), r.by[unit]...)
}

// Each replica of a gateway's Deployment is a gateway on the same bot
// token: a hand scale above 1 comes back to 1 through the watch (the
// resync is an hour away), and a scale to 0 of one that should run is a
// start, not a clamp.
var _ = Describe("replicas above one", func() {
	scale := func(ns, name string, n int32) {
		d := &appsv1.Deployment{}
		d.Namespace, d.Name = ns, name
		Expect(raw.Patch(context.Background(), d, client.RawPatch(types.MergePatchType,
			[]byte(fmt.Sprintf(`{"spec":{"replicas":%d}}`, n))))).To(Succeed()) // as kubectl scale does
	}
	replicas := func(ns, name string) func() int32 {
		return func() int32 { return replicasOf(deployments(ns)[name]) }
	}
	// since are the reasons planned for unit after the first n: a pass
	// records them once it is done, after its writes are seen.
	since := func(seen *reasons, unit string, n int) func() []desired.Reason {
		return func() []desired.Reason { return seen.of(unit)[n:] }
	}

	It("are scaled back to one through the watch, with reason replicas_clamped", func() {
		ns, h := newNamespace(), home()
		mgr, err := kube.NewManager(cfg, kube.ManagerOptions{Namespace: ns, MetricsAddr: "0", HealthAddr: "0", SkipNameValidation: true})
		Expect(err).NotTo(HaveOccurred())
		seen := &reasons{by: map[string][]desired.Reason{}}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- controller(ctx, mgr, h, ns, desired.Options{HermesVersion: "0.21.3"}, 0, seen.add) }()
		DeferCleanup(func() {
			cancel()
			Eventually(done, time.Minute).Should(Receive(BeNil()))
		})
		Eventually(func() map[string]int32 { return replicasByName(ns) }, 30*time.Second).Should(HaveKeyWithValue("hermes-gateway-run", int32(1)))
		Eventually(func() map[string]int32 { return replicasByName(ns) }, 30*time.Second).Should(HaveLen(4))

		By("kubectl scale --replicas=3 on a running gateway")
		Consistently(since(seen, "hermes-gateway-run", 0), 500*time.Millisecond).ShouldNot(ContainElement(desired.ReasonReplicasClamped))
		scale(ns, "hermes-gateway-run", 3)
		Eventually(replicas(ns, "hermes-gateway-run"), 10*time.Second, 20*time.Millisecond).Should(Equal(int32(1)))
		Eventually(since(seen, "hermes-gateway-run", 0), 5*time.Second).Should(ContainElement(desired.ReasonReplicasClamped))
		Consistently(replicas(ns, "hermes-gateway-run"), time.Second).Should(Equal(int32(1)), "and stays at one")

		By("replicas 2 on a gateway with no intent: clamped all the same, not stopped")
		scale(ns, "hermes-gateway-nointent", 2)
		Eventually(replicas(ns, "hermes-gateway-nointent"), 10*time.Second, 20*time.Millisecond).Should(Equal(int32(1)))

		By("scaled to 0 where the intent says running: a start, not a clamp")
		before := len(seen.of("hermes-gateway-run"))
		scale(ns, "hermes-gateway-run", 0)
		Eventually(replicas(ns, "hermes-gateway-run"), 10*time.Second, 20*time.Millisecond).Should(Equal(int32(1)))
		Eventually(since(seen, "hermes-gateway-run", before), 5*time.Second).Should(ConsistOf(desired.ReasonIntentRunning))

		By("scaled to 3 where the intent says stopped: stopped, not clamped")
		before = len(seen.of("hermes-gateway-stop"))
		scale(ns, "hermes-gateway-stop", 3)
		Eventually(replicas(ns, "hermes-gateway-stop"), 10*time.Second, 20*time.Millisecond).Should(Equal(int32(0)))
		Eventually(since(seen, "hermes-gateway-stop", before), 5*time.Second).Should(ConsistOf(desired.ReasonIntentStopped))
	})
})
