// Package command runs the programs of service managers (s6-svc,
// systemctl, launchctl, schtasks): every call bounded, and every failure an
// *Error that names the program, its arguments, its exit code and what it
// said.
package command

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Error is a failed call of a manager's program: it names the program, its
// arguments, its exit code (-1 when it did not exit by itself) and what it
// said on stderr.
type Error struct {
	Prog   string
	Args   []string
	Code   int
	Stderr string
	// TimedOut is set when the call was killed at its deadline.
	TimedOut bool
	Err      error
}

func (e *Error) Error() string {
	cmd := strings.TrimSpace(e.Prog + " " + strings.Join(e.Args, " "))
	if e.TimedOut {
		return fmt.Sprintf("%s: no answer in time, killed (%v)", cmd, e.Err)
	}
	msg := strings.TrimSpace(e.Stderr)
	if msg == "" && e.Err != nil {
		msg = e.Err.Error()
	}
	if e.Code < 0 {
		return fmt.Sprintf("%s: %s", cmd, msg)
	}
	return fmt.Sprintf("%s: exit %d: %s", cmd, e.Code, msg)
}

func (e *Error) Unwrap() error { return e.Err }

// Runner runs one manager program (s6-svc, systemctl, launchctl, schtasks). Every
// call has a deadline: a program that hangs (a user bus that never answers)
// is killed, and its error says so.
type Runner struct {
	// Prog is the program, looked up in PATH at each call unless it is a
	// path.
	Prog string
	// Path is the PATH Prog is looked up in (a list of directories).
	// Default "": the process's own $PATH. It is not the program's
	// environment: Env is.
	Path string
	// Timeout bounds each call unless the call gives its own. Default 30s.
	Timeout time.Duration
	// Env, when non-nil, is the program's whole environment.
	Env []string
}

// LookPath finds prog as exec.LookPath does, but in the directories of
// path rather than in $PATH; path "" is $PATH. A prog with a directory in
// it is not looked up, as exec.Command does not. Like exec.LookPath, it
// refuses a program found through a relative directory (exec.ErrDot).
func LookPath(prog, path string) (string, error) {
	if path == "" || filepath.Base(prog) != prog {
		return exec.LookPath(prog)
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		// A name with a separator is only checked, never searched for,
		// and on Windows tried with each PATHEXT extension.
		found, err := exec.LookPath(dir + string(filepath.Separator) + prog)
		if err != nil {
			continue
		}
		if !filepath.IsAbs(found) {
			return found, &exec.Error{Name: prog, Err: exec.ErrDot}
		}
		return found, nil
	}
	return "", &exec.Error{Name: prog, Err: exec.ErrNotFound}
}

// DefaultTimeout bounds a manager call when nothing else is set.
const DefaultTimeout = 30 * time.Second

// Run calls the program with args, bounded by timeout (Runner.Timeout when
// 0). It returns the exit code, stdout and stderr; err is an *Error
// when the program could not run, timed out or exited non-zero.
func (r Runner) Run(ctx context.Context, timeout time.Duration, args ...string) (code int, stdout, stderr string, err error) {
	if timeout <= 0 {
		timeout = r.Timeout
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, r.Prog, args...)
	if r.Path != "" && filepath.Base(r.Prog) == r.Prog {
		// Only the lookup changes: argv[0] stays Prog.
		cmd.Path, cmd.Err = LookPath(r.Prog, r.Path)
	}
	cmd.Env = r.Env
	// A killed program's children may hold the pipes open: stop waiting for
	// them shortly after the kill.
	cmd.WaitDelay = time.Second
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	runErr := cmd.Run()
	stdout, stderr = out.String(), errb.String()
	if runErr == nil {
		return 0, stdout, stderr, nil
	}
	code = -1
	var ee *exec.ExitError
	if errors.As(runErr, &ee) {
		code = ee.ExitCode()
	}
	e := &Error{Prog: r.Prog, Args: args, Code: code, Stderr: stderr, Err: runErr}
	if ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		e.TimedOut, e.Code, e.Err = true, -1, fmt.Errorf("after %v", timeout)
	}
	return e.Code, stdout, stderr, e
}
