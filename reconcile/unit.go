package reconcile

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/hermes-reconcile/hermes-reconcile/desired"
)

// unitActions is the one rule for a service that has a unit: what to
// rewrite, whether to start, stop or restart it, and what to hold back.
//
// Explicit intent is enforced on every pass; legacy or no intent only
// seeded the unit when it was created. Exceptions, in order: a gateway that
// failed permanently, or that was parked as a crash loop, is started again
// only when its inputs or intent changed after that (or an operator
// unparks it); a run state changed after the intent was written, less than
// the settle window ago, waits for the writer. A crash loop is parked. What
// a killed pass left half done (a rewrite without its restart, a restart
// without its start) is finished, and a logger is always kept running. A
// unit asked to run several gateways at once is brought back to one,
// whatever its intent says, unless it is being stopped.
func unitActions(plan []Action, svc *desired.Service, spec *Spec, u *Unit, p *Policy, seen Seen) ([]Action, []Deferral) {
	// What the manager wants now; an unregistered unit, or one whose status
	// could not be read, will follow what it persists.
	wantUp := u.Persisted
	if u.Registered && u.StatusErr == nil {
		// A status that could not be read (s6: a supervisor that has just
		// taken its lock and not yet written one) says nothing of what
		// the manager wants: it follows what it persists.
		wantUp = u.WantUp
	}
	held := svc.Enforce && !svc.WantUp // the operator's word: down
	stopping := held && (wantUp || u.Persisted)
	starting := svc.Enforce && svc.WantUp && (!wantUp || !u.Persisted)
	var deferred []Deferral
	hold := func(k Kind, reason desired.Reason, why string, until time.Time) {
		deferred = append(deferred, Deferral{Key: svc.Profile, Unit: spec.Unit, Kind: k, Reason: reason, Why: why, Until: until})
	}
	startReason := svc.Reason

	// A restart of ours that a killed pass began and did not finish: the
	// gateway is down and s6 wants it so, but nobody asked for that.
	incomplete := u.Registered && u.Restarting && !u.Running && !u.WantUp && !held
	if incomplete {
		starting, startReason = true, desired.ReasonRestartIncomplete
	}

	// Failed for good, or parked as a crash loop: not started again merely
	// because a pass ran. An input or intent written after the failure (a
	// config fix, `hermes gateway start`) starts it once; so does unpark.
	parked := u.Park != nil && !u.Park.Unparked() && !u.Running
	var failedAt time.Time
	switch {
	case incomplete:
	case parked:
		failedAt = u.Park.At
	case u.PermanentFailure && starting:
		failedAt = u.Since
	}
	var lift *Park // the park lifted, when this pass starts a parked gateway
	if !failedAt.IsZero() && !held {
		changed := svc.Touched.After(failedAt) || svc.InputsAt.After(failedAt)
		holdoff := time.Duration(0)
		if parked {
			holdoff = parkHoldoff(u.Park.Count)
		}
		switch {
		case p.Unpark[svc.Profile]:
			starting, startReason = true, desired.ReasonUnparked
			if parked {
				lift = &Park{At: u.Park.At, Why: u.Park.Why, LastExits: u.Park.LastExits, Lifted: p.Now} // Count 0: the operator's word
			}
		case !changed:
			why := "finish asked s6 not to restart it (exit " + strconv.Itoa(u.ExitCode) + "): started again when its config.yaml, .env or intent changes"
			if parked {
				why = "parked: " + u.Park.Why + "; started again when its config.yaml, .env or intent changes, or by `hermes-reconcile unpark " + svc.Profile + "`"
			}
			hold(Start, desired.ReasonPermanentFailure, why, time.Time{})
			starting = false
		case p.Now.Before(failedAt.Add(holdoff)):
			// Parked again after an automatic unpark: each time it waits
			// longer before its changed inputs start it.
			hold(Start, desired.ReasonCrashLoop, fmt.Sprintf("parked %d times: its changed inputs start it at the end of a hold-off of %s", u.Park.Count, holdoff),
				failedAt.Add(holdoff))
			starting = false
		default:
			starting, startReason = true, desired.ReasonUnparked
			if parked {
				l := *u.Park
				l.Lifted = p.Now
				lift = &l
			}
		}
	}

	// The crash-loop guard: K deaths within W park the slot down. Deaths
	// before the last park, or its lift, do not count again; a parked slot
	// someone started by hand (s6 wants it up) is guarded too.
	var park *Park
	if p.CrashLoop.Deaths > 0 && wantUp && !held {
		since := p.Now.Add(-p.CrashLoop.Window)
		if u.Park != nil {
			since = latest(since, u.Park.At, u.Park.Lifted)
		}
		if c := crashes(u.Deaths, since); c.n >= p.CrashLoop.Deaths {
			count := 1
			if u.Park != nil {
				count = u.Park.Count + 1
			}
			park = &Park{At: p.Now, Count: count, LastExits: c.last,
				Why: fmt.Sprintf("crash loop, %d deaths in %s, last %s", c.n, c.span.Round(time.Second), c.last[len(c.last)-1])}
			starting, stopping = false, true
		}
	}

	// Only the profile's own written intent gives way: a run state the
	// topology enforces (multiplex) has no writer to wait for.
	ownIntent := svc.Intent.Explicit && !svc.IntentAt.IsZero() &&
		(svc.Reason == desired.ReasonIntentRunning || svc.Reason == desired.ReasonIntentStopped)
	if (starting || stopping) && park == nil && lift == nil && !incomplete && ownIntent && u.Registered &&
		wantUp != svc.WantUp && u.Since.After(svc.IntentAt) {
		changed := u.Since
		if !seen.Conflict.IsZero() && seen.Conflict.Before(changed) {
			changed = seen.Conflict // a state that keeps changing gets one window
		}
		if until, ok := p.settling(changed); ok {
			k := Start
			if stopping {
				k = Stop
			}
			hold(k, desired.ReasonSettling, "its run state was changed after the intent was written: the writer gets the settle window to record its intent", until)
			starting, stopping = false, false
		}
	}

	// A status that could not be read says nothing of registration.
	register := !u.Registered && u.StatusErr == nil
	act := func(k Kind, reason desired.Reason) Action {
		return Action{Kind: k, Key: svc.Profile, Unit: spec.Unit, Reason: reason, Spec: *spec}
	}
	controllable := u.Blocked == ""
	// Rewritten by a pass that did not live to restart it: the process
	// runs something older than what we last wrote.
	pendingRun := u.Ours && u.Running && u.Stale
	c := u.Companion
	pendingLog := u.Ours && c.Running && c.Stale
	// A gateway whose companion (logger) is down blocks on its full stdout
	// pipe; one the manager respawns is the manager's business.
	loggerDown := u.Ours && u.Registered && c.Registered && !c.Running && !c.WantUp
	n := len(plan)
	switch {
	case !u.Ours:
		// A unit we did not write: Hermes made it, or an operator. Take it
		// over without a restart; a new run is picked up at the next spawn.
		a := act(Adopt, desired.ReasonAdopted)
		a.Files, a.Spec, a.Write = u.Drift, *spec, true
		plan = append(plan, a)
	case u.Hash != spec.Hash || len(u.Drift) > 0:
		a := act(Update, desired.ReasonSpecChanged)
		a.Files, a.Spec, a.Write = u.Drift, *spec, true
		// A start does not restart a gateway that is already up (a stray
		// down file), so the restart must happen here.
		a.Restart = (changes(spec, u.Drift, RestartsService) && u.Running || pendingRun) && !stopping && controllable
		a.RestartCompanion = (changes(spec, u.Drift, RestartsCompanion) && c.Registered || pendingLog || loggerDown) && controllable
		plan = append(plan, a)
	case register:
		// In sync, but the manager has not picked it up (made while it was
		// not running, or without a rescan): it needs registering.
		a := act(Update, desired.ReasonNotSupervised)
		a.Spec = *spec
		plan = append(plan, a)
	case controllable && (pendingRun && !stopping || pendingLog || loggerDown):
		reason := desired.ReasonRestartPending
		if loggerDown && !pendingRun {
			reason = desired.ReasonLoggerDown
		}
		a := act(Update, reason)
		a.Spec, a.Restart, a.RestartCompanion = *spec, pendingRun && !stopping, pendingLog || loggerDown
		plan = append(plan, a)
	}
	switch {
	case park != nil:
		a := act(Stop, desired.ReasonCrashLoop)
		a.Park, a.Blocked = park, u.Blocked
		plan = append(plan, a)
	case starting:
		a := act(Start, startReason)
		a.Folded, a.Blocked, a.Park = svc.Folded, u.Blocked, lift
		plan = append(plan, a)
	case stopping:
		a := act(Stop, svc.Reason)
		a.Folded, a.Blocked = svc.Folded, u.Blocked
		plan = append(plan, a)
	case u.Instances > 1:
		// Up, but several times over (scaled by hand): a start brings it to
		// exactly one. No intent, legacy or none, makes more than one right,
		// and no settle window waits for it: nobody's intent is "three".
		a := act(Start, desired.ReasonReplicasClamped)
		a.Blocked = u.Blocked
		plan = append(plan, a)
	}
	for i := n; i < len(plan); i++ {
		plan[i].Register = register
	}
	return plan, deferred
}

