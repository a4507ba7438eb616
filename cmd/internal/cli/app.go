// Package cli is what the hermes-reconcile binaries share: the settings
// (flags and their HERMES_RECONCILE_* twins), the one-shot modes (--once,
// --dry-run, status, explain, unpark) and their output. Each binary brings
// its engines in a Binary; the pass is built once, here.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/zapr"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/hermes-reconcile/hermes-reconcile/config"
	"github.com/hermes-reconcile/hermes-reconcile/desired"
	"github.com/hermes-reconcile/hermes-reconcile/metrics"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile/loop"
)

// Exit codes.
const (
	exitOK      = 0
	exitError   = 1
	exitChanges = 2
	// exitHeld: status found a gateway that should run not running.
	exitHeld = 3
	// exitNoSuch (4, names.go): status, explain or unpark named nothing.
	// exitUsage: a flag, twin or argument that cannot run (EX_USAGE).
	exitUsage = 64
)

// Binary is one hermes-reconcile binary: the engines it carries.
type Binary struct {
	// Name is the program's name, as help and errors say it.
	Name string
	// Backends are the values --backend takes besides auto; the first is
	// the default when Detect is nil.
	Backends []string
	// Groups are the flag groups it has, in --help's order; Flags are
	// flags of other groups it has too.
	Groups []string
	Flags  []string
	// Defaults sets the binary's own defaults before flags and twins.
	Defaults func(o *Options)
	// Detect resolves --backend auto.
	Detect func(o *Options) (string, error)
	// Build makes the engine of backend from the settings.
	Build func(ctx context.Context, backend string, o *Options, getenv func(string) string) (*Setup, error)
}

// Setup is what a backend brings to a run: its engine, the profiles it
// serves, how it locks, how it watches.
type Setup struct {
	Engine reconcile.Engine
	// Keys are the profiles a one-shot run covers: nil for every profile,
	// the active one on a host.
	Keys []desired.Key
	// Held is a diagnostic that holds the whole run: HERMES_HOME names no
	// profile a host can serve.
	Held *desired.Diagnostic
	// Reader are the profile reader's options (NewReaderOptions fills the
	// common part).
	Reader desired.Options
	// Policy adjusts the planner's policy (s6: its capacity warning).
	Policy func(*reconcile.Policy)
	// Lock takes the single-writer lock of an applying one-shot run, and
	// WatchLock of each pass in watch mode; nil: none.
	Lock, WatchLock loop.Locker
	// LockProbe says, taking nothing, why Lock would refuse now (a
	// controller holds the Lease); nil: never asked. A dry run, which
	// takes no lock, says it as a warning beside its plan.
	LockProbe func(ctx context.Context) error
	// Sources are the engine's own sources for watch mode; the profile
	// watcher and SIGHUP are every engine's.
	Sources []loop.Source
	// Serve runs watch mode's loop (run): nil runs it here; Kubernetes runs
	// it in its manager, while it holds the Lease.
	Serve func(ctx context.Context, run func(context.Context) error) error
	// Observe hands watch mode's metrics and health to the engine's own
	// endpoints (Kubernetes: the manager's registry, /healthz and
	// /readyz); nil: watch mode serves them itself on --metrics-addr.
	Observe func(m *metrics.Metrics) error
	// Startup are what the watch mode's first log line says of the engine.
	Startup []any
	// NoUnpark says why the backend cannot unpark; "" when it can.
	NoUnpark string
}

