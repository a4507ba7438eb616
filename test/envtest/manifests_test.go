//go:build linux

package envtest

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

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

// dryRun creates every document of the kustomization in dir in namespace
// ns, as a dry run, and returns the documents by kind.
func dryRun(dir, ns string) map[string][]string {
	GinkgoHelper()
	var kust struct{ Resources []string }
	data, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	Expect(err).NotTo(HaveOccurred())
	Expect(yaml.Unmarshal(data, &kust)).To(Succeed())
	docs := map[string][]string{}
	for _, f := range kust.Resources {
		data, err := os.ReadFile(filepath.Join(dir, f))
		Expect(err).NotTo(HaveOccurred())
		for _, doc := range strings.Split(string(data), "\n---\n") {
			var u unstructured.Unstructured
			Expect(yaml.Unmarshal([]byte(doc), &u.Object)).To(Succeed(), f)
			u.SetNamespace(ns)
			// Strict: a misspelt field is an error, not a warning.
			Expect(raw.Create(context.Background(), &u, client.DryRunAll, client.FieldValidation("Strict"))).To(Succeed(), "%s: %s", f, u.GetKind())
			docs[u.GetKind()] = append(docs[u.GetKind()], doc)
		}
	}
	return docs
}

var _ = Describe("deploy/kubernetes", func() {
	It("has its monitoring accepted by the API server with the Prometheus operator's CRDs, scraping the metrics Service's port", func() {
		_, err := envtest.InstallCRDs(cfg, envtest.CRDInstallOptions{Paths: operatorCRDs(), ErrorIfPathMissing: true})
		Expect(err).NotTo(HaveOccurred())
		root := filepath.Join(testkit.RepoRoot(), "deploy", "kubernetes")
		ns := newNamespace()
		base := dryRun(root, ns)
		docs := dryRun(filepath.Join(root, "monitoring"), ns)
		Expect(docs).To(HaveKey("ServiceMonitor"))
		Expect(docs).To(HaveKey("PrometheusRule"))

		var svc struct {
			Metadata struct{ Labels map[string]string }
			Spec     struct {
				Selector map[string]string
				Ports    []struct{ Name string }
			}
		}
		Expect(base["Service"]).To(HaveLen(1))
		Expect(yaml.Unmarshal([]byte(base["Service"][0]), &svc)).To(Succeed())
		var sm struct {
			Spec struct {
				Selector  struct{ MatchLabels map[string]string }
				Endpoints []struct{ Port, Path string }
			}
		}
		Expect(yaml.Unmarshal([]byte(docs["ServiceMonitor"][0]), &sm)).To(Succeed())
		for k, v := range sm.Spec.Selector.MatchLabels {
			Expect(svc.Metadata.Labels).To(HaveKeyWithValue(k, v), "the ServiceMonitor selects the metrics Service")
		}
		Expect(sm.Spec.Endpoints).To(HaveLen(1))
		Expect(sm.Spec.Endpoints[0].Port).To(Equal(svc.Spec.Ports[0].Name))
		var dep struct {
			Spec struct {
				Template struct {
					Metadata struct{ Labels map[string]string }
					Spec     struct {
						Containers []struct{ Ports []struct{ Name string } }
					}
				}
			}
		}
		Expect(yaml.Unmarshal([]byte(base["Deployment"][0]), &dep)).To(Succeed())
		for k, v := range svc.Spec.Selector {
			Expect(dep.Spec.Template.Metadata.Labels).To(HaveKeyWithValue(k, v), "the Service selects the reconciler's pods")
		}
		Expect(dep.Spec.Template.Spec.Containers[0].Ports).To(ContainElement(HaveField("Name", "metrics")))
	})

	It("is accepted by the API server, and its Role grants Deployments, Leases, events and pod reads only", func() {
		dir := filepath.Join(testkit.RepoRoot(), "deploy", "kubernetes")
		var kust struct{ Resources []string }
		data, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
		Expect(err).NotTo(HaveOccurred())
		Expect(yaml.Unmarshal(data, &kust)).To(Succeed())
		Expect(kust.Resources).To(ContainElements("role.yaml", "deployment.yaml", "serviceaccount.yaml", "rolebinding.yaml", "service.yaml"))
		ns := newNamespace()
		for _, f := range kust.Resources {
			data, err := os.ReadFile(filepath.Join(dir, f))
			Expect(err).NotTo(HaveOccurred())
			for _, doc := range strings.Split(string(data), "\n---\n") {
				var u unstructured.Unstructured
				Expect(yaml.Unmarshal([]byte(doc), &u.Object)).To(Succeed(), f)
				u.SetNamespace(ns)
				Expect(raw.Create(context.Background(), &u, client.DryRunAll)).To(Succeed(), "%s: %s", f, u.GetKind())
				if u.GetKind() == "Role" {
					var role rbacv1.Role
					Expect(yaml.Unmarshal([]byte(doc), &role)).To(Succeed())
					var resources []string
					for _, r := range role.Rules {
						resources = append(resources, r.Resources...)
					}
					Expect(resources).To(ConsistOf("deployments", "leases", "events", "pods"))
				}
			}
		}
	})
})
