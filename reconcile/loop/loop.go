// Package loop is the one control loop of every engine: sources (the
// profile watcher, the engine's own: s6's scandir and death records, the
// Kubernetes informer, a signal) send events; events become dirty keys;
// dirty keys become a pass over them (reconcile.Pass.Run), and the pass's
// outcome becomes backoff, deferrals and wake-ups, by one set of rules and
// one clock. It is level-triggered: an event only says which profiles to
// look at again.
package loop

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"

	"github.com/hermes-reconcile/hermes-reconcile/config"
	"github.com/hermes-reconcile/hermes-reconcile/desired"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
)

// Locker takes the single-writer lock for one pass: flock on s6's scandir
// and on a host; on Kubernetes the Lease is the manager's, and the loop runs
// only while it holds it.
type Locker func(ctx context.Context) (unlock func(), err error)

// Options tune the loop. Zero durations take config.Default's.
type Options struct {
	// Quiet is how long events must stop before a pass runs; MaxDelay
	// bounds the wait from the first event of a burst to its pass.
	Quiet, MaxDelay time.Duration
	// Resync is the mean period of full passes without events, jittered by
	// 10%.
	Resync time.Duration
	// BackoffMin and BackoffMax bound the per-profile and whole-pass
	// backoff.
	BackoffMin, BackoffMax time.Duration
	// Sources feed the loop.
	Sources []Source
	// Lock takes the single-writer lock for a pass; nil: none.
	Lock Locker
	// Scope are the only profiles the engine serves (a host: the active
	// one); nil: every profile.
	Scope []desired.Key
	// Ready is called once, after the first full pass that ran.
	Ready func()
	// OnPass, if set, sees every outcome (tests count passes).
	OnPass func(reconcile.Outcome)
	// Recorder, if set, hears when the loop runs and how each pass went
	// (metrics and health).
	Recorder Recorder
	// Now is the clock of the loop, its retries and its passes; time.Now
	// when nil.
	Now func() time.Time
	// OneProcIdle runs the process on one P (GOMAXPROCS 1) between passes
	// and on the runtime's default during them. A loop that only waits for
	// events and reads an intent file now and then gains nothing from a
	// second P, and pays for it at every event: the runtime wakes a second
	// thread to look for work (measured: a third of watch mode's CPU under
	// status churn). For a process that is the loop's alone: not beside
	// controller-runtime's informers.
	OneProcIdle bool
}

// degradedResync is the pass period when a source cannot watch everything.
const degradedResync = 10 * time.Second

// eventBuffer is how many events wait for the loop; past it a source's
// send only marks an overflow, which runs a full pass.
const eventBuffer = 4096

// Run runs passes until ctx is done. A pass covers the keys events made
// dirty (deciding what a full pass would decide for them), or every profile
// at start, at each resync, on an overflow, on a failed pass and when
// something every profile depends on changed. On cancellation the pass in
// flight finishes and Run returns nil; gateways are left as they are.
func Run(ctx context.Context, pass *reconcile.Pass, opt Options) error {
	l := newLoop(pass, opt, logr.FromContextOrDiscard(ctx))
	// Events that come before the first pass wait for it: nothing has
	// been read yet.
	l.state.Lock()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for _, s := range opt.Sources {
		if err := s.Start(sctx, l.send); err != nil {
			return fmt.Errorf("start a source: %w", err)
		}
	}
	if r := opt.Recorder; r != nil {
		r.Running(true, l.now())
		defer func() { r.Running(false, l.now()) }()
	}
	if opt.OneProcIdle {
		runtime.GOMAXPROCS(1)
		defer runtime.SetDefaultGOMAXPROCS()
	}
	return l.run(ctx)
}

