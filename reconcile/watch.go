package reconcile

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/go-logr/logr"

	"github.com/hermes-reconcile/hermes-reconcile/config"
	"github.com/hermes-reconcile/hermes-reconcile/desired"
)

// WatchOptions tune the control loop. Zero durations take the defaults of
// config.Default.
type WatchOptions struct {
	// Quiet is how long events must stop before a pass runs.
	Quiet time.Duration
	// MaxDelay bounds the wait from the first event of a burst to its pass.
	MaxDelay time.Duration
	// Resync is the mean period of passes without events, jittered by 10%.
	Resync time.Duration
	// BackoffMin and BackoffMax bound the per-profile and whole-pass backoff.
	BackoffMin, BackoffMax time.Duration
	// Lock takes the single-writer lock for one pass.
	Lock func(ctx context.Context) (unlock func(), err error)
	// Ready is called once, after the first pass that ran to completion.
	Ready func()
	// Trigger runs a pass at once when it receives (SIGHUP).
	Trigger <-chan os.Signal
	// OnPass, if set, sees every outcome (tests count passes with it).
	OnPass func(Outcome)
}

// Watched is an engine whose units live in directories the loop can
// watch, as s6's slots live in the scandir.
type Watched interface {
	// WatchDirs are the directories whose entries are units.
	WatchDirs() []string
	// UnitOf maps an entry of those directories to the key and name of
	// the unit it is; ok is false for anything that is not one of our
	// units (dot entries, other services).
	UnitOf(path string) (key Key, unit string, ok bool)
}

// degradedResync is the pass period when inotify cannot watch everything.
const degradedResync = 10 * time.Second

// Watch runs level-triggered passes until ctx is done: events only trigger,
// every pass reads the whole state. On cancellation the pass in flight
// finishes and Watch returns nil; gateways are left as they are.
func Watch(ctx context.Context, p *Pass, opt WatchOptions) error {
	w := newWatchLoop(p, opt, logr.FromContextOrDiscard(ctx))
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		w.log.Error(err, "cannot watch the filesystem; falling back to periodic passes", "period", degradedResync.String())
		w.degraded = true
	} else {
		w.fw = fw
		defer fw.Close()
	}
	return w.run(ctx)
}

func newWatchLoop(p *Pass, opt WatchOptions, log logr.Logger) *watchLoop {
	w := &watchLoop{p: p, opt: opt, log: log, watched: map[string]bool{}}
	w.layout = p.Reader.Layout()
	if ew, ok := p.Engine.(Watched); ok {
		w.units = ew
		w.unitDirs = map[string]bool{}
		for _, d := range ew.WatchDirs() {
			w.unitDirs[filepath.Clean(d)] = true
		}
	}
	w.defaults()
	w.retry = Retry{Min: w.opt.BackoffMin, Max: w.opt.BackoffMax}
	return w
}

type watchLoop struct {
	p      *Pass
	opt    WatchOptions
	log    logr.Logger
	fw     *fsnotify.Watcher
	layout desired.Layout
	// units maps the engine's watched entries to keys; unitDirs are its
	// directories. Nil for an engine with nothing to watch.
	units    Watched
	unitDirs map[string]bool

	watched  map[string]bool
	degraded bool // some watch could not be added: rely on periodic passes

	passes int
	ready  bool
	retry  Retry // per key (or leftover)
	// passDelay is the whole-pass backoff; lastErr the failure last logged.
	passDelay time.Duration
	lastErr   string
	// diags are the diagnostics already logged: each is said once.
	diags map[string]bool
	// left is what the last pass left of our units: true for a unit it
	// left in place, false for one it retired. It tells the pass's own
	// writes from someone else's (see ownUnitEvent). A unit missing from
	// it is unknown: every event on it counts.
	left map[string]bool
}

func (w *watchLoop) defaults() {
	d := config.Default().Watch
	for _, o := range []struct {
		v   *time.Duration
		def time.Duration
	}{
		{&w.opt.Quiet, d.Quiet},
		{&w.opt.MaxDelay, d.MaxDelay},
		{&w.opt.Resync, d.Resync},
		{&w.opt.BackoffMin, d.BackoffMin},
		{&w.opt.BackoffMax, d.BackoffMax},
	} {
		if *o.v <= 0 {
			*o.v = o.def
		}
	}
}

