// Command hermes-reconcile keeps the s6 gateway slots of a Hermes container
// in step with the profiles on disk. See --help.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/go-logr/logr"
	"github.com/go-logr/zapr"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

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
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	code := run(ctx, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) int {
	getenv := func(k string) string { v, _ := lookupEnv(k); return v }
	o, err := parseArgs(args, lookupEnv, stdout, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "hermes-reconcile: %v\n", err)
		return exitError
	}
	if o.version {
		fmt.Fprintf(stdout, "hermes-reconcile %s\n", Version)
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
		color: isTerminal(stdout) && getenv("NO_COLOR") == ""}
	kind, err := detectBackend(o)
	if err != nil {
		return p.fail(err)
	}
	if kind != "s6" {
		return runHost(ctx, o, kind, p)
	}

	rd, err := desired.NewRenderer(o.cfg.Render)
	if err != nil {
		fmt.Fprintf(stderr, "hermes-reconcile: render settings: %v\n", err)
		return exitError
	}
	be := s6.New(s6.Options{Scandir: o.cfg.Scandir, Bindir: o.cfg.S6Bindir, Timeout: o.cfg.SuperviseTimeout,
		User: o.cfg.Render.User, UID: o.cfg.Render.ServiceUID, GID: o.cfg.Render.ServiceGID})
	src := reconcile.Sources{Home: o.cfg.Home, Scandir: o.cfg.Scandir, Status: be, MaxServices: o.cfg.MaxServices,
		Load: desired.Options{Renderer: rd, MultiplexEnv: getenv("GATEWAY_MULTIPLEX_PROFILES")}}

	switch {
	case o.status:
		return runStatus(src, p)
	case o.once: // --dry-run sets it too
		return runOnce(ctx, o, src, be, p)
	}
	return runWatch(ctx, o, src, be)
}

// runOnce is one pass: --once at boot, or --dry-run, which plans only and
// never takes the lock (taking it would write to the scandir).
func runOnce(ctx context.Context, o options, src reconcile.Sources, be *s6.Backend, p *printer) int {
	p.version(o.modeName(), "s6")
	var out reconcile.Outcome
	if o.dryRun {
		out = reconcile.Observe(src)
	} else {
		if _, err := os.Stat(src.Scandir); err != nil {
			return p.fail(fmt.Errorf("scandir %s: %w", src.Scandir, err))
		}
		lock, err := s6.AcquireLock(ctx, src.Scandir, fmt.Sprintf("pid %d (hermes-reconcile --once)", os.Getpid()), o.cfg.LockTimeout)
		if err != nil {
			return p.fail(err)
		}
		out = reconcile.RunPass(ctx, src, be, nil)
		lock.Unlock()
	}
	diags := out.Desired.Diagnostics
	p.diagnostics(diags)
	p.plan(out.Plan)
	if !o.dryRun {
		p.results(out.Results)
	}
	p.summary(out.Plan, out.Results, len(diags), out.Err)
	return o.exitCode(out.Err, out.Results, len(diags), len(out.Plan))
}

// modeName names a one-shot run in the version line.
func (o options) modeName() string {
	if o.dryRun {
		return "dry-run"
	}
	return "once"
}

// exitCode is the exit status of a one-shot run, s6 or host.
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
	p.summary(nil, nil, 0, err)
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
		if getenv("NO_COLOR") == "" && isTerminal(stderr) {
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

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
