//go:build linux

package envtest

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
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
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/hermes-reconcile/hermes-reconcile/backends/kube"
	"github.com/hermes-reconcile/hermes-reconcile/test/testkit"
)

// operatorVersion is the Prometheus operator whose CRDs the monitoring
// manifests are checked against.
const operatorVersion = "v0.85.0"

// operatorCRDs are the Prometheus operator's ServiceMonitor and
// PrometheusRule CRDs, from its Go module (the module proxy, then the
// module cache).
func operatorCRDs() []string {
	cmd := exec.Command("go", "mod", "download", "-json", "github.com/prometheus-operator/prometheus-operator@"+operatorVersion)
	cmd.Dir = GinkgoT().TempDir()
	out, err := cmd.Output()
	Expect(err).NotTo(HaveOccurred(), "go mod download of the Prometheus operator (its CRDs): %s", out)
	var m struct{ Dir string }
	Expect(json.Unmarshal(out, &m)).To(Succeed())
	dir := filepath.Join(m.Dir, "example", "prometheus-operator-crd")
	return []string{filepath.Join(dir, "monitoring.coreos.com_servicemonitors.yaml"), filepath.Join(dir, "monitoring.coreos.com_prometheusrules.yaml")}
}

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

	It("has its monitoring accepted by the API server with the Prometheus operator's CRDs, scraping the metrics Service's port", func() {
		_, err := envtest.InstallCRDs(cfg, envtest.CRDInstallOptions{Paths: operatorCRDs(), ErrorIfPathMissing: true})
		Expect(err).NotTo(HaveOccurred())
		ns := restrictedNamespace()
		byKind := func(build string) map[string]*unstructured.Unstructured {
			out := map[string]*unstructured.Unstructured{}
			for _, u := range kustomize(build) {
				u.SetNamespace(ns)
				// Strict: a misspelt field is an error, not a warning.
				Expect(dry.Create(context.Background(), u, client.DryRunAll, client.FieldValidation("Strict"))).To(Succeed(), "%s: %s", build, u.GetKind())
				out[u.GetKind()] = u
			}
			return out
		}
		base, mon := byKind("base"), byKind("monitoring")
		Expect(mon).To(HaveKey("ServiceMonitor"))
		Expect(mon).To(HaveKey("PrometheusRule"))

		var svc corev1.Service
		Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(base["Service"].Object, &svc)).To(Succeed())
		sel, _, _ := unstructured.NestedStringMap(mon["ServiceMonitor"].Object, "spec", "selector", "matchLabels")
		for k, v := range sel {
			Expect(svc.Labels).To(HaveKeyWithValue(k, v), "the ServiceMonitor selects the metrics Service")
		}
		eps, _, _ := unstructured.NestedSlice(mon["ServiceMonitor"].Object, "spec", "endpoints")
		Expect(eps).To(HaveLen(1))
		Expect(eps[0]).To(HaveKeyWithValue("port", svc.Spec.Ports[0].Name))
		var dep appsv1.Deployment
		Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(base["Deployment"].Object, &dep)).To(Succeed())
		for k, v := range svc.Spec.Selector {
			Expect(dep.Spec.Template.Labels).To(HaveKeyWithValue(k, v), "the Service selects the reconciler's pods")
		}
		Expect(dep.Spec.Template.Spec.Containers[0].Ports).To(ContainElement(HaveField("Name", "metrics")))
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
			Expect(kinds).To(HaveKeyWithValue("Service", 1), "the metrics Service")
			Expect(kinds).To(HaveKeyWithValue("ConfigMap", 2))
			Expect(kinds).To(HaveKey(SatisfyAny(Equal("Deployment"))))
		}
	})
})
