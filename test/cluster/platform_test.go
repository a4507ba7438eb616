//go:build linux

package cluster_test

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/hermes-reconcile/hermes-reconcile/backends/kube"
	"github.com/hermes-reconcile/hermes-reconcile/test/testkit"
	"github.com/hermes-reconcile/hermes-reconcile/test/testkit/cluster"
)

// platform is a namespace that enforces the restricted Pod Security
// Standard, with the data volume bound, and a Hermes home whose default
// and named profiles want their gateways running.
type platform struct {
	ns, home string
}

func newPlatform(ctx SpecContext, named ...string) platform {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "platform-", Labels: map[string]string{
		"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest"}}}
	Expect(k8s.Create(ctx, ns)).To(Succeed())
	dataVolume(ctx, ns.Name)
	h := GinkgoT().TempDir()
	testkit.WriteFile(filepath.Join(h, "SOUL.md"), "default\n")
	testkit.WriteFile(filepath.Join(h, "gateway_state.json"), `{"desired_state":"running"}`)
	for _, p := range named {
		testkit.WriteFile(filepath.Join(h, "profiles", p, "SOUL.md"), p+"\n")
		testkit.WriteFile(filepath.Join(h, "profiles", p, "gateway_state.json"), `{"desired_state":"running"}`)
	}
	return platform{ns: ns.Name, home: h}
}

// cmd is hermes-reconcile-kube against this platform, with args after
// the common flags.
func (p platform) cmd(image string, args ...string) *exec.Cmd {
	c := exec.Command(kubeBinary(), append([]string{"--kubeconfig", tc.Kubeconfig, "--kube-namespace", p.ns, "--home", p.home,
		"--kube-image", "example.invalid/hermes:" + image, "--hermes-version", "0.21.3",
		"--metrics-addr", "0", "--health-addr", "0"}, args...)...)
	c.Env = []string{"PATH=/usr/bin:/bin", "NO_COLOR=1"}
	return c
}

// run runs a one-shot command to its end and returns its session.
func (p platform) run(c *exec.Cmd) *gexec.Session {
	GinkgoHelper()
	s, err := gexec.Start(c, GinkgoWriter, GinkgoWriter)
	Expect(err).NotTo(HaveOccurred())
	Eventually(s, time.Minute).Should(gexec.Exit())
	return s
}

// watch starts watch mode, stopped with SIGTERM at the spec's end.
func (p platform) watch(c *exec.Cmd) {
	GinkgoHelper()
	s, err := gexec.Start(c, GinkgoWriter, GinkgoWriter)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() {
		s.Signal(syscall.SIGTERM)
		Eventually(s, 30*time.Second).Should(gexec.Exit())
	})
}

// pods are a profile's gateway pods, terminating ones too.
func (p platform) pods(ctx context.Context, profile string) ([]corev1.Pod, error) {
	var list corev1.PodList
	err := k8s.List(ctx, &list, client.InNamespace(p.ns), client.MatchingLabels{kube.LabelName: kube.AppName, kube.LabelInstance: profile})
	return list.Items, err
}

// ready: the profile's Deployment is rolled out and its one pod Ready;
// the pod is returned.
func (p platform) ready(g Gomega, ctx context.Context, profile string) corev1.Pod {
	var d appsv1.Deployment
	g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: p.ns, Name: kube.DeploymentName(profile)}, &d)).To(Succeed())
	g.Expect(rolledOut(d)).To(BeTrue(), "%s rolled out", d.Name)
	pods, err := p.pods(ctx, profile)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(pods).To(HaveLen(1), "%s: one pod", profile)
	pod := pods[0]
	g.Expect(pod.DeletionTimestamp).To(BeNil())
	g.Expect(pod.Status.Conditions).To(ContainElement(SatisfyAll(HaveField("Type", corev1.PodReady), HaveField("Status", corev1.ConditionTrue))))
	return pod
}

// patchFile writes a pod-template patch and returns its path.
func patchFile(yaml string) string {
	path := filepath.Join(GinkgoT().TempDir(), "template-patch.yaml")
	testkit.WriteFile(path, yaml)
	return path
}

