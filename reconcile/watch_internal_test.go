package reconcile

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
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
	p := &Pass{Reader: desired.NewReader("/opt/data", desired.Options{HermesVersion: "0.21.3"}), Engine: slotNames{dir: "/run/service"}}
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
	w.leave(out, nil)
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
		if got := w.note(ev); got != tc.want {
			t.Errorf("%s %s: relevant = %v, want %v", tc.op, tc.name, got, tc.want)
		}
	}

	// After a failed pass nothing is known: every slot event counts.
	w.leave(Outcome{Err: errors.New("lock: busy"), Observed: out.Observed}, nil)
	for _, name := range []string{"gateway-kept", "gateway-new"} {
		if !w.note(fsnotify.Event{Name: filepath.Join(scandir, name), Op: fsnotify.Create}) {
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
	}}, nil)
	if d, ok := w.nextRetry(); !ok || d != w.opt.BackoffMin {
		t.Fatalf("first backoff %s, %v; want %s (one per key, not one per failed action)", d, ok, w.opt.BackoffMin)
	}
	// Its time comes; the pass that runs then finds nothing to do for it.
	now = now.Add(w.opt.BackoffMin + time.Millisecond)
	if d, ok := w.nextRetry(); !ok || d < w.opt.BackoffMin {
		t.Fatalf("an expired entry re-arms the retry in %s, want at least %s", d, w.opt.BackoffMin)
	}
	w.account(logr.Discard(), Outcome{}, nil)
	if _, ok := w.nextRetry(); ok || w.retry.Len() != 0 {
		t.Fatalf("backoff of %d keys kept after a pass that needed nothing of them", w.retry.Len())
	}
}

// TestEventsBecomeKeys: a changed path asks for its profile's key, or for
// a full pass when every profile depends on it; an intent file rewritten
// with the intent it had asks for nothing.
func TestEventsBecomeKeys(t *testing.T) {
	root := t.TempDir()
	write := func(rel, data string) {
		t.Helper()
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p+".tmp", []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(p+".tmp", p); err != nil {
			t.Fatal(err)
		}
	}
	write("config.yaml", "model: x\n")
	for _, p := range []string{"a", "b"} {
		write("profiles/"+p+"/SOUL.md", p)
		write("profiles/"+p+"/gateway_state.json", `{"desired_state":"running"}`)
	}
	scandir := filepath.Join(t.TempDir(), "scan")
	p := &Pass{Reader: desired.NewReader(root, desired.Options{HermesVersion: "0.21.3"}), Engine: slotNames{dir: scandir}}
	w := newWatchLoop(p, WatchOptions{}, logr.Discard())
	if _, err := p.Reader.Load(nil); err != nil {
		t.Fatal(err)
	}
	ev := func(rel string, op fsnotify.Op) fsnotify.Event {
		return fsnotify.Event{Name: filepath.Join(root, rel), Op: op}
	}
	for _, tc := range []struct {
		name      string
		multiplex bool
		before    func()
		events    []fsnotify.Event
		keys      []Key
		full      bool
	}{
		{name: "a gateway rewrites its state with the same intent: no pass",
			before: func() {
				write("profiles/a/gateway_state.json", `{"desired_state":"running","gateway_state":"running","updated_at":"2026-12-01T00:00:00Z"}`)
			},
			events: []fsnotify.Event{ev("profiles/a/gateway_state.json.tmp", fsnotify.Create), ev("profiles/a/gateway_state.json", fsnotify.Create)}},
		{name: "a gateway held down after a failure: `hermes gateway start` rewriting the same intent is news",
			before: func() {
				w.held["a"] = true
				write("profiles/a/gateway_state.json", `{"desired_state":"running","updated_at":1800000000}`)
			},
			events: []fsnotify.Event{ev("profiles/a/gateway_state.json", fsnotify.Create)}, keys: []Key{"a"}},
		{name: "hermes gateway stop writes a new intent",
			before: func() { delete(w.held, "a"); write("profiles/a/gateway_state.json", `{"desired_state":"stopped"}`) },
			events: []fsnotify.Event{ev("profiles/a/gateway_state.json", fsnotify.Create)}, keys: []Key{"a"}},
		{name: "a config.yaml edit", events: []fsnotify.Event{ev("profiles/b/config.yaml", fsnotify.Write)}, keys: []Key{"b"}},
		{name: "a profile published by rename", events: []fsnotify.Event{ev("profiles/c", fsnotify.Create)}, keys: []Key{"c"}},
		{name: "a tombstone", events: []fsnotify.Event{ev("profiles/.deleted/b", fsnotify.Create)}, keys: []Key{"b"}},
		{name: "a slot deleted by hand", events: []fsnotify.Event{{Name: filepath.Join(scandir, "gateway-b"), Op: fsnotify.Remove}}, keys: []Key{"b"}},
		{name: "noise: a pid file, a staging dir, a dot entry of the scandir",
			events: []fsnotify.Event{ev("profiles/a/gateway.pid", fsnotify.Create), ev("profiles/.x.staging-1", fsnotify.Create),
				{Name: filepath.Join(scandir, ".s6-svscan"), Op: fsnotify.Create}}},
		{name: "several at once, sorted, default first",
			events: []fsnotify.Event{ev("profiles/b/SOUL.md", fsnotify.Write), ev("gateway_state.json", fsnotify.Remove), ev("profiles/a/.env", fsnotify.Create)},
			keys:   []Key{"default", "a", "b"}},
		{name: "multiplex: a named profile's change is default's too",
			multiplex: true, events: []fsnotify.Event{ev("profiles/b/config.yaml", fsnotify.Write)}, keys: []Key{"default", "b"}},
		{name: "the root config.yaml, topology unchanged: default only",
			before: func() { write("config.yaml", "model: y\n") },
			events: []fsnotify.Event{ev("config.yaml", fsnotify.Create)}, keys: []Key{"default"}},
		{name: "the root config.yaml turns multiplex on: every profile",
			before: func() { write("config.yaml", "multiplex_profiles: true\n") },
			events: []fsnotify.Event{ev("config.yaml", fsnotify.Create)}, full: true},
		{name: "profiles/ itself replaced", events: []fsnotify.Event{ev("profiles", fsnotify.Remove)}, full: true},
		{name: "the scandir replaced", events: []fsnotify.Event{{Name: scandir, Op: fsnotify.Rename}}, full: true},
	} {
		w.multiplex = tc.multiplex
		if tc.before != nil {
			tc.before()
		}
		for _, e := range tc.events {
			w.note(e)
		}
		keys, full := w.take()
		if full != tc.full || !slices.Equal(keys, tc.keys) {
			t.Errorf("%s: take() = %v, full %v; want %v, full %v", tc.name, keys, full, tc.keys, tc.full)
		}
	}

	// A watched dir that inotify dropped is forgotten, to be watched again;
	// so is every dir under it, which gets no event of its own when its
	// parent is moved away.
	w.watched[filepath.Join(root, "profiles", "a")] = true
	w.note(ev("profiles/a", fsnotify.Remove))
	if w.watched[filepath.Join(root, "profiles", "a")] {
		t.Error("a removed profile dir is still thought watched")
	}
	w.watched[filepath.Join(root, "profiles")] = true
	w.watched[filepath.Join(root, "profiles", "b")] = true
	w.watched[filepath.Join(root, "other")] = true
	w.note(ev("profiles", fsnotify.Rename))
	if w.watched[filepath.Join(root, "profiles")] || w.watched[filepath.Join(root, "profiles", "b")] || !w.watched[filepath.Join(root, "other")] {
		t.Errorf("after profiles/ moved away, watched = %v", w.watched)
	}
}

