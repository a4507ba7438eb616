//go:build linux

package kube

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/util/csaupgrade"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/hermes-reconcile/hermes-reconcile/desired"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
)

// op is a step of the Kubernetes engine: one API write.
type op uint8

const (
	opCreate op = iota + 1
	opWrite
	opScale
	opDelete
)

var opNames = [...]string{
	opCreate: "create",
	opWrite:  "write",
	opScale:  "scale",
	opDelete: "delete",
}

func (o op) String() string { return opNames[o] }

// FieldManager is our server-side apply field manager: the fields of a
// Deployment we set are ours, those another manager sets are left alone.
const FieldManager = "hermes-reconcile"

// legacyManager wrote our Deployments before server-side apply (Update,
// under the client's default manager, the binary's name): its fields are
// handed to FieldManager at the next write, so that what we no longer set
// goes (a mount of the whole volume, before each profile had its own).
const legacyManager = "hermes-reconcile-kube"

// Engine keeps one Deployment per profile in one namespace.
type Engine struct {
	c         client.Client
	namespace string
	settings  Settings
	// envHashes is each profile's env Secret's content hash, as Prepare
	// read them for the pass.
	envHashes map[desired.Key]string
	// workers is how many API writes a pass makes at once.
	workers int
}

// WithWorkers lets a pass make n API writes at once (each profile's in
// order): a cold pass of 1,000 profiles is 1,000 round trips.
func (e *Engine) WithWorkers(n int) *Engine {
	e.workers = n
	return e
}

// Workers is how many of a pass's steps may run at once
// (reconcile.Parallel): each step is one API write of one profile.
func (e *Engine) Workers() int { return max(1, e.workers) }

var (
	_ reconcile.Engine   = (*Engine)(nil)
	_ reconcile.Preparer = (*Engine)(nil)
	_ reconcile.Parallel = (*Engine)(nil)
)

// New returns the engine of namespace through c: a cached client in the
// controller (reads from its informers), a direct one for --once.
func New(c client.Client, namespace string, s Settings) *Engine {
	return &Engine{c: c, namespace: namespace, settings: s}
}

// Prepare reads what the renderings of a pass depend on besides the
// profiles: the env Secrets (labelled SecretLabel) of the namespace, one
// list (from the cache, in watch mode). A Secret that cannot be read fails
// the pass: rendering without it would roll every gateway.
func (e *Engine) Prepare(ctx context.Context, _ []desired.Key) error {
	var list corev1.SecretList
	if err := e.c.List(ctx, &list, client.InNamespace(e.namespace), client.MatchingLabels{SecretLabel: "true"}); err != nil {
		return fmt.Errorf("list the env Secrets (labelled %s=true) in %s: %w", SecretLabel, e.namespace, err)
	}
	e.envHashes = map[desired.Key]string{}
	for i := range list.Items {
		sec := &list.Items[i]
		if k, ok := profileOfSecret(sec.Name); ok {
			e.envHashes[k] = secretHash(sec)
		}
	}
	return nil
}

// profileOfSecret is the profile whose env Secret name is, false if none.
func profileOfSecret(name string) (desired.Key, bool) {
	rest, ok := strings.CutSuffix(name, "-env")
	if !ok {
		return "", false
	}
	return ProfileOf(rest)
}

