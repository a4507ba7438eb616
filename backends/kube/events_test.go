//go:build linux

package kube

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/hermes-reconcile/hermes-reconcile/desired"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
)

// nowhere is an API reader that knows no Deployment.
type nowhere struct{ client.Reader }

func (nowhere) Get(context.Context, client.ObjectKey, client.Object, ...client.GetOption) error {
	return errors.New("not found")
}

// told drains what the recorder was told.
func told(rec *events.FakeRecorder) []string {
	var out []string
	for {
		select {
		case e := <-rec.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func result(kind reconcile.Kind, p string, reason desired.Reason, err error) reconcile.Result {
	return reconcile.Result{Action: reconcile.Action{Kind: kind, Key: p, Unit: DeploymentName(p), Reason: reason, WantUp: true}, Err: err}
}

// What a pass did is told as Normal Events, what failed and what it began
// to hold back as Warnings, each hold once; a pass that changed nothing
// tells nothing.
func TestEventsTellWhatPassesDo(t *testing.T) {
	rec := events.NewFakeRecorder(100)
	e := NewEvents(rec, nil, nowhere{}, "ns")
	e.uids["hermes-gateway-a"] = types.UID("uid-a")

	e.Passed(reconcile.Outcome{Results: []reconcile.Result{
		result(reconcile.Create, "a", desired.ReasonProfileAdded, nil),
		result(reconcile.Start, "b", desired.ReasonIntentRunning, nil),
		result(reconcile.Stop, "c", desired.ReasonIntentStopped, nil),
		result(reconcile.Update, "d", desired.ReasonSpecChanged, nil),
		result(reconcile.Adopt, "e", desired.ReasonAdopted, nil),
		result(reconcile.Remove, "f", desired.ReasonProfileRemoved, nil),
		result(reconcile.Create, "g", desired.ReasonProfileAdded, errors.New("422 Invalid")),
		result(reconcile.Start, "g", desired.ReasonIntentRunning, reconcile.ErrSkipped),
		result(reconcile.Create, "h", desired.ReasonProfileAdded, fmt.Errorf("%w: by another writer", reconcile.ErrSuperseded)),
		{Action: reconcile.Action{Kind: reconcile.Clean, Unit: "x"}},
	}}, nil)
	want := []string{
		"Normal Created created with replicas 1: profile_added",
		"Normal Scaled scaled to 1: intent_running",
		"Normal Scaled scaled to 0: intent_stopped",
		"Normal Updated updated: spec_changed",
		"Normal Adopted adopted: labelled and annotated as ours; what it runs is kept until its next start",
		"Normal Removed deleted: profile_removed",
		"Warning ApplyFailed create failed (profile_added): 422 Invalid",
	}
	if got := told(rec); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("told\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	held := reconcile.Outcome{Plan: reconcile.Plan{
		Deferred: []reconcile.Deferral{
			{Key: "two", Unit: "hermes-gateway-two", Kind: reconcile.Start, Reason: desired.ReasonConflict, Why: "one already claims the Telegram bot token"},
			{Key: "x", Unit: "hermes-gateway-x", Kind: reconcile.Remove, Reason: desired.ReasonMassRemoval, Why: "profile_removed, held"},
			{Key: "y", Unit: "hermes-gateway-y", Kind: reconcile.Create, Reason: desired.ReasonSettling, Why: "just created"},
		},
		Untouched: []reconcile.Untouched{{Key: "p", Unit: "hermes-gateway-p", State: "paused", Why: "paused by its annotation"}},
	}}
	e.Passed(held, nil)
	want = []string{
		"Warning Conflict start held: conflict: one already claims the Telegram bot token",
		"Warning MassRemovalHeld remove held: mass_removal: profile_removed, held",
		"Warning Paused left as it is: paused by its annotation",
	}
	got := told(rec)
	if slices.Sort(got); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("told\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	e.Passed(held, nil)
	e.Passed(reconcile.Outcome{}, []desired.Key{"two"})
	if got := told(rec); len(got) != 0 {
		t.Errorf("holds told again, or a pass that changed nothing told %v", got)
	}
	e.Passed(held, nil)
	if got := told(rec); len(got) != 1 || !strings.HasPrefix(got[0], "Warning Conflict") {
		t.Errorf("a hold that ended (a keyed pass found none) and came back is told again; told %v", got)
	}
	e.Passed(reconcile.Outcome{Err: errors.New("scandir missing"), Results: held.Results}, nil)
	if got := told(rec); len(got) != 0 {
		t.Errorf("a failed pass told %v", got)
	}
}

func TestEventNotesFitTheAPI(t *testing.T) {
	rec := events.NewFakeRecorder(1)
	e := NewEvents(rec, nil, nowhere{}, "ns")
	e.tell(event{unit: "hermes-gateway-a", typ: "Warning", reason: "ApplyFailed", action: "Create", nt: strings.Repeat("é", 2000)})
	note := strings.TrimPrefix(<-rec.Events, "Warning ApplyFailed ")
	if len(note) > noteLimit || !strings.HasSuffix(note, "…") {
		t.Errorf("a note of %d bytes, want at most %d ending in …", len(note), noteLimit)
	}
}
