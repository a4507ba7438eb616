package reconcile

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hermes-reconcile/hermes-reconcile/desired"
)

// Rollout is the rollout budget: a plan that would restart more running
// gateways than Batch allows (a changed gateway command or environment,
// a new image) restarts one batch, and the next only once that batch is
// healthy: up, and not died, for HealthyAfter since its restart. A batch
// that fails (a death, a park, not healthy within Timeout) halts the
// rollout: the gateways not yet restarted keep what they run. Progress is
// read from the units (when each was restarted for its new rendering), so
// a restarted reconciler continues where the last one stopped.
type Rollout struct {
	// Batch is how many running gateways restart at once: a count, or a
	// share of the running ones; unset: a tenth, at least 1.
	Batch                 RemoveLimit
	HealthyAfter, Timeout time.Duration
}

// size is the batch for running gateways.
func (r Rollout) size(running int) int {
	if !r.Batch.Set {
		return max(1, running/10)
	}
	return max(1, r.Batch.limit(running))
}

// rolled is what became of a gateway restarted for its new rendering.
type rolled struct {
	key   Key
	unit  string
	state rolledState
	why   string    // failed: what happened
	until time.Time // in flight: when it counts as healthy, if it stays up
}

type rolledState uint8

const (
	rolledHealthy rolledState = iota
	rolledInFlight
	rolledFailed
)

// judge says what became of u since its restart at u.Rolled.
func (r Rollout) judge(u *Unit, now time.Time) rolled {
	x := rolled{unit: u.Name}
	end := u.Rolled.Add(r.Timeout)
	for _, d := range u.Deaths {
		if d.Crash() && !d.At.Before(u.Rolled) && !d.At.After(end) {
			x.state, x.why = rolledFailed, "died after its restart ("+d.word()+")"
			return x
		}
	}
	if u.Failing != "" {
		x.state, x.why = rolledFailed, "failing after its restart: "+u.Failing
		return x
	}
	if u.Park != nil && !u.Park.At.Before(u.Rolled) {
		x.state, x.why = rolledFailed, "parked after its restart: "+u.Park.Why
		return x
	}
	// A restart of ours that a killed pass left half done has the gateway
	// down as a permanent failure looks (exit 0, s6 wanting it down): the
	// pass starts it again (restart_incomplete), and it is judged then.
	if u.PermanentFailure && !u.Restarting && !u.Since.Before(u.Rolled) {
		x.state, x.why = rolledFailed, fmt.Sprintf("failed for good after its restart (exit %d)", u.ExitCode)
		return x
	}
	up := u.Since
	if up.Before(u.Rolled) {
		up = u.Rolled
	}
	if u.Running && !u.Since.IsZero() && !now.Before(up.Add(r.HealthyAfter)) {
		return x // healthy
	}
	if now.After(end) {
		x.state, x.why = rolledFailed, fmt.Sprintf("not up for %s within %s of its restart", r.HealthyAfter, r.Timeout)
		return x
	}
	x.state, x.until = rolledInFlight, up.Add(r.HealthyAfter)
	if !u.Running || x.until.After(end) {
		x.until = end
	}
	return x
}

// word is a death as status says it.
func (d Death) word() string {
	if d.Signal > 0 {
		return fmt.Sprintf("signal %d", d.Signal)
	}
	return fmt.Sprintf("exit %d", d.Exit)
}

// pace holds back the plan's restarts past the rollout budget. It needs
// every unit (a full pass): a batch is judged against the whole fleet.
func pace(plan *Plan, o Observed, want map[Key]Spec, r *Rollout, now time.Time) {
	if r == nil || o.Keys != nil {
		return
	}
	var pending []int
	for i, a := range plan.Actions {
		if a.Kind == Update && a.Restart {
			if u := o.Units[a.Key]; u != nil && u.Running {
				pending = append(pending, i)
			}
		}
	}
	running, waiting := 0, map[Key]bool{}
	for _, i := range pending {
		waiting[plan.Actions[i].Key] = true
	}
	var inFlight, failed []rolled
	for k, u := range o.Units {
		// A gateway down only because a killed pass cut our restart of it
		// short is one of the running fleet: the batch is a share of it.
		if u.Running || u.Restarting {
			running++
		}
		// A gateway restarted for the rendering it runs now: part of this
		// rollout, or of one before it.
		if u.Rolled.IsZero() || waiting[k] || u.Untouchable != "" || want[k].Hash == "" || u.Hash != want[k].Hash {
			if u.Restarting && !u.Running && u.Untouchable == "" {
				// Our restart of it, cut short by a kill before its
				// progress was recorded: this pass starts it, a restart of
				// the batch like the others.
				inFlight = append(inFlight, rolled{key: k, unit: u.Name, state: rolledInFlight, until: now.Add(r.HealthyAfter)})
			}
			continue
		}
		x := r.judge(u, now)
		x.key = k
		switch x.state {
		case rolledInFlight:
			inFlight = append(inFlight, x)
		case rolledFailed:
			failed = append(failed, x)
		}
	}
	for _, x := range inFlight {
		plan.Rolling = append(plan.Rolling, x.key)
	}
	sort.Slice(plan.Rolling, func(i, j int) bool { return desired.Less(plan.Rolling[i], plan.Rolling[j]) })
	batch := r.size(running)
	if len(pending) == 0 || (len(pending) <= batch && len(inFlight) == 0 && len(failed) == 0) {
		return // within the budget: no rollout
	}
	sort.Slice(failed, func(i, j int) bool { return failed[i].unit < failed[j].unit })
	sort.Slice(inFlight, func(i, j int) bool { return inFlight[i].unit < inFlight[j].unit })
	allowed := batch - len(inFlight)
	var reason desired.Reason
	var why string
	var until time.Time
	switch {
	case len(failed) > 0:
		allowed, reason = 0, desired.ReasonRolloutHalted
		var names []string
		for _, f := range failed {
			names = append(names, f.unit+" "+f.why)
		}
		why = "the rollout halted: " + strings.Join(names, "; ") +
			"; the gateways not yet restarted keep what they run until the rendering changes again (fix or revert it)"
		plan.Warnings = append(plan.Warnings, desired.Diagnostic{Severity: desired.Error,
			Message: fmt.Sprintf("rollout halted with %d restarts to go: %s", len(pending), strings.Join(names, "; "))})
	default:
		reason = desired.ReasonRollout
		until = now.Add(r.HealthyAfter)
		for _, x := range inFlight {
			if x.until.Before(until) {
				until = x.until
			}
		}
		why = fmt.Sprintf("restarted %d at a time (--rollout-batch); %d restarted and not yet healthy", batch, len(inFlight))
	}
	// Default first, then by unit name: the order every pass agrees on.
	kept := plan.Actions[:0:0]
	next, n := 0, 0
	for i, a := range plan.Actions {
		if next < len(pending) && pending[next] == i {
			next++
			if n < allowed {
				n++
				kept = append(kept, a)
				continue
			}
			d := Deferral{Key: a.Key, Unit: a.Unit, Kind: Update, Reason: reason, Why: why}
			if reason == desired.ReasonRollout {
				d.Until = until
			}
			plan.Deferred = append(plan.Deferred, d)
			continue
		}
		kept = append(kept, a)
	}
	plan.Actions = kept
}
