package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/hermes-reconcile/hermes-reconcile/backends/host"
	"github.com/hermes-reconcile/hermes-reconcile/backends/launchd"
	"github.com/hermes-reconcile/hermes-reconcile/backends/systemd"
	"github.com/hermes-reconcile/hermes-reconcile/backends/windows"
	"github.com/hermes-reconcile/hermes-reconcile/desired"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
)

// detectBackend resolves --backend auto. A scandir given explicitly (flag
// or variable) means s6, whatever PID 1 is; otherwise the detection table
// of DESIGN §7 decides: s6, windows, launchd, systemd, or a clear error.
func detectBackend(o options) (string, error) {
	if o.backend != "auto" {
		return o.backend, nil
	}
	if o.scandirGiven {
		return host.S6, nil
	}
	if inPod() {
		return backendKube, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return host.Detect(ctx, host.Table(host.Probes{
		GOOS:    runtime.GOOS,
		Systemd: func(ctx context.Context) error { return systemd.Detect(ctx, systemd.Options{}) },
	}))
}

// runHost reconciles the single host service of the active profile
// (systemd, launchd, Windows) through the same pass as s6: --once, --dry-run
// and status. Watch mode is the s6 longrun's.
func runHost(ctx context.Context, o options, kind string, p *printer, getenv func(string) string) int {
	if o.system && kind != host.Systemd {
		return p.fail(fmt.Errorf("--system applies to the systemd backend, not %s", kind))
	}
	if o.system && os.Geteuid() != 0 {
		return p.fail(errors.New("--system installs a system unit and needs root: re-run with sudo"))
	}
	if o.unpark != "" {
		return p.fail(fmt.Errorf("unpark applies to s6 slots; the %s backend restarts its service itself (e.g. systemctl restart)", kind))
	}
	if !o.once && !o.status && o.explain == "" {
		return p.fail(fmt.Errorf("watch mode runs under s6; with the %s backend use --once (e.g. from a timer), --dry-run or status", kind))
	}
	m, err := newManager(kind, o)
	if err != nil {
		return p.fail(err)
	}
	home := o.cfg.Home
	if o.homeDefault {
		// DESIGN §1: ~/.hermes on a host, /opt/data only in a container.
		if h, err := os.UserHomeDir(); err == nil {
			home = filepath.Join(h, ".hermes")
		}
	}
	if o.hermesRootDefault {
		if h, err := os.UserHomeDir(); err == nil {
			o.cfg.HermesRoot = filepath.Join(h, ".hermes", "hermes-agent")
		}
	}
	s := host.Settings{GatewayCommand: gatewayProgram(o.cfg.Render.GatewayCommand), Env: o.cfg.Render.Env, RestartSec: o.restartSec}
	reader := desired.NewReader(home, o.readerOptions(getenv, false))
	active, held := desired.Active(home)
	run := runner{o: o, p: p, backend: kind, keys: []desired.Key{active}, held: held,
		pass: &reconcile.Pass{Reader: reader, Engine: host.NewEngine(m, reader.Layout(), active, s),
			Policy: reconcile.Policy{Settle: o.cfg.Settle}}}
	if o.explain != "" {
		return run.explain(ctx, o.explain)
	}
	if o.status {
		return run.status(ctx)
	}
	return run.once(ctx)
}

func newManager(kind string, o options) (host.Manager, error) {
	switch kind {
	case host.Systemd:
		opt := systemd.Options{System: o.system}
		if o.system {
			opt.RunAs = o.cfg.Render.User
		}
		return systemd.New(opt)
	case host.Launchd:
		return launchd.New(launchd.Options{UID: -1})
	case host.Windows:
		return windows.New(windows.Options{})
	}
	return nil, fmt.Errorf("backend %q is not a host backend", kind)
}

// gatewayProgram resolves a bare program name in PATH, so the unit, plist
// or task names the program this user runs; a name not found stays as is.
func gatewayProgram(cmd string) string {
	if strings.ContainsAny(cmd, `/\`) {
		return cmd
	}
	if p, err := exec.LookPath(cmd); err == nil {
		if abs, err := filepath.Abs(p); err == nil {
			return abs
		}
	}
	return cmd
}
