package s6

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/hermes-reconcile/hermes-reconcile/backends/command"
)

// runner finds s6 programs (bindir first, then PATH) and runs them through
// the one bounded runner every backend uses.
type runner struct {
	bindir string
	// bound caps each call; the waits s6-svc does itself (-T) are shorter.
	bound time.Duration
	mu    sync.Mutex
	paths map[string]string
	// count is how many programs were started: the no-op pass must start none.
	count int
}

func (r *runner) path(prog string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p, ok := r.paths[prog]; ok {
		return p, nil
	}
	p := filepath.Join(r.bindir, prog)
	if fi, err := os.Stat(p); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		lp, err := exec.LookPath(prog)
		if err != nil {
			return "", fmt.Errorf("%s not found in %s or PATH: %w", prog, r.bindir, err)
		}
		p = lp
	}
	if r.paths == nil {
		r.paths = map[string]string{}
	}
	r.paths[prog] = p
	return p, nil
}

// run execs prog and returns its stdout; a failure is a *command.Error
// that names prog as the operator knows it, not its path.
func (r *runner) run(ctx context.Context, prog string, args ...string) (string, error) {
	p, err := r.path(prog)
	if err != nil {
		return "", err
	}
	r.mu.Lock()
	r.count++
	r.mu.Unlock()
	_, stdout, _, err := command.Runner{Prog: p, Timeout: r.bound}.Run(ctx, 0, args...)
	if prog == "s6-svc" {
		// A control command changes a slot as much as a write does: the
		// crashpoint build may die after it (see mutated).
		err = mutated(err)
	}
	var ce *command.Error
	if errors.As(err, &ce) {
		ce.Prog = prog
	}
	return stdout, err
}

// spawned returns how many programs the backend has started.
func (r *runner) spawned() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.count
}