// Main runs a binary with the process's arguments and environment and
// exits with its code.
func Main(b Binary) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	code := b.Run(ctx, os.Args[1:], Environ(os.Environ()), os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Environ is the environment as a map; a variable set to "" is present.
func Environ(kv []string) map[string]string {
	env := make(map[string]string, len(kv))
	for _, e := range kv {
		if k, v, ok := strings.Cut(e, "="); ok {
			env[k] = v
		}
	}
	return env
}

// Run runs the binary with args and env, writing to stdout and stderr, and
// returns its exit code.
func (b Binary) Run(ctx context.Context, args []string, env map[string]string, stdout, stderr io.Writer) int {
	getenv := func(k string) string { return env[k] }
	o, err := parseArgs(b, args, env, stdout, stderr)
	if errors.Is(err, errHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", b.Name, err)
		var ue *usageError
		if errors.As(err, &ue) {
			return exitUsage
		}
		return exitError
	}
	for _, w := range o.Warnings {
		fmt.Fprintf(stderr, "%s: warning: %s\n", b.Name, w)
	}
	o.environ = env
	_, gogc := env["GOGC"]
	_, memlimit := env["GOMEMLIMIT"]
	if !gogc && !memlimit && (o.Once || o.DryRun || o.Status || o.Explain != "" || o.Unpark != "") {
		oneShotGC() // watch mode keeps Go's default
	}
	if o.Version {
		fmt.Fprintln(stdout, versionLine(b.Name))
		return exitOK
	}
	log, sync := newLogger(o, stderr, getenv)
	defer sync()
	ctx = logr.NewContext(ctx, log)
	if o.Once || o.Status {
		// A one-shot run is pass 1, so its lines read like the longrun's.
		ctx = logr.NewContext(ctx, log.WithValues("pass", 1))
	}

	p := &printer{out: stdout, errw: stderr, json: o.Cfg.Output == config.OutputJSON,
		color: !o.NoColor && colorful(stdout, getenv)}
	backend := b.Backends[0]
	if o.Backend != "auto" {
		backend = o.Backend
	} else if b.Detect != nil {
		if backend, err = b.Detect(&o); err != nil {
			return p.fail(err)
		}
	}
	st, err := b.Build(ctx, backend, &o, getenv)
	if err != nil {
		return p.fail(err)
	}
	if o.Unpark != "" && st.NoUnpark != "" {
		return p.fail(errors.New(st.NoUnpark))
	}
	pass := &reconcile.Pass{
		Reader: desired.NewReader(o.Cfg.Home, st.Reader),
		Engine: st.Engine,
		Policy: o.policy(),
	}
	if st.Policy != nil {
		st.Policy(&pass.Policy)
	}
	run := runner{o: o, p: p, pass: pass, backend: backend, keys: st.Keys, held: st.Held, probe: st.LockProbe}
	if run.keys == nil && len(o.Profiles) > 0 {
		run.keys = o.Profiles // status PROFILE...
	}
	if o.Unpark != "" {
		// One pass over the profile, as --once, with the operator's word
		// that its parked (or failed) gateway starts again.
		run.keys = []desired.Key{o.Unpark}
		pass.Policy.Unpark = map[desired.Key]bool{o.Unpark: true}
		run.o.Once = true
	}
	switch {
	case o.Explain != "":
		return run.explain(ctx, o.Explain)
	case o.Status:
		return run.status(ctx)
	case o.Unpark != "":
		return run.unpark(ctx)
	case run.o.Once: // --dry-run sets it too
		if !o.DryRun {
			// --dry-run takes no lock: taking it would write.
			run.lock = st.Lock
		}
		return run.once(ctx)
	}
	if err := watch(ctx, &o, backend, st, pass); err != nil {
		log.Error(err, "watch stopped")
		return exitError
	}
	return exitOK
}

// watch is watch mode, for every engine: the one loop, fed by the profile
// watcher, SIGHUP and the engine's own sources, counted by the domain
// metrics. It returns nil on SIGTERM or SIGINT after the pass in flight,
// leaving every gateway as it is.
func watch(ctx context.Context, o *Options, backend string, st *Setup, pass *reconcile.Pass) error {
	log := logr.FromContextOrDiscard(ctx)
	w := o.Cfg.Watch
	StartupLine(log, o, backend, append(st.Startup, "poll", w.Poll.String(), "notify_fd", w.NotifyFD)...)
	profiles := desired.NewWatcher(pass.Reader.Layout(), desired.WatchOptions{Poll: w.Poll}, log)
	opt := loop.Options{
		Quiet: w.Quiet, MaxDelay: w.MaxDelay, Resync: w.Resync, BackoffMin: w.BackoffMin, BackoffMax: w.BackoffMax,
		Sources: append([]loop.Source{loop.Profiles{W: profiles}, hangup(log)}, st.Sources...),
		Lock:    st.WatchLock,
		Scope:   st.Keys,
		Ready:   func() { notifyReady(log, w.NotifyFD) },
		// The process is the loop's alone unless an engine serves it (the
		// controller's manager), and GOMAXPROCS set by hand is the user's.
		OneProcIdle: st.Serve == nil && o.environ["GOMAXPROCS"] == "",
	}
	b := readBuildInfo()
	m := metrics.New(metrics.Options{Engine: backend, Version: b.Version, Commit: b.Commit, Stale: config.Unhealthy * w.Resync})
	opt.Recorder = m
	switch {
	case st.Observe != nil:
		if err := st.Observe(m); err != nil {
			return err
		}
	case w.MetricsAddr != "" && w.MetricsAddr != "0":
		stop, err := serve(log, w.MetricsAddr, m)
		if err != nil {
			return err
		}
		defer stop()
	}
	// Serve may call run with a context of its own (controller-runtime's
	// runnables get the manager's): the loop keeps the binary's logger.
	run := func(ctx context.Context) error { return loop.Run(logr.NewContext(ctx, log), pass, opt) }
	if st.Serve != nil {
		return st.Serve(ctx, run)
	}
	return run(ctx)
}

// hangup is SIGHUP as a source: a full pass now.
func hangup(log logr.Logger) loop.Source {
	return loop.SourceFunc(func(ctx context.Context, send func(loop.Event)) error {
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		go func() {
			defer signal.Stop(hup)
			for {
				select {
				case <-ctx.Done():
					return
				case <-hup:
					log.Info("SIGHUP: running a pass")
					send(loop.Event{Kind: loop.All, Why: "sighup"})
				}
			}
		}()
		return nil
	})
}

// notifyReady tells s6 the service is ready: a newline on the
// notification-fd, which is then closed, as s6-supervise expects.
func notifyReady(log logr.Logger, fd int) {
	if fd < 0 {
		return
	}
	f := os.NewFile(uintptr(fd), "notification-fd")
	if f == nil {
		log.Info("notification fd is not open", "fd", fd)
		return
	}
	if _, err := f.Write([]byte("\n")); err != nil {
		log.Error(err, "cannot signal readiness", "fd", fd)
	}
	_ = f.Close()
}

// policy is the planner's policy from the settings; engines add theirs.
func (o *Options) policy() reconcile.Policy {
	p := reconcile.Policy{Settle: o.Cfg.Settle, RemoveAfter: o.Cfg.RemoveAfter, Conflicts: reconcile.ConflictsHold,
		CrashLoop: reconcile.CrashLoop{Deaths: o.Cfg.CrashLoopDeaths, Window: o.Cfg.CrashLoopWindow},
		Rollout: &reconcile.Rollout{Batch: reconcile.RemoveLimit{Max: o.RolloutBatch.n, Percent: o.RolloutBatch.percent, Set: o.RolloutBatch.set},
			HealthyAfter: o.Cfg.RolloutHealthyAfter, Timeout: o.Cfg.RolloutTimeout}}
	if !o.AllowMassRemove {
		p.MaxRemove = &reconcile.RemoveLimit{Max: o.MaxRemove.n, Percent: o.MaxRemove.percent, Set: o.MaxRemove.set,
			Flag: "--max-remove", Allow: "--allow-mass-remove (HERMES_RECONCILE_ALLOW_MASS_REMOVE=1)"}
	}
	if o.Cfg.Conflicts == config.ConflictsWarn {
		p.Conflicts = reconcile.ConflictsWarn
	}
	return p
}

// ReaderOptions are what the profile reader needs of the settings; boot
// says the engine stands in for Hermes's container boot (s6).
//
// The claims a gateway would make are read for the conflict guard. What a
// gateway inherits is the rendered --env values over, for s6 (boot), the
// environment this process has: the container's, which s6-overlay's
// with-contenv hands every slot. A host manager's unit and a pod inherit
// nothing of ours.
func (o *Options) ReaderOptions(getenv func(string) string, boot bool) desired.Options {
	inherited := map[string]string{}
	if boot {
		for k, v := range o.environ {
			inherited[k] = v
		}
	}
	for k, v := range o.Cfg.Render.Env {
		inherited[k] = v
	}
	return desired.Options{MultiplexEnv: getenv("GATEWAY_MULTIPLEX_PROFILES"),
		Topology: desired.TopologyMode(o.Cfg.Topology), HermesRoot: o.Cfg.HermesRoot, HermesVersion: o.Cfg.HermesVersion, Boot: boot,
		Claims: true, InheritedEnv: inherited}
}

// runner runs one-shot modes through a pass, for any engine.
type runner struct {
	o       Options
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
	// probe says why lock would refuse now; nil: nothing to say.
	probe func(context.Context) error
}

// once is one pass: --once at boot, or --dry-run, which plans only.
func (r runner) once(ctx context.Context) int {
	o, p := r.o, r.p
	p.version(o.modeName(), r.backend)
	if r.held != nil {
		p.diagnostics([]desired.Diagnostic{*r.held})
		p.plan(reconcile.Plan{}, nil)
		p.summary(reconcile.Plan{}, nil, 1, nil)
		return o.exitCode(nil, nil, []desired.Diagnostic{*r.held}, 0)
	}
	var out reconcile.Outcome
	planned := false
	showPlan := func(o *reconcile.Outcome) {
		planned = true
		p.topology(o.Desired.Topology)
		p.diagnostics(o.Desired.Diagnostics)
		p.plan(o.Plan, o.Desired.Diagnostics)
		if r.o.Diff {
			p.diffs(o, r.pass.Engine)
		}
	}
	if o.DryRun {
		out = r.pass.Observe(ctx, r.keys)
		if sd, ok := r.pass.Engine.(supervisorDown); ok && out.Err == nil {
			if err := sd.SupervisorDown(out.Observed); err != nil {
				// The plan is what a pass would do once it runs; say why
				// none can now.
				out.Desired.Diagnostics = append(out.Desired.Diagnostics, desired.Diagnostic{Severity: desired.Warning, Message: err.Error()})
			}
		}
		if r.probe != nil && out.Err == nil {
			if err := r.probe(ctx); err != nil {
				// Another writer may apply this plan first; --once would
				// not run beside it.
				out.Desired.Diagnostics = append(out.Desired.Diagnostics, desired.Diagnostic{Severity: desired.Warning, Message: err.Error()})
			}
		}
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
		prog := &progress{p: p, show: showPlan, start: time.Now(), tty: isTerminal(p.errw)}
		r.pass.Progress = prog
		out = r.pass.Run(ctx, r.keys, nil)
		r.pass.Progress = nil
		unlock()
		if !planned && out.Err == nil {
			showPlan(&out)
		}
		prog.stop()
		if planned {
			p.results(out.Results)
		}
		prog.complete(out.Results)
	}
	diags := out.Desired.Diagnostics
	p.summary(out.Plan, out.Results, len(diags), out.Err)
	return o.exitCode(out.Err, out.Results, diags, len(out.Plan.Actions))
}

// modeName names a one-shot run in the version line.
func (o Options) modeName() string {
	switch {
	case o.DryRun:
		return "dry-run"
	case o.Unpark != "":
		return "unpark"
	}
	return "once"
}

// exitCode is the exit status of a one-shot run.
func (o Options) exitCode(err error, results []reconcile.Result, diags []desired.Diagnostic, changes int) int {
	switch {
	case err != nil, reconcile.Failed(results) > 0, slices.ContainsFunc(diags, func(d desired.Diagnostic) bool { return d.Denied }):
		return exitError
	case o.Cfg.Strict && len(diags) > 0:
		return exitError
	case o.Cfg.DetailedExitcode && changes > 0:
		return exitChanges
	}
	return exitOK
}

func (p *printer) fail(err error) int {
	p.summary(reconcile.Plan{}, nil, 0, err)
	return exitError
}

func newLogger(o Options, stderr io.Writer, getenv func(string) string) (logr.Logger, func()) {
	format := o.LogFormat
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
		if !o.NoColor && colorful(stderr, getenv) {
			encCfg.EncodeLevel = zapcore.CapitalColorLevelEncoder
		}
		enc = zapcore.NewConsoleEncoder(encCfg)
	} else {
		enc = zapcore.NewJSONEncoder(encCfg)
	}
	level := zapcore.Level(-o.Verbosity)
	if (o.Once || o.DryRun || o.Unpark != "") && o.Verbosity == 0 && o.LogFormat == "" && isTerminal(stderr) {
		// A one-shot run at a terminal says its plan, its progress and its
		// failures itself: a log line per action would scroll them away.
		level = zapcore.WarnLevel
	}
	ws := zapcore.AddSync(stderr)
	core := severityCore{zapcore.NewCore(enc, zapcore.Lock(ws), zap.NewAtomicLevelAt(level))}
	zl := zap.New(core)
	return zapr.NewLogger(zl), func() { _ = zl.Sync() }
}