func (w *watchLoop) run(ctx context.Context) error {
	var events <-chan fsnotify.Event
	var errs <-chan error
	if w.fw != nil {
		events, errs = w.fw.Events, w.fw.Errors
	}
	debounce := stoppedTimer()
	retry := stoppedTimer()
	resync := time.NewTimer(0) // the first pass runs at once
	defer debounce.Stop()
	defer retry.Stop()
	defer resync.Stop()
	var burstStart time.Time
	why := "start"

	for {
		select {
		case <-ctx.Done():
			w.log.Info("stopping; gateways left as they are")
			return nil
		case ev, ok := <-events:
			if !ok {
				return errors.New("filesystem watcher closed")
			}
			if !w.relevant(ev) {
				continue
			}
			w.log.V(2).Info("event", "name", ev.Name, "op", ev.Op.String())
			now := time.Now()
			if burstStart.IsZero() {
				burstStart = now
				// The first event with no pass pending runs a pass at once:
				// a profile published by rename is a single event, and
				// waiting out the quiet period would only add latency. What
				// follows (the rest of a burst) is debounced.
				debounce.Reset(0)
				continue
			}
			// Re-arm the quiet period, but never past MaxDelay from the
			// burst's first event.
			wait := min(w.opt.Quiet, w.opt.MaxDelay-now.Sub(burstStart))
			debounce.Reset(max(wait, 0))
			continue
		case err, ok := <-errs:
			if !ok {
				return errors.New("filesystem watcher closed")
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				w.log.Info("event queue overflowed; running a full pass")
				why = "overflow"
			} else {
				w.log.Error(err, "filesystem watcher error; running a full pass")
				why = "watch error"
			}
		case <-w.opt.Trigger:
			w.log.Info("SIGHUP: running a pass")
			why = "sighup"
		case <-debounce.C:
			why = "event"
		case <-retry.C:
			why = "retry"
		case <-resync.C:
			if why != "start" {
				why = "resync"
			}
		}
		burstStart = time.Time{}
		debounce.Stop()
		w.pass(ctx, why)
		why = ""
		// What arrived during the pass starts a debounced burst, so a burst
		// of changes runs a pass per quiet period, not one per event. The
		// pass's own scandir writes are not among it (see relevant).
		if w.drainQueued(events) {
			burstStart = time.Now()
			debounce.Reset(w.opt.Quiet)
		}
		resync.Reset(w.resyncDelay())
		if d, ok := w.nextRetry(); ok {
			retry.Reset(d)
		} else {
			retry.Stop()
		}
	}
}

// drainQueued takes the events queued while a pass ran and reports whether
// any of them calls for another pass.
func (w *watchLoop) drainQueued(events <-chan fsnotify.Event) bool {
	more := false
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				return more
			}
			if w.relevant(ev) {
				more = true
			}
		default:
			return more
		}
	}
}

func stoppedTimer() *time.Timer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}

func (w *watchLoop) resyncDelay() time.Duration {
	if w.degraded {
		return degradedResync
	}
	jitter := time.Duration(rand.Int64N(int64(w.opt.Resync)/10 + 1))
	return w.opt.Resync - w.opt.Resync/20 + jitter
}

// nextRetry is when the earliest backoff expires: a failed pass, or a
// profile whose actions failed.
func (w *watchLoop) nextRetry() (time.Duration, bool) {
	if w.passDelay > 0 {
		return w.passDelay, true
	}
	return w.retry.Next()
}

// pass runs one full pass; why names what triggered it (start, event,
// retry, resync, sighup, overflow). It is not cancelled with ctx: a pass in
// flight finishes, so no unit is left half-applied on SIGTERM.
func (w *watchLoop) pass(ctx context.Context, why string) {
	w.passes++
	log := w.log.WithValues("pass", w.passes)
	pctx := logr.NewContext(context.WithoutCancel(ctx), log)
	w.syncWatches(log)
	start := time.Now()

	var out Outcome
	unlock, err := w.opt.Lock(pctx)
	if err != nil {
		out.Err = fmt.Errorf("lock: %w", err)
	} else {
		out = w.p.Run(pctx, nil, func(a Action) bool { return w.retry.Waiting(a.Target()) })
		unlock()
	}
	w.account(log, out)
	w.left = unitsLeft(out)
	if w.opt.OnPass != nil {
		w.opt.OnPass(out)
	}
	w.logDiagnostics(log, out)
	log.V(1).Info("pass done", "why", why, "actions", len(out.Plan.Actions), "failed", Failed(out.Results),
		"diagnostics", len(out.Desired.Diagnostics), "duration_ms", time.Since(start).Milliseconds(),
		"goroutines", runtime.NumGoroutine())
	if out.Err == nil && !w.ready {
		w.ready = true
		log.Info("first pass complete; ready")
		if w.opt.Ready != nil {
			w.opt.Ready()
		}
	}
}

// logDiagnostics says each new diagnostic once, not on every pass, and
// forgets the ones that went away so they are said again if they return.
func (w *watchLoop) logDiagnostics(log logr.Logger, out Outcome) {
	if out.Err != nil {
		return
	}
	seen := make(map[string]bool, len(out.Desired.Diagnostics))
	for _, d := range out.Desired.Diagnostics {
		s := d.String()
		seen[s] = true
		if !w.diags[s] {
			log.Info("profile diagnostic", "severity", d.Severity.String(), "profile", d.Profile, "diagnostic", s)
		}
	}
	w.diags = seen
}

