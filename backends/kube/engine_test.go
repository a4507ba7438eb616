//go:build linux

package kube

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/hermes-reconcile/hermes-reconcile/desired"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
)

// What the engine observes of a Deployment's replicas is what the planner
// clamps: each replica is a gateway.
func TestObserveReplicas(t *testing.T) {
	e := New(nil, "ns", Settings{Image: "i:1", Claim: "c", UID: 10000, GID: 10000})
	spec, err := e.Render(desired.Service{Profile: "coder"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[desired.Key]reconcile.Spec{"coder": spec}
	ours := func(replicas *int32, annotations map[string]string, edit func(*appsv1.Deployment)) *appsv1.Deployment {
		d := spec.Payload.(*appsv1.Deployment).DeepCopy()
		d.Spec.Replicas = replicas
		for k, v := range annotations {
			d.Annotations[k] = v
		}
		if edit != nil {
			edit(d)
		}
		return d
	}
	n := func(v int32) *int32 { return &v }
	otherImage := func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "other:2" }
	tests := []struct {
		name      string
		d         *appsv1.Deployment
		instances int
		running   bool
		state     string
		drift     bool
	}{
		{"one replica: up once", ours(n(1), nil, nil), 1, true, "starting", false},
		{"no replicas field: the API's default, one", ours(nil, nil, nil), 1, true, "starting", false},
		{"three replicas: three gateways, drift to clamp", ours(n(3), nil, nil), 3, true, "starting", false},
		{"zero replicas: down, nothing to clamp", ours(n(0), nil, nil), 0, false, "down", false},
		{"two replicas and a hand-edited image: both drifts", ours(n(2), nil, otherImage), 2, true, "starting", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := e.unitOf("coder", tt.d, want)
			if u.Instances != tt.instances || u.Running != tt.running || u.State != tt.state {
				t.Errorf("instances %d running %v state %q, want %d %v %q", u.Instances, u.Running, u.State, tt.instances, tt.running, tt.state)
			}
			if got := len(u.Drift) > 0; got != tt.drift {
				t.Errorf("drift %v, want %v", u.Drift, tt.drift)
			}
			if u.Name != DeploymentName("coder") {
				t.Errorf("name %q", u.Name)
			}
		})
	}
}