func newLoop(p *reconcile.Pass, opt Options, log logr.Logger) *loop {
	l := &loop{p: p, opt: opt, log: log, events: make(chan Event, eventBuffer), wake: make(chan struct{}, 1),
		dirty: map[desired.Key]bool{}, diags: map[desired.Key]map[string]bool{},
		seen: map[desired.Key]reconcile.Seen{}, deferred: map[desired.Key]time.Time{}, held: map[desired.Key]bool{},
		scope: map[desired.Key]bool{}}
	l.defaults()
	for _, k := range opt.Scope {
		l.scope[k] = true
	}
	l.retry = reconcile.Retry{Min: l.opt.BackoffMin, Max: l.opt.BackoffMax, Now: l.opt.Now}
	p.Repeated = l.retry.Same
	if p.Now == nil {
		p.Now = l.opt.Now
	}
	for _, s := range opt.Sources {
		if pw, ok := s.(PassWatcher); ok {
			l.watchers = append(l.watchers, pw)
		}
	}
	return l
}

type loop struct {
	p   *reconcile.Pass
	opt Options
	log logr.Logger
	// state is the loop's state (everything below, and the pass's reader),
	// held by the loop's goroutine but while it waits: a source's goroutine
	// that takes it then looks at an intent rewrite itself (see send).
	state sync.Mutex
	// events are what the sources sent; overflow says some were dropped.
	events   chan Event
	overflow atomic.Bool
	wake     chan struct{}
	watchers []PassWatcher
	scope    map[desired.Key]bool

	// What the events since the last pass ask for (queue.go): every
	// profile, or some keys (an intent rewrite only when the file says
	// something new).
	all        bool
	why        string
	dirty      map[desired.Key]bool
	rootConfig bool // the root config.yaml changed: maybe the topology
	// followUp asks for a pass over dirty keys after this one (a step
	// another writer superseded).
	followUp bool
	degraded bool // a source cannot watch everything: resync often

	passes int
	ready  bool
	// lastPass is when the last pass ended: an event within a quiet period
	// of it waits for the burst it may be part of.
	lastPass time.Time
	retry    reconcile.Retry // per key (or leftover)
	// seen is what the passes saw of each key (another writer's acts),
	// for the settle window; deferred is until when each held key waits.
	seen     map[desired.Key]reconcile.Seen
	deferred map[desired.Key]time.Time
	// held are the keys whose start waits for their inputs or intent to
	// change (a permanent failure, a park, a conflict).
	held map[desired.Key]bool
	// passDelay is the whole-pass backoff; lastErr the failure last logged.
	passDelay time.Duration
	lastErr   string
	// multiplex is the topology the last pass saw.
	multiplex bool
	// diags are the diagnostics already logged, by profile ("" for none):
	// each is said once.
	diags map[desired.Key]map[string]bool
	// left is what the passes left of our units, by key: true for a unit
	// left in place, false for one retired. It tells a pass's own writes
	// from someone else's (see ownUnitEvent). A key missing from it is
	// unknown: every event on its unit counts.
	left map[desired.Key]bool
}

func (l *loop) defaults() {
	d := config.Default().Watch
	for _, o := range []struct {
		v   *time.Duration
		def time.Duration
	}{
		{&l.opt.Quiet, d.Quiet},
		{&l.opt.MaxDelay, d.MaxDelay},
		{&l.opt.Resync, d.Resync},
		{&l.opt.BackoffMin, d.BackoffMin},
		{&l.opt.BackoffMax, d.BackoffMax},
	} {
		if *o.v <= 0 {
			*o.v = o.def
		}
	}
	if l.opt.Now == nil {
		l.opt.Now = time.Now
	}
}

func (l *loop) now() time.Time { return l.opt.Now() }

