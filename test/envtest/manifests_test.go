//go:build linux

package envtest

import (
	"context"
	"os"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/hermes-reconcile/hermes-reconcile/test/testkit"
)

var _ = Describe("deploy/kubernetes", func() {
	It("is accepted by the API server, and its Role grants Deployments, Leases, events and pod reads only", func() {
		dir := filepath.Join(testkit.RepoRoot(), "deploy", "kubernetes")
		var kust struct{ Resources []string }
		data, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
		Expect(err).NotTo(HaveOccurred())
		Expect(yaml.Unmarshal(data, &kust)).To(Succeed())
		Expect(kust.Resources).To(ContainElements("role.yaml", "deployment.yaml", "serviceaccount.yaml", "rolebinding.yaml"))
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
					Expect(resources).To(ConsistOf("deployments", "leases", "events", "pods", "secrets"))
				}
			}
		}
	})
})
