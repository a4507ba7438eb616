//go:build linux

package kube

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
	"unicode/utf8"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/hermes-reconcile/hermes-reconcile/desired"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile/loop"
)

// EventsName is the reporting controller of our Events.
const EventsName = "hermes-reconcile"

// Events tells what the passes did to each Deployment, and what they hold
// back, as Kubernetes Events on it (events.k8s.io/v1, through the
// manager's recorder): Normal for created, scaled, updated, adopted,
// removed; Warning for an action that failed, a start held by a conflict,
// removals held by the mass-removal guard, a paused Deployment, a halted
// rollout, a crash loop. A hold is told once, when it begins (again if it
// ends and comes back); a pass that changed nothing tells nothing. The
// recorder folds repeats of one event into a series, so the rate is
// bounded whatever the passes do. It reads the outcome of each pass (a
// loop.PassWatcher) and writes nothing of the engine's.
type Events struct {
	rec       events.EventRecorder
	cache     cache.Cache
	api       client.Reader
	namespace string

	mu   sync.Mutex
	uids map[string]types.UID // Deployment name → UID, from the informer
	// said are the holds told, by profile, so each is told once.
	said map[desired.Key]map[string]bool
}

var (
	_ loop.Source      = (*Events)(nil)
	_ loop.PassWatcher = (*Events)(nil)
)

// NewEvents returns the Events of namespace, recorded through rec; c is
// the manager's cache (the Deployments' UIDs, so `kubectl describe` finds
// the Events), api the API reader for a Deployment the cache has not seen
// yet.
func NewEvents(rec events.EventRecorder, c cache.Cache, api client.Reader, namespace string) *Events {
	return &Events{rec: rec, cache: c, api: api, namespace: namespace, uids: map[string]types.UID{}, said: map[desired.Key]map[string]bool{}}
}

// Start learns the UIDs of our Deployments as the informer sees them.
func (e *Events) Start(ctx context.Context, _ func(loop.Event)) error {
	learn := func(obj any) {
		if d, ok := obj.(*appsv1.Deployment); ok {
			if _, ours := ProfileOf(d.Name); ours {
				e.mu.Lock()
				e.uids[d.Name] = d.UID
				e.mu.Unlock()
			}
		}
	}
	return handle(ctx, e.cache, &appsv1.Deployment{}, "deployment", toolscache.ResourceEventHandlerFuncs{
		AddFunc:    learn,
		UpdateFunc: func(_, obj any) { learn(obj) },
		// A deleted Deployment's UID is kept: its removal is still told.
	})
}

// event is one Event to tell.
type event struct {
	key                     desired.Key
	unit                    string
	typ, reason, action, nt string
}

// Passed tells what the pass did and what it began to hold back.
func (e *Events) Passed(out reconcile.Outcome, keys []desired.Key) {
	if out.Err != nil {
		return
	}
	var evs []event
	add := func(k desired.Key, unit, typ, reason, action, note string) {
		evs = append(evs, event{k, unit, typ, reason, action, note})
	}
	for _, r := range out.Results {
		a := r.Action
		if a.Key == "" || errors.Is(r.Err, reconcile.ErrSuperseded) || errors.Is(r.Err, reconcile.ErrSkipped) {
			continue
		}
		action := actionWord(a.Kind)
		if r.Err != nil {
			add(a.Key, a.Unit, corev1.EventTypeWarning, "ApplyFailed", action, fmt.Sprintf("%s failed (%s): %v", a.Kind, a.Reason, r.Err))
			continue
		}
		switch a.Kind {
		case reconcile.Create:
			add(a.Key, a.Unit, corev1.EventTypeNormal, "Created", action, fmt.Sprintf("created with replicas %d: %s", replicaCount(a.WantUp), a.Reason))
		case reconcile.Update:
			add(a.Key, a.Unit, corev1.EventTypeNormal, "Updated", action, fmt.Sprintf("updated: %s", a.Reason))
		case reconcile.Adopt:
			add(a.Key, a.Unit, corev1.EventTypeNormal, "Adopted", action, "adopted: labelled and annotated as ours; what it runs is kept until its next start")
		case reconcile.Start:
			add(a.Key, a.Unit, corev1.EventTypeNormal, "Scaled", action, fmt.Sprintf("scaled to 1: %s", a.Reason))
		case reconcile.Stop:
			if a.Park != nil {
				add(a.Key, a.Unit, corev1.EventTypeWarning, "CrashLoop", action, "scaled to 0 and parked: "+a.Park.Why)
				continue
			}
			add(a.Key, a.Unit, corev1.EventTypeNormal, "Scaled", action, fmt.Sprintf("scaled to 0: %s", a.Reason))
		case reconcile.Remove:
			add(a.Key, a.Unit, corev1.EventTypeNormal, "Removed", action, fmt.Sprintf("deleted: %s", a.Reason))
		}
	}

	// Holds: told when they begin.
	holds := map[desired.Key]map[string]event{}
	hold := func(k desired.Key, unit, reason, action, note string) {
		if holds[k] == nil {
			holds[k] = map[string]event{}
		}
		holds[k][reason] = event{k, unit, corev1.EventTypeWarning, reason, action, note}
	}
	for _, d := range out.Plan.Deferred {
		if reason, ok := holdReasons[d.Reason]; ok {
			hold(d.Key, d.Unit, reason, actionWord(d.Kind), fmt.Sprintf("%s held: %s: %s", d.Kind, d.Reason, d.Why))
		}
	}
	for _, u := range out.Plan.Untouched {
		if u.State == "paused" {
			hold(u.Key, u.Unit, "Paused", "Reconcile", "left as it is: "+u.Why)
		}
	}
	for _, c := range out.Plan.Clashes {
		for _, k := range c.Keys {
			hold(k, DeploymentName(k), "Conflict", "Start", fmt.Sprintf("the gateways of %s and %s both run and claim the same %s: they fight over it; give each profile its own (neither is stopped)",
				c.Keys[0], c.Keys[1], c.Kind))
		}
	}
	covered := keys
	if covered == nil {
		for k := range e.said {
			covered = append(covered, k)
		}
		for k := range holds {
			covered = append(covered, k)
		}
	}
	e.mu.Lock()
	for _, k := range covered {
		now := map[string]bool{}
		for reason, ev := range holds[k] {
			now[reason] = true
			if !e.said[k][reason] {
				evs = append(evs, ev)
			}
		}
		if len(now) == 0 {
			delete(e.said, k)
		} else {
			e.said[k] = now
		}
	}
	e.mu.Unlock()

	for _, ev := range evs {
		e.tell(ev)
	}
	for _, r := range out.Results {
		if r.Err == nil && r.Action.Kind == reconcile.Remove {
			e.mu.Lock()
			delete(e.uids, r.Action.Unit) // told; a Deployment made again has another
			e.mu.Unlock()
		}
	}
}

