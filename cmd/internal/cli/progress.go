package cli

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
)

// progress prints a pass as it goes: its plan first, then the apply. On a
// terminal one line is redrawn, also while a long step runs (the wait for
// s6 to supervise 300 new slots); elsewhere a line per step; in NDJSON
// apply_start, apply_progress and apply_complete events, in the spirit of
// terraform's machine-readable UI.
type progress struct {
	p     *printer
	show  func(o *reconcile.Outcome)
	start time.Time
	tty   bool
	// total is the plan's action count; done the actions of finished steps.
	total, done int

	mu      sync.Mutex
	step    string // the step running, as the line says it
	ticking chan struct{}
	ticker  sync.WaitGroup
	drawn   bool
}

func (g *progress) Planned(o *reconcile.Outcome) {
	g.show(o)
	g.total = len(o.Plan.Actions)
	if g.total == 0 {
		return
	}
	g.start = time.Now()
	if g.p.json {
		g.p.event(levelInfo, "apply_start", fmt.Sprintf("Applying %d changes", g.total), map[string]any{"changes": g.total})
		return
	}
	if g.tty {
		g.ticking = make(chan struct{})
		g.ticker.Add(1)
		go g.tick()
	}
}

// tick redraws the line while a step runs.
func (g *progress) tick() {
	defer g.ticker.Done()
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-g.ticking:
			return
		case <-t.C:
			g.draw()
		}
	}
}

func (g *progress) draw() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.step == "" {
		return
	}
	fmt.Fprintf(g.p.errw, "\r\x1b[K%s, %s", g.step, time.Since(g.start).Round(100*time.Millisecond))
	g.drawn = true
}

func (g *progress) Stepping(n, total int, st reconcile.Step) {
	g.mu.Lock()
	g.step = fmt.Sprintf("Applying: step %d of %d (%s, %d units), %d of %d changes", n+1, total, st.Op, len(st.Acts), g.done, g.total)
	g.mu.Unlock()
	if g.tty && !g.p.json {
		g.draw()
	}
}

// stop ends the terminal's line: no redraw after it, and the line is
// cleared, so that what follows (failures, the summary) is not written
// over or after it.
func (g *progress) stop() {
	if g.ticking != nil {
		close(g.ticking)
		g.ticker.Wait()
		g.ticking = nil
	}
	if g.drawn {
		fmt.Fprint(g.p.errw, "\r\x1b[K")
		g.drawn = false
	}
}

// complete closes an apply that started: after its results, in NDJSON.
func (g *progress) complete(results []reconcile.Result) {
	g.stop()
	if g.total == 0 || !g.p.json {
		return
	}
	failed := reconcile.Failed(results)
	level := levelInfo
	if failed > 0 {
		level = levelError
	}
	g.p.event(level, "apply_complete", fmt.Sprintf("Apply: %d done, %d failed", len(results)-failed, failed),
		map[string]any{"changes": g.total, "applied": len(results) - failed, "failed": failed, "elapsed_ms": time.Since(g.start).Milliseconds()})
}

func (g *progress) Stepped(n, total int, st reconcile.Step, err error) {
	if errors.Is(err, reconcile.ErrSkipped) {
		return
	}
	g.mu.Lock()
	g.done += len(st.Acts)
	g.done = min(g.done, g.total)
	done := g.done
	g.mu.Unlock()
	elapsed := time.Since(g.start)
	switch {
	case g.p.json:
		level, e := levelInfo, any(nil)
		if err != nil {
			level, e = levelError, err.Error()
		}
		g.p.event(level, "apply_progress", fmt.Sprintf("step %d of %d (%s): %d of %d changes", n+1, total, st.Op, done, g.total),
			map[string]any{"step": n + 1, "steps": total, "op": st.Op.String(), "changes_done": done, "changes": g.total,
				"elapsed_ms": elapsed.Milliseconds(), "error": e})
	case g.tty:
		g.draw()
	default:
		fmt.Fprintf(g.p.errw, "Applying: step %d of %d (%s, %d units), %d of %d changes, %s\n",
			n+1, total, st.Op, len(st.Acts), done, g.total, elapsed.Round(10*time.Millisecond))
	}
}
