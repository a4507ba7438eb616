package reconcile

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/hermes-reconcile/hermes-reconcile/desired"
)

// Kind is what an action does. The values are fixed: adding a kind must not
// renumber the others.
type Kind int

const (
	Create Kind = 1
	Update Kind = 2
	Adopt  Kind = 3
	Start  Kind = 4
	Stop   Kind = 5
	Remove Kind = 6
	Clean  Kind = 7
)

func (k Kind) String() string {
	switch k {
	case Create:
		return "create"
	case Update:
		return "update"
	case Adopt:
		return "adopt"
	case Start:
		return "start"
	case Stop:
		return "stop"
	case Remove:
		return "remove"
	case Clean:
		return "clean"
	}
	return "unknown"
}

// Kinds is every kind, in value order.
func Kinds() []Kind { return []Kind{Create, Update, Adopt, Start, Stop, Remove, Clean} }

// Action is one step of a plan, with its reason.
type Action struct {
	Kind Kind
	// Key is the profile acted for; "" for a leftover of ours.
	Key Key
	// Unit is the engine's name of what is acted on.
	Unit   string
	Reason desired.Reason
	// Files are the spec files that differ (update, adopt).
	Files []string
	// WantUp is the run state a created unit is registered with.
	WantUp bool
	// Restart is set on an update whose new files must replace a running
	// gateway; RestartLog on one that changed what its logger runs.
	Restart, RestartLog bool
	// Register is set when the manager does not know the unit yet (an s6
	// slot no supervisor holds): it must be registered before it can be
	// controlled.
	Register bool
	// Folded names the profiles a multiplexed default serves.
	Folded []Key
	// Spec is the rendering to write (create, update, adopt).
	Spec Spec
	// Retired is set on a clean of a retired unit, which may still have a
	// supervisor to see off.
	Retired bool
	// Blocked, when set, says why the action cannot be carried out and how
	// to mend it (the unit's supervisor is out of our reach): it is reported
	// as a failure that is not retried until the key changes.
	Blocked string
	// Write is set on an update or adopt that writes Files and records the
	// spec; an update that only registers or restarts writes nothing.
	Write bool
	// Park is the record the action leaves with the unit: on a stop, the
	// park of a crash loop; on a start, the park lifted.
	Park *Park
}

// Target is what the action's outcome is kept under: its profile, or the
// leftover's name.
func (a Action) Target() string {
	if a.Key != "" {
		return a.Key
	}
	return a.Unit
}

// phase orders a plan: what takes gateways down happens before what brings
// them up, since two profiles may share a port.
func (a Action) phase() int {
	switch a.Kind {
	case Clean, Remove, Stop:
		return 0
	}
	return 1
}

// Plan is what a pass decided: actions in the order they apply.
type Plan struct {
	Actions []Action
	// Keys are the profiles the plan covers; nil: every profile.
	Keys []Key
	// Deferred are the actions held back for now, and until when: another
	// writer gets its settle window. A pass over their keys decides again
	// then.
	Deferred []Deferral
	// Warnings are decisions worth saying before anything is applied (the
	// supervisor's capacity).
	Warnings []desired.Diagnostic
	// Now is the time the plan was decided at.
	Now time.Time
}

// Deferral is an action the plan holds back: until a time (another
// writer's settle window, a park's hold-off), or, with a zero Until, until
// the key's inputs change (a gateway failed for good).
type Deferral struct {
	Key    Key
	Unit   string
	Kind   Kind
	Reason desired.Reason
	Why    string
	Until  time.Time
}

// Seen is what the watch loop saw of a key over its passes: when another
// writer acted on it. The planner gives that writer the settle window.
type Seen struct {
	// Appeared is when the profile was first seen; zero when it was there
	// before the loop started, or its window is over.
	Appeared time.Time
	// Present is true when the last pass over the key left its unit in place.
	Present bool
	// Vanished is when the unit was first found gone after a pass left it in
	// place (someone else removed it); zero while it is there.
	Vanished time.Time
	// Conflict is when the manager was first seen wanting another run state
	// than the intent says, changed after the intent was written.
	Conflict time.Time
}

// Policy is what the planner needs besides the states: the time, what the
// watch loop saw, and the limits it checks the plan against.
type Policy struct {
	Now time.Time
	// Settle is how long another writer (the Hermes CLI, an operator) gets
	// to finish what it started before the plan acts against it: a new
	// profile's unit, a unit it removed, a run state it changed before
	// writing the intent. 0 acts at once.
	Settle time.Duration
	// Seen is what the watch loop saw of each key; nil outside the loop.
	// Watching says the loop has seen every profile once: a key it has not
	// seen is a profile just created.
	Seen     map[Key]Seen
	Watching bool
	// Capacity is how many units the manager can supervise, as the
	// operator says; 0: what the engine observed (Observed.Capacity).
	// CapacityWarning words the warning for n.
	Capacity        int
	CapacityWarning func(n, limit int) desired.Diagnostic
	// CrashLoop parks a gateway that died CrashLoop.Deaths times within
	// CrashLoop.Window; 0 deaths: no guard.
	CrashLoop CrashLoop
	// Unpark names the profiles an operator unparked (`hermes-reconcile
	// unpark`): started again whatever changed.
	Unpark map[Key]bool
	// MaxRemove bounds the named units one pass may remove; nil: no bound.
	MaxRemove *RemoveLimit
}

