package loop

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/hermes-reconcile/hermes-reconcile/desired"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
)

// nothing is an engine with no units: the rules under test are the loop's.
type nothing struct{}

func (nothing) Render(desired.Service) (reconcile.Spec, error) { return reconcile.Spec{}, nil }
func (nothing) Observe(context.Context, []desired.Key, map[desired.Key]reconcile.Spec) (reconcile.Observed, error) {
	return reconcile.Observed{}, nil
}
func (nothing) Schedule(reconcile.Plan) []reconcile.Step { return nil }
func (nothing) Do(context.Context, reconcile.Step) error { return nil }

func testLoop(root string, opt Options) *loop {
	p := &reconcile.Pass{Reader: desired.NewReader(root, desired.Options{HermesVersion: "0.21.3"}), Engine: nothing{}}
	return newLoop(p, opt, logr.Discard())
}

// renameInto writes data to path as Hermes does: a temp file, renamed into
// place.
func renameInto(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".tmp", []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
}

// TestOwnUnitEvents: the loop must not wake for the writes of its own last
// pass, and must wake for anyone else's.
func TestOwnUnitEvents(t *testing.T) {
	unit := func(k string) *reconcile.Unit { return &reconcile.Unit{Key: k, Name: "gateway-" + k} }
	out := reconcile.Outcome{
		Observed: reconcile.Observed{Units: map[desired.Key]*reconcile.Unit{"kept": unit("kept"), "gone": unit("gone"), "broken": unit("broken")}},
		Results: []reconcile.Result{
			{Action: reconcile.Action{Kind: reconcile.Create, Key: "new", Unit: "gateway-new"}},
			{Action: reconcile.Action{Kind: reconcile.Remove, Key: "gone", Unit: "gateway-gone"}},
			{Action: reconcile.Action{Kind: reconcile.Create, Key: "failed", Unit: "gateway-failed"}, Err: errors.New("disk full")},
			{Action: reconcile.Action{Kind: reconcile.Update, Key: "broken", Unit: "gateway-broken"}, Err: errors.New("timed out")},
		},
	}
	l := testLoop("/opt/data", Options{})
	l.leave(out, nil)
	for _, tc := range []struct {
		key  string
		op   UnitOp
		want bool
	}{
		{"new", Appeared, false},    // our publishing rename
		{"gone", Gone, false},       // our retirement
		{"kept", Gone, true},        // deleted or moved away by hand
		{"new", Gone, true},         // deleted right after we made it
		{"gone", Appeared, true},    // made again by hand
		{"unknown", Appeared, true}, // made by hand
		{"failed", Appeared, true},  // its action failed: unknown
		{"broken", Gone, true},      //
		{"kept", Appeared, false},   // the tail of a delete already seen
		{"kept", Changed, true},     // its manager says something new
	} {
		if got := l.note(Event{Kind: Unit, Key: tc.key, Unit: "gateway-" + tc.key, Op: tc.op}); got != tc.want {
			t.Errorf("%v %s: relevant = %v, want %v", tc.op, tc.key, got, tc.want)
		}
	}

	// After a failed pass nothing is known: every unit event counts.
	l.leave(reconcile.Outcome{Err: errors.New("lock: busy"), Observed: out.Observed}, nil)
	for _, k := range []string{"kept", "new"} {
		if !l.note(Event{Kind: Unit, Key: k, Op: Appeared}) {
			t.Errorf("after a failed pass, %s appearing is not relevant", k)
		}
	}
}

// TestBackoffForgetsWhatNeedsNothing: a key whose action failed and that
// then needs nothing (its profile deleted, or a retired leftover under
// another name) must not keep the retry timer armed; a key failing twice in
// one pass backs off once; and the retry never fires sooner than the minimum.
func TestBackoffForgetsWhatNeedsNothing(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	l := testLoop("/opt/data", Options{Now: func() time.Time { return now }})
	fail := errors.New("boom")
	l.account(logr.Discard(), reconcile.Outcome{Results: []reconcile.Result{
		{Action: reconcile.Action{Kind: reconcile.Update, Key: "a", Unit: "gateway-a"}, Err: fail},
		{Action: reconcile.Action{Kind: reconcile.Start, Key: "a", Unit: "gateway-a"}, Err: reconcile.ErrSkipped},
	}}, nil)
	if d, ok := l.nextRetry(); !ok || d != l.opt.BackoffMin {
		t.Fatalf("first backoff %s, %v; want %s (one per key, not one per failed action)", d, ok, l.opt.BackoffMin)
	}
	// Its time comes; the pass that runs then finds nothing to do for it.
	now = now.Add(l.opt.BackoffMin + time.Millisecond)
	if d, ok := l.nextRetry(); !ok || d < l.opt.BackoffMin {
		t.Fatalf("an expired entry re-arms the retry in %s, want at least %s", d, l.opt.BackoffMin)
	}
	l.account(logr.Discard(), reconcile.Outcome{}, nil)
	if _, ok := l.nextRetry(); ok || l.retry.Len() != 0 {
		t.Fatalf("backoff of %d keys kept after a pass that needed nothing of them", l.retry.Len())
	}
}