// deathRecords is slotNames that also keeps each slot's deaths, as s6
// keeps supervise/death_tally.
type deathRecords struct {
	slotNames
	deaths map[string][]Death
}

func (d deathRecords) DeathDir(unit string) string { return filepath.Join(d.dir, unit, "supervise") }
func (d deathRecords) Deaths(path string) ([]Death, bool) {
	if filepath.Base(path) != "death_tally" {
		return nil, false
	}
	return d.deaths[filepath.Base(filepath.Dir(filepath.Dir(path)))], true
}

// TestDeathsRunAPassOnlyForACrashLoop: a death record event costs a read,
// and a pass only when the deaths make a crash loop.
func TestDeathsRunAPassOnlyForACrashLoop(t *testing.T) {
	now := time.Now()
	crashes := func(n int, exit, sig int) []Death {
		var out []Death
		for i := range n {
			out = append(out, Death{At: now.Add(-time.Duration(n-i) * time.Second), Exit: exit, Signal: sig})
		}
		return out
	}
	eng := deathRecords{slotNames: slotNames{dir: "/run/service"}, deaths: map[string][]Death{
		"gateway-loop": crashes(5, 1, 0), "gateway-once": crashes(1, 1, 0), "gateway-stops": crashes(9, 0, 15),
		"gateway-clean": crashes(9, 0, 0), "gateway-new": nil,
	}}
	p := &Pass{Reader: desired.NewReader("/opt/data", desired.Options{HermesVersion: "0.21.3"}), Engine: eng,
		Policy: Policy{CrashLoop: CrashLoop{Deaths: 5, Window: time.Minute}}}
	w := newWatchLoop(p, WatchOptions{}, logr.Discard())
	for _, k := range []Key{"loop", "once", "stops", "clean", "new"} {
		w.deathDirs[eng.DeathDir("gateway-"+k)] = k
	}
	for _, tc := range []struct {
		name  string
		event fsnotify.Event
		pass  bool
	}{
		{"five crashes in a minute", fsnotify.Event{Name: "/run/service/gateway-loop/supervise/death_tally", Op: fsnotify.Create}, true},
		{"one crash", fsnotify.Event{Name: "/run/service/gateway-once/supervise/death_tally", Op: fsnotify.Create}, false},
		{"our stops (SIGTERM)", fsnotify.Event{Name: "/run/service/gateway-stops/supervise/death_tally", Op: fsnotify.Create}, false},
		{"clean exits", fsnotify.Event{Name: "/run/service/gateway-clean/supervise/death_tally", Op: fsnotify.Create}, false},
		{"a new slot's empty tally", fsnotify.Event{Name: "/run/service/gateway-new/supervise/death_tally", Op: fsnotify.Create}, false},
		{"the status record", fsnotify.Event{Name: "/run/service/gateway-loop/supervise/status", Op: fsnotify.Create}, false},
	} {
		if got := w.note(tc.event); got != tc.pass {
			t.Errorf("%s: note = %v, want %v", tc.name, got, tc.pass)
		}
		keys, _ := w.take()
		if want := tc.pass; (len(keys) == 1) != want {
			t.Errorf("%s: take() = %v", tc.name, keys)
		}
	}
	// The slot removed: its death records are no longer watched.
	w.watched[eng.DeathDir("gateway-loop")] = true
	w.note(fsnotify.Event{Name: "/run/service/gateway-loop", Op: fsnotify.Remove})
	if _, ok := w.deathDirs[eng.DeathDir("gateway-loop")]; ok || w.watched[eng.DeathDir("gateway-loop")] {
		t.Error("a removed slot's death records are still watched")
	}
}
