package reconcile

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/go-logr/logr"

	"github.com/hermes-reconcile/hermes-reconcile/desired"
)

// Pass is one way through the pipeline: read the profiles, render them,
// observe the engine, plan, and (Run) carry the plan out. Every part of it
// can run for some keys only.
type Pass struct {
	Reader *desired.Reader
	Engine Engine
	// Policy is the planner's policy; its Now is filled in per pass.
	Policy Policy
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Progress, if set, hears the plan before it is applied and each step
	// as it is done (--once on a terminal, NDJSON).
	Progress Progress
	// Repeated, if set, tells a failure its caller has reported already
	// (the target failed the same way last time): it is logged at V(1).
	Repeated func(target string, err error) bool
	// absent are the notes of an engine that cannot keep them (Noter):
	// when each key's profile was first found gone.
	absent map[Key]time.Time
	// conflicted: the last full pass held a gateway for a conflict, or
	// found two clashing.
	conflicted bool
}

// Outcome is everything one pass saw, decided and did.
type Outcome struct {
	Desired desired.State
	// Want is the rendering of each desired service.
	Want     map[Key]Spec
	Observed Observed
	Plan     Plan
	Results  []Result
	// Err is a failure of the whole pass (nothing could be read, or nothing
	// could be applied); per-unit failures are in Results.
	Err error
}

// Keys are the profiles the pass covered; nil: every profile.
func (o *Outcome) Keys() []Key { return o.Desired.Keys }

// Observe reads, renders and plans for keys (nil: everything), changing
// nothing: --dry-run and status use it.
func (p *Pass) Observe(ctx context.Context, keys []Key) Outcome {
	var o Outcome
	var judge chan func(map[Key]Spec) (Observed, error)
	if pf, ok := p.Engine.(Prefetcher); ok {
		// The units are read beside the profiles: two cores, one pass.
		judge = make(chan func(map[Key]Spec) (Observed, error), 1)
		ks := normalKeys(keys)
		go func() { judge <- pf.Prefetch(ctx, ks) }()
	}
	if o.Desired, o.Err = p.Reader.Load(keys); o.Err != nil {
		if judge != nil {
			<-judge // nothing is left reading behind the pass
		}
		return o
	}
	if pr, ok := p.Engine.(Preparer); ok {
		if o.Err = pr.Prepare(ctx, o.Desired.Keys); o.Err != nil {
			return o
		}
	}
	o.Want = make(map[Key]Spec, len(o.Desired.Services))
	for _, svc := range o.Desired.Services {
		spec, err := p.Engine.Render(svc)
		if err != nil {
			// A service that cannot be rendered is held, like bad input.
			o.Desired.Held[svc.Profile] = true
			o.Desired.Diagnostics = append(o.Desired.Diagnostics, desired.Diagnostic{Severity: desired.Error,
				Profile: svc.Profile, Path: svc.Dir, Message: fmt.Sprintf("cannot render its service: %v; left as it is", err)})
			continue
		}
		o.Want[svc.Profile] = spec
	}
	if judge != nil {
		o.Observed, o.Err = (<-judge)(o.Want)
	} else {
		o.Observed, o.Err = p.Engine.Observe(ctx, o.Desired.Keys, o.Want)
	}
	if o.Err != nil {
		return o
	}
	for k, t := range p.absent {
		if u := o.Observed.Units[k]; u != nil && u.Absent.IsZero() {
			u.Absent = t
		}
	}
	for _, k := range sortedKeys(o.Observed.Units) {
		u := o.Observed.Units[k]
		for _, why := range []string{u.Untouchable, u.Blocked, u.Failing} {
			if why != "" {
				o.Desired.Diagnostics = append(o.Desired.Diagnostics, desired.Diagnostic{Severity: desired.Warning,
					Profile: k, Path: u.Name, Message: why})
			}
		}
	}
	pol := p.Policy
	pol.Now = p.now()
	o.Plan = Decide(o.Desired, o.Want, o.Observed, pol)
	if keys != nil && (pol.MaxRemove != nil && removesNamed(o.Plan) || pol.Rollout != nil && restarts(o.Plan) ||
		pol.Conflicts != ConflictsOff && (p.conflicted || startsClaiming(o))) {
		// The mass-removal guard weighs removals against every named
		// unit, the rollout budget restarts against every running one, the
		// conflict guard a gateway's claims against every other's: a pass
		// over some keys that would remove, restart or start one that
		// claims, asks all of them. So does every pass while a conflict
		// stands, so that the gateway it holds starts once it is gone.
		return p.Observe(ctx, nil)
	}
	if keys == nil {
		p.conflicted = len(o.Plan.Clashes) > 0
		for _, d := range o.Plan.Deferred {
			p.conflicted = p.conflicted || d.Reason == desired.ReasonConflict
		}
	}
	o.Desired.Diagnostics = append(o.Desired.Diagnostics, o.Plan.Warnings...)
	return o
}