// TestEventsBecomeKeys: an event asks for its profile's key, or for a full
// pass when every profile depends on it; an intent file rewritten with the
// intent it had asks for nothing; in multiplex topology a named profile's
// change is default's too; a scoped loop (a host) asks only for its own.
func TestEventsBecomeKeys(t *testing.T) {
	root := t.TempDir()
	write := func(rel, data string) { t.Helper(); renameInto(t, filepath.Join(root, rel), data) }
	write("config.yaml", "model: x\n")
	for _, p := range []string{"a", "b"} {
		write("profiles/"+p+"/SOUL.md", p)
		write("profiles/"+p+"/gateway_state.json", `{"desired_state":"running"}`)
	}
	l := testLoop(root, Options{})
	if _, err := l.p.Reader.Load(nil); err != nil {
		t.Fatal(err)
	}
	host := testLoop(root, Options{Scope: []desired.Key{"b"}})
	if _, err := host.p.Reader.Load(nil); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		loop      *loop
		multiplex bool
		before    func()
		events    []Event
		keys      []desired.Key
		full      bool
	}{
		{name: "a gateway rewrites its state with the same intent: no pass",
			before: func() {
				write("profiles/a/gateway_state.json", `{"desired_state":"running","gateway_state":"running","updated_at":"2026-12-01T00:00:00Z"}`)
			},
			events: []Event{{Kind: Intent, Key: "a"}}},
		{name: "a gateway held down after a failure: `hermes gateway start` rewriting the same intent is news",
			before: func() {
				l.held["a"] = true
				write("profiles/a/gateway_state.json", `{"desired_state":"running","updated_at":1800000000}`)
			},
			events: []Event{{Kind: Intent, Key: "a"}}, keys: []desired.Key{"a"}},
		{name: "hermes gateway stop writes a new intent",
			before: func() { delete(l.held, "a"); write("profiles/a/gateway_state.json", `{"desired_state":"stopped"}`) },
			events: []Event{{Kind: Intent, Key: "a"}}, keys: []desired.Key{"a"}},
		{name: "an input", events: []Event{{Kind: Input, Key: "b"}}, keys: []desired.Key{"b"}},
		{name: "a unit deleted by hand", events: []Event{{Kind: Unit, Key: "b", Op: Gone}}, keys: []desired.Key{"b"}},
		{name: "a crash loop", events: []Event{{Kind: Deaths, Key: "a"}}, keys: []desired.Key{"a"}},
		{name: "a degraded watch asks for nothing by itself", events: []Event{{Kind: Degraded, On: true}}},
		{name: "several at once, sorted, default first",
			events: []Event{{Kind: Input, Key: "b"}, {Kind: Input, Key: "default"}, {Kind: Input, Key: "a"}},
			keys:   []desired.Key{"default", "a", "b"}},
		{name: "multiplex: a named profile's change is default's too",
			multiplex: true, events: []Event{{Kind: Input, Key: "b"}}, keys: []desired.Key{"default", "b"}},
		{name: "the root config.yaml, topology unchanged: default only",
			before: func() { write("config.yaml", "model: y\n") },
			events: []Event{{Kind: RootConfig}}, keys: []desired.Key{"default"}},
		{name: "the root config.yaml turns multiplex on: every profile",
			before: func() { write("config.yaml", "multiplex_profiles: true\n") },
			events: []Event{{Kind: RootConfig}}, full: true},
		{name: "all", events: []Event{{Kind: All, Why: "sighup"}}, full: true},
		{name: "a host serves its own profile only", loop: host,
			events: []Event{{Kind: Input, Key: "a"}, {Kind: Input, Key: "b"}}, keys: []desired.Key{"b"}},
		{name: "a host's full pass is over its own profile", loop: host, events: []Event{{Kind: All}}, keys: []desired.Key{"b"}, full: true},
	} {
		lp := tc.loop
		if lp == nil {
			lp = l
		}
		lp.multiplex = tc.multiplex
		if tc.before != nil {
			tc.before()
		}
		for _, e := range tc.events {
			lp.note(e)
		}
		keys, full := lp.take()
		if full != tc.full || !slices.Equal(keys, tc.keys) {
			t.Errorf("%s: take() = %v, full %v; want %v, full %v", tc.name, keys, full, tc.keys, tc.full)
		}
	}
}

