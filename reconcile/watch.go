package reconcile

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
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
	// Resync is the mean period of full passes without events, jittered by 10%.
	Resync time.Duration
	// BackoffMin and BackoffMax bound the per-profile and whole-pass backoff.
	BackoffMin, BackoffMax time.Duration
	// Lock takes the single-writer lock for one pass.
	Lock func(ctx context.Context) (unlock func(), err error)
	// Ready is called once, after the first pass that ran to completion.
	Ready func()
	// Trigger runs a full pass at once when it receives (SIGHUP).
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

// DeathWatched is a Watched engine that records each unit's deaths in a
// directory of the unit's own, as s6-supervise keeps supervise/death_tally:
// the loop watches it, so a crash loop is parked at its K-th death, not at
// the next resync.
type DeathWatched interface {
	// DeathDir is the directory whose entries record unit's deaths.
	DeathDir(unit string) string
	// Deaths reads the record an event on path names; ok is false for any
	// other entry of that directory (the status, the control FIFO).
	Deaths(path string) (deaths []Death, ok bool)
}

// degradedResync is the pass period when inotify cannot watch everything.
const degradedResync = 10 * time.Second

// Watch runs level-triggered passes until ctx is done. Events only say
// which profiles to look at again: a pass covers those keys (what a full
// pass would decide for them), or every profile at start, at each resync,
// on an event queue overflow, on SIGHUP, after a failed pass and when
// something every profile depends on changed. On cancellation the pass in
// flight finishes and Watch returns nil; gateways are left as they are.
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
	w := &watchLoop{p: p, opt: opt, log: log, watched: map[string]bool{},
		dirty: map[Key]bool{}, intents: map[Key]bool{}, diags: map[Key]map[string]bool{},
		seen: map[Key]Seen{}, deferred: map[Key]time.Time{}, held: map[Key]bool{}}
	w.layout = p.Reader.Layout()
	if ew, ok := p.Engine.(Watched); ok {
		w.units = ew
		w.unitDirs = map[string]bool{}
		for _, d := range ew.WatchDirs() {
			w.unitDirs[cleanPath(d)] = true
		}
	}
	if dw, ok := p.Engine.(DeathWatched); ok && w.units != nil {
		w.deaths, w.deathDirs = dw, map[string]Key{}
	}
	w.defaults()
	w.retry = Retry{Min: w.opt.BackoffMin, Max: w.opt.BackoffMax}
	p.Repeated = w.retry.Same
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
	// deaths reads the death records of units, watched in deathDirs (dir
	// to key); nil for an engine that keeps none.
	deaths    DeathWatched
	deathDirs map[string]Key

	watched  map[string]bool
	degraded bool // some watch could not be added: rely on periodic passes

	// What the events since the last pass ask for (events.go): every
	// profile, or some keys; intents are keys whose intent file alone was
	// rewritten, which a pass looks at only if the file says something new.
	all        bool
	dirty      map[Key]bool
	intents    map[Key]bool
	rootConfig bool // the root config.yaml changed: maybe the topology
	// followUp asks for a pass over dirty keys after this one (a step
	// another writer superseded).
	followUp bool

	passes int
	ready  bool
	retry  Retry // per key (or leftover)
	// seen is what the passes saw of each key (another writer's acts),
	// for the settle window; deferred is until when each held key waits.
	seen     map[Key]Seen
	deferred map[Key]time.Time
	// held are the keys whose start waits for their inputs or intent to
	// change (a permanent failure, a park).
	held map[Key]bool
	// passDelay is the whole-pass backoff; lastErr the failure last logged.
	passDelay time.Duration
	lastErr   string
	// multiplex is the topology the last pass saw.
	multiplex bool
	// diags are the diagnostics already logged, by profile ("" for none):
	// each is said once.
	diags map[Key]map[string]bool
	// left is what the passes left of our units, by key: true for a unit
	// left in place, false for one retired. It tells a pass's own writes
	// from someone else's (see ownUnitEvent). A key missing from it is
	// unknown: every event on its unit counts.
	left map[Key]bool
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
	requeue := stoppedTimer()
	resync := time.NewTimer(0) // the first pass runs at once
	defer debounce.Stop()
	defer retry.Stop()
	defer requeue.Stop()
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
			if !w.note(ev) {
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
			w.all = true
		case <-w.opt.Trigger:
			w.log.Info("SIGHUP: running a pass")
			why, w.all = "sighup", true
		case <-debounce.C:
			why = "event"
		case <-retry.C:
			why = "retry"
			w.retryDue()
		case <-requeue.C:
			// Settle windows ended: the keys due within a quiet period share
			// the pass that runs after it.
			w.requeueDue(time.Now().Add(w.opt.Quiet))
			if burstStart.IsZero() {
				burstStart = time.Now()
			}
			debounce.Reset(w.opt.Quiet)
			continue
		case <-resync.C:
			if why != "start" {
				why = "resync"
			}
			w.all = true
		}
		burstStart = time.Time{}
		debounce.Stop()
		keys, full := w.take()
		if full || len(keys) > 0 {
			w.pass(ctx, why, keys)
		} else {
			w.log.V(2).Info("events changed nothing: no pass", "why", why)
		}
		why = ""
		// What arrived during the pass starts a debounced burst, so a burst
		// of changes runs a pass per quiet period, not one per event. The
		// pass's own scandir writes are not among it (see note).
		if w.drainQueued(events) || w.followUp {
			w.followUp = false
			burstStart = time.Now()
			debounce.Reset(w.opt.Quiet)
		}
		if full {
			resync.Reset(w.resyncDelay())
		}
		if d, ok := w.nextRetry(); ok {
			retry.Reset(d)
		} else {
			retry.Stop()
		}
		if d, ok := w.nextRequeue(); ok {
			requeue.Reset(d)
		} else {
			requeue.Stop()
		}
	}
}

