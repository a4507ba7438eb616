//go:build linux

package envtest

import (
	"context"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/hermes-reconcile/hermes-reconcile/backends/kube"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
)

// The engine writes by server-side apply: what it set before with Update
// (its releases before that) is taken over and dropped when no longer set;
// what another manager applies is left alone.
var _ = Describe("server-side apply", func() {
	var (
		ns string
		p  *reconcile.Pass
	)
	BeforeEach(func() {
		ns = newNamespace()
		p = newPass(home(), ns, raw)
	})
	get := func(name string) appsv1.Deployment {
		var d appsv1.Deployment
		Expect(raw.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &d)).To(Succeed())
		return d
	}

	It("drops what a release before server-side apply wrote and no longer renders: the whole volume in a named profile's pod", func() {
		ctx := context.Background()
		By("a Deployment as the last release wrote it: Update, under the binary's name, the whole volume mounted")
		old, err := settings.Deployment(ns, "run")
		Expect(err).NotTo(HaveOccurred())
		c := &old.Spec.Template.Spec.Containers[0]
		c.VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/opt/data"}}
		c.Env = []corev1.EnvVar{{Name: "HERMES_HOME", Value: "/opt/data"}, {Name: "HOME", Value: "/opt/data"}}
		c.WorkingDir = "/opt/data"
		old.Spec.Template.Spec.Volumes = old.Spec.Template.Spec.Volumes[:1]
		old.Spec.Template.Spec.SecurityContext.SeccompProfile = nil
		old.Annotations[kube.AnnotationHash] = "an-older-rendering"
		old.Spec.Replicas = ptr(int32(1))
		Expect(raw.Create(ctx, old, client.FieldOwner("hermes-reconcile-kube"))).To(Succeed())

		out := run(p)
		Expect(out.Plan.Actions).To(ContainElement(SatisfyAll(HaveField("Kind", reconcile.Update), HaveField("Unit", "hermes-gateway-run"))))
		d := get("hermes-gateway-run")
		Expect(d.Spec.Template.Spec.Containers[0].VolumeMounts).To(ConsistOf(
			corev1.VolumeMount{Name: "data", MountPath: "/opt/data/profiles/run", SubPath: "profiles/run"},
			corev1.VolumeMount{Name: "tmp", MountPath: "/tmp"}), "only its own profile, and /tmp")
		var managers []string
		for _, m := range d.ManagedFields {
			managers = append(managers, m.Manager+"/"+string(m.Operation))
		}
		Expect(managers).To(ContainElement(kube.FieldManager + "/Apply"))
		Expect(managers).NotTo(ContainElement("hermes-reconcile-kube/Update"), "its fields were handed over")
		Expect(*d.Spec.Replicas).To(Equal(int32(1)), "the replicas are as they were")
		Expect(run(p).Plan.Actions).To(BeEmpty())
	})

	It("leaves another manager's fields alone and counts them no drift; forces back a field of ours someone changed", func() {
		ctx := context.Background()
		run(p)
		By("another team applies an annotation and an env var of its own")
		u := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "apps/v1", "kind": "Deployment",
			"metadata": map[string]any{"name": "hermes-gateway-run", "namespace": ns},
			"spec": map[string]any{"template": map[string]any{
				"metadata": map[string]any{"annotations": map[string]any{"other.example/scraped": "on"}},
				"spec": map[string]any{"containers": []any{map[string]any{"name": "gateway",
					"env": []any{map[string]any{"name": "OTEL_SERVICE_NAME", "value": "gateway-run"}}}}},
			}},
		}}
		Expect(raw.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner("other-team"))).To(Succeed())
		rv := get("hermes-gateway-run").ResourceVersion
		Expect(run(p).Plan.Actions).To(BeEmpty(), "theirs is no drift of ours")
		Expect(get("hermes-gateway-run").ResourceVersion).To(Equal(rv))

		By("a new image: ours changes, theirs stays")
		p.Engine = kube.New(raw, ns, func() kube.Settings { s := settings; s.Image = "example.org/hermes:2"; return s }())
		run(p)
		d := get("hermes-gateway-run")
		Expect(d.Spec.Template.Spec.Containers[0].Image).To(Equal("example.org/hermes:2"))
		Expect(d.Spec.Template.Annotations).To(HaveKeyWithValue("other.example/scraped", "on"))
		Expect(d.Spec.Template.Spec.Containers[0].Env).To(ContainElement(corev1.EnvVar{Name: "OTEL_SERVICE_NAME", Value: "gateway-run"}))

		By("someone changes a field of ours by hand: it is forced back")
		d.Spec.Template.Spec.Containers[0].SecurityContext.ReadOnlyRootFilesystem = ptr(false)
		Expect(raw.Update(ctx, &d)).To(Succeed())
		out := run(p)
		Expect(out.Plan.Actions).To(ConsistOf(HaveField("Kind", reconcile.Update)))
		d = get("hermes-gateway-run")
		Expect(*d.Spec.Template.Spec.Containers[0].SecurityContext.ReadOnlyRootFilesystem).To(BeTrue())
		Expect(d.Spec.Template.Annotations).To(HaveKeyWithValue("other.example/scraped", "on"))
		Expect(run(p).Plan.Actions).To(BeEmpty())
	})

	It("hashes a labelled env Secret into the template, and only a labelled one", func() {
		ctx := context.Background()
		sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: kube.SecretName("run")},
			Data: map[string][]byte{"TELEGRAM_BOT_TOKEN": []byte("1:a")}}
		Expect(raw.Create(ctx, sec)).To(Succeed())
		run(p)
		Expect(get("hermes-gateway-run").Spec.Template.Annotations).NotTo(HaveKey(kube.AnnotationEnvHash), "unlabelled: not seen")
		sec.Labels = map[string]string{kube.SecretLabel: "true"}
		Expect(raw.Update(ctx, sec)).To(Succeed())
		out := run(p)
		Expect(out.Plan.Actions).To(ConsistOf(SatisfyAll(HaveField("Kind", reconcile.Update), HaveField("Unit", "hermes-gateway-run"))))
		first := get("hermes-gateway-run").Spec.Template.Annotations[kube.AnnotationEnvHash]
		Expect(first).NotTo(BeEmpty())
		Expect(run(p).Plan.Actions).To(BeEmpty())
		sec.Data["TELEGRAM_BOT_TOKEN"] = []byte("1:b")
		Expect(raw.Update(ctx, sec)).To(Succeed())
		out = run(p)
		Expect(out.Plan.Actions).To(ConsistOf(SatisfyAll(HaveField("Kind", reconcile.Update), HaveField("Unit", "hermes-gateway-run"))))
		Expect(get("hermes-gateway-run").Spec.Template.Annotations[kube.AnnotationEnvHash]).NotTo(Equal(first))
	})
})
