package reconcile

import (
	"fmt"
	"sort"
	"time"

	"github.com/hermes-reconcile/hermes-reconcile/desired"
)

// Decide returns the plan that makes what the engine observed match what
// the profiles want. It is pure. Units in sync get no action; held
// profiles and untouchable units get none either (the plan lists the
// latter as untouched); a partial desired state removes nothing.
func Decide(d desired.State, want map[Key]Spec, o Observed, p Policy) Plan {
	plan := Plan{Keys: d.Keys, Now: p.Now}
	conflicted, clashes, warnings := guard(d, o, p.Conflicts, p.OwnNetworks)
	plan.Clashes = clashes
	plan.Warnings = append(plan.Warnings, warnings...)
	wanted := make(map[Key]bool, len(d.Services))
	for i := range d.Services {
		svc := &d.Services[i]
		wanted[svc.Profile] = true
		spec, ok := want[svc.Profile]
		if !ok {
			continue // it could not be rendered: held, with its diagnostic
		}
		if h, ok := conflicted[svc.Profile]; ok {
			// Held down, not started: its unit is still made and kept
			// current, so the gateway starts at once when the conflict goes.
			held := *svc
			held.WantUp, held.Enforce = false, true
			svc = &held
			h.Unit = spec.Unit
			plan.Deferred = append(plan.Deferred, h)
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
			if !u.Absent.IsZero() {
				plan.Notes = append(plan.Notes, Note{Key: svc.Profile, Unit: u.Name}) // back
			}
			var d []Deferral
			plan.Actions, d = unitActions(plan.Actions, svc, &spec, u, &p, seen)
			plan.Deferred = append(plan.Deferred, d...)
		}
	}
	for key, u := range o.Units {
		if u.Untouchable != "" && d.Covers(key) {
			plan.Untouched = append(plan.Untouched, Untouched{Key: key, Unit: u.Name, State: u.State, Why: u.Untouchable})
		}
		if wanted[key] || !d.Covers(key) || u.Untouchable != "" || d.Held[key] || d.Incomplete {
			continue
		}
		reason := desired.ReasonProfileRemoved
		if d.Tombstoned[key] {
			reason = desired.ReasonProfileTombstoned
		} else if p.RemoveAfter > 0 && d.Service(key) == nil {
			// Gone without a tombstone: a restore, a rename by hand, a
			// volume half there. The unit waits out --remove-after from the
			// first pass that found it gone, as the unit records it.
			absent := u.Absent
			if absent.IsZero() {
				absent = p.Now
				plan.Notes = append(plan.Notes, Note{Key: key, Unit: u.Name, Absent: absent})
			}
			if until := absent.Add(p.RemoveAfter); p.Now.Before(until) {
				plan.Deferred = append(plan.Deferred, Deferral{Key: key, Unit: u.Name, Kind: Remove, Reason: desired.ReasonProfileAbsent,
					Why: fmt.Sprintf("its profile is gone since %s: removed at %s unless it comes back (a tombstone removes at once)",
						absent.Format(time.TimeOnly), until.Format(time.TimeOnly)), Until: until})
				continue
			}
		}
		plan.Actions = append(plan.Actions, Action{Kind: Remove, Key: key, Unit: u.Name, Reason: reason,
			Spec: Spec{Unit: u.Name, Payload: u.Payload}})
	}
	pace(&plan, o, want, p.Rollout, p.Now)
	if p.MaxRemove != nil {
		holdMassRemoval(&plan, o, *p.MaxRemove)
	}
	for _, f := range o.Strays {
		if f.Ours {
			plan.Actions = append(plan.Actions, Action{Kind: Clean, Unit: f.Name, Reason: desired.ReasonStaleStaging, Live: f.Live})
			continue
		}
		// Another writer's slot in the making: its own to finish or clean.
		// Past an hour nothing is finishing it.
		if age := p.Now.Sub(f.Since); age > ForeignAge {
			plan.Warnings = append(plan.Warnings, desired.Diagnostic{Severity: desired.Warning, Path: f.Name,
				Message: fmt.Sprintf("another writer's staging dir, untouched for %s: left as it is; remove it by hand if nothing is creating that profile", age.Round(time.Minute))})
		}
	}
	sortActions(plan.Actions)
	// Units are found in map order: the plan is the same for the same inputs.
	sort.SliceStable(plan.Deferred, func(i, j int) bool { return plan.Deferred[i].Unit < plan.Deferred[j].Unit })
	sort.Slice(plan.Notes, func(i, j int) bool { return plan.Notes[i].Unit < plan.Notes[j].Unit })
	sort.Slice(plan.Untouched, func(i, j int) bool { return desired.Less(plan.Untouched[i].Key, plan.Untouched[j].Key) })
	limit := p.Capacity
	if limit <= 0 {
		limit = o.Capacity
	}
	if limit > 0 && p.CapacityWarning != nil && o.Keys == nil {
		if n := Services(o, plan); n > limit {
			plan.Warnings = append(plan.Warnings, p.CapacityWarning(n, limit))
			plan.OverCapacity = true
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