// RemoveLimit is the mass-removal guard, in the spirit of Argo CD's
// allowEmpty: a pass that would remove more named units than it allows
// removes none. The zero value allows all but one (of at least two).
type RemoveLimit struct {
	// Max is a count of units, or with Percent a share of the named ones;
	// Set says either was given.
	Max     int
	Percent bool
	Set     bool
	// Flag names the setting in the message (--max-remove).
	Flag, Allow string
}

// limit is how many of named units a pass may remove.
func (l RemoveLimit) limit(named int) int {
	switch {
	case !l.Set:
		if named < 2 {
			return named
		}
		return named - 1
	case l.Percent:
		return named * l.Max / 100
	}
	return l.Max
}

func (l RemoveLimit) String() string {
	switch {
	case !l.Set:
		return "all but one"
	case l.Percent:
		return fmt.Sprintf("%d%%", l.Max)
	}
	return fmt.Sprint(l.Max)
}

// CrashLoop is the crash-loop guard's threshold.
type CrashLoop struct {
	Deaths int
	Window time.Duration
}

// settling reports until when the settle window that opened at t runs, and
// whether it still does at now.
func (p *Policy) settling(t time.Time) (time.Time, bool) {
	if p.Settle <= 0 || t.IsZero() {
		return time.Time{}, false
	}
	until := t.Add(p.Settle)
	return until, p.Now.Before(until)
}

// ForeignAge is how long another writer's dot entry may stay before the
// plan mentions it.
const ForeignAge = time.Hour

// Decide returns the plan that makes what the engine observed match what
// the profiles want. It is pure. Units in sync get no action; held
// profiles and untouchable units get none either; a partial desired state
// removes nothing.
func Decide(d desired.State, want map[Key]Spec, o Observed, p Policy) Plan {
	plan := Plan{Keys: d.Keys, Now: p.Now}
	wanted := make(map[Key]bool, len(d.Services))
	for i := range d.Services {
		svc := &d.Services[i]
		wanted[svc.Profile] = true
		spec, ok := want[svc.Profile]
		if !ok {
			continue // it could not be rendered: held, with its diagnostic
		}
		u := o.Units[svc.Profile]
		seen, known := p.Seen[svc.Profile]
		if !known && p.Watching {
			seen.Appeared = p.Now
		}
		hold := func(k Kind, why string, until time.Time) {
			plan.Deferred = append(plan.Deferred, Deferral{Key: svc.Profile, Unit: spec.Unit, Kind: k,
				Reason: desired.ReasonSettling, Why: why, Until: until})
		}
		if until, ok := p.settling(seen.Appeared); ok {
			// A profile just created: `hermes profile create` registers its
			// slot itself. Adopted if it did, created if not, after the window.
			hold(Create, "profile just created: its creator registers its service", until)
			continue
		}
		switch {
		case u == nil:
			if seen.Present {
				vanished := seen.Vanished
				if vanished.IsZero() {
					vanished = p.Now
				}
				if until, ok := p.settling(vanished); ok {
					// Removed by someone else while its profile exists:
					// `hermes profile delete` unregisters before it writes
					// the tombstone.
					hold(Create, "service removed by another writer: recreated after the settle window unless its profile goes too", until)
					continue
				}
			}
			plan.Actions = append(plan.Actions, Action{Kind: Create, Key: svc.Profile, Unit: spec.Unit, Reason: desired.ReasonProfileAdded,
				WantUp: svc.WantUp, Spec: spec, Folded: svc.Folded})
		case u.Untouchable == "":
			var d []Deferral
			plan.Actions, d = unitActions(plan.Actions, svc, &spec, u, &p, seen)
			plan.Deferred = append(plan.Deferred, d...)
		}
	}
	for key, u := range o.Units {
		if wanted[key] || !d.Covers(key) || u.Untouchable != "" || d.Held[key] || d.Incomplete {
			continue
		}
		reason := desired.ReasonProfileRemoved
		if d.Tombstoned[key] {
			reason = desired.ReasonProfileTombstoned
		}
		plan.Actions = append(plan.Actions, Action{Kind: Remove, Key: key, Unit: u.Name, Reason: reason})
	}
	if p.MaxRemove != nil {
		holdMassRemoval(&plan, o, *p.MaxRemove)
	}
	for _, l := range o.Leftovers {
		plan.Actions = append(plan.Actions, Action{Kind: Clean, Unit: l.Name, Reason: desired.ReasonStaleStaging, Retired: l.Retired})
	}
	for _, f := range o.Foreign {
		// Another writer's slot in the making: its own to finish or clean.
		// Past an hour nothing is finishing it.
		if age := p.Now.Sub(f.Since); age > ForeignAge {
			plan.Warnings = append(plan.Warnings, desired.Diagnostic{Severity: desired.Warning, Path: f.Name,
				Message: fmt.Sprintf("another writer's staging dir, untouched for %s: left as it is; remove it by hand if nothing is creating that profile", age.Round(time.Minute))})
		}
	}
	sortActions(plan.Actions)
	limit := p.Capacity
	if limit <= 0 {
		limit = o.Capacity
	}
	if limit > 0 && p.CapacityWarning != nil && o.Keys == nil {
		if n := Services(o, plan); n > limit {
			plan.Warnings = append(plan.Warnings, p.CapacityWarning(n, limit))
		}
	}
	return plan
}

