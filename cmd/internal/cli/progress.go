package cli

import (
	"errors"
	"fmt"
	"time"

	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
)

// progress prints a pass as it goes: its plan first, then a line per step
// on a terminal (text), or apply_start, apply_progress and apply_complete
// events (NDJSON), in the spirit of terraform's machine-readable UI.
type progress struct {
	p     *printer
	show  func(o *reconcile.Outcome)
	start time.Time
	tty   bool
	// total is the plan's action count; done the actions of finished steps.
	total, done int
}

func (g *progress) Planned(o *reconcile.Outcome) {
	g.show(o)
	g.total = len(o.Plan.Actions)
	if g.total == 0 {
		return
	}
	g.start = time.Now()
	if g.p.json {
		g.p.emit(map[string]any{"type": "apply_start", "changes": g.total})
	}
}

// complete closes an apply that started.
func (g *progress) complete(results []reconcile.Result) {
	if g.total == 0 || !g.p.json {
		return
	}
	failed := reconcile.Failed(results)
	g.p.emit(map[string]any{"type": "apply_complete", "changes": g.total, "applied": len(results) - failed, "failed": failed,
		"elapsed_ms": time.Since(g.start).Milliseconds()})
}

func (g *progress) Stepped(n, total int, st reconcile.Step, err error) {
	if errors.Is(err, reconcile.ErrSkipped) {
		return
	}
	g.done += len(st.Acts)
	g.done = min(g.done, g.total)
	if g.p.json {
		ev := map[string]any{"type": "apply_progress", "step": n + 1, "steps": total, "op": st.Op,
			"changes_done": g.done, "changes": g.total, "elapsed_ms": time.Since(g.start).Milliseconds()}
		if err != nil {
			ev["error"] = err.Error()
		}
		g.p.emit(ev)
		return
	}
	if g.tty {
		fmt.Fprintf(g.p.errw, "Applying: step %d of %d (%s, %d units), %d of %d changes, %s\n",
			n+1, total, st.Op, len(st.Acts), g.done, g.total, time.Since(g.start).Round(10*time.Millisecond))
	}
}
