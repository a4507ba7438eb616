//go:build linux

package envtest

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/hermes-reconcile/hermes-reconcile/backends/kube"
	"github.com/hermes-reconcile/hermes-reconcile/test/testkit"
)

// A Deployment annotated hermes-reconcile.io/paused=true is an operator's:
// no scale, no template write, no removal, and the plan and status say so.
var _ = Describe("a paused Deployment", func() {
	patch := func(ns, name, body string) {
		d := &appsv1.Deployment{}
		d.Namespace, d.Name = ns, name
		Expect(raw.Patch(context.Background(), d, client.RawPatch(types.MergePatchType, []byte(body)))).To(Succeed())
	}
	// events are the NDJSON events of out of one type.
	events := func(out []byte, typ string) []map[string]any {
		var evs []map[string]any
		for _, l := range lines(out) {
			var ev map[string]any
			Expect(json.Unmarshal([]byte(l), &ev)).To(Succeed(), l)
			if ev["type"] == typ {
				evs = append(evs, ev)
			}
		}
		return evs
	}

	It("is left as it is by a template change that updates the others, and shown as paused in the plan and in status", func() {
		ns, h, kc := newNamespace(), home(), kubeconfig()
		run := func(args ...string) *gexec.Session { return kubeRun(kc, ns, h, nil, args...) }
		Expect(run("--once")).To(gexec.Exit(0))

		By("an operator pauses run and scales it to 3 (break-glass)")
		patch(ns, "hermes-gateway-run", `{"metadata":{"annotations":{"`+kube.AnnotationPaused+`":"true"}},"spec":{"replicas":3}}`)
		paused := deployments(ns)["hermes-gateway-run"]
		others := deployments(ns)

		By("a new image (the same release, from a mirror) changes every template")
		s := run("--once", "--kube-image", "mirror.example.org/hermes:v0.21.3")
		Expect(s).To(gexec.Exit(0), "%s", s.Err.Contents())
		out := string(s.Out.Contents())
		Expect(out).To(ContainSubstring("~ hermes-gateway-stop  update deployment.json  spec_changed"))
		Expect(out).To(ContainSubstring("= hermes-gateway-run  left as it is (paused)  paused by its annotation " + kube.AnnotationPaused + `="true"`))
		Expect(out).NotTo(MatchRegexp(`[~>+<-] hermes-gateway-run `), "no action on it")
		after := deployments(ns)
		Expect(after["hermes-gateway-run"].ResourceVersion).To(Equal(paused.ResourceVersion), "not written")
		Expect(after["hermes-gateway-run"].Spec.Template).To(Equal(paused.Spec.Template))
		Expect(replicasOf(after["hermes-gateway-run"])).To(Equal(int32(3)), "not clamped")
		for _, name := range []string{"hermes-gateway-default", "hermes-gateway-stop", "hermes-gateway-nointent"} {
			Expect(after[name].ResourceVersion).NotTo(Equal(others[name].ResourceVersion), name)
			Expect(after[name].Spec.Template.Spec.Containers[0].Image).To(Equal("mirror.example.org/hermes:v0.21.3"), name)
		}

		By("status says paused, in text and in NDJSON")
		s = run("status", "--kube-image", "mirror.example.org/hermes:v0.21.3")
		Expect(s).To(gexec.Exit(0), "%s", s.Out.Contents())
		Expect(string(s.Out.Contents())).To(MatchRegexp(`run\s+hermes-gateway-run\s+running\s+up\s+paused\s.*paused by its annotation`))
		s = run("status", "-o", "json", "--kube-image", "mirror.example.org/hermes:v0.21.3")
		Expect(events(s.Out.Contents(), "status")).To(ContainElement(SatisfyAll(
			HaveKeyWithValue("profile", "run"), HaveKeyWithValue("actual", "paused"))))
		s = run("--dry-run", "-o", "json", "--kube-image", "mirror.example.org/hermes:v0.21.3")
		Expect(s).To(gexec.Exit(0))
		Expect(events(s.Out.Contents(), "untouched")).To(ConsistOf(SatisfyAll(
			HaveKeyWithValue("slot", "hermes-gateway-run"), HaveKeyWithValue("profile", "run"), HaveKeyWithValue("state", "paused"))))
		Expect(events(s.Out.Contents(), "planned_change")).To(BeEmpty())

		By("its profile deleted: still not removed")
		Expect(os.RemoveAll(filepath.Join(h, "profiles", "run"))).To(Succeed())
		testkit.WriteFile(filepath.Join(h, "profiles", ".deleted", "run"), "")
		Expect(run("--once", "--kube-image", "mirror.example.org/hermes:v0.21.3")).To(gexec.Exit(0))
		Expect(deployments(ns)["hermes-gateway-run"].ResourceVersion).To(Equal(paused.ResourceVersion))

		By("unpaused: handed back, and removed as its profile says")
		patch(ns, "hermes-gateway-run", `{"metadata":{"annotations":{"`+kube.AnnotationPaused+`":null}}}`)
		s = run("--once", "--kube-image", "mirror.example.org/hermes:v0.21.3")
		Expect(s).To(gexec.Exit(0), "%s", s.Err.Contents())
		Expect(string(s.Out.Contents())).To(ContainSubstring("- hermes-gateway-run  remove  profile_tombstoned"))
		Expect(deployments(ns)).NotTo(HaveKey("hermes-gateway-run"))
	})

	It("handed back, is clamped to one replica and rolled to the new template", func() {
		ns, h, kc := newNamespace(), home(), kubeconfig()
		run := func(args ...string) *gexec.Session { return kubeRun(kc, ns, h, nil, args...) }
		Expect(run("--once")).To(gexec.Exit(0))
		patch(ns, "hermes-gateway-run", `{"metadata":{"annotations":{"`+kube.AnnotationPaused+`":"true"}},"spec":{"replicas":3}}`)
		Expect(run("--once", "--kube-image", "mirror.example.org/hermes:v0.21.3")).To(gexec.Exit(0))
		Expect(replicasOf(deployments(ns)["hermes-gateway-run"])).To(Equal(int32(3)))

		patch(ns, "hermes-gateway-run", `{"metadata":{"annotations":{"`+kube.AnnotationPaused+`":"false"}}}`)
		s := run("--once", "--kube-image", "mirror.example.org/hermes:v0.21.3")
		Expect(s).To(gexec.Exit(0), "%s", s.Err.Contents())
		Expect(string(s.Out.Contents())).To(ContainSubstring("~ hermes-gateway-run  update deployment.json (restart)  spec_changed\n> hermes-gateway-run  start  replicas_clamped\n"))
		d := deployments(ns)["hermes-gateway-run"]
		Expect(replicasOf(d)).To(Equal(int32(1)))
		Expect(d.Spec.Template.Spec.Containers[0].Image).To(Equal("mirror.example.org/hermes:v0.21.3"))
	})
})