// severityCore logs a line that carries a severity (a diagnostic, a
// gateway that failed) at that level: logr has no warning level of its own.
type severityCore struct{ zapcore.Core }

func (c severityCore) With(fields []zapcore.Field) zapcore.Core {
	return severityCore{c.Core.With(fields)}
}

func (c severityCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c severityCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	for _, f := range fields {
		if f.Key != "severity" || e.Level != zapcore.InfoLevel {
			continue
		}
		switch f.String {
		case "warning":
			e.Level = zapcore.WarnLevel
		case "error":
			e.Level = zapcore.ErrorLevel
		}
	}
	return c.Core.Write(e, fields)
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

// StartupLine logs the watch mode's settings, once, as it starts.
func StartupLine(log logr.Logger, o *Options, backend string, kv ...any) {
	b := readBuildInfo()
	w := o.Cfg.Watch
	maxRemove := "off (--allow-mass-remove)"
	if l := o.policy().MaxRemove; l != nil {
		maxRemove = l.String()
	}
	fields := append([]any{"version", b.Version, "commit", b.Commit, "go", b.Go, "platform", b.Platform, "home", o.Cfg.Home}, kv...)
	log.Info("hermes-reconcile starting", append(fields, "backend", backend, "topology", o.Cfg.Topology,
		"quiet", w.Quiet.String(), "max_delay", w.MaxDelay.String(), "resync", w.Resync.String(), "backoff_max", w.BackoffMax.String(),
		"settle", o.Cfg.Settle.String(), "lock_timeout", o.Cfg.LockTimeout.String(),
		"crash_loop_deaths", o.Cfg.CrashLoopDeaths, "crash_loop_window", o.Cfg.CrashLoopWindow.String(),
		"max_remove", maxRemove, "remove_after", o.Cfg.RemoveAfter.String(),
		"rollout_healthy_after", o.Cfg.RolloutHealthyAfter.String(), "rollout_timeout", o.Cfg.RolloutTimeout.String())...)
}