// send is what sources call: it never blocks. A full buffer drops the
// event and marks an overflow, which the loop answers with a full pass.
//
// An intent rewrite finds the loop waiting nearly always: its goroutine is
// idle. The source's goroutine then reads the intent itself, by the loop's
// rules and under its lock, and wakes the loop only when the intent is news:
// a running gateway's rewrite of the intent it had (20 a second across a
// fleet) costs one read and no hand-off. During a pass the event is queued.
func (l *loop) send(ev Event) {
	if ev.Kind == Intent && l.state.TryLock() {
		news := l.note(ev)
		l.state.Unlock()
		if !news {
			return
		}
		ev.Kind = Input // noted: the loop need not read it again
	}
	select {
	case l.events <- ev:
	default:
		l.overflow.Store(true)
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
}

// run is the loop; it is called with l.state held.
func (l *loop) run(ctx context.Context) error {
	defer l.state.Unlock()
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
		l.state.Unlock() // lent to the sources while the loop waits
		select {
		case <-ctx.Done():
			l.state.Lock()
			l.log.Info("stopping; gateways left as they are")
			return nil
		case ev := <-l.events:
			l.state.Lock()
			degraded := l.degraded
			if !l.note(ev) {
				if l.degraded != degraded {
					// Resync at the new pace from now, not after the
					// period armed before.
					resync.Reset(l.resyncDelay())
				}
				continue
			}
			l.log.V(2).Info("event", "kind", ev.Kind, "key", ev.Key, "unit", ev.Unit, "why", ev.Why)
			now := time.Now()
			if burstStart.IsZero() {
				burstStart = now
				if now.Sub(l.lastPass) >= l.opt.Quiet {
					// The first event after a quiet spell runs a pass at
					// once: a profile published by rename is a single event,
					// and waiting out the quiet period would only add
					// latency. An event soon after a pass may be part of a
					// burst: it waits, as what follows it does.
					debounce.Reset(0)
					continue
				}
			}
			// Re-arm the quiet period, but never past MaxDelay from the
			// burst's first event.
			wait := min(l.opt.Quiet, l.opt.MaxDelay-now.Sub(burstStart))
			debounce.Reset(max(wait, 0))
			continue
		case <-l.wake:
			l.state.Lock()
			if !l.overflow.Swap(false) {
				continue
			}
			l.log.Info("event queue overflowed; running a full pass")
			why, l.all = "overflow", true
		case <-debounce.C:
			l.state.Lock()
			why = "event"
			if l.why != "" {
				why = l.why
			}
		case <-retry.C:
			l.state.Lock()
			why = "retry"
			l.retryDue()
		case <-requeue.C:
			l.state.Lock()
			// Settle windows ended: the keys due within a quiet period share
			// the pass that runs after it.
			l.requeueDue(l.now().Add(l.opt.Quiet))
			if burstStart.IsZero() {
				burstStart = time.Now()
			}
			debounce.Reset(l.opt.Quiet)
			continue
		case <-resync.C:
			l.state.Lock()
			if why != "start" {
				why = "resync"
			}
			l.all = true
		}
		burstStart = time.Time{}
		debounce.Stop()
		keys, full := l.take()
		if full || len(keys) > 0 {
			l.pass(ctx, why, keys, full)
		} else {
			l.log.V(2).Info("events changed nothing: no pass", "why", why)
		}
		why = ""
		// What arrived during the pass starts a debounced burst, so a burst
		// of changes runs a pass per quiet period, not one per event. The
		// pass's own writes are not among it (see ownUnitEvent).
		if l.drainQueued() || l.followUp {
			l.followUp = false
			burstStart = time.Now()
			debounce.Reset(l.opt.Quiet)
		}
		if full {
			resync.Reset(l.resyncDelay())
		}
		if d, ok := l.nextRetry(); ok {
			retry.Reset(d)
		} else {
			retry.Stop()
		}
		if d, ok := l.nextRequeue(); ok {
			requeue.Reset(d)
		} else {
			requeue.Stop()
		}
	}
}

// nextRequeue is how long until the earliest settle window ends.
func (l *loop) nextRequeue() (time.Duration, bool) {
	var first time.Time
	for _, t := range l.deferred {
		if first.IsZero() || t.Before(first) {
			first = t
		}
	}
	if first.IsZero() {
		return 0, false
	}
	return max(first.Sub(l.now()), 0), true
}

// requeueDue asks for the keys whose settle window ends by then.
func (l *loop) requeueDue(by time.Time) {
	for k, t := range l.deferred {
		if !t.After(by) {
			l.dirty[k] = true
		}
	}
}

// drainQueued takes the events queued while a pass ran and reports whether
// any of them calls for another pass.
func (l *loop) drainQueued() bool {
	more := false
	for {
		select {
		case ev := <-l.events:
			if l.note(ev) {
				more = true
			}
		default:
			if l.overflow.Swap(false) {
				l.all, more = true, true
			}
			return more
		}
	}
}