// secretHash is the hash of a Secret's content: its keys and values, in
// key order. Nothing of the values leaves it.
func secretHash(s *corev1.Secret) string {
	keys := make([]string, 0, len(s.Data))
	for k := range s.Data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h := sha256.New()
	for _, k := range keys {
		fmt.Fprintf(h, "%d:%s%d:", len(k), k, len(s.Data[k]))
		h.Write(s.Data[k])
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}

// Render is the Deployment of svc, its replicas left to the run state.
func (e *Engine) Render(svc desired.Service) (reconcile.Spec, error) {
	d, err := e.settings.deployment(e.namespace, svc.Profile, e.envHashes[svc.Profile])
	if err != nil {
		return reconcile.Spec{}, err
	}
	spec := specOf(d)
	d.Annotations[AnnotationHash] = spec.Hash
	spec.Payload = d
	return spec, nil
}

// wanted is the Deployment an action's rendering carries.
func wanted(a reconcile.Action) (*appsv1.Deployment, bool) {
	d, ok := a.Spec.Payload.(*appsv1.Deployment)
	return d, ok
}

// ours reports whether d carries our label: only those are ever removed.
func ours(d *appsv1.Deployment) bool { return d.Labels[LabelManagedBy] == ManagedBy }

// Observe reads the Deployments of keys (nil: every one in the namespace).
// A Deployment named like ours without our label is a unit only while its
// profile is wanted (adopted); otherwise it is someone else's.
func (e *Engine) Observe(ctx context.Context, keys []desired.Key, want map[desired.Key]reconcile.Spec) (reconcile.Observed, error) {
	o := reconcile.Observed{Keys: keys, Units: map[desired.Key]*reconcile.Unit{}}
	var found []appsv1.Deployment
	if keys == nil {
		var list appsv1.DeploymentList
		if err := e.c.List(ctx, &list, client.InNamespace(e.namespace)); err != nil {
			return o, fmt.Errorf("list deployments in %s: %w", e.namespace, err)
		}
		found = list.Items
	} else {
		for _, k := range keys {
			var d appsv1.Deployment
			err := e.c.Get(ctx, types.NamespacedName{Namespace: e.namespace, Name: DeploymentName(k)}, &d)
			switch {
			case apierrors.IsNotFound(err):
				continue
			case err != nil:
				return o, fmt.Errorf("get deployment %s/%s: %w", e.namespace, DeploymentName(k), err)
			}
			found = append(found, d)
		}
	}
	pods, err := e.pods(ctx)
	if err != nil {
		return o, err
	}
	for i := range found {
		d := &found[i]
		k, ok := ProfileOf(d.Name)
		if !ok {
			o.Others++
			continue
		}
		_, wanted := want[k]
		if !ours(d) && !wanted {
			o.Others++ // not ours, and no profile to adopt it for
			continue
		}
		o.Units[k] = e.unitOf(k, d, want)
		o.Units[k].Deaths = deaths(pods[k])
		if u := o.Units[k]; u.Running && u.Untouchable == "" {
			if why := failing(d, pods[k]); why != "" {
				u.Failing, u.State = why, "failing"
			}
		}
	}
	return o, nil
}

// pods are the gateway pods of the namespace by profile.
func (e *Engine) pods(ctx context.Context) (map[desired.Key][]corev1.Pod, error) {
	var list corev1.PodList
	if err := e.c.List(ctx, &list, client.InNamespace(e.namespace), client.MatchingLabels{LabelName: AppName}); err != nil {
		return nil, fmt.Errorf("list the gateway pods in %s: %w", e.namespace, err)
	}
	out := map[desired.Key][]corev1.Pod{}
	for _, p := range list.Items {
		k := p.Labels[LabelInstance]
		out[k] = append(out[k], p)
	}
	return out, nil
}

// deaths are the last termination of each container of pods, oldest
// first: what the kubelet keeps of a gateway's deaths (one per container;
// its RestartCount says how many there were). Passes count each once, by
// its time (metrics). One per container never makes the crash-loop guard's
// count: on Kubernetes the kubelet's CrashLoopBackOff is that guard.
func deaths(pods []corev1.Pod) []reconcile.Death {
	var out []reconcile.Death
	for _, p := range pods {
		for _, cs := range p.Status.ContainerStatuses {
			if t := cs.LastTerminationState.Terminated; t != nil && !t.FinishedAt.IsZero() {
				out = append(out, reconcile.Death{At: t.FinishedAt.Time, Exit: int(t.ExitCode), Signal: int(t.Signal)})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out
}

// waitingFailures are the reasons a kubelet gives a container that cannot
// run and will not until something changes (its image, its config, the
// program): not a start that takes its time.
var waitingFailures = map[string]bool{
	"CrashLoopBackOff": true, "ImagePullBackOff": true, "ErrImagePull": true, "InvalidImageName": true,
	"CreateContainerConfigError": true, "CreateContainerError": true, "RunContainerError": true,
}

// failing says why a Deployment that should run a gateway does not, as the
// cluster says it, "" when nothing says so: its pods refused (admission,
// quota: ReplicaFailure), not available within its progress deadline, or a
// container of its pods crash-looping or without its image.
func failing(d *appsv1.Deployment, pods []corev1.Pod) string {
	var why []string
	for _, c := range d.Status.Conditions {
		switch {
		case c.Type == appsv1.DeploymentReplicaFailure && c.Status == corev1.ConditionTrue:
			why = append(why, "pods refused ("+c.Reason+"): "+c.Message)
		case c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionFalse && c.Reason == "ProgressDeadlineExceeded":
			why = append(why, "not available within its progress deadline: "+c.Message)
		}
	}
	seen := map[string]bool{}
	for _, p := range pods {
		if p.DeletionTimestamp != nil {
			continue
		}
		for _, cs := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
			w := cs.State.Waiting
			if w == nil || !waitingFailures[w.Reason] {
				continue
			}
			line := fmt.Sprintf("container %s %s", cs.Name, w.Reason)
			if cs.RestartCount > 0 {
				line += fmt.Sprintf(" (restarts %d", cs.RestartCount)
				if t := cs.LastTerminationState.Terminated; t != nil {
					line += fmt.Sprintf(", last exit %d", t.ExitCode)
				}
				line += ")"
			}
			if w.Message != "" {
				msg := w.Message
				if len(msg) > 200 {
					msg = msg[:200] + "…"
				}
				line += ": " + msg
			}
			if !seen[line] {
				seen[line] = true
				why = append(why, line)
			}
		}
	}
	return strings.Join(why, "; ")
}

// foreignTemplate: d runs a template someone else wrote (not ours, or
// accepted by an adoption), judged strictly: an env var or mount of theirs
// is drift, and replacing it takes the template over whole.
func foreignTemplate(d *appsv1.Deployment) bool {
	return !ours(d) || d.Annotations[AnnotationHash] == "" || d.Annotations[AnnotationAccepted] != ""
}

// paused reports whether d carries AnnotationPaused set to true (as
// strconv.ParseBool reads it: "true", "True", "1"…).
func paused(d *appsv1.Deployment) bool {
	on, err := strconv.ParseBool(d.Annotations[AnnotationPaused])
	return err == nil && on
}

func (e *Engine) unitOf(k desired.Key, d *appsv1.Deployment, want map[desired.Key]reconcile.Spec) *reconcile.Unit {
	replicas := int32(1)
	if d.Spec.Replicas != nil {
		replicas = *d.Spec.Replicas
	}
	st := d.Status
	detail := fmt.Sprintf("replicas %d, ready %d, updated %d", replicas, st.ReadyReplicas, st.UpdatedReplicas)
	if paused(d) {
		// Nothing else of it matters to the plan: it is left as it is.
		return &reconcile.Unit{Key: k, Name: d.Name, State: "paused", Detail: detail, ExitCode: -1,
			Untouchable: "paused by its annotation " + AnnotationPaused + "=" + strconv.Quote(d.Annotations[AnnotationPaused]) +
				": not scaled, rewritten or removed; remove the annotation to hand it back"}
	}
	up := replicas > 0
	// Replicas above 1 are drift the planner clamps: each replica is a
	// gateway, and they would share one bot token.
	u := &reconcile.Unit{Key: k, Name: d.Name, Hash: d.Annotations[AnnotationHash], Registered: true,
		Running: up, WantUp: up, Persisted: up, Instances: int(replicas), ExitCode: -1}
	u.Ours = ours(d) && u.Hash != ""
	u.Rolled, _ = time.Parse(time.RFC3339Nano, d.Annotations[AnnotationRolled])
	u.Absent, _ = time.Parse(time.RFC3339Nano, d.Annotations[AnnotationAbsent])
	if settled, at := rolledOut(d, replicas); settled {
		// Since the new pods became available: what a rollout's batch is
		// judged by (up for --rollout-healthy-after).
		u.Since = at
	}
	var accepted bool
	if spec, ok := want[k]; ok {
		w, _ := spec.Payload.(*appsv1.Deployment)
		drifted := w != nil && templateDrifted(d, w, foreignTemplate(d))
		// A template accepted by an adoption runs until the next start:
		// while it is up, it is no drift.
		accepted = drifted && u.Ours && up && d.Annotations[AnnotationAccepted] == spec.Hash
		if accepted {
			drifted = false
		}
		// Someone else's Deployment running what we would is adopted by a
		// metadata write alone, no new pod: its missing hash is no drift.
		if drifted || (u.Ours && u.Hash != spec.Hash) {
			u.Drift = []string{SpecFile}
		}
	}
	switch {
	case !up:
		u.State = "down"
	case st.ReadyReplicas > 0:
		u.State = "up"
	default:
		u.State = "starting"
	}
	u.Detail = detail
	if accepted {
		u.Detail += "; adopted as it runs: our template takes effect at its next start"
	}
	return u
}

// Schedule is one API write per action.
func (e *Engine) Schedule(p reconcile.Plan) []reconcile.Step {
	var steps []reconcile.Step
	for i, a := range p.Actions {
		if a.Blocked != "" {
			continue
		}
		one := func(op op) {
			steps = append(steps, reconcile.Step{Op: op, For: []int{i}, Acts: []reconcile.Action{a}})
		}
		switch a.Kind {
		case reconcile.Create:
			one(opCreate)
		case reconcile.Update, reconcile.Adopt:
			if a.Write {
				one(opWrite)
			}
		case reconcile.Start, reconcile.Stop:
			one(opScale)
		case reconcile.Remove:
			one(opDelete)
		}
	}
	return steps
}

// Do carries out one write. The API server refusing an object as invalid
// is terminal: the same object is refused until its inputs change.
func (e *Engine) Do(ctx context.Context, s reconcile.Step) error {
	err := e.do(ctx, s)
	if apierrors.IsInvalid(err) {
		return reconcile.Terminal(err)
	}
	return err
}

func (e *Engine) do(ctx context.Context, s reconcile.Step) error {
	a := s.Acts[0]
	key := types.NamespacedName{Namespace: e.namespace, Name: a.Unit}
	switch s.Op {
	case opCreate:
		w, ok := wanted(a)
		if !ok {
			return fmt.Errorf("create %s: no rendering for profile %s", a.Unit, a.Key)
		}
		d := w.DeepCopy()
		d.Spec.Replicas = replicas(a.WantUp)
		return e.apply(ctx, d)
	case opWrite:
		w, ok := wanted(a)
		if !ok {
			return fmt.Errorf("write %s: no rendering for profile %s", a.Unit, a.Key)
		}
		var live appsv1.Deployment
		if err := e.c.Get(ctx, key, &live); err != nil {
			return fmt.Errorf("get %s: %w", a.Unit, err)
		}
		adopt := a.Kind == reconcile.Adopt || foreignTemplate(&live)
		replace := len(a.Files) > 0 || templateDrifted(&live, w, adopt)
		d := w.DeepCopy()
		// The replicas are the run state's, not the template's: as they are.
		d.Spec.Replicas = live.Spec.Replicas
		// Our notes that this write does not change stay: an apply that
		// left them out would drop them.
		for _, k := range []string{AnnotationRolled, AnnotationAbsent} {
			if v, ok := live.Annotations[k]; ok {
				d.Annotations[k] = v
			}
		}
		if replace && adopt && (live.Spec.Replicas == nil || *live.Spec.Replicas > 0) {
			// Adopting restarts nothing: the template running is accepted
			// until the next start, which writes ours. It is applied as it
			// is, so that the fields we take stay what they are.
			replace = false
			d.Annotations[AnnotationAccepted] = w.Annotations[AnnotationHash]
			d.Spec.Strategy, d.Spec.Template = live.Spec.Strategy, *live.Spec.Template.DeepCopy()
		} else if !replace {
			if v, ok := live.Annotations[AnnotationAccepted]; ok {
				d.Annotations[AnnotationAccepted] = v
			}
		}
		if replace && a.Restart {
			d.Annotations[AnnotationRolled] = time.Now().UTC().Format(time.RFC3339Nano)
		}
		if !equalLabels(live.Spec.Selector, d.Spec.Selector) {
			// A selector is immutable: keep the one there, and give the
			// template its labels so it still selects the pods.
			d.Spec.Selector = live.Spec.Selector.DeepCopy()
			if d.Spec.Template.Labels == nil {
				d.Spec.Template.Labels = map[string]string{}
			}
			for k, v := range d.Spec.Selector.MatchLabels {
				d.Spec.Template.Labels[k] = v
			}
		}
		if replace {
			// Fields written before server-side apply (ours under the
			// client's name; all of an adopted Deployment's writers') become
			// ours, so that this apply drops what we no longer set. Another
			// manager's apply keeps its fields.
			if err := e.takeOver(ctx, &live, adopt); err != nil {
				return err
			}
		}
		return e.apply(ctx, d)
	case opScale:
		patch := client.RawPatch(types.MergePatchType, []byte(`{"spec":{"replicas":`+strconv.Itoa(int(*replicas(a.Kind == reconcile.Start)))+`}}`))
		return e.c.Patch(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: e.namespace, Name: a.Unit}}, patch, client.FieldOwner(FieldManager))
	case opDelete:
		var d appsv1.Deployment
		if err := e.c.Get(ctx, key, &d); err != nil {
			if apierrors.IsNotFound(err) {
				return nil
			}
			return fmt.Errorf("get %s: %w", a.Unit, err)
		}
		if !ours(&d) {
			return reconcile.Terminal(fmt.Errorf("%s is not labelled %s=%s: left as it is", a.Unit, LabelManagedBy, ManagedBy))
		}
		uid := d.UID
		err := e.c.Delete(ctx, &d, client.Preconditions{UID: &uid}, client.PropagationPolicy(metav1.DeletePropagationBackground))
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	}
	return fmt.Errorf("kube: no step %q", s.Op)
}

// apply writes d by server-side apply as FieldManager: the fields it sets
// become (or stay) ours, forced over another manager's hand edit of them;
// fields only others set are left as they are; fields we set before and d
// leaves out are dropped.
func (e *Engine) apply(ctx context.Context, d *appsv1.Deployment) error {
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(d)
	if err != nil {
		return fmt.Errorf("apply %s: %w", d.Name, err)
	}
	delete(u, "status")
	unstructured.RemoveNestedField(u, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(u, "spec", "template", "metadata", "creationTimestamp")
	obj := &unstructured.Unstructured{Object: u}
	obj.SetAPIVersion("apps/v1")
	obj.SetKind("Deployment")
	obj.SetNamespace(e.namespace)
	return e.c.Apply(ctx, client.ApplyConfigurationFromUnstructured(obj), client.FieldOwner(FieldManager), client.ForceOwnership)
}

// takeOver hands the fields of the Deployment's earlier writers (Update
// operations, not applies) to FieldManager: our own writes from before
// server-side apply, and (adopting) every writer's.
func (e *Engine) takeOver(ctx context.Context, live *appsv1.Deployment, all bool) error {
	names := sets.New[string]()
	for _, m := range live.ManagedFields {
		if m.Operation != metav1.ManagedFieldsOperationUpdate || m.Subresource != "" || m.Manager == FieldManager {
			continue
		}
		if all || m.Manager == legacyManager {
			names.Insert(m.Manager)
		}
	}
	if names.Len() == 0 {
		return nil
	}
	patch, err := csaupgrade.UpgradeManagedFieldsPatch(live, names, FieldManager)
	if err != nil || patch == nil {
		return err
	}
	if err := e.c.Patch(ctx, live, client.RawPatch(types.JSONPatchType, patch)); err != nil {
		return fmt.Errorf("take over the fields of %s from %v: %w", live.Name, sets.List(names), err)
	}
	return nil
}

func replicas(up bool) *int32 {
	n := int32(0)
	if up {
		n = 1
	}
	return &n
}

func equalLabels(a, b *metav1.LabelSelector) bool {
	if a == nil || b == nil {
		return a == b
	}
	if len(a.MatchLabels) != len(b.MatchLabels) || len(a.MatchExpressions) != 0 {
		return false
	}
	for k, v := range b.MatchLabels {
		if a.MatchLabels[k] != v {
			return false
		}
	}
	return true
}

// PodStates says, per profile, what its pods say that the Deployment does
// not: restarts and a container waiting in CrashLoopBackOff (status only).
func (e *Engine) PodStates(ctx context.Context) (map[desired.Key]string, error) {
	var pods corev1.PodList
	if err := e.c.List(ctx, &pods, client.InNamespace(e.namespace), client.MatchingLabels{LabelName: AppName}); err != nil {
		return nil, err
	}
	out := map[desired.Key]string{}
	for _, p := range pods.Items {
		k := p.Labels[LabelInstance]
		var bits []string
		for _, cs := range p.Status.ContainerStatuses {
			if cs.RestartCount > 0 {
				bits = append(bits, fmt.Sprintf("restarts %d", cs.RestartCount))
			}
			if w := cs.State.Waiting; w != nil && w.Reason != "" {
				bits = append(bits, w.Reason)
			}
		}
		if len(bits) > 0 {
			out[k] = strings.Join(bits, ", ")
		}
	}
	return out, nil
}

// rolledOut reports whether the Deployment's pods all run its template and
// are available, and since when (the Progressing condition's last update
// when the new ReplicaSet became available).
func rolledOut(d *appsv1.Deployment, replicas int32) (bool, time.Time) {
	st := d.Status
	if replicas == 0 || st.ObservedGeneration < d.Generation || st.UpdatedReplicas < replicas || st.AvailableReplicas < replicas {
		return false, time.Time{}
	}
	for _, c := range st.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionTrue && c.Reason == "NewReplicaSetAvailable" {
			return true, c.LastUpdateTime.Time
		}
	}
	return false, time.Time{}
}

// Note keeps a pass's note on the Deployment, as an annotation: when its
// profile was first found gone, or (removed) that it is back.
func (e *Engine) Note(ctx context.Context, n reconcile.Note) error {
	value := "null"
	if !n.Absent.IsZero() {
		value = strconv.Quote(n.Absent.UTC().Format(time.RFC3339Nano))
	}
	patch := client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"annotations":{`+strconv.Quote(AnnotationAbsent)+`:`+value+`}}}`))
	err := e.c.Patch(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: e.namespace, Name: n.Unit}}, patch, client.FieldOwner(FieldManager))
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
