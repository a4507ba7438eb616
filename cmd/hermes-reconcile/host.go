package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hermes-reconcile/hermes-reconcile/backends/host"
	"github.com/hermes-reconcile/hermes-reconcile/backends/launchd"
	"github.com/hermes-reconcile/hermes-reconcile/backends/systemd"
	"github.com/hermes-reconcile/hermes-reconcile/backends/windows"
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
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return host.Detect(ctx, host.Table(host.Probes{
		GOOS:    runtime.GOOS,
		Systemd: func(ctx context.Context) error { return systemd.Detect(ctx, systemd.Options{}) },
	}))
}

// runHost reconciles the single host service of the active profile
// (systemd, launchd, Windows): --once, --dry-run and status. Watch mode is
// the s6 longrun's.
func runHost(ctx context.Context, o options, kind string, p *printer) int {
	if o.system && kind != host.Systemd {
		return p.fail(fmt.Errorf("--system applies to the systemd backend, not %s", kind))
	}
	if o.system && os.Geteuid() != 0 {
		return p.fail(errors.New("--system installs a system unit and needs root: re-run with sudo"))
	}
	if !o.once && !o.status {
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
	s := host.Settings{GatewayCommand: gatewayProgram(o.cfg.Render.GatewayCommand), Env: o.cfg.Render.Env, RestartSec: o.restartSec}
	if o.status {
		return hostStatus(ctx, kind, m, home, s, p)
	}
	return hostOnce(ctx, o, kind, m, home, s, p)
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

// hostOnce is one pass, or with --dry-run only its plan.
func hostOnce(ctx context.Context, o options, kind string, m host.Manager, home string, s host.Settings, p *printer) int {
	p.version(o.modeName(), kind)
	var out host.Outcome
	if o.dryRun {
		out = host.Observe(ctx, m, home, s)
	} else {
		out = host.RunPass(ctx, m, home, s)
	}
	diags := out.Desired.Diagnostics
	p.diagnostics(diags)
	if out.Err == nil {
		p.plan(out.Plan)
		if !o.dryRun {
			p.results(out.Results)
		}
	}
	p.summary(out.Plan, out.Results, len(diags), out.Err)
	return o.exitCode(out.Err, out.Results, len(diags), len(out.Plan))
}

// hostStatus prints the one row of the active profile's service, in the
// same table and JSON shape as the s6 status.
func hostStatus(ctx context.Context, kind string, m host.Manager, home string, s host.Settings, p *printer) int {
	p.version("status", kind)
	out := host.Observe(ctx, m, home, s)
	if out.Def.Name == "" {
		// Nothing known: HERMES_HOME missing, or the service cannot be rendered.
		p.summary(nil, nil, 0, out.Err)
		return exitError
	}
	p.diagnostics(out.Desired.Diagnostics)
	row := hostRow(out)
	if p.json {
		p.emit(row)
	} else {
		tw := tabwriter.NewWriter(p.out, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "PROFILE\tSLOT\tINTENT\tWANT\tACTUAL\tPID\tUPTIME\tLAST EXIT\tNOTE")
		pid := "-"
		if row.PID > 0 {
			pid = strconv.Itoa(row.PID)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", row.Profile, row.Slot, row.Intent, row.Want, row.Actual, pid, "-", row.LastExit, row.Note)
		tw.Flush()
	}
	if out.Err != nil {
		p.summary(nil, nil, 0, out.Err)
		return exitError
	}
	return exitOK
}

func hostRow(out host.Outcome) statusRow {
	d, o := out.Desired, out.Observed
	r := statusRow{Type: "status", Profile: d.Profile, Slot: out.Def.Name, Intent: intentWord(d.Intent),
		Want: "-", Actual: o.Word(), PID: o.PID, LastExit: o.LastExit}
	if r.LastExit == "" {
		r.LastExit = "-"
	}
	var notes []string
	switch {
	case out.Err != nil:
		r.Actual = "unknown"
		notes = append(notes, out.Err.Error())
	case o.Installed:
		r.Want = wantWord(o.Up)
		if o.Detail != "" {
			notes = append(notes, o.Detail)
		}
	}
	if d.Gone {
		notes = append(notes, d.Reason)
	}
	for _, a := range out.Plan {
		notes = append(notes, "pending: "+a.Kind.String()+" ("+a.Reason+")")
	}
	for _, dg := range d.Diagnostics {
		notes = append(notes, dg.String())
	}
	r.Note = strings.Join(notes, "; ")
	return r
}