func latest(t time.Time, more ...time.Time) time.Time {
	for _, m := range more {
		if m.After(t) {
			t = m
		}
	}
	return t
}

// crashCount is what crashes found.
type crashCount struct {
	n int
	// span is from the first counted death to the last; last are the last
	// exits (at most three), oldest first.
	span time.Duration
	last []string
}

// Crashes is how many of deaths since a time count towards a crash loop:
// the loop's sources triage death records with it.
func Crashes(deaths []Death, since time.Time) int { return crashes(deaths, since).n }

// crashes counts the deaths since a time that count towards a crash loop.
func crashes(deaths []Death, since time.Time) crashCount {
	var c crashCount
	var first time.Time
	for _, d := range deaths {
		if d.At.Before(since) || !d.Crash() {
			continue
		}
		if c.n == 0 {
			first = d.At
		}
		c.n++
		c.span = d.At.Sub(first)
		word := "exit " + strconv.Itoa(d.Exit)
		if d.Signal > 0 {
			word = "signal " + strconv.Itoa(d.Signal)
		}
		c.last = append(c.last, word)
	}
	if len(c.last) > 3 {
		c.last = c.last[len(c.last)-3:]
	}
	return c
}

// parkHoldoff is how long a slot parked count times waits before a change
// of its inputs starts it again: at once the first time, then 1 min
// doubling to an hour, so a loop of edit-and-crash does not storm either.
func parkHoldoff(count int) time.Duration {
	if count <= 1 {
		return 0
	}
	d := time.Minute << min(count-2, 6)
	return min(d, time.Hour)
}

// changes reports whether any of the files has effect e.
func changes(spec *Spec, files []string, e Effect) bool {
	for _, f := range spec.Files {
		if f.Effect == e && slices.Contains(files, f.Path) {
			return true
		}
	}
	return false
}
