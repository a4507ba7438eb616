package reconcile

import (
	"fmt"
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
	// gateway; RestartCompanion on one that changed what its companion
	// (s6's logger) runs, or whose companion is down.
	Restart, RestartCompanion bool
	// Register is set when the manager does not know the unit yet (an s6
	// slot no supervisor holds): it must be registered before it can be
	// controlled.
	Register bool
	// Folded names the profiles a multiplexed default serves.
	Folded []Key
	// Spec is the rendering: what create, update and adopt write, and
	// what every action's Do reads the engine's payload from (a removal:
	// the unit's own).
	Spec Spec
	// Live is set on a clean of a stray the manager may still run (a
	// retired unit): cleaning must see it off.
	Live bool
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
	// Untouched are the units the plan leaves as they are, whatever they
	// look like, and why (Unit.Untouchable): said with the plan, so a unit
	// nobody reconciles is not mistaken for one in step.
	Untouched []Untouched
	// Warnings are decisions worth saying before anything is applied (the
	// supervisor's capacity).
	Warnings []desired.Diagnostic
	// Clashes are gateways that both run and claim one thing: reported,
	// neither stopped; status counts both unhealthy.
	Clashes []Clash
	// Notes are what the pass records with units besides its actions
	// (Noter): a profile found absent, or back.
	Notes []Note
	// Rolling are the gateways restarted for a new rendering that are not
	// healthy yet (a rollout's batch in flight), sorted; only a full pass
	// with a rollout budget judges them.
	Rolling []Key
	// OverCapacity is set when the plan needs more units than the manager
	// will run: the engine registers default first, so it is the last to
	// be refused.
	OverCapacity bool
	// Now is the time the plan was decided at.
	Now time.Time
}

// Note is what a pass records with a unit besides its actions: when its
// profile was first found absent, or (a zero Absent) that it is back.
type Note struct {
	Key    Key
	Unit   string
	Absent time.Time
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

// Untouched is a unit the plan leaves as it is: a symlink in a slot's
// place, a unit serving another HERMES_HOME, a Deployment paused by hand.
type Untouched struct {
	Key  Key
	Unit string
	// State is the engine's word for the unit's state (paused,
	// untouchable, active); Why says why it is left as it is, and how to
	// hand it back.
	State, Why string
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
	// Conflicts is what the conflict guard does (ConflictsOff: nothing).
	// OwnNetworks: every gateway has a network namespace of its own (a
	// pod), so listening ports never clash, only credentials.
	Conflicts   Conflicts
	OwnNetworks bool
	// Rollout paces restarts of running gateways; nil: all at once.
	Rollout *Rollout
	// RemoveAfter is how long a profile must be absent (its directory gone
	// without a tombstone) before its unit is removed; 0: at once.
	RemoveAfter time.Duration
}

// RemoveLimit is the mass-removal guard, in the spirit of Argo CD's
// allowEmpty: a pass that would remove more named units than it allows
// removes none. The zero value allows one named unit, or a quarter of
// them, whichever is more: a half-mounted volume that hides most profiles
// must not take their gateways with it.
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
		return max(1, named/4)
	case l.Percent:
		return named * l.Max / 100
	}
	return l.Max
}

func (l RemoveLimit) String() string {
	switch {
	case !l.Set:
		return "one or a quarter"
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