// holdReasons are the holds told as Warnings, by their Event reason;
// the others (another writer's settle window, a rollout's next batch, a
// profile away for less than --remove-after) are the plan running its
// course.
var holdReasons = map[desired.Reason]string{
	desired.ReasonConflict:         "Conflict",
	desired.ReasonMassRemoval:      "MassRemovalHeld",
	desired.ReasonRolloutHalted:    "RolloutHalted",
	desired.ReasonCrashLoop:        "CrashLoop",
	desired.ReasonPermanentFailure: "GatewayFailed",
}

// actionWord is an action kind as an Event's action. Start and stop are
// two actions, so the recorder never folds a scale to 0 into a scale to 1.
func actionWord(k reconcile.Kind) string {
	switch k {
	case reconcile.Create:
		return "Create"
	case reconcile.Update:
		return "Update"
	case reconcile.Adopt:
		return "Adopt"
	case reconcile.Start:
		return "Start"
	case reconcile.Stop:
		return "Stop"
	case reconcile.Remove:
		return "Delete"
	}
	return "Reconcile"
}

func replicaCount(up bool) int {
	if up {
		return 1
	}
	return 0
}

// uidTimeout bounds the API read of a UID the informer has not seen.
const uidTimeout = 5 * time.Second

// noteLimit is the most an Event's note may hold (the API server's
// NoteLengthLimit).
const noteLimit = 1024

// tell records ev on its Deployment, with the Deployment's UID when it is
// known, so `kubectl describe deployment` lists it.
func (e *Events) tell(ev event) {
	note := ev.nt
	if len(note) > noteLimit {
		note = note[:noteLimit-len("…")]
		for !utf8.ValidString(note) {
			note = note[:len(note)-1]
		}
		note += "…"
	}
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: e.namespace, Name: ev.unit, UID: e.uid(ev.unit)}}
	e.rec.Eventf(d, nil, ev.typ, ev.reason, ev.action, "%s", note)
}

// uid is the Deployment's UID: as the informer saw it, else (one created
// this pass that it has not seen yet) as the API server says; "" when
// neither knows it.
func (e *Events) uid(name string) types.UID {
	e.mu.Lock()
	uid, ok := e.uids[name]
	e.mu.Unlock()
	if ok {
		return uid
	}
	// Bounded: the loop waits for it, and an Event without its UID is
	// still an Event.
	ctx, cancel := context.WithTimeout(context.Background(), uidTimeout)
	defer cancel()
	var d appsv1.Deployment
	if err := e.api.Get(ctx, types.NamespacedName{Namespace: e.namespace, Name: name}, &d); err != nil {
		return ""
	}
	e.mu.Lock()
	e.uids[name] = d.UID
	e.mu.Unlock()
	return d.UID
}
