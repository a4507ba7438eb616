package reconcile

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/go-logr/logr"

	"github.com/hermes-reconcile/hermes-reconcile/actual"
)

// TestRelevantScandirEvents: the watch loop must not wake for the writes
// of its own last pass, and must wake for anyone else's.
func TestRelevantScandirEvents(t *testing.T) {
	scandir := "/run/service"
	out := Outcome{
		Actual: actual.State{Slots: []actual.Slot{{Name: "gateway-kept"}, {Name: "gateway-gone"}, {Name: "gateway-broken"}}},
		Results: []Result{
			{Action: Action{Kind: Create, Slot: "gateway-new"}},
			{Action: Action{Kind: Remove, Slot: "gateway-gone"}},
			{Action: Action{Kind: Create, Slot: "gateway-failed"}, Err: errors.New("disk full")},
			{Action: Action{Kind: Update, Slot: "gateway-broken"}, Err: errors.New("timed out")},
		},
	}
	w := newWatchLoop(Sources{Home: "/opt/data", Scandir: scandir}, nil, WatchOptions{}, logr.Discard())
	w.left = slotsLeft(out)
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
	w.left = slotsLeft(Outcome{Err: errors.New("lock: busy"), Actual: out.Actual})
	for _, name := range []string{"gateway-kept", "gateway-new"} {
		if !w.relevant(fsnotify.Event{Name: filepath.Join(scandir, name), Op: fsnotify.Create}) {
			t.Errorf("after a failed pass, CREATE %s not relevant", name)
		}
	}
}

// TestBackoffForgetsWhatNeedsNothing: a slot whose action failed and that
// then needs nothing (its profile deleted, or a retired leftover under
// another name) must not keep the retry timer armed; a slot failing twice in
// one pass backs off once; and the retry never fires sooner than the minimum.
func TestBackoffForgetsWhatNeedsNothing(t *testing.T) {
	w := newWatchLoop(Sources{Home: "/opt/data", Scandir: "/run/service"}, nil, WatchOptions{}, logr.Discard())
	fail := errors.New("boom")
	w.account(logr.Discard(), Outcome{Results: []Result{
		{Action: Action{Kind: Update, Slot: "gateway-a"}, Err: fail},
		{Action: Action{Kind: Start, Slot: "gateway-a"}, Err: errSkipped},
	}})
	if st := w.backoff["gateway-a"]; st.delay != w.opt.BackoffMin {
		t.Fatalf("first backoff %s, want %s (one per slot, not one per failed action)", st.delay, w.opt.BackoffMin)
	}
	if d, ok := w.nextRetry(); !ok || d < w.opt.BackoffMin/2 {
		t.Fatalf("nextRetry = %s, %v", d, ok)
	}
	// Its time comes; the pass that runs then finds nothing to do for it.
	st := w.backoff["gateway-a"]
	st.notBefore = time.Now().Add(-time.Millisecond)
	w.backoff["gateway-a"] = st
	if d, ok := w.nextRetry(); !ok || d < w.opt.BackoffMin {
		t.Fatalf("an expired entry re-arms the retry in %s, want at least %s", d, w.opt.BackoffMin)
	}
	w.account(logr.Discard(), Outcome{})
	if _, ok := w.nextRetry(); ok || len(w.backoff) != 0 {
		t.Fatalf("backoff %v kept after a pass that needed nothing of the slot", w.backoff)
	}
}
