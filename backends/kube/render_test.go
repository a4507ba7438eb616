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
	}{
		{"default", "hermes-gateway-default", []string{"gateway", "run", "--replace"}},
		{"coder", "hermes-gateway-coder", []string{"-p", "coder", "gateway", "run", "--replace"}},
		{"my_bot", "hermes-gateway-my.bot", []string{"-p", "my_bot", "gateway", "run", "--replace"}},
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
		checks := map[string]bool{
			"one container":   len(pod.Containers) == 1 && c.Name == "gateway",
			"image":           c.Image == "example.org/hermes:1",
			"command":         len(c.Command) == 1 && c.Command[0] == "hermes",
			"args":            strings.Join(c.Args, " ") == strings.Join(tt.args, " "),
			"env, sorted":     string(env) == `[{"name":"HERMES_HOME","value":"/opt/data"},{"name":"HOME","value":"/opt/data"},{"name":"A","value":"1"},{"name":"B","value":"2"}]`,
			"env from secret": len(c.EnvFrom) == 1 && c.EnvFrom[0].SecretRef.Name == tt.name+"-env" && *c.EnvFrom[0].SecretRef.Optional,
			"working dir":     c.WorkingDir == "/opt/data",
			"volume":          len(pod.Volumes) == 1 && pod.Volumes[0].PersistentVolumeClaim.ClaimName == "hermes-data",
			"mount":           len(c.VolumeMounts) == 1 && c.VolumeMounts[0].MountPath == "/opt/data" && c.VolumeMounts[0].Name == "data",
			"runs as 10000":   *pod.SecurityContext.RunAsUser == 10000 && *pod.SecurityContext.RunAsGroup == 10000 && *pod.SecurityContext.RunAsNonRoot,
			"resources":       c.Resources.Limits.Memory().String() == "512Mi",
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
	if templateDrifted(live, a) {
		t.Error("the API's defaults read as drift")
	}
	live.Spec.Template.Spec.Containers[0].Image = "other:2"
	if !templateDrifted(live, a) {
		t.Error("a changed image is not drift")
	}
	s.Image = "i:2"
	c, _ := s.Deployment("ns", "coder")
	if specHash(a) == specHash(c) {
		t.Error("a new image kept the hash")
	}
}
