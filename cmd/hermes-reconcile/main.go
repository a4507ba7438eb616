// Command hermes-reconcile keeps the s6 gateway slots of a Hermes container
// in step with the profiles on disk. See --help.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/zapr"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/hermes-reconcile/hermes-reconcile/backends/host"
	"github.com/hermes-reconcile/hermes-reconcile/backends/s6"
	"github.com/hermes-reconcile/hermes-reconcile/config"
	"github.com/hermes-reconcile/hermes-reconcile/desired"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
)

// Exit codes.
const (
	exitOK      = 0
	exitError   = 1
	exitChanges = 2
	// exitHeld: status found a gateway that should run not running.
	exitHeld = 3
	// exitUsage: a flag, twin or argument that cannot run (EX_USAGE).
	exitUsage = 64
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	code := run(ctx, os.Args[1:], environ(os.Environ()), os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// environ is the environment as a map; a variable set to "" is present.
func environ(kv []string) map[string]string {
	env := make(map[string]string, len(kv))
	for _, e := range kv {
		if k, v, ok := strings.Cut(e, "="); ok {
			env[k] = v
		}
	}
	return env
}

func run(ctx context.Context, args []string, env map[string]string, stdout, stderr io.Writer) int {
	getenv := func(k string) string { return env[k] }
	o, err := parseArgs(args, env, stdout)
	if errors.Is(err, errHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "hermes-reconcile: %v\n", err)
		var ue *usageError
		if errors.As(err, &ue) {
			return exitUsage
		}
		return exitError
	}
	for _, w := range o.warnings {
		fmt.Fprintf(stderr, "hermes-reconcile: warning: %s\n", w)
	}
	if o.version {
		fmt.Fprintln(stdout, versionLine())
		return exitOK
	}
	log, sync := newLogger(o, stderr, getenv)
	defer sync()
	ctx = logr.NewContext(ctx, log)
	if o.once || o.status {
		// A one-shot run is pass 1, so its lines read like the longrun's.
		ctx = logr.NewContext(ctx, log.WithValues("pass", 1))
	}

	p := &printer{out: stdout, errw: stderr, json: o.cfg.Output == config.OutputJSON,
		color: colorful(stdout, getenv)}
	kind, err := detectBackend(o)
	if err != nil {
		return p.fail(err)
	}
	if kind == backendKube {
		return runKube(ctx, o, p, getenv)
	}
	if kind != host.S6 {
		return runHost(ctx, o, kind, p, getenv)
	}
	if o.status && !o.renderGiven {
		// Render as the slots were written, not with this command line's
		// defaults: status must not show drift a pass would not see.
		if r, ok := s6.RecordedRender(o.cfg.Scandir); ok {
			o.cfg.Render = r
		}
	}
	be, err := s6.New(s6.Options{Scandir: o.cfg.Scandir, Bindir: o.cfg.S6Bindir, Timeout: o.cfg.SuperviseTimeout,
		User: o.cfg.Render.User, UID: o.cfg.Render.ServiceUID, GID: o.cfg.Render.ServiceGID, Render: o.cfg.Render,
		CrashWindow: o.cfg.CrashLoopWindow, MaxServices: o.cfg.MaxServices})
	if err != nil {
		fmt.Fprintf(stderr, "hermes-reconcile: %v\n", err)
		return exitError
	}
	pass := &reconcile.Pass{
		Reader: desired.NewReader(o.cfg.Home, o.readerOptions(getenv, true)),
		Engine: be,
		Policy: reconcile.Policy{Capacity: o.cfg.MaxServices, CapacityWarning: be.CapacityWarning, Settle: o.cfg.Settle,
			CrashLoop: reconcile.CrashLoop{Deaths: o.cfg.CrashLoopDeaths, Window: o.cfg.CrashLoopWindow}},
	}
	if !o.allowMassRemove {
		pass.Policy.MaxRemove = &reconcile.RemoveLimit{Max: o.maxRemove.n, Percent: o.maxRemove.percent, Set: o.maxRemove.set,
			Flag: "--max-remove", Allow: "--allow-mass-remove (HERMES_RECONCILE_ALLOW_MASS_REMOVE=1)"}
	}
	run := runner{o: o, p: p, pass: pass, backend: host.S6}
	for _, name := range o.profiles {
		run.keys = append(run.keys, name)
	}
	if o.unpark != "" {
		// One pass over the profile, as --once, with the operator's word
		// that its parked (or failed) gateway starts again.
		run.keys = []desired.Key{o.unpark}
		pass.Policy.Unpark = map[desired.Key]bool{o.unpark: true}
		o.once = true
		run.o = o
	}
	switch {
	case o.explain != "":
		return run.explain(ctx, o.explain)
	case o.status:
		return run.status(ctx)
	case o.once: // --dry-run and unpark set it too
		if !o.dryRun {
			// --dry-run takes no lock: taking it would write to the scandir.
			run.lock = func(ctx context.Context) (func(), error) {
				l, err := s6.AcquireLock(ctx, o.cfg.Scandir, fmt.Sprintf("pid %d (hermes-reconcile --once)", os.Getpid()), o.cfg.LockTimeout)
				if err != nil {
					return nil, err
				}
				return func() { _ = l.Unlock() }, nil
			}
		}
		return run.once(ctx)
	}
	return runWatch(ctx, o, pass)
}

// readerOptions are what the profile reader needs of the settings; boot
// says the engine stands in for Hermes's container boot (s6).
func (o options) readerOptions(getenv func(string) string, boot bool) desired.Options {
	return desired.Options{MultiplexEnv: getenv("GATEWAY_MULTIPLEX_PROFILES"),
		Topology: desired.TopologyMode(o.cfg.Topology), HermesRoot: o.cfg.HermesRoot, HermesVersion: o.cfg.HermesVersion, Boot: boot}
}

// runner runs one-shot modes through a pass, for any engine.
type runner struct {
	o       options
	p       *printer
	pass    *reconcile.Pass
	backend string
	// keys the pass covers: nil for every profile (s6), the active profile
	// on a host.
	keys []desired.Key
	// lock takes the single-writer lock for an applying run; nil: none.
	lock func(context.Context) (func(), error)
	// held is a diagnostic that holds the whole run: HERMES_HOME names no
	// profile a host can serve.
	held *desired.Diagnostic
}

// once is one pass: --once at boot, or --dry-run, which plans only.
func (r runner) once(ctx context.Context) int {
	o, p := r.o, r.p
	p.version(o.modeName(), r.backend)
	if r.held != nil {
		p.diagnostics([]desired.Diagnostic{*r.held})
		p.plan(reconcile.Plan{})
		p.summary(reconcile.Plan{}, nil, 1, nil)
		return o.exitCode(nil, nil, 1, 0)
	}
	var out reconcile.Outcome
	planned := false
	showPlan := func(o *reconcile.Outcome) {
		planned = true
		p.topology(o.Desired.Topology)
		p.diagnostics(o.Desired.Diagnostics)
		p.plan(o.Plan)
		if r.o.diff {
			p.diffs(o, r.pass.Engine)
		}
	}
	if o.dryRun {
		out = r.pass.Observe(ctx, r.keys)
		if out.Err == nil {
			showPlan(&out)
		}
	} else {
		unlock := func() {}
		if r.lock != nil {
			u, err := r.lock(ctx)
			if err != nil {
				return p.fail(err)
			}
			unlock = u
		}
		// The plan is said before anything is applied, then the apply's
		// progress: a long cold converge is not a blank screen.
		prog := &progress{p: p, show: showPlan, start: time.Now(), tty: p.color || isTerminal(p.out)}
		r.pass.Progress = prog
		out = r.pass.Run(ctx, r.keys, nil)
		r.pass.Progress = nil
		unlock()
		if !planned && out.Err == nil {
			showPlan(&out)
		}
		if planned {
			p.results(out.Results)
		}
		prog.complete(out.Results)
	}
	diags := out.Desired.Diagnostics
	p.summary(out.Plan, out.Results, len(diags), out.Err)
	return o.exitCode(out.Err, out.Results, len(diags), len(out.Plan.Actions))
}

// modeName names a one-shot run in the version line.
func (o options) modeName() string {
	switch {
	case o.dryRun:
		return "dry-run"
	case o.unpark != "":
		return "unpark"
	}
	return "once"
}

// exitCode is the exit status of a one-shot run.
func (o options) exitCode(err error, results []reconcile.Result, diags, changes int) int {
	switch {
	case err != nil, reconcile.Failed(results) > 0:
		return exitError
	case o.cfg.Strict && diags > 0:
		return exitError
	case o.cfg.DetailedExitcode && changes > 0:
		return exitChanges
	}
	return exitOK
}

func (p *printer) fail(err error) int {
	p.summary(reconcile.Plan{}, nil, 0, err)
	return exitError
}

func newLogger(o options, stderr io.Writer, getenv func(string) string) (logr.Logger, func()) {
	format := o.logFormat
	if format == "" {
		format = "json"
		if isTerminal(stderr) {
			format = "console"
		}
	}
	encCfg := zap.NewProductionEncoderConfig()
	encCfg.TimeKey = "ts"
	encCfg.EncodeTime = zapcore.ISO8601TimeEncoder
	var enc zapcore.Encoder
	if format == "console" {
		encCfg.EncodeLevel = zapcore.CapitalLevelEncoder
		if colorful(stderr, getenv) {
			encCfg.EncodeLevel = zapcore.CapitalColorLevelEncoder
		}
		enc = zapcore.NewConsoleEncoder(encCfg)
	} else {
		enc = zapcore.NewJSONEncoder(encCfg)
	}
	ws := zapcore.AddSync(stderr)
	core := zapcore.NewCore(enc, zapcore.Lock(ws), zap.NewAtomicLevelAt(zapcore.Level(-o.verbosity)))
	zl := zap.New(core)
	return zapr.NewLogger(zl), func() { _ = zl.Sync() }
}

// isTerminal is true for a terminal: not a file, not a pipe, not
// /dev/null.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isTerminalFd(f.Fd())
}

// colorful is true when w takes colour escapes: a terminal that is not
// TERM=dumb, and no NO_COLOR.
func colorful(w io.Writer, getenv func(string) string) bool {
	return isTerminal(w) && getenv("TERM") != "dumb" && getenv("NO_COLOR") == ""
}
