package reconcile

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
)

// ErrSkipped marks an action not tried because an earlier step for its key
// failed: it is not done, and must not be reported as done.
var ErrSkipped = errors.New("skipped: an earlier action on this unit failed")

// Result is the outcome of one action.
type Result struct {
	Action   Action
	Err      error
	Duration time.Duration
	// Caveat says what went otherwise than asked in an action that was
	// done (Err is nil).
	Caveat string
}

// Failed counts the results that carry an error; a step another writer
// made needless (ErrSuperseded) is no failure.
func Failed(results []Result) int {
	n := 0
	for _, r := range results {
		if r.Err != nil && !errors.Is(r.Err, ErrSuperseded) {
			n++
		}
	}
	return n
}

// Superseded counts the actions another writer made needless.
func Superseded(results []Result) int {
	n := 0
	for _, r := range results {
		if errors.Is(r.Err, ErrSuperseded) {
			n++
		}
	}
	return n
}

// Execute carries out a plan's steps in order. It decides nothing: a step
// is done for the actions it serves whose unit has not failed yet, and
// skipped when none is left; a failed unit is reported and the rest goes on.
func Execute(ctx context.Context, e Engine, p Plan, steps []Step) []Result {
	return ExecuteReporting(ctx, e, p, steps, nil)
}

// Progress hears of a pass as it goes: its plan before anything is applied,
// then each step as it begins and once it is done (n counts from 0 of
// total).
type Progress interface {
	Planned(o *Outcome)
	Stepping(n, total int, st Step)
	Stepped(n, total int, st Step, err error)
}

// ExecuteReporting is Execute that tells progress about each step it ran
// or skipped; progress may be nil.
func ExecuteReporting(ctx context.Context, e Engine, p Plan, steps []Step, progress Progress) []Result {
	results := make([]Result, len(p.Actions))
	for i, a := range p.Actions {
		results[i].Action = a
	}
	for i, a := range p.Actions {
		if a.Blocked != "" {
			// Not tried: it cannot succeed until someone mends what it says.
			// The unit's other actions (its files) still run.
			results[i].Err = Terminal(errors.New(a.Blocked))
		}
	}
	failed := map[string]bool{}
	fail := func(i int, err error) {
		if results[i].Err == nil {
			results[i].Err = err
		}
		failed[p.Actions[i].Unit] = true
	}
	if w := workers(e, p, steps); w > 1 {
		executeParallel(ctx, e, p, steps, progress, results, w)
		return results
	}
	for n, st := range steps {
		live := st
		live.For, live.Acts = nil, nil
		for _, i := range st.For {
			switch {
			case results[i].Err != nil:
			case failed[p.Actions[i].Unit]:
				results[i].Err = ErrSkipped
			default:
				live.For = append(live.For, i)
				live.Acts = append(live.Acts, p.Actions[i])
			}
		}
		if len(live.For) == 0 {
			if progress != nil {
				progress.Stepped(n, len(steps), st, ErrSkipped)
			}
			continue
		}
		if err := ctx.Err(); err != nil {
			for _, i := range live.For {
				fail(i, err)
			}
			continue
		}
		if progress != nil {
			progress.Stepping(n, len(steps), live)
		}
		start := time.Now()
		err := e.Do(ctx, live)
		d := time.Since(start)
		if progress != nil {
			progress.Stepped(n, len(steps), live, err)
		}
		var per StepErrors
		var caveat *Caveat
		for k, i := range live.For {
			results[i].Duration += d
			switch {
			case errors.As(err, &per):
				if per[k] != nil {
					fail(i, per[k])
				}
			case errors.As(err, &caveat):
				results[i].Caveat = strings.TrimPrefix(results[i].Caveat+"; "+caveat.Msg, "; ")
			case err != nil:
				fail(i, err)
			}
		}
	}
	return results
}

// logResults logs each action's outcome; a failure repeated (as its caller
// knows, nil: none) is logged at V(1), not as an error again.
func logResults(log logr.Logger, results []Result, repeated func(target string, err error) bool) {
	for _, r := range results {
		a := r.Action
		l := log.WithValues("profile", a.Key, "slot", a.Unit, "action", a.Kind.String(), "reason", string(a.Reason),
			"duration_ms", float64(r.Duration.Microseconds())/1000)
		switch {
		case errors.Is(r.Err, ErrSuperseded):
			l.Info("action superseded", "result", "superseded", "error", r.Err.Error())
		case r.Err != nil && repeated != nil && repeated(a.Target(), r.Err):
			l.V(1).Info("action failed as before", "result", "failed", "error", r.Err.Error())
		case r.Err != nil:
			l.Error(r.Err, "action failed", "result", "failed")
		case r.Caveat != "":
			l.Info("action done", "result", "ok", "caveat", r.Caveat)
		default:
			l.Info("action done", "result", "ok")
		}
	}
}

// Parallel is an engine whose steps are each one unit's, independent of
// the other units' (an API write): up to Workers of them run at once,
// each unit's in their order.
type Parallel interface {
	Workers() int
}

// workers is how many steps of the plan may run at once: 1 unless the
// engine is Parallel and every step serves one action.
func workers(e Engine, p Plan, steps []Step) int {
	pe, ok := e.(Parallel)
	if !ok || pe.Workers() <= 1 {
		return 1
	}
	for _, st := range steps {
		if len(st.For) != 1 {
			return 1
		}
	}
	return pe.Workers()
}

// executeParallel runs each unit's steps in order, w units at a time. A
// unit's failed step skips its later ones, as Execute does; progress hears
// of each step under one lock.
func executeParallel(ctx context.Context, e Engine, p Plan, steps []Step, progress Progress, results []Result, w int) {
	var chains [][]int // steps by unit, in plan order
	byUnit := map[string]int{}
	for n, st := range steps {
		u := p.Actions[st.For[0]].Unit
		c, ok := byUnit[u]
		if !ok {
			c = len(chains)
			byUnit[u] = c
			chains = append(chains, nil)
		}
		chains[c] = append(chains[c], n)
	}
	var mu sync.Mutex // progress, and results of other units' steps
	report := func(f func()) {
		if progress != nil {
			mu.Lock()
			f()
			mu.Unlock()
		}
	}
	next := make(chan []int)
	var wg sync.WaitGroup
	for range min(w, len(chains)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for chain := range next {
				failed := false
				for _, n := range chain {
					st := steps[n]
					i := st.For[0]
					if results[i].Err != nil || failed {
						if results[i].Err == nil {
							results[i].Err = ErrSkipped
						}
						report(func() { progress.Stepped(n, len(steps), st, ErrSkipped) })
						continue
					}
					if err := ctx.Err(); err != nil {
						results[i].Err, failed = err, true
						continue
					}
					live := st
					live.Acts = []Action{p.Actions[i]}
					report(func() { progress.Stepping(n, len(steps), live) })
					start := time.Now()
					err := e.Do(ctx, live)
					results[i].Duration += time.Since(start)
					report(func() { progress.Stepped(n, len(steps), live, err) })
					var caveat *Caveat
					var per StepErrors
					switch {
					case errors.As(err, &per):
						if len(per) > 0 && per[0] != nil {
							results[i].Err, failed = per[0], true
						}
					case errors.As(err, &caveat):
						results[i].Caveat = strings.TrimPrefix(results[i].Caveat+"; "+caveat.Msg, "; ")
					case err != nil:
						results[i].Err, failed = err, true
					}
				}
			}
		}()
	}
	for _, c := range chains {
		next <- c
	}
	close(next)
	wg.Wait()
}