var _ = Describe("gateways on a cluster that runs them, in a restricted namespace", func() {
	It("become Ready, each pod with its own profile's directory and no token", func(ctx SpecContext) {
		p := newPlatform(ctx, "coder")
		Expect(p.run(p.cmd("a", "--once")).ExitCode()).To(Equal(0))
		var pods []corev1.Pod
		Eventually(func(g Gomega) {
			pods = []corev1.Pod{p.ready(g, ctx, "default"), p.ready(g, ctx, "coder")}
		}, time.Minute).Should(Succeed())
		for _, pod := range pods {
			Expect(pod.Spec.NodeName).To(Equal(cluster.NodeName))
			Expect(*pod.Spec.AutomountServiceAccountToken).To(BeFalse())
			Expect(pod.Spec.ServiceAccountName).To(Equal(kube.GatewayServiceAccount))
			Expect(*pod.Spec.Containers[0].SecurityContext.ReadOnlyRootFilesystem).To(BeTrue())
		}
		Expect(pods[0].Spec.Containers[0].VolumeMounts).To(ContainElement(SatisfyAll(HaveField("MountPath", "/opt/data"), HaveField("SubPath", ""))))
		Expect(pods[1].Spec.Containers[0].VolumeMounts).To(ContainElement(SatisfyAll(HaveField("MountPath", "/opt/data/profiles/coder"),
			HaveField("SubPath", "profiles/coder"))))
		Expect(pods[1].Spec.Containers[0].VolumeMounts).NotTo(ContainElement(HaveField("MountPath", "/opt/data")), "not the root's .env")

		s := p.run(p.cmd("a", "status"))
		Expect(s.ExitCode()).To(Equal(0), "all up: %s", s.Out.Contents())
	}, NodeTimeout(3*time.Minute))

	It("roll a template patch under Recreate with never two pods of a profile at once; another manager's field survives", func(ctx SpecContext) {
		profiles := []string{"default", "a", "b"}
		p := newPlatform(ctx, profiles[1:]...)
		Expect(p.run(p.cmd("a", "--once")).ExitCode()).To(Equal(0))
		Eventually(func(g Gomega) {
			for _, pr := range profiles {
				p.ready(g, ctx, pr)
			}
		}, time.Minute).Should(Succeed())

		By("another team annotates the pod templates, with a server-side apply of its own")
		for _, pr := range profiles {
			u := &unstructured.Unstructured{}
			u.SetAPIVersion("apps/v1")
			u.SetKind("Deployment")
			u.SetNamespace(p.ns)
			u.SetName(kube.DeploymentName(pr))
			Expect(unstructured.SetNestedField(u.Object, "on", "spec", "template", "metadata", "annotations", "other.example/scraped")).To(Succeed())
			Expect(k8s.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner("other-team"))).To(Succeed())
		}
		Eventually(func(g Gomega) {
			for _, pr := range profiles {
				g.Expect(p.ready(g, ctx, pr).Annotations).To(HaveKeyWithValue("other.example/scraped", "on"))
			}
		}, time.Minute).Should(Succeed())

		By("sampling the pods every 50 ms while a patch adds a toleration and a pull secret to every gateway")
		done := make(chan struct{})
		most := make(chan map[string]int, 1)
		go func() {
			defer GinkgoRecover()
			peak := map[string]int{}
			for {
				select {
				case <-done:
					most <- peak
					return
				case <-time.After(50 * time.Millisecond):
				}
				for _, pr := range profiles {
					if pods, err := p.pods(ctx, pr); err == nil {
						peak[pr] = max(peak[pr], len(pods))
					}
				}
			}
		}()
		patch := patchFile(`spec:
  imagePullSecrets:
  - name: registry-credentials
  tolerations:
  - key: example.com/pool
    operator: Equal
    value: agents
    effect: NoSchedule
`)
		Expect(p.run(p.cmd("a", "--once", "--rollout-batch", "100%", "--kube-template-patch", patch)).ExitCode()).To(Equal(0))
		Eventually(func(g Gomega) {
			for _, pr := range profiles {
				pod := p.ready(g, ctx, pr)
				g.Expect(pod.Spec.Tolerations).To(ContainElement(corev1.Toleration{Key: "example.com/pool", Operator: corev1.TolerationOpEqual,
					Value: "agents", Effect: corev1.TaintEffectNoSchedule}), pr)
				g.Expect(pod.Spec.ImagePullSecrets).To(ContainElement(corev1.LocalObjectReference{Name: "registry-credentials"}), pr)
				g.Expect(pod.Annotations).To(HaveKeyWithValue("other.example/scraped", "on"), "%s: the other manager's field survived", pr)
			}
		}, time.Minute).Should(Succeed())
		close(done)
		peak := <-most
		for _, pr := range profiles {
			Expect(peak[pr]).To(Equal(1), "%s: pods of the profile seen at once", pr)
		}

		By("nothing more to do: the other manager's field is no drift")
		s := p.run(p.cmd("a", "--dry-run", "--detailed-exitcode", "--kube-template-patch", patch))
		Expect(s.ExitCode()).To(Equal(0), "%s", s.Out.Contents())
	}, NodeTimeout(4*time.Minute))

	It("say a crash-looping gateway is failing: status exits 3 with CrashLoopBackOff", func(ctx SpecContext) {
		Expect(tc.InstallCrashLoopStages(ctx)).To(Succeed())
		p := newPlatform(ctx)
		// The Stages crash a container labelled for them after run-for and
		// keep it in CrashLoopBackOff for backoff: an hour, here.
		patch := patchFile(fmt.Sprintf(`metadata:
  labels: {%q: "true"}
  annotations: {%q: 200ms, %q: 1h}
`, cluster.CrashLoopLabel, cluster.RunForAnnotation, cluster.BackoffAnnotation))
		Expect(p.run(p.cmd("a", "--once", "--kube-template-patch", patch)).ExitCode()).To(Equal(0))
		Eventually(func(g Gomega) {
			pods, err := p.pods(ctx, "default")
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(pods).To(HaveLen(1))
			g.Expect(pods[0].Status.ContainerStatuses).To(ContainElement(HaveField("State.Waiting.Reason", "CrashLoopBackOff")))
		}, time.Minute).Should(Succeed())
		s := p.run(p.cmd("a", "status", "--kube-template-patch", patch))
		Expect(s.ExitCode()).To(Equal(3), "%s", s.Out.Contents())
		Expect(s.Out).To(gbytes.Say(`default\s+hermes-gateway-default\s+running\s+up\s+failing\s.*container gateway CrashLoopBackOff \(restarts 1, last exit 1\)`))
	}, NodeTimeout(3*time.Minute))

	It("say a gateway whose pods admission refuses is failing, with admission's words, not starting", func(ctx SpecContext) {
		p := newPlatform(ctx)
		patch := patchFile(`spec:
  containers:
  - name: gateway
    securityContext:
      allowPrivilegeEscalation: true
`)
		Expect(p.run(p.cmd("a", "--once", "--kube-template-patch", patch)).ExitCode()).To(Equal(0))
		var s *gexec.Session
		Eventually(func(g Gomega) {
			s = p.run(p.cmd("a", "status", "--kube-template-patch", patch))
			g.Expect(s.ExitCode()).To(Equal(3), "%s", s.Out.Contents())
			g.Expect(string(s.Out.Contents())).To(MatchRegexp(`default\s+hermes-gateway-default\s+running\s+up\s+failing\s.*pods refused \(FailedCreate\): .*violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false`))
		}, time.Minute).Should(Succeed())
		pods, err := p.pods(ctx, "default")
		Expect(err).NotTo(HaveOccurred())
		Expect(pods).To(BeEmpty())

		By("--once says so too, beside its plan")
		s = p.run(p.cmd("a", "--once", "--kube-template-patch", patch))
		Expect(s.ExitCode()).To(Equal(0))
		Expect(string(s.Err.Contents()) + string(s.Out.Contents())).To(ContainSubstring("pods refused (FailedCreate)"))
	}, NodeTimeout(3*time.Minute))

	It("roll exactly the gateway whose env Secret is rotated, woken by the Secret", func(ctx SpecContext) {
		profiles := []string{"default", "a", "b"}
		p := newPlatform(ctx, profiles[1:]...)
		secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: p.ns, Name: kube.SecretName("a"),
			Labels: map[string]string{kube.SecretLabel: "true"}}, Data: map[string][]byte{"TELEGRAM_BOT_TOKEN": []byte("111:first")}}
		Expect(k8s.Create(ctx, secret)).To(Succeed())
		p.watch(p.cmd("a", "--rollout-healthy-after", "1s"))
		uids := map[string]types.UID{}
		Eventually(func(g Gomega) {
			for _, pr := range profiles {
				uids[pr] = p.ready(g, ctx, pr).UID
			}
		}, time.Minute).Should(Succeed())
		var d appsv1.Deployment
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: p.ns, Name: kube.DeploymentName("a")}, &d)).To(Succeed())
		first := d.Spec.Template.Annotations[kube.AnnotationEnvHash]
		Expect(first).NotTo(BeEmpty(), "the Secret's hash is in a's template")
		Expect(strings.Contains(first, "first")).To(BeFalse())

		By("rotating a's token")
		secret.Data["TELEGRAM_BOT_TOKEN"] = []byte("111:second")
		Expect(k8s.Update(ctx, secret)).To(Succeed())
		Eventually(func(g Gomega) {
			pod := p.ready(g, ctx, "a")
			g.Expect(pod.UID).NotTo(Equal(uids["a"]), "a's gateway restarted")
			g.Expect(pod.Annotations[kube.AnnotationEnvHash]).NotTo(Equal(first))
		}, 30*time.Second).Should(Succeed())
		Consistently(func(g Gomega) {
			for _, pr := range []string{"default", "b"} {
				g.Expect(p.ready(g, ctx, pr).UID).To(Equal(uids[pr]), "%s kept its pod", pr)
			}
		}, 3*time.Second, 100*time.Millisecond).Should(Succeed())
	}, NodeTimeout(3*time.Minute))
})