// Run observes and plans for keys and, unless the plan is empty, carries it
// out. skip drops actions (the watch loop's backoff).
func (p *Pass) Run(ctx context.Context, keys []Key, skip func(Action) bool) Outcome {
	o := p.Observe(ctx, keys)
	if o.Err != nil {
		return o
	}
	if skip != nil {
		kept := o.Plan.Actions[:0:0]
		for _, a := range o.Plan.Actions {
			if !skip(a) {
				kept = append(kept, a)
			}
		}
		o.Plan.Actions = kept
	}
	if p.Progress != nil {
		p.Progress.Planned(&o)
	}
	p.note(ctx, o.Plan.Notes)
	if len(o.Plan.Actions) == 0 {
		return o
	}
	if pr, ok := p.Engine.(Prober); ok {
		if err := pr.Probe(ctx); err != nil {
			o.Err = fmt.Errorf("nothing applied: %w", err)
			return o
		}
	}
	o.Results = ExecuteReporting(ctx, p.Engine, o.Plan, p.Engine.Schedule(o.Plan), p.Progress)
	logResults(logr.FromContextOrDiscard(ctx), o.Results, p.Repeated)
	return o
}

// startsClaiming reports whether the plan starts (or restarts) a gateway
// that claims something: the guard must weigh it against every other.
func startsClaiming(o Outcome) bool {
	for _, a := range o.Plan.Actions {
		if a.Kind == Start || (a.Kind == Create && a.WantUp) || (a.Kind == Update && a.Restart) {
			if svc := o.Desired.Service(a.Key); svc != nil && len(svc.Claims) > 0 {
				return true
			}
		}
	}
	return false
}

func restarts(plan Plan) bool {
	for _, a := range plan.Actions {
		if a.Kind == Update && a.Restart {
			return true
		}
	}
	return false
}

func removesNamed(plan Plan) bool {
	for _, a := range plan.Actions {
		if a.Kind == Remove && a.Key != desired.DefaultProfile {
			return true
		}
	}
	return false
}

func (p *Pass) now() time.Time {
	if p.Now == nil {
		return time.Now()
	}
	return p.Now()
}

func sortedKeys[V any](m map[Key]V) []Key {
	keys := make([]Key, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return desired.Less(keys[i], keys[j]) })
	return keys
}

// note records the plan's notes with their units (Noter); an engine that
// cannot keeps them in the pass's memory, which lives as long as the
// process. A note that cannot be written is logged: the next pass writes
// it again.
func (p *Pass) note(ctx context.Context, notes []Note) {
	if len(notes) == 0 {
		return
	}
	n, ok := p.Engine.(Noter)
	for _, x := range notes {
		if ok {
			if err := n.Note(ctx, x); err != nil {
				logr.FromContextOrDiscard(ctx).Error(err, "cannot record a note with the unit", "unit", x.Unit, "profile", x.Key)
			}
			continue
		}
		if p.absent == nil {
			p.absent = map[Key]time.Time{}
		}
		if x.Absent.IsZero() {
			delete(p.absent, x.Key)
		} else {
			p.absent[x.Key] = x.Absent
		}
	}
}

// normalKeys are keys as the reader reports them: sorted, each once; nil
// stays nil (every profile).
func normalKeys(keys []Key) []Key {
	if keys == nil {
		return nil
	}
	out := slices.Clone(keys)
	slices.Sort(out)
	return slices.Compact(out)
}
