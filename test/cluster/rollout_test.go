//go:build linux

package cluster_test

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/hermes-reconcile/hermes-reconcile/backends/kube"
	"github.com/hermes-reconcile/hermes-reconcile/test/testkit"
)

var kubeBinary = sync.OnceValue(func() string { return testkit.Build(testkit.Cmd + "-kube") })

// dataVolume makes the claim the gateway pods mount, bound to a volume of
// its own, so that the scheduler places them (there is no provisioner).
func dataVolume(ctx SpecContext, ns string) {
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "data-" + ns},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/tmp/" + ns}},
			ClaimRef:                      &corev1.ObjectReference{Namespace: ns, Name: "hermes-data"},
		},
	}
	Expect(k8s.Create(ctx, pv)).To(Succeed())
	DeferCleanup(func(ctx SpecContext) { _ = k8s.Delete(ctx, pv) })
	empty := ""
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "hermes-data", Namespace: ns},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany},
			StorageClassName: &empty,
			VolumeName:       pv.Name,
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}
	Expect(k8s.Create(ctx, pvc)).To(Succeed())
	Eventually(func(g Gomega) {
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(pvc), pvc)).To(Succeed())
		g.Expect(pvc.Status.Phase).To(Equal(corev1.ClaimBound))
	}).Should(Succeed())
}

// rolledOut: every pod of d runs its template and is available.
func rolledOut(d appsv1.Deployment) bool {
	return d.Status.ObservedGeneration >= d.Generation && d.Status.UpdatedReplicas == 1 && d.Status.AvailableReplicas == 1 &&
		d.Status.Replicas == 1
}

var _ = Describe("a rollout on a cluster whose Deployments roll", func() {
	It("restarts at most the batch at once, and the next batch only once the one before is available", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		dataVolume(ctx, ns)
		h := GinkgoT().TempDir()
		testkit.WriteFile(filepath.Join(h, "SOUL.md"), "default\n")
		testkit.WriteFile(filepath.Join(h, "gateway_state.json"), `{"desired_state":"running"}`)
		for i := range 19 {
			dir := filepath.Join(h, "profiles", fmt.Sprintf("p%02d", i))
			testkit.WriteFile(filepath.Join(dir, "SOUL.md"), "p\n")
			testkit.WriteFile(filepath.Join(dir, "gateway_state.json"), `{"desired_state":"running"}`)
		}
		cmd := func(image string, args ...string) *exec.Cmd {
			c := exec.Command(kubeBinary(), append([]string{"--kubeconfig", tc.Kubeconfig, "--kube-namespace", ns, "--home", h,
				"--kube-image", "example.invalid/hermes:" + image, "--hermes-version", "0.21.3",
				"--rollout-batch", "10%", "--rollout-healthy-after", "1s", "--metrics-addr", "0", "--health-addr", "0"}, args...)...)
			c.Env = []string{"PATH=/usr/bin:/bin", "NO_COLOR=1"}
			return c
		}
		deployments := func(g Gomega) []appsv1.Deployment {
			var list appsv1.DeploymentList
			g.Expect(k8s.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
			return list.Items
		}
		s, err := gexec.Start(cmd("a", "--once"), GinkgoWriter, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		Eventually(s, time.Minute).Should(gexec.Exit(0))
		Eventually(func(g Gomega) {
			ds := deployments(g)
			g.Expect(ds).To(HaveLen(20))
			for _, d := range ds {
				g.Expect(rolledOut(d)).To(BeTrue(), d.Name)
			}
		}, 2*time.Minute).Should(Succeed())

		By("a new image, in watch mode: at most 2 (a tenth) rolling at once")
		done := make(chan struct{})
		most := make(chan int, 1)
		go func() {
			defer GinkgoRecover()
			peak := 0
			for {
				select {
				case <-done:
					most <- peak
					return
				case <-time.After(50 * time.Millisecond):
				}
				var list appsv1.DeploymentList
				if k8s.List(ctx, &list, client.InNamespace(ns)) != nil {
					continue
				}
				rolling := 0
				for _, d := range list.Items {
					if d.Spec.Template.Spec.Containers[0].Image == "example.invalid/hermes:b" && !rolledOut(d) {
						rolling++
					}
				}
				peak = max(peak, rolling)
			}
		}()
		w, err := gexec.Start(cmd("b"), GinkgoWriter, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() {
			w.Signal(syscall.SIGTERM)
			Eventually(w, 30*time.Second).Should(gexec.Exit())
		})
		// The loop logs through the binary's logger, not controller-runtime's
		// runnable context (which carries none).
		Eventually(w.Err, time.Minute).Should(gbytes.Say("first pass complete"))
		var at []time.Time
		Eventually(func(g Gomega) {
			at = at[:0]
			for _, d := range deployments(g) {
				g.Expect(d.Spec.Template.Spec.Containers[0].Image).To(Equal("example.invalid/hermes:b"), d.Name)
				g.Expect(rolledOut(d)).To(BeTrue(), d.Name)
				t, err := time.Parse(time.RFC3339Nano, d.Annotations[kube.AnnotationRolled])
				g.Expect(err).NotTo(HaveOccurred(), d.Name)
				at = append(at, t)
			}
		}, 3*time.Minute, 200*time.Millisecond).Should(Succeed())
		close(done)
		Expect(<-most).To(BeNumerically("<=", 2))
		slices.SortFunc(at, func(a, b time.Time) int { return a.Compare(b) })
		for i := 0; i+2 < len(at); i++ {
			Expect(at[i+2].Sub(at[i])).To(BeNumerically(">=", 900*time.Millisecond), "template writes %d to %d: %v", i, i+2, at)
		}
	}, NodeTimeout(6*time.Minute))
})