// holdMassRemoval turns the plan's removals of named units into deferrals
// when there are more than the limit allows: a HERMES_HOME swapped for
// another, or half-mounted, must not take every gateway with it. It needs
// every unit (a full pass).
func holdMassRemoval(plan *Plan, o Observed, l RemoveLimit) {
	if o.Keys != nil {
		return
	}
	named := 0
	for k := range o.Units {
		if k != desired.DefaultProfile {
			named++
		}
	}
	var removals []int
	for i, a := range plan.Actions {
		if a.Kind == Remove && a.Key != desired.DefaultProfile {
			removals = append(removals, i)
		}
	}
	limit := l.limit(named)
	if len(removals) == 0 || len(removals) <= limit {
		return
	}
	why := fmt.Sprintf("the pass would remove %d of %d named services at once, more than %s %s allows: none removed; if those profiles really are gone, run once with %s",
		len(removals), named, l.Flag, l, l.Allow)
	kept := plan.Actions[:0:0]
	next := 0
	for i, a := range plan.Actions {
		if next < len(removals) && removals[next] == i {
			next++
			plan.Deferred = append(plan.Deferred, Deferral{Key: a.Key, Unit: a.Unit, Kind: Remove, Reason: desired.ReasonMassRemoval, Why: string(a.Reason) + ", held with the other removals (see the warning)"})
			continue
		}
		kept = append(kept, a)
	}
	plan.Actions = kept
	plan.Warnings = append(plan.Warnings, desired.Diagnostic{Severity: desired.Warning, Message: why})
}

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
// without its start) is finished, and a logger is always kept running.
func unitActions(plan []Action, svc *desired.Service, spec *Spec, u *Unit, p *Policy, seen Seen) ([]Action, []Deferral) {
	// What the manager wants now; an unregistered unit will follow what
	// it persists.
	wantUp := u.Persisted
	if u.Registered {
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
		return Action{Kind: k, Key: svc.Profile, Unit: spec.Unit, Reason: reason}
	}
	controllable := u.Blocked == ""
	// Rewritten by a pass that did not live to restart it: the process
	// started before what it runs was last written.
	pendingRun := u.Ours && u.Running && u.Since.Before(u.RunWritten)
	pendingLog := u.Ours && u.LoggerRunning && u.LoggerSince.Before(u.LogWritten)
	// A gateway whose logger is down blocks on its full stdout pipe; one
	// s6 respawns is s6's business.
	loggerDown := u.Ours && u.Registered && u.LoggerRegistered && !u.LoggerRunning && !u.LoggerWantUp
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
		a.RestartLog = (changes(spec, u.Drift, RestartsLogger) && u.LoggerRegistered || pendingLog || loggerDown) && controllable
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
		a.Spec, a.Restart, a.RestartLog = *spec, pendingRun && !stopping, pendingLog || loggerDown
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

// sortActions orders by phase, then default first, then unit name, then
// kind (so a unit's rewrite comes before its start).
func sortActions(plan []Action) {
	sort.SliceStable(plan, func(i, j int) bool {
		a, b := plan[i], plan[j]
		if a.phase() != b.phase() {
			return a.phase() < b.phase()
		}
		ad, bd := a.Key == desired.DefaultProfile, b.Key == desired.DefaultProfile
		if ad != bd {
			return ad
		}
		if a.Unit != b.Unit {
			return a.Unit < b.Unit
		}
		return a.Kind < b.Kind
	})
}

// Services is how many units the manager holds once the plan is applied,
// ours and the others, as a capacity counts them (an s6 slot with its
// logger is one service: checked with s6 2.11, -c 3 took three slots and
// their three loggers).
func Services(o Observed, p Plan) int {
	n := o.Others + len(o.Units)
	for _, x := range p.Actions {
		switch x.Kind {
		case Create:
			n++
		case Remove:
			n--
		}
	}
	return n
}
