//go:build linux

package envtest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/hermes-reconcile/hermes-reconcile/backends/kube"
	"github.com/hermes-reconcile/hermes-reconcile/test/testkit"
)

// warnings collects the API server's warnings (Pod Security's "would
// violate PodSecurity" for a workload in a namespace that warns; a
// Deployment named with a dot, my_bot's, also gets one about hostnames).
type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) HandleWarningHeader(_ int, _ string, msg string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, msg)
}

func (w *warnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.msgs
	w.msgs = nil
	return out
}

// kustomize builds a kustomization of deploy/kubernetes as kubectl -k does.
func kustomize(rel string) []*unstructured.Unstructured {
	GinkgoHelper()
	res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(),
		filepath.Join(testkit.RepoRoot(), "deploy", "kubernetes", rel))
	Expect(err).NotTo(HaveOccurred(), "kustomize build deploy/kubernetes/%s", rel)
	var out []*unstructured.Unstructured
	for _, r := range res.Resources() {
		m, err := r.Map()
		Expect(err).NotTo(HaveOccurred())
		out = append(out, &unstructured.Unstructured{Object: m})
	}
	return out
}

// restrictedNamespace is a fresh namespace where Pod Security enforces
// (and warns of) the restricted standard: kube-apiserver's own admission.
func restrictedNamespace() string {
	GinkgoHelper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "restricted-", Labels: map[string]string{
		"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest",
		"pod-security.kubernetes.io/warn": "restricted", "pod-security.kubernetes.io/warn-version": "latest"}}}
	Expect(raw.Create(context.Background(), ns)).To(Succeed())
	return ns.Name
}

// podOf is the pod a Deployment's ReplicaSet would create.
func podOf(ns string, d *appsv1.Deployment) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, GenerateName: d.Name + "-", Labels: d.Spec.Template.Labels,
		Annotations: d.Spec.Template.Annotations}, Spec: *d.Spec.Template.Spec.DeepCopy()}
}

var _ = Describe("deploy/kubernetes", func() {
	var (
		dry   client.Client
		warns *warnings
	)
	BeforeEach(func() {
		warns = &warnings{}
		c := rest.CopyConfig(cfg)
		c.WarningHandler = warns
		var err error
		dry, err = client.New(c, client.Options{Scheme: kube.Scheme()})
		Expect(err).NotTo(HaveOccurred())
	})

	// admitted creates obj with dry-run=All (kubectl apply --dry-run=server)
	// and, for a Deployment, the pod it would make: both must pass the
	// namespace's restricted Pod Security without a warning.
	admitted := func(ns string, obj client.Object, what string) {
		GinkgoHelper()
		ctx := context.Background()
		Expect(dry.Create(ctx, obj, client.DryRunAll)).To(Succeed(), what)
		Expect(warns.take()).NotTo(ContainElement(ContainSubstring("PodSecurity")), "%s: Pod Security warned", what)
		var d appsv1.Deployment
		switch o := obj.(type) {
		case *appsv1.Deployment:
			d = *o
		case *unstructured.Unstructured:
			if o.GetKind() != "Deployment" {
				return
			}
			Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &d)).To(Succeed())
		default:
			return
		}
		Expect(dry.Create(ctx, podOf(ns, &d), client.DryRunAll)).To(Succeed(), "%s: its pod, under restricted Pod Security", what)
		Expect(warns.take()).NotTo(ContainElement(ContainSubstring("PodSecurity")), "%s: its pod", what)
	}

	It("refuses, in a restricted namespace, a pod that is not restricted: the API server enforces it", func() {
		ns := restrictedNamespace()
		d, err := settings.Deployment(ns, "coder")
		Expect(err).NotTo(HaveOccurred())
		p := podOf(ns, d)
		p.Spec.SecurityContext.SeccompProfile = nil
		p.Spec.Containers[0].SecurityContext.Capabilities = nil
		err = dry.Create(context.Background(), p, client.DryRunAll)
		Expect(err).To(MatchError(SatisfyAll(ContainSubstring("violates PodSecurity"), ContainSubstring("restricted"),
			ContainSubstring("seccompProfile"), ContainSubstring("capabilities"))))
		By("a Deployment of that pod is created, with a warning: warnings are heard")
		d.Spec.Template.Spec = p.Spec
		Expect(dry.Create(context.Background(), d, client.DryRunAll)).To(Succeed())
		Expect(warns.take()).To(ContainElement(ContainSubstring("would violate PodSecurity")))
	})

	It("admits the rendered gateway Deployments and their pods under restricted Pod Security, the example patch applied", func() {
		ns := restrictedNamespace()
		data, err := os.ReadFile(filepath.Join(testkit.RepoRoot(), "deploy", "kubernetes", "overlays", "example", "template-patch.yaml"))
		Expect(err).NotTo(HaveOccurred())
		s := settings
		s.TemplatePatch, err = kube.ParseTemplatePatch(data)
		Expect(err).NotTo(HaveOccurred())
		for _, profile := range []string{"default", "coder", "my_bot"} {
			for _, st := range []kube.Settings{settings, s} {
				d, err := st.Deployment(ns, profile)
				Expect(err).NotTo(HaveOccurred())
				admitted(ns, d, d.Name)
			}
		}
	})

	It("is accepted by the API server, base and example overlay, under restricted Pod Security; its Role grants only what the controller uses", func() {
		for _, build := range []string{"base", "overlays/example"} {
			By(build)
			objs := kustomize(build)
			ns := restrictedNamespace()
			kinds := map[string]int{}
			for _, u := range objs {
				kinds[u.GetKind()]++
				if u.GetKind() == "Namespace" {
					Expect(u.GetLabels()).To(HaveKeyWithValue("pod-security.kubernetes.io/enforce", "restricted"))
					u.SetName(ns + "-as-written")
				} else {
					u.SetNamespace(ns)
				}
				admitted(ns, u, build+": "+u.GetKind()+" "+u.GetName())
				switch u.GetKind() {
				case "Role":
					var role rbacv1.Role
					Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &role)).To(Succeed())
					var resources []string
					for _, r := range role.Rules {
						resources = append(resources, r.Resources...)
						if strings.Join(r.Resources, ",") == "secrets" {
							Expect(r.Verbs).To(ConsistOf("get", "list", "watch"), "Secrets are read, never written")
						}
					}
					Expect(resources).To(ConsistOf("deployments", "leases", "events", "pods", "secrets"))
				case "ServiceAccount":
					if u.GetName() == kube.GatewayServiceAccount {
						Expect(u.Object).To(HaveKeyWithValue("automountServiceAccountToken", false))
					}
				case "Deployment":
					var d appsv1.Deployment
					Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &d)).To(Succeed())
					c := d.Spec.Template.Spec.Containers[0]
					Expect(*c.SecurityContext.ReadOnlyRootFilesystem).To(BeTrue())
					Expect(c.Image).To(HavePrefix(map[string]string{"base": "ghcr.io/hermes-reconcile/hermes-reconcile-kube:",
						"overlays/example": "registry.example.com/platform/hermes-reconcile-kube:"}[build]), "kustomize's image transformer")
				}
			}
			Expect(kinds).To(HaveKeyWithValue("NetworkPolicy", BeNumerically(">=", 1)))
			Expect(kinds).To(HaveKeyWithValue("ConfigMap", 2))
			Expect(kinds).To(HaveKey(SatisfyAny(Equal("Deployment"))))
		}
	})
})