func stoppedTimer() *time.Timer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}

func (l *loop) resyncDelay() time.Duration {
	if l.degraded {
		return degradedResync
	}
	jitter := time.Duration(rand.Int64N(int64(l.opt.Resync)/10 + 1))
	return l.opt.Resync - l.opt.Resync/20 + jitter
}

// nextRetry is when the earliest backoff expires: a failed pass, or a
// profile whose actions failed.
func (l *loop) nextRetry() (time.Duration, bool) {
	if l.passDelay > 0 {
		return l.passDelay, true
	}
	return l.retry.Next()
}

// retryDue asks for the keys whose backoff ended (a failed pass: every key).
func (l *loop) retryDue() {
	if l.passDelay > 0 {
		l.all = true
		return
	}
	for _, k := range l.retry.Due() {
		if desired.ValidName(k) == nil {
			l.dirty[k] = true
		} else {
			l.all = true // a leftover of ours: only a full pass sees those
		}
	}
}

// pass runs one pass over keys, every key the loop serves when full; why
// names what triggered it. It is not cancelled with ctx: a pass in flight
// finishes, so no unit is left half-applied on SIGTERM.
func (l *loop) pass(ctx context.Context, why string, keys []desired.Key, full bool) {
	if l.opt.OneProcIdle {
		// The pass reads profiles and units on two goroutines at once.
		runtime.SetDefaultGOMAXPROCS()
		defer runtime.GOMAXPROCS(1)
	}
	l.passes++
	log := l.log.WithValues("pass", l.passes)
	pctx := logr.NewContext(context.WithoutCancel(ctx), log)
	asked := time.Now()

	var out reconcile.Outcome
	var held time.Duration
	unlock, err := l.lock(pctx)
	start := time.Now() // the pass proper: the lock held
	locked := err == nil
	if err != nil {
		out.Err = fmt.Errorf("lock: %w", err)
	} else {
		l.p.Policy.Seen, l.p.Policy.Watching = l.seen, l.ready
		out = l.p.Run(pctx, keys, func(a reconcile.Action) bool {
			// A full pass tries terminal failures again (someone may have
			// mended them): once per resync, not once per event.
			t := a.Target()
			return l.retry.Waiting(t) && !(keys == nil && l.retry.Terminal(t))
		})
		unlock()
		held = time.Since(start)
	}
	if out.Err == nil {
		l.multiplex = out.Desired.Multiplex
		// A keyed pass that would remove ran as a full pass (the
		// mass-removal guard weighs every unit).
		keys = out.Desired.Keys
	}
	if l.opt.Recorder != nil {
		l.opt.Recorder.Passed(Report{Outcome: out, Full: full || keys == nil, Locked: locked, Took: held, At: l.now()})
	}
	l.account(log, out, keys)
	for _, w := range l.watchers {
		w.Passed(out, keys)
	}
	l.leave(out, keys)
	l.remember(log, out, keys)
	if l.opt.OnPass != nil {
		l.opt.OnPass(out)
	}
	l.logDiagnostics(log, out, keys)
	covered := "full"
	if keys != nil {
		covered = strings.Join(keys, ",")
	}
	log.V(1).Info("pass done", "why", why, "keys", covered, "actions", len(out.Plan.Actions), "failed", reconcile.Failed(out.Results),
		"diagnostics", len(out.Desired.Diagnostics), "duration_ms", float64(time.Since(start).Microseconds())/1000,
		"lock_wait_ms", float64(start.Sub(asked).Microseconds())/1000,
		"locked_at", start.Format(time.RFC3339Nano), "locked_ms", float64(held.Microseconds())/1000,
		"goroutines", runtime.NumGoroutine())
	l.lastPass = time.Now()
	if out.Err == nil && full && !l.ready {
		l.ready = true
		log.Info("first pass complete; ready")
		if l.opt.Ready != nil {
			l.opt.Ready()
		}
	}
}

func (l *loop) lock(ctx context.Context) (func(), error) {
	if l.opt.Lock == nil {
		return func() {}, nil
	}
	return l.opt.Lock(ctx)
}
