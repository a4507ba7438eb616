//go:build linux

package kube

import (
	"encoding/json"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// The pod template is pinned: what a Deployment runs is the contract with
// the cluster.
func TestDeploymentIsPinned(t *testing.T) {
	s := Settings{Image: "example.org/hermes:1", Claim: "hermes-data", MountPath: "/opt/data", GatewayCommand: "hermes", UID: 10000, GID: 10000,
		Env:       map[string]string{"B": "2", "A": "1"},
		Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi")}}}
	tests := []struct {
		profile, name string
		args          []string
		// home is HERMES_HOME and HOME; subPath the part of the volume
		// mounted there ("": all of it).
		home, subPath string
	}{
		{"default", "hermes-gateway-default", []string{"gateway", "run", "--replace"}, "/opt/data", ""},
		{"coder", "hermes-gateway-coder", []string{"-p", "coder", "gateway", "run", "--replace"}, "/opt/data/profiles/coder", "profiles/coder"},
		{"my_bot", "hermes-gateway-my.bot", []string{"-p", "my_bot", "gateway", "run", "--replace"}, "/opt/data/profiles/my_bot", "profiles/my_bot"},
	}
	for _, tt := range tests {
		d, err := s.Deployment("hermes", tt.profile)
		if err != nil {
			t.Fatalf("%s: %v", tt.profile, err)
		}
		if d.Name != tt.name || d.Namespace != "hermes" || d.Spec.Replicas != nil {
			t.Errorf("%s: name %q ns %q replicas %v", tt.profile, d.Name, d.Namespace, d.Spec.Replicas)
		}
		if k, ok := ProfileOf(d.Name); !ok || k != tt.profile {
			t.Errorf("ProfileOf(%q) = %q, %v", d.Name, k, ok)
		}
		wantLabels := map[string]string{LabelManagedBy: ManagedBy, LabelName: AppName, LabelInstance: tt.profile}
		for k, v := range wantLabels {
			if d.Labels[k] != v {
				t.Errorf("%s: label %s = %q, want %q", tt.profile, k, d.Labels[k], v)
			}
		}
		if d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
			t.Errorf("%s: strategy %q: two pods would hold one bot token", tt.profile, d.Spec.Strategy.Type)
		}
		if got := d.Spec.Selector.MatchLabels; len(got) != 2 || got[LabelInstance] != tt.profile || got[LabelName] != AppName {
			t.Errorf("%s: selector %v", tt.profile, got)
		}
		pod := d.Spec.Template.Spec
		c := pod.Containers[0]
		env, _ := json.Marshal(c.Env)
		psc, sc := pod.SecurityContext, c.SecurityContext
		checks := map[string]bool{
			"one container":   len(pod.Containers) == 1 && c.Name == "gateway",
			"image":           c.Image == "example.org/hermes:1",
			"command":         len(c.Command) == 1 && c.Command[0] == "hermes",
			"args":            strings.Join(c.Args, " ") == strings.Join(tt.args, " "),
			"env, sorted":     string(env) == `[{"name":"HERMES_HOME","value":"`+tt.home+`"},{"name":"HOME","value":"`+tt.home+`"},{"name":"A","value":"1"},{"name":"B","value":"2"}]`,
			"env from secret": len(c.EnvFrom) == 1 && c.EnvFrom[0].SecretRef.Name == tt.name+"-env" && *c.EnvFrom[0].SecretRef.Optional,
			"working dir":     c.WorkingDir == tt.home,
			"volumes":         len(pod.Volumes) == 2 && pod.Volumes[0].PersistentVolumeClaim.ClaimName == "hermes-data" && pod.Volumes[1].EmptyDir != nil,
			"own profile only": len(c.VolumeMounts) == 2 && c.VolumeMounts[0].Name == "data" && c.VolumeMounts[0].MountPath == tt.home &&
				c.VolumeMounts[0].SubPath == tt.subPath,
			"/tmp":            c.VolumeMounts[1].Name == "tmp" && c.VolumeMounts[1].MountPath == "/tmp",
			"runs as 10000":   *psc.RunAsUser == 10000 && *psc.RunAsGroup == 10000 && *psc.RunAsNonRoot,
			"volume writable": *psc.FSGroup == 10000 && *psc.FSGroupChangePolicy == corev1.FSGroupChangeOnRootMismatch,
			"seccomp":         psc.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault,
			"no escalation":   sc != nil && !*sc.AllowPrivilegeEscalation && len(sc.Capabilities.Drop) == 1 && sc.Capabilities.Drop[0] == "ALL",
			"read-only root":  *sc.ReadOnlyRootFilesystem,
			"no token":        pod.ServiceAccountName == GatewayServiceAccount && !*pod.AutomountServiceAccountToken,
			"resources":       c.Resources.Limits.Memory().String() == "512Mi",
			"no env hash":     d.Spec.Template.Annotations[AnnotationEnvHash] == "",
		}
		for what, ok := range checks {
			if !ok {
				t.Errorf("%s: %s is not as pinned", tt.profile, what)
			}
		}
	}
}

func TestDeploymentRefusals(t *testing.T) {
	tests := []struct {
		s    Settings
		want string
	}{
		{Settings{Claim: "c"}, "no image"},
		{Settings{Image: "i"}, "no data volume claim"},
	}
	for _, tt := range tests {
		if _, err := tt.s.Deployment("ns", "coder"); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("got %v, want %q", err, tt.want)
		}
	}
	if _, err := (Settings{Image: "i", Claim: "c"}).Deployment("ns", strings.Repeat("a", 64)); err == nil {
		t.Error("a 64-character profile is no label value")
	}
}

