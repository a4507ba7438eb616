//go:build linux

package envtest

import (
	"context"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/hermes-reconcile/hermes-reconcile/backends/kube"
	"github.com/hermes-reconcile/hermes-reconcile/desired"
	"github.com/hermes-reconcile/hermes-reconcile/test/testkit"
)

// --once is a second writer beside a controller in watch mode: it looks
// at the controller's Lease first, and refuses while someone holds it.
var _ = Describe("--once beside a controller's Lease", func() {
	lease := func(ns string) (coordinationv1.Lease, error) {
		var l coordinationv1.Lease
		err := raw.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: kube.LeaseName}, &l)
		return l, err
	}
	holder := func(ns string) string {
		l, err := lease(ns)
		if err != nil || l.Spec.HolderIdentity == nil {
			return ""
		}
		return *l.Spec.HolderIdentity
	}
	// hold writes the Lease as another replica that renewed it at renewed,
	// for a term of 60 s.
	hold := func(ns, identity string, renewed time.Time) {
		l, err := lease(ns)
		if apierrors.IsNotFound(err) {
			l = coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: kube.LeaseName}}
			err = raw.Create(context.Background(), &l)
		}
		Expect(err).NotTo(HaveOccurred())
		at := metav1.NewMicroTime(renewed)
		l.Spec.HolderIdentity, l.Spec.LeaseDurationSeconds = &identity, ptr(int32(60))
		l.Spec.AcquireTime, l.Spec.RenewTime = &at, &at
		Expect(raw.Update(context.Background(), &l)).To(Succeed())
	}
	intent := func(h, profile, state string) {
		testkit.WriteFile(filepath.Join(h, "profiles", profile, "gateway_state.json"), `{"desired_state":"`+state+`"}`)
	}

	It("is refused while another identity holds a live Lease, runs with --force, and once the lease is released or expired", func() {
		ns, h, kc := newNamespace(), home(), kubeconfig()
		run := func(env []string, args ...string) *gexec.Session { return kubeRun(kc, ns, h, env, args...) }

		By("a controller in watch mode holds the Lease")
		mgr, err := kube.NewManager(cfg, kube.ManagerOptions{Namespace: ns, LeaderElection: true, MetricsAddr: "0", HealthAddr: "0", SkipNameValidation: true})
		Expect(err).NotTo(HaveOccurred())
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- controller(ctx, mgr, h, ns, desired.Options{HermesVersion: "0.21.3"}, 0, nil) }()
		DeferCleanup(cancel)
		Eventually(func() string { return holder(ns) }, 30*time.Second).ShouldNot(BeEmpty())
		Eventually(func() map[string]int32 { return replicasByName(ns) }, 30*time.Second).Should(HaveLen(4))
		leader := holder(ns)

		s := run(nil, "--once")
		Expect(s).To(gexec.Exit(1))
		Expect(s.Out.Contents()).To(BeEmpty(), "refused before any plan")
		Expect(lines(s.Err.Contents())).To(ConsistOf(SatisfyAll(
			HavePrefix(`Error: the Lease `+ns+`/hermes-reconcile is held by "`+leader+`" until `),
			ContainSubstring("stop the controller"), ContainSubstring("--force"))))

		By("the controller stops: SIGTERM releases the Lease, and --once runs")
		cancel()
		Eventually(done, time.Minute).Should(Receive(BeNil()))
		Expect(holder(ns)).To(BeEmpty(), "released")
		Expect(run(nil, "--once")).To(gexec.Exit(0))

		By("another replica's Lease, renewed now: refused, and nothing written")
		hold(ns, "hermes-reconcile-other_1234", time.Now())
		intent(h, "stop", "running")
		s = run(nil, "--once")
		Expect(s).To(gexec.Exit(1))
		Expect(string(s.Err.Contents())).To(ContainSubstring(`held by "hermes-reconcile-other_1234"`))
		Expect(replicasByName(ns)).To(HaveKeyWithValue("hermes-gateway-stop", int32(0)))

		By("--dry-run is not refused, and warns that a controller holds the Lease")
		s = run(nil, "--dry-run")
		Expect(s).To(gexec.Exit(0))
		Expect(string(s.Out.Contents())).To(ContainSubstring("> hermes-gateway-stop  start  intent_running"))
		Expect(string(s.Err.Contents())).To(ContainSubstring(`Warning: the Lease ` + ns + `/hermes-reconcile is held by "hermes-reconcile-other_1234"`))

		By("--force applies beside it, as does its twin")
		s = run(nil, "--once", "--force")
		Expect(s).To(gexec.Exit(0), "%s", s.Err.Contents())
		Expect(replicasByName(ns)).To(HaveKeyWithValue("hermes-gateway-stop", int32(1)))
		intent(h, "stop", "stopped")
		s = run([]string{"HERMES_RECONCILE_FORCE=1"}, "--once")
		Expect(s).To(gexec.Exit(0), "%s", s.Err.Contents())
		Expect(replicasByName(ns)).To(HaveKeyWithValue("hermes-gateway-stop", int32(0)))

		By("the same Lease, last renewed longer ago than its term: expired, --once runs")
		hold(ns, "hermes-reconcile-other_1234", time.Now().Add(-61*time.Second))
		intent(h, "stop", "running")
		s = run(nil, "--once")
		Expect(s).To(gexec.Exit(0), "%s", s.Err.Contents())
		Expect(replicasByName(ns)).To(HaveKeyWithValue("hermes-gateway-stop", int32(1)))
	})
})

// lines are the non-empty lines of out.
func lines(out []byte) []string {
	var ls []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.TrimSpace(l) != "" {
			ls = append(ls, l)
		}
	}
	return ls
}

// replicasByName is each Deployment's replicas in ns.
func replicasByName(ns string) map[string]int32 {
	out := map[string]int32{}
	for name, d := range deployments(ns) {
		out[name] = replicasOf(d)
	}
	return out
}
