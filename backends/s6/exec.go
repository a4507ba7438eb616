package s6

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

// ExecError is a failed s6 program: it names the program, its arguments, its
// exit code and what it said.
type ExecError struct {
	Prog   string
	Args   []string
	Code   int
	Stderr string
	Err    error
}

func (e *ExecError) Error() string {
	msg := strings.TrimSpace(e.Stderr)
	if msg == "" && e.Err != nil {
		msg = e.Err.Error()
	}
	return fmt.Sprintf("%s %s: exit %d: %s", e.Prog, strings.Join(e.Args, " "), e.Code, msg)
}

func (e *ExecError) Unwrap() error { return e.Err }

// runner finds s6 programs (bindir first, then PATH) and runs them.
type runner struct {
	bindir string
	mu     sync.Mutex
	paths  map[string]string
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

// run execs prog and returns its stdout; a non-zero exit is an *ExecError.
func (r *runner) run(ctx context.Context, prog string, args ...string) (string, error) {
	p, err := r.path(prog)
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, p, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	r.mu.Lock()
	r.count++
	r.mu.Unlock()
	err = cmd.Run()
	if err == nil {
		return stdout.String(), nil
	}
	code := -1
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	}
	return stdout.String(), &ExecError{Prog: prog, Args: args, Code: code, Stderr: stderr.String(), Err: err}
}

// Spawned returns how many programs the backend has started.
func (r *runner) spawned() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.count
}
