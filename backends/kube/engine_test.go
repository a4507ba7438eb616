//go:build linux

package kube

import (
	"reflect"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hermes-reconcile/hermes-reconcile/desired"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
)

// What the engine observes of a Deployment's replicas and of the paused
// annotation is what the planner clamps and leaves alone: each replica is
// a gateway, and a paused Deployment is no unit to act on.
func TestObserveReplicasAndPaused(t *testing.T) {
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
		paused    bool
		drift     bool
	}{
		{"one replica: up once", ours(n(1), nil, nil), 1, true, "starting", false, false},
		{"no replicas field: the API's default, one", ours(nil, nil, nil), 1, true, "starting", false, false},
		{"three replicas: three gateways, drift to clamp", ours(n(3), nil, nil), 3, true, "starting", false, false},
		{"zero replicas: down, nothing to clamp", ours(n(0), nil, nil), 0, false, "down", false, false},
		{"two replicas and a hand-edited image: both drifts", ours(n(2), nil, otherImage), 2, true, "starting", false, true},
		{"paused: left alone, its replicas not counted", ours(n(3), map[string]string{AnnotationPaused: "true"}, otherImage), 0, false, "paused", true, false},
		{"paused: TRUE, as strconv.ParseBool reads it", ours(n(1), map[string]string{AnnotationPaused: "TRUE"}, nil), 0, false, "paused", true, false},
		{"paused false: ours as ever", ours(n(1), map[string]string{AnnotationPaused: "false"}, otherImage), 1, true, "starting", false, true},
		{"paused with a word ParseBool refuses: not paused", ours(n(1), map[string]string{AnnotationPaused: "yes please"}, nil), 1, true, "starting", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := e.unitOf("coder", tt.d, want)
			if u.Instances != tt.instances || u.Running != tt.running || u.State != tt.state {
				t.Errorf("instances %d running %v state %q, want %d %v %q", u.Instances, u.Running, u.State, tt.instances, tt.running, tt.state)
			}
			if got := u.Untouchable != ""; got != tt.paused {
				t.Errorf("untouchable %q, want paused %v", u.Untouchable, tt.paused)
			}
			if tt.paused && !strings.Contains(u.Untouchable, AnnotationPaused) {
				t.Errorf("untouchable %q does not name the annotation to remove", u.Untouchable)
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

// A Deployment that should run and cannot is failing, with the cluster's
// words: pods refused by admission, past its progress deadline, or a
// container crash-looping or without its image; a start that takes its
// time is not.
func TestFailing(t *testing.T) {
	refused := appsv1.DeploymentCondition{Type: appsv1.DeploymentReplicaFailure, Status: corev1.ConditionTrue, Reason: "FailedCreate",
		Message: `pods "hermes-gateway-coder-1" is forbidden: violates PodSecurity "restricted:latest"`}
	deadline := appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: "ProgressDeadlineExceeded",
		Message: `ReplicaSet "hermes-gateway-coder-1" has timed out progressing.`}
	waiting := func(reason string, restarts int32) corev1.Pod {
		return corev1.Pod{Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "gateway", RestartCount: restarts,
			State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: "back-off"}},
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1}}}}}}
	}
	tests := []struct {
		name  string
		conds []appsv1.DeploymentCondition
		pods  []corev1.Pod
		want  string
	}{
		{"starting: nothing says it fails", nil, []corev1.Pod{waiting("ContainerCreating", 0)}, ""},
		{"admission refused its pods", []appsv1.DeploymentCondition{refused}, nil, "pods refused (FailedCreate): " + refused.Message},
		{"past its progress deadline", []appsv1.DeploymentCondition{deadline}, nil, "not available within its progress deadline: " + deadline.Message},
		{"crash loop", nil, []corev1.Pod{waiting("CrashLoopBackOff", 3)}, "container gateway CrashLoopBackOff (restarts 3, last exit 1): back-off"},
		{"no image", nil, []corev1.Pod{waiting("ImagePullBackOff", 0)}, "container gateway ImagePullBackOff: back-off"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &appsv1.Deployment{Status: appsv1.DeploymentStatus{Conditions: tt.conds}}
			if got := failing(d, tt.pods); got != tt.want {
				t.Errorf("failing = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestDeaths: each container's last termination is a death, oldest first;
// a container that never died, or a termination without its time, is none.
func TestDeaths(t *testing.T) {
	at := func(s int) metav1.Time { return metav1.NewTime(time.Unix(1_800_000_000+int64(s), 0)) }
	pod := func(cs ...corev1.ContainerStatus) corev1.Pod {
		return corev1.Pod{Status: corev1.PodStatus{ContainerStatuses: cs}}
	}
	died := func(s int, exit, sig int32) corev1.ContainerStatus {
		return corev1.ContainerStatus{Name: "gateway", RestartCount: 4, LastTerminationState: corev1.ContainerState{
			Terminated: &corev1.ContainerStateTerminated{ExitCode: exit, Signal: sig, FinishedAt: at(s)}}}
	}
	tests := []struct {
		name string
		pods []corev1.Pod
		want []reconcile.Death
	}{
		{"no pod", nil, nil},
		{"never died", []corev1.Pod{pod(corev1.ContainerStatus{Name: "gateway"})}, nil},
		{"no time", []corev1.Pod{pod(corev1.ContainerStatus{Name: "gateway", LastTerminationState: corev1.ContainerState{
			Terminated: &corev1.ContainerStateTerminated{ExitCode: 1}}})}, nil},
		{"a rollout's two pods, oldest first", []corev1.Pod{pod(died(20, 1, 0)), pod(died(10, 137, 9))},
			[]reconcile.Death{{At: at(10).Time, Exit: 137, Signal: 9}, {At: at(20).Time, Exit: 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := deaths(tt.pods); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("deaths = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// An env Secret's hash changes with any key or value and says nothing of
// them; only hermes-gateway-<profile>-env names a profile's.
func TestSecretHash(t *testing.T) {
	a := &corev1.Secret{Data: map[string][]byte{"TELEGRAM_BOT_TOKEN": []byte("123:abc")}}
	b := &corev1.Secret{Data: map[string][]byte{"TELEGRAM_BOT_TOKEN": []byte("123:abd")}}
	c := &corev1.Secret{Data: map[string][]byte{"TELEGRAM_BOT_TOKE": []byte("N123:abc")}}
	if secretHash(a) == secretHash(b) || secretHash(a) == secretHash(c) {
		t.Error("a rotated or reshaped Secret kept its hash")
	}
	if secretHash(a) != secretHash(a.DeepCopy()) || strings.Contains(secretHash(a), "abc") {
		t.Error("the hash is not a plain hash of the content")
	}
	for name, want := range map[string]string{"hermes-gateway-coder-env": "coder", "hermes-gateway-my.bot-env": "my_bot", "hermes-gateway-default-env": "default"} {
		if k, ok := profileOfSecret(name); !ok || k != want {
			t.Errorf("profileOfSecret(%q) = %q, %v", name, k, ok)
		}
	}
	for _, name := range []string{"hermes-gateway-coder", "registry", "hermes-gateway--env"} {
		if k, ok := profileOfSecret(name); ok {
			t.Errorf("profileOfSecret(%q) = %q", name, k)
		}
	}
}