// TestIntentSend: an intent rewrite sent while the loop waits is read on
// the sender's goroutine, and reaches the loop only when it is news; during
// a pass (the loop's state held) it is queued for the loop to read.
func TestIntentSend(t *testing.T) {
	root := t.TempDir()
	write := func(data string) {
		t.Helper()
		renameInto(t, filepath.Join(root, "profiles", "a", desired.StateFile), data)
	}
	write(`{"desired_state":"running"}`)
	if err := os.WriteFile(filepath.Join(root, "profiles", "a", "SOUL.md"), []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	l := testLoop(root, Options{})
	if _, err := l.p.Reader.Load(nil); err != nil {
		t.Fatal(err)
	}
	queued := func() []Event {
		var out []Event
		for len(l.events) > 0 {
			out = append(out, <-l.events)
		}
		return out
	}

	write(`{"desired_state":"running","updated_at":1}`)
	l.send(Event{Kind: Intent, Key: "a"})
	if q := queued(); len(q) != 0 || len(l.dirty) != 0 {
		t.Errorf("the same intent, loop waiting: queued %v, dirty %v; want nothing", q, l.dirty)
	}

	write(`{"desired_state":"stopped"}`)
	l.send(Event{Kind: Intent, Key: "a"})
	if q := queued(); !slices.Equal(q, []Event{{Kind: Input, Key: "a"}}) || !l.dirty["a"] {
		t.Errorf("a new intent, loop waiting: queued %v, dirty %v; want a noted Input for a", q, l.dirty)
	}
	clear(l.dirty)

	l.state.Lock() // a pass runs
	write(`{"desired_state":"stopped","updated_at":2}`)
	l.send(Event{Kind: Intent, Key: "a"})
	l.state.Unlock()
	if q := queued(); !slices.Equal(q, []Event{{Kind: Intent, Key: "a"}}) || len(l.dirty) != 0 {
		t.Errorf("during a pass: queued %v, dirty %v; want the Intent queued unread", q, l.dirty)
	}
}

// TestOverflow: a source that outruns the loop never blocks; the loop
// answers with a full pass.
func TestOverflow(t *testing.T) {
	l := testLoop("/opt/data", Options{})
	for range eventBuffer + 10 {
		l.send(Event{Kind: Input, Key: "a"})
	}
	if !l.overflow.Load() {
		t.Fatal("no overflow after more events than the buffer holds")
	}
	if !l.drainQueued() {
		t.Fatal("draining found nothing to do")
	}
	if _, full := l.take(); !full {
		t.Error("an overflow must run a full pass")
	}
}

// procsEngine records GOMAXPROCS while a pass observes.
type procsEngine struct {
	nothing
	during chan int
}

func (e procsEngine) Observe(context.Context, []desired.Key, map[desired.Key]reconcile.Spec) (reconcile.Observed, error) {
	select {
	case e.during <- runtime.GOMAXPROCS(0):
	default:
	}
	return reconcile.Observed{}, nil
}

// TestOneProcIdle: between passes the process runs on one P, during a pass
// on the runtime's default, and Run leaves the default behind.
func TestOneProcIdle(t *testing.T) {
	if runtime.NumCPU() < 2 {
		t.Skip("one CPU: the default is one P anyway")
	}
	runtime.SetDefaultGOMAXPROCS()
	def := runtime.GOMAXPROCS(0)
	e := procsEngine{during: make(chan int, 1)}
	p := &reconcile.Pass{Reader: desired.NewReader(t.TempDir(), desired.Options{HermesVersion: "0.21.3"}), Engine: e}
	ready := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, p, Options{OneProcIdle: true, Ready: func() { close(ready) }})
	}()
	select {
	case <-ready:
	case <-time.After(time.Minute):
		t.Fatal("no first pass")
	}
	if got := <-e.during; got != def {
		t.Errorf("GOMAXPROCS during a pass = %d, want the default %d", got, def)
	}
	// Ready is called inside the first pass; the loop narrows as it ends.
	deadline := time.Now().Add(time.Minute)
	for runtime.GOMAXPROCS(0) != 1 && time.Now().Before(deadline) {
		runtime.Gosched()
	}
	if got := runtime.GOMAXPROCS(0); got != 1 {
		t.Errorf("GOMAXPROCS between passes = %d, want 1", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := runtime.GOMAXPROCS(0); got != def {
		t.Errorf("GOMAXPROCS after Run = %d, want the default %d", got, def)
	}
}
