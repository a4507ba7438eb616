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
	x := &executor{ctx: ctx, e: e, p: p, steps: steps, progress: progress, results: results, failed: map[string]bool{}}
	if w := workers(e, p, steps); w > 1 {
		x.parallel(w)
		return results
	}
	for n := range steps {
		x.step(n)
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

// executor runs a plan's steps: one after another, or each unit's in
// order with several units at once (parallel). Either way a step is run by
// step, so a failure skips the same later steps.
type executor struct {
	ctx      context.Context
	e        Engine
	p        Plan
	steps    []Step
	progress Progress
	results  []Result
	// mu guards failed and progress while steps run at once; a step's
	// results are its own actions', which no other step touches then.
	mu     sync.Mutex
	failed map[string]bool // units with a failed action
}

// fail records err for action i, unless it has one, and its unit as failed.
func (x *executor) fail(i int, err error) {
	if x.results[i].Err == nil {
		x.results[i].Err = err
	}
	x.mu.Lock()
	x.failed[x.p.Actions[i].Unit] = true
	x.mu.Unlock()
}

func (x *executor) report(f func(Progress)) {
	if x.progress != nil {
		x.mu.Lock()
		f(x.progress)
		x.mu.Unlock()
	}
}

// step runs steps[n] for those of its actions whose unit has not failed,
// and records what it did to each.
func (x *executor) step(n int) {
	st, total := x.steps[n], len(x.steps)
	live := st
	live.For, live.Acts = nil, nil
	for _, i := range st.For {
		x.mu.Lock()
		failed := x.failed[x.p.Actions[i].Unit]
		x.mu.Unlock()
		switch {
		case x.results[i].Err != nil:
		case failed:
			x.results[i].Err = ErrSkipped
		default:
			live.For = append(live.For, i)
			live.Acts = append(live.Acts, x.p.Actions[i])
		}
	}
	if len(live.For) == 0 {
		x.report(func(p Progress) { p.Stepped(n, total, st, ErrSkipped) })
		return
	}
	if err := x.ctx.Err(); err != nil {
		for _, i := range live.For {
			x.fail(i, err)
		}
		return
	}
	x.report(func(p Progress) { p.Stepping(n, total, live) })
	start := time.Now()
	err := x.e.Do(x.ctx, live)
	d := time.Since(start)
	x.report(func(p Progress) { p.Stepped(n, total, live, err) })
	var per StepErrors
	var caveat *Caveat
	for k, i := range live.For {
		x.results[i].Duration += d
		switch {
		case errors.As(err, &per):
			if per[k] != nil {
				x.fail(i, per[k])
			}
		case errors.As(err, &caveat):
			x.results[i].Caveat = strings.TrimPrefix(x.results[i].Caveat+"; "+caveat.Msg, "; ")
		case err != nil:
			x.fail(i, err)
		}
	}
}

// parallel runs each unit's steps in order, w units at a time (workers:
// every step serves one action).
func (x *executor) parallel(w int) {
	var chains [][]int // steps by unit, in plan order
	byUnit := map[string]int{}
	for n, st := range x.steps {
		u := x.p.Actions[st.For[0]].Unit
		c, ok := byUnit[u]
		if !ok {
			c = len(chains)
			byUnit[u] = c
			chains = append(chains, nil)
		}
		chains[c] = append(chains[c], n)
	}
	next := make(chan []int)
	var wg sync.WaitGroup
	for range min(w, len(chains)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for chain := range next {
				for _, n := range chain {
					x.step(n)
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