// The hash covers what runs, not the replicas; a template read back with
// the API's defaults added is not drift, a changed image is.
func TestHashAndDrift(t *testing.T) {
	s := Settings{Image: "i:1", Claim: "c", UID: 10000, GID: 10000}
	a, _ := s.Deployment("ns", "coder")
	b := a.DeepCopy()
	one := int32(1)
	b.Spec.Replicas = &one
	if specHash(a) != specHash(b) {
		t.Error("replicas changed the hash")
	}
	live := a.DeepCopy()
	live.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways
	live.Spec.Template.Spec.Containers[0].TerminationMessagePath = "/dev/termination-log"
	live.Spec.Template.Spec.DNSPolicy = corev1.DNSClusterFirst
	if templateDrifted(live, a, true) {
		t.Error("the API's defaults read as drift")
	}
	theirs := live.DeepCopy()
	theirs.Spec.Template.Annotations = map[string]string{"sidecar.example/inject": "true"}
	theirs.Spec.Template.Spec.Containers[0].Env = append(theirs.Spec.Template.Spec.Containers[0].Env, corev1.EnvVar{Name: "THEIRS", Value: "1"})
	if templateDrifted(theirs, a, false) {
		t.Error("another manager's annotation and env var read as drift of ours")
	}
	if !templateDrifted(theirs, a, true) {
		t.Error("adopting: an env var of theirs is not drift")
	}
	live.Spec.Template.Spec.Containers[0].Image = "other:2"
	if !templateDrifted(live, a, false) {
		t.Error("a changed image is not drift")
	}
	q := a.DeepCopy()
	q.Spec.Template.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("0.5Gi")}
	canon := q.DeepCopy()
	canon.Spec.Template.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi")}
	if templateDrifted(canon, q, false) {
		t.Error("a quantity the API wrote canonically reads as drift")
	}
	s.Image = "i:2"
	c, _ := s.Deployment("ns", "coder")
	if specHash(a) == specHash(c) {
		t.Error("a new image kept the hash")
	}
}

// A pod-template patch is applied to every gateway's template, after ours:
// it adds (tolerations, pull secrets, annotations, a probe), overrides
// (resources) and is part of the hash; the selector's labels and the env
// hash stay ours.
func TestTemplatePatch(t *testing.T) {
	patch, err := ParseTemplatePatch([]byte(`
metadata:
  annotations:
    team.example/owner: platform
  labels:
    app.kubernetes.io/instance: not-this
spec:
  imagePullSecrets:
  - name: registry
  tolerations:
  - key: dedicated
    operator: Equal
    value: hermes
    effect: NoSchedule
  containers:
  - name: gateway
    resources:
      requests:
        cpu: 100m
    readinessProbe:
      exec:
        command: ["hermes", "gateway", "status"]
`))
	if err != nil {
		t.Fatal(err)
	}
	s := Settings{Image: "i:1", Claim: "c", UID: 10000, GID: 10000, TemplatePatch: patch}
	d, err := s.deployment("ns", "coder", "abc")
	if err != nil {
		t.Fatal(err)
	}
	tm := d.Spec.Template
	c := tm.Spec.Containers[0]
	checks := map[string]bool{
		"annotation":        tm.Annotations["team.example/owner"] == "platform",
		"env hash kept":     tm.Annotations[AnnotationEnvHash] == "abc",
		"selector label":    tm.Labels[LabelInstance] == "coder",
		"pull secret":       len(tm.Spec.ImagePullSecrets) == 1 && tm.Spec.ImagePullSecrets[0].Name == "registry",
		"toleration":        len(tm.Spec.Tolerations) == 1 && tm.Spec.Tolerations[0].Key == "dedicated",
		"merged container":  len(tm.Spec.Containers) == 1 && c.Image == "i:1" && c.ReadinessProbe != nil && c.Resources.Requests.Cpu().String() == "100m",
		"security kept":     c.SecurityContext != nil && *c.SecurityContext.ReadOnlyRootFilesystem,
		"env kept":          len(c.Env) == 2 && len(c.VolumeMounts) == 2,
		"hash of the patch": specHash(d) != specHash(must(Settings{Image: "i:1", Claim: "c", UID: 10000, GID: 10000}.deployment("ns", "coder", "abc"))),
	}
	for what, ok := range checks {
		if !ok {
			t.Errorf("%s is not as patched", what)
		}
	}
	for _, empty := range []string{"{}", "# nothing yet\n", ""} {
		if p, err := ParseTemplatePatch([]byte(empty)); err != nil || p != nil {
			t.Errorf("%q: %s, %v; want no patch", empty, p, err)
		}
	}
	for _, bad := range []string{"spec: {containers: [{name: gateway, imagePulPolicy: Always}]}", "kind: Pod", "- a", "spec: {containers: [{$patch: replace}]}"} {
		if _, err := ParseTemplatePatch([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
