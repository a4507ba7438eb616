package reconcile

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/go-logr/logr"

	"github.com/hermes-reconcile/hermes-reconcile/desired"
)

// Backend carries out actions on slots. The s6 backend implements it; Apply
// decides nothing, it sequences these calls so that s6 rescans once a pass.
type Backend interface {
	// Probe checks, before anything changes, that the backend can act at
	// all (scandir writable, s6-svscan running): one clear error if not.
	Probe() error
	// Write publishes a new slot (create) or rewrites the listed files of a
	// live one, then records the spec hash.
	Write(ctx context.Context, slot string, spec desired.Spec, files []string, create, wantUp bool) error
	// Control sets a slot's run state (down marker and supervisor) and, for
	// down, waits until the gateway is down.
	Control(ctx context.Context, slot string, up bool) error
	// Restart restarts the gateway (or only its logger) so a new script runs.
	Restart(ctx context.Context, slot string, logger bool) error
	// Retire moves a slot, or one of our leftovers, out of s6-svscan's sight
	// and returns its new name.
	Retire(ctx context.Context, name string) (string, error)
	// Rescan asks s6-svscan once to pick up new slots and drop the
	// supervisors of retired or vanished ones.
	Rescan(ctx context.Context) error
	// WaitSupervised waits, bounded, until the supervisor of each slot
	// listens, all in one wait; the errors line up with slots.
	WaitSupervised(ctx context.Context, slots []string) []error
	// Purge waits, bounded, until a retired slot has no supervisor, then
	// deletes it.
	Purge(ctx context.Context, retired string) error
}

// errSkipped marks an action not tried because an earlier action on the
// same slot failed: it is not done, and must not be reported as done.
var errSkipped = errors.New("skipped: an earlier action on this slot failed")

// Result is the outcome of one action.
type Result struct {
	Action   Action
	Err      error
	Duration time.Duration
}

// Failed counts the results that carry an error.
func Failed(results []Result) int {
	n := 0
	for _, r := range results {
		if r.Err != nil {
			n++
		}
	}
	return n
}

// Apply carries out a plan. A failed slot is reported and the rest goes on.
// Order: take down (stops, removals), write, one rescan, wait, bring up.
func Apply(ctx context.Context, b Backend, plan []Action) []Result {
	log := logr.FromContextOrDiscard(ctx)
	results := make([]Result, len(plan))
	for i := range plan {
		results[i].Action = plan[i]
	}
	failed := map[string]bool{}
	step := func(i int, f func() error) {
		r := &results[i]
		if r.Err != nil {
			return
		}
		if failed[r.Action.Slot] {
			r.Err = errSkipped
			return
		}
		start := time.Now()
		err := f()
		r.Duration += time.Since(start)
		if err != nil {
			r.Err = err
			failed[r.Action.Slot] = true
		}
	}
	if ctx.Err() != nil {
		for i := range results {
			results[i].Err = ctx.Err()
		}
		return results
	}

	retired := map[int]string{}
	rescan := false
	// Down first: removals and stops, so a port two profiles share is free
	// before anything starts.
	for i, a := range plan {
		switch a.Kind {
		case Stop:
			step(i, func() error { return b.Control(ctx, a.Slot, false) })
		case Remove:
			step(i, func() error {
				if err := b.Control(ctx, a.Slot, false); err != nil {
					return err
				}
				name, err := b.Retire(ctx, a.Slot)
				retired[i] = name
				return err
			})
			rescan = true
		case Clean:
			step(i, func() error {
				name, err := b.Retire(ctx, a.Slot)
				retired[i] = name
				return err
			})
			rescan = rescan || strings.HasSuffix(a.Slot, ".del")
		}
	}
	for i, a := range plan {
		switch a.Kind {
		case Create, Update, Adopt:
			step(i, func() error {
				if a.Kind == Update && len(a.Files) == 0 && a.Reason == ReasonNotSupervised {
					return nil
				}
				return b.Write(ctx, a.Slot, a.Spec, a.Files, a.Kind == Create, a.WantUp)
			})
		}
		rescan = rescan || a.Kind == Create || a.Register
	}
	if rescan {
		if err := b.Rescan(ctx); err != nil {
			// Without a rescan nothing new is supervised and nothing retired
			// goes away: every action that needed it failed.
			for i, a := range plan {
				if a.Kind == Create || a.Register || retired[i] != "" {
					results[i].Err = errors.Join(results[i].Err, err)
					failed[a.Slot] = true
				}
			}
		}
	}
	for i := range plan {
		if name := retired[i]; name != "" {
			step(i, func() error { return b.Purge(ctx, name) })
		}
	}
	// Wait until every slot the rescan registered is supervised, all in one
	// call: the pass waits one bound for the set, not one per slot.
	var waits []int
	waited := map[string]bool{}
	for i, a := range plan {
		if (a.Kind == Create || a.Register) && !waited[a.Slot] {
			waited[a.Slot] = true
			switch { // as step decides
			case results[i].Err != nil:
			case failed[a.Slot]:
				results[i].Err = errSkipped
			default:
				waits = append(waits, i)
			}
		}
	}
	if len(waits) > 0 {
		slots := make([]string, len(waits))
		for k, i := range waits {
			slots[k] = plan[i].Slot
		}
		start := time.Now()
		errs := b.WaitSupervised(ctx, slots)
		d := time.Since(start)
		for k, i := range waits {
			results[i].Duration += d
			if errs[k] != nil {
				results[i].Err = errs[k]
				failed[plan[i].Slot] = true
			}
		}
	}
	for i, a := range plan {
		switch {
		case a.Kind == Update && (a.Restart || a.RestartLog):
			step(i, func() error {
				if a.Restart {
					if err := b.Restart(ctx, a.Slot, false); err != nil {
						return err
					}
				}
				if a.RestartLog {
					return b.Restart(ctx, a.Slot, true)
				}
				return nil
			})
		case a.Kind == Start:
			step(i, func() error { return b.Control(ctx, a.Slot, true) })
		}
	}
	for _, r := range results {
		a := r.Action
		l := log.WithValues("profile", a.Profile, "slot", a.Slot, "action", a.Kind.String(), "reason", a.Reason,
			"duration_ms", float64(r.Duration.Microseconds())/1000)
		if r.Err != nil {
			l.Error(r.Err, "action failed", "result", "failed")
		} else {
			l.Info("action done", "result", "ok")
		}
	}
	return results
}