// account handles the outcome of a pass, per key, in one place: a key
// whose actions failed backs off once, however many of its actions failed;
// a key that took part and did not fail is forgotten, whether it succeeded
// or needed nothing (its profile deleted, a leftover vanished). A
// whole-pass failure backs off the pass, logged once per change of state
// rather than once per retry.
func (w *watchLoop) account(log logr.Logger, out Outcome) {
	if out.Err != nil {
		w.passDelay = nextDelay(w.passDelay, w.opt.BackoffMin, w.opt.BackoffMax)
		if msg := out.Err.Error(); msg != w.lastErr {
			log.Error(out.Err, "pass failed; backing off", "retry_in", w.passDelay.String())
			w.lastErr = msg
		}
		return
	}
	if w.lastErr != "" {
		log.Info("pass recovered")
		w.lastErr = ""
	}
	w.passDelay = 0
	failed := map[string]Result{}
	for _, r := range out.Results {
		if _, seen := failed[r.Action.Target()]; r.Err != nil && !seen {
			failed[r.Action.Target()] = r
		}
	}
	recovered := func(target string) {
		if w.retry.Forget(target) {
			log.Info("slot recovered", "target", target)
		}
	}
	for _, k := range w.retry.Due() {
		if _, ok := failed[k]; !ok {
			recovered(k)
		}
	}
	for _, r := range out.Results {
		if _, ok := failed[r.Action.Target()]; !ok {
			recovered(r.Action.Target())
		}
	}
	for target, r := range failed {
		if d, ok := w.retry.Failed(target, r.Err); ok {
			log.Info("slot backing off", "slot", r.Action.Unit, "profile", r.Action.Key, "retry_in", d.String())
		} else {
			log.Info("slot not retried until its profile changes", "slot", r.Action.Unit, "profile", r.Action.Key)
		}
	}
}

func nextDelay(d, lo, hi time.Duration) time.Duration {
	if d <= 0 {
		return lo
	}
	return min(d*2, hi)
}

// syncWatches watches the profile root, profiles/, profiles/.deleted/, every
// profile dir and the engine's unit dirs, adding each before its content is
// read by the pass that follows (so nothing written after the read is
// missed). inotify drops the watch of a removed dir itself; we forget it
// here.
func (w *watchLoop) syncWatches(log logr.Logger) {
	if w.fw == nil {
		return
	}
	pdir := w.layout.ProfilesDir()
	want := map[string]bool{w.layout.Root: true, pdir: true, w.layout.TombstonesDir(): true}
	for d := range w.unitDirs {
		want[d] = true
	}
	if entries, err := os.ReadDir(pdir); err == nil {
		for _, e := range entries {
			if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
				want[filepath.Join(pdir, e.Name())] = true
			}
		}
	}
	for dir := range w.watched {
		if !want[dir] {
			_ = w.fw.Remove(dir) // already gone from inotify if the dir was removed
			delete(w.watched, dir)
		}
	}
	degraded := false
	for dir := range want {
		if w.watched[dir] {
			continue
		}
		err := w.fw.Add(dir)
		switch {
		case err == nil:
			w.watched[dir] = true
		case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EMFILE):
			degraded = true
		}
	}
	if degraded != w.degraded {
		if degraded {
			log.Info("inotify watch limit reached (fs.inotify.max_user_watches); falling back to periodic passes", "period", degradedResync.String())
		} else {
			log.Info("all directories watched again")
		}
		w.degraded = degraded
	}
}

// relevant filters events to the names that can change a plan: what the
// layout says a profile is read from, and our units. The rest (a gateway's
// pid and log files, our own lock) would only wake us.
func (w *watchLoop) relevant(ev fsnotify.Event) bool {
	if ev.Op == fsnotify.Chmod {
		return false
	}
	if w.unitDirs[filepath.Dir(ev.Name)] {
		// Dot names are ours (staging, retired units, the lock) or the
		// manager's; a pass cleans up what a crash left of them.
		_, unit, ok := w.units.UnitOf(ev.Name)
		return ok && !w.ownUnitEvent(ev, unit)
	}
	_, ok := w.layout.Classify(ev.Name)
	return ok
}

// ownUnitEvent reports whether an event on unit is one the last pass
// caused itself: a unit appearing that it left in place (the rename that
// publishes it) or one going that it retired. Anything else is someone
// else's doing, a unit deleted, moved or made by hand, and calls for a
// pass. Without this each pass would trigger another, and a profile created
// during that second pass would wait out a quiet period.
func (w *watchLoop) ownUnitEvent(ev fsnotify.Event, unit string) bool {
	present, known := w.left[unit]
	if !known {
		return false
	}
	appeared := ev.Op == fsnotify.Create
	went := ev.Op&^(fsnotify.Remove|fsnotify.Rename) == 0
	return (present && appeared) || (!present && went)
}

// unitsLeft is what a pass left of our units, as far as it knows: the units
// it found, plus those it created, minus those it retired. A unit whose
// action failed is unknown. A failed pass knows nothing.
func unitsLeft(out Outcome) map[string]bool {
	if out.Err != nil {
		return nil
	}
	left := make(map[string]bool, len(out.Observed.Units))
	for _, u := range out.Observed.Units {
		left[u.Name] = true
	}
	for _, r := range out.Results {
		unit := r.Action.Unit
		switch {
		case r.Err != nil:
			delete(left, unit)
		case r.Action.Kind == Create:
			left[unit] = true
		case r.Action.Kind == Remove:
			left[unit] = false
		}
	}
	return left
}
