//go:build linux

package cluster_test

import (
	"os"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/hermes-reconcile/hermes-reconcile/test/testkit/cluster"
)

func replicas(n int32) *int32 { return &n }

// deployment is a one-replica Recreate Deployment of an image that is never
// pulled; labels and annotations go on its pod template.
func deployment(ns, name string, labels, annotations map[string]string) *appsv1.Deployment {
	podLabels := map[string]string{"app": name}
	for k, v := range labels {
		podLabels[k] = v
	}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: replicas(1),
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType},
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels, Annotations: annotations},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "gateway", Image: "example.invalid/hermes:1",
				}}},
			},
		},
	}
}

func podsOf(g Gomega, ctx SpecContext, ns, app string) []corev1.Pod {
	var list corev1.PodList
	g.Expect(k8s.List(ctx, &list, client.InNamespace(ns), client.MatchingLabels{"app": app})).To(Succeed())
	return list.Items
}

func newNamespace(ctx SpecContext) string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "cluster-"}}
	Expect(k8s.Create(ctx, ns)).To(Succeed())
	return ns.Name
}

var _ = Describe("the test cluster", func() {
	It("has the fake node Ready and an admin kubeconfig", func(ctx SpecContext) {
		var n corev1.Node
		Expect(k8s.Get(ctx, client.ObjectKey{Name: cluster.NodeName}, &n)).To(Succeed())
		Expect(n.Spec.Taints).To(BeEmpty())
		Expect(n.Status.Allocatable.Pods().Value()).To(BeNumerically("==", 10000))

		// The admin kubeconfig may do what a controller under test would.
		data, err := os.ReadFile(tc.Kubeconfig)
		Expect(err).NotTo(HaveOccurred())
		cfg, err := clientcmd.RESTConfigFromKubeConfig(data)
		Expect(err).NotTo(HaveOccurred())
		admin, err := client.New(cfg, client.Options{Scheme: clientgoscheme.Scheme})
		Expect(err).NotTo(HaveOccurred())
		var nodes corev1.NodeList
		Expect(admin.List(ctx, &nodes)).To(Succeed())
		Expect(nodes.Items).To(HaveLen(1))
	})

	It("runs a Deployment's pod on the kwok node, and removes it when scaled to 0", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		dep := deployment(ns, "agent", nil, nil)
		Expect(k8s.Create(ctx, dep)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(dep), dep)).To(Succeed())
			g.Expect(dep.Status.ObservedGeneration).To(Equal(dep.Generation))
			g.Expect(dep.Status.ReadyReplicas).To(BeEquivalentTo(1))
		}).WithContext(ctx).Should(Succeed())

		pods := podsOf(Default, ctx, ns, "agent")
		Expect(pods).To(HaveLen(1))
		Expect(pods[0].Spec.NodeName).To(Equal(cluster.NodeName))
		Expect(pods[0].Status.Phase).To(Equal(corev1.PodRunning))
		Expect(pods[0].Status.PodIP).NotTo(BeEmpty())

		patch := client.MergeFrom(dep.DeepCopy())
		dep.Spec.Replicas = replicas(0)
		Expect(k8s.Patch(ctx, dep, patch)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(podsOf(g, ctx, ns, "agent")).To(BeEmpty())
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(dep), dep)).To(Succeed())
			g.Expect(dep.Status.Replicas).To(BeZero())
		}).WithContext(ctx).Should(Succeed())
	})

	It("crash-loops a pod labelled for the crash-loop Stages", func(ctx SpecContext) {
		Expect(tc.InstallCrashLoopStages(ctx)).To(Succeed())
		ns := newNamespace(ctx)
		dep := deployment(ns, "crashy", map[string]string{cluster.CrashLoopLabel: "true"},
			map[string]string{cluster.RunForAnnotation: "200ms", cluster.BackoffAnnotation: "200ms"})
		Expect(k8s.Create(ctx, dep)).To(Succeed())
		Eventually(func(g Gomega) {
			pods := podsOf(g, ctx, ns, "crashy")
			g.Expect(pods).To(HaveLen(1))
			p := pods[0]
			g.Expect(p.Status.Phase).To(Equal(corev1.PodRunning))
			g.Expect(p.Status.ContainerStatuses).To(HaveLen(1))
			cs := p.Status.ContainerStatuses[0]
			g.Expect(cs.RestartCount).To(BeNumerically(">=", 2))
			g.Expect(cs.Ready).To(BeFalse())
			g.Expect(cs.State.Waiting).NotTo(BeNil())
			g.Expect(cs.State.Waiting.Reason).To(Equal("CrashLoopBackOff"))
			g.Expect(cs.LastTerminationState.Terminated).NotTo(BeNil())
			g.Expect(cs.LastTerminationState.Terminated.ExitCode).To(BeEquivalentTo(1))
		}).WithContext(ctx).Should(Succeed())
	})
})
