package reconcile

import (
	"slices"
	"sort"
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
	// Warnings are decisions worth saying before anything is applied (the
	// supervisor's capacity).
	Warnings []desired.Diagnostic
	// Now is the time the plan was decided at.
	Now time.Time
}

// Policy is what the planner needs besides the states: the time, and the
// limits it checks the plan against.
type Policy struct {
	Now time.Time
	// Capacity is how many units the manager can supervise, 0 when it has
	// no limit; CapacityWarning words the warning for n.
	Capacity        int
	CapacityWarning func(n, limit int) desired.Diagnostic
}

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
		switch {
		case u == nil:
			plan.Actions = append(plan.Actions, Action{Kind: Create, Key: svc.Profile, Unit: spec.Unit, Reason: desired.ReasonProfileAdded,
				WantUp: svc.WantUp, Spec: spec, Folded: svc.Folded})
		case u.Untouchable == "":
			plan.Actions = unitActions(plan.Actions, svc, &spec, u)
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
	for _, l := range o.Leftovers {
		plan.Actions = append(plan.Actions, Action{Kind: Clean, Unit: l.Name, Reason: desired.ReasonStaleStaging, Retired: l.Retired})
	}
	sortActions(plan.Actions)
	if p.Capacity > 0 && p.CapacityWarning != nil && o.Keys == nil {
		if n := Services(o, plan); n > p.Capacity {
			plan.Warnings = append(plan.Warnings, p.CapacityWarning(n, p.Capacity))
		}
	}
	return plan
}

// unitActions is the one rule for a service that has a unit: what to
// rewrite, and whether to start or stop it. Explicit intent is enforced on
// every pass; legacy or no intent only seeded the unit when it was created.
func unitActions(plan []Action, svc *desired.Service, spec *Spec, u *Unit) []Action {
	// What the manager wants now; an unregistered unit will follow what
	// it persists.
	wantUp := u.Persisted
	if u.Registered {
		wantUp = u.WantUp
	}
	stopping := svc.Enforce && !svc.WantUp && (wantUp || u.Persisted)
	starting := svc.Enforce && svc.WantUp && (!wantUp || !u.Persisted)
	register := !u.Registered
	act := func(k Kind, reason desired.Reason) Action {
		return Action{Kind: k, Key: svc.Profile, Unit: spec.Unit, Reason: reason}
	}
	n := len(plan)
	switch {
	case !u.Ours:
		// A unit we did not write: Hermes made it, or an operator. Take it
		// over without a restart; a new run is picked up at the next spawn.
		a := act(Adopt, desired.ReasonAdopted)
		a.Files, a.Spec = u.Drift, *spec
		plan = append(plan, a)
	case u.Hash != spec.Hash || len(u.Drift) > 0:
		a := act(Update, desired.ReasonSpecChanged)
		a.Files, a.Spec = u.Drift, *spec
		// A start does not restart a gateway that is already up (a stray
		// down file), so the restart must happen here.
		a.Restart = changes(spec, u.Drift, RestartsService) && u.Running && !stopping
		a.RestartLog = changes(spec, u.Drift, RestartsLogger) && u.LoggerRegistered
		plan = append(plan, a)
	case register:
		// In sync, but the manager has not picked it up (made while it was
		// not running, or without a rescan): it needs registering.
		a := act(Update, desired.ReasonNotSupervised)
		a.Spec = *spec
		plan = append(plan, a)
	}
	switch {
	case starting:
		a := act(Start, svc.Reason)
		a.Folded = svc.Folded
		plan = append(plan, a)
	case stopping:
		a := act(Stop, svc.Reason)
		a.Folded = svc.Folded
		plan = append(plan, a)
	}
	for i := n; i < len(plan); i++ {
		plan[i].Register = register
	}
	return plan
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