// nextRequeue is how long until the earliest settle window ends.
func (w *watchLoop) nextRequeue() (time.Duration, bool) {
	var first time.Time
	for _, t := range w.deferred {
		if first.IsZero() || t.Before(first) {
			first = t
		}
	}
	if first.IsZero() {
		return 0, false
	}
	return max(time.Until(first), 0), true
}

// requeueDue asks for the keys whose settle window ends by then.
func (w *watchLoop) requeueDue(by time.Time) {
	for k, t := range w.deferred {
		if !t.After(by) {
			w.dirty[k] = true
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
			if w.note(ev) {
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

// retryDue asks for the keys whose backoff ended (a failed pass: every key).
func (w *watchLoop) retryDue() {
	if w.passDelay > 0 {
		w.all = true
		return
	}
	for _, k := range w.retry.Due() {
		if desired.ValidName(k) == nil {
			w.dirty[k] = true
		} else {
			w.all = true // a leftover of ours: only a full pass sees those
		}
	}
}

// pass runs one pass over keys (nil: full); why names what triggered it.
// It is not cancelled with ctx: a pass in flight finishes, so no unit is
// left half-applied on SIGTERM.
func (w *watchLoop) pass(ctx context.Context, why string, keys []Key) {
	w.passes++
	log := w.log.WithValues("pass", w.passes)
	pctx := logr.NewContext(context.WithoutCancel(ctx), log)
	w.syncWatches(log, keys)
	start := time.Now()

	var out Outcome
	unlock, err := w.opt.Lock(pctx)
	if err != nil {
		out.Err = fmt.Errorf("lock: %w", err)
	} else {
		w.p.Policy.Seen, w.p.Policy.Watching = w.seen, w.ready
		out = w.p.Run(pctx, keys, func(a Action) bool {
			// A full pass tries terminal failures again (someone may have
			// mended them): once per resync, not once per event.
			t := a.Target()
			return w.retry.Waiting(t) && !(keys == nil && w.retry.Terminal(t))
		})
		unlock()
	}
	if out.Err == nil {
		w.multiplex = out.Desired.Multiplex
		// A keyed pass that would remove ran as a full pass (the
		// mass-removal guard weighs every unit).
		keys = out.Desired.Keys
	}
	w.account(log, out, keys)
	w.watchDeaths(out)
	w.leave(out, keys)
	w.remember(log, out, keys)
	if w.opt.OnPass != nil {
		w.opt.OnPass(out)
	}
	w.logDiagnostics(log, out, keys)
	covered := "full"
	if keys != nil {
		covered = strings.Join(keys, ",")
	}
	log.V(1).Info("pass done", "why", why, "keys", covered, "actions", len(out.Plan.Actions), "failed", Failed(out.Results),
		"diagnostics", len(out.Desired.Diagnostics), "duration_ms", time.Since(start).Milliseconds(),
		"goroutines", runtime.NumGoroutine())
	if out.Err == nil && keys == nil && !w.ready {
		w.ready = true
		log.Info("first pass complete; ready")
		if w.opt.Ready != nil {
			w.opt.Ready()
		}
	}
}
