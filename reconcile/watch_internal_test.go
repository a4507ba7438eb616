package reconcile

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/go-logr/logr"

	"github.com/hermes-reconcile/hermes-reconcile/desired"
)

// slotNames is an engine that only names units, as s6 names its slots
// gateway-<profile> in one directory: what the loop asks of Watched.
type slotNames struct{ dir string }

func (slotNames) Render(desired.Service) (Spec, error) { return Spec{}, nil }
func (slotNames) Observe(context.Context, []Key, map[Key]Spec) (Observed, error) {
	return Observed{}, nil
}
func (slotNames) Schedule(Plan) []Step           { return nil }
func (slotNames) Do(context.Context, Step) error { return nil }
func (n slotNames) WatchDirs() []string          { return []string{n.dir} }
func (slotNames) UnitOf(path string) (Key, string, bool) {
	name := filepath.Base(path)
	k, ok := strings.CutPrefix(name, "gateway-")
	return k, name, ok && desired.ValidName(k) == nil
}

func testLoop(opt WatchOptions) *watchLoop {
	p := &Pass{Reader: desired.NewReader("/opt/data", desired.Options{}), Engine: slotNames{dir: "/run/service"}}
	return newWatchLoop(p, opt, logr.Discard())
}

// TestRelevantScandirEvents: the watch loop must not wake for the writes
// of its own last pass, and must wake for anyone else's.
func TestRelevantScandirEvents(t *testing.T) {
	scandir := "/run/service"
	unit := func(k string) *Unit { return &Unit{Key: k, Name: "gateway-" + k} }
	out := Outcome{
		Observed: Observed{Units: map[Key]*Unit{"kept": unit("kept"), "gone": unit("gone"), "broken": unit("broken")}},
		Results: []Result{
			{Action: Action{Kind: Create, Key: "new", Unit: "gateway-new"}},
			{Action: Action{Kind: Remove, Key: "gone", Unit: "gateway-gone"}},
			{Action: Action{Kind: Create, Key: "failed", Unit: "gateway-failed"}, Err: errors.New("disk full")},
			{Action: Action{Kind: Update, Key: "broken", Unit: "gateway-broken"}, Err: errors.New("timed out")},
		},
	}
	w := testLoop(WatchOptions{})
	w.left = unitsLeft(out)
	for _, tc := range []struct {
		name string
		op   fsnotify.Op
		want bool
	}{
		{"gateway-new", fsnotify.Create, false},       // our publishing rename
		{"gateway-gone", fsnotify.Rename, false},      // our retirement
		{"gateway-gone", fsnotify.Remove, false},      //
		{".gateway-new.tmp", fsnotify.Rename, false},  // our staging dir
		{".gateway-gone.del", fsnotify.Create, false}, // our retired slot
		{".s6-svscan", fsnotify.Create, false},        // s6-svscan's
		{"other-service", fsnotify.Remove, false},     // not ours
		{"gateway-kept", fsnotify.Remove, true},       // deleted by hand
		{"gateway-kept", fsnotify.Rename, true},       // moved away by hand
		{"gateway-new", fsnotify.Remove, true},        // deleted right after we made it
		{"gateway-gone", fsnotify.Create, true},       // made again by hand
		{"gateway-unknown", fsnotify.Create, true},    // made by hand
		{"gateway-failed", fsnotify.Create, true},     // its action failed: unknown
		{"gateway-broken", fsnotify.Remove, true},     //
		{"gateway-kept", fsnotify.Create, false},      // the tail of a delete already seen
		{"gateway-kept", fsnotify.Chmod, false},       // never relevant
		{"gateway-kept", fsnotify.Create | fsnotify.Remove, true},
	} {
		ev := fsnotify.Event{Name: filepath.Join(scandir, tc.name), Op: tc.op}
		if got := w.relevant(ev); got != tc.want {
			t.Errorf("%s %s: relevant = %v, want %v", tc.op, tc.name, got, tc.want)
		}
	}

	// After a failed pass nothing is known: every slot event counts.
	w.left = unitsLeft(Outcome{Err: errors.New("lock: busy"), Observed: out.Observed})
	for _, name := range []string{"gateway-kept", "gateway-new"} {
		if !w.relevant(fsnotify.Event{Name: filepath.Join(scandir, name), Op: fsnotify.Create}) {
			t.Errorf("after a failed pass, CREATE %s not relevant", name)
		}
	}
}

// TestBackoffForgetsWhatNeedsNothing: a key whose action failed and that
// then needs nothing (its profile deleted, or a retired leftover under
// another name) must not keep the retry timer armed; a key failing twice in
// one pass backs off once; and the retry never fires sooner than the minimum.
func TestBackoffForgetsWhatNeedsNothing(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	w := testLoop(WatchOptions{})
	w.retry.Now = func() time.Time { return now }
	fail := errors.New("boom")
	w.account(logr.Discard(), Outcome{Results: []Result{
		{Action: Action{Kind: Update, Key: "a", Unit: "gateway-a"}, Err: fail},
		{Action: Action{Kind: Start, Key: "a", Unit: "gateway-a"}, Err: ErrSkipped},
	}})
	if d, ok := w.nextRetry(); !ok || d != w.opt.BackoffMin {
		t.Fatalf("first backoff %s, %v; want %s (one per key, not one per failed action)", d, ok, w.opt.BackoffMin)
	}
	// Its time comes; the pass that runs then finds nothing to do for it.
	now = now.Add(w.opt.BackoffMin + time.Millisecond)
	if d, ok := w.nextRetry(); !ok || d < w.opt.BackoffMin {
		t.Fatalf("an expired entry re-arms the retry in %s, want at least %s", d, w.opt.BackoffMin)
	}
	w.account(logr.Discard(), Outcome{})
	if _, ok := w.nextRetry(); ok || w.retry.Len() != 0 {
		t.Fatalf("backoff of %d keys kept after a pass that needed nothing of them", w.retry.Len())
	}
}
