package systemd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hermes-reconcile/hermes-reconcile/backends/command"
	"github.com/hermes-reconcile/hermes-reconcile/backends/host"
)

// ErrUserManager is returned when systemctl --user cannot reach the user's
// service manager (no session, no lingering): the error says how to fix it.
var ErrUserManager = errors.New("cannot reach the user service manager")

// ErrNoSystemd is returned when systemctl finds no running systemd.
var ErrNoSystemd = errors.New("systemd is not running")

// Options configure the backend.
type Options struct {
	// System selects the system manager: units in /etc/systemd/system and
	// systemctl --system. It needs root. Default false: a user unit and
	// systemctl --user.
	System bool
	// RunAs is the account a system unit runs the gateway as (User=);
	// empty runs it as root. Ignored for a user unit.
	RunAs string
	// UnitDir is where the unit file goes. Default ~/.config/systemd/user,
	// or /etc/systemd/system with System.
	UnitDir string
	// Systemctl is the program. Default "systemctl" from PATH.
	Systemctl string
	// Path is the PATH Systemctl is looked up in. Default the process's
	// own. It does not change systemctl's environment (Env does).
	Path string
	// Timeout bounds every systemctl call but stop. Default 30s.
	Timeout time.Duration
	// StopTimeout bounds systemctl stop, which waits for the gateway to
	// drain (the unit's TimeoutStopSec is 90s). Default 100s.
	StopTimeout time.Duration
	// LoginUser is the account named in the enable-linger hint. Default the
	// current user.
	LoginUser string
	// Env is systemctl's environment. Default the process's own, with
	// XDG_RUNTIME_DIR and DBUS_SESSION_BUS_ADDRESS filled in for --user
	// when missing and /run/user/<uid> exists (as Hermes does).
	Env []string
}

type backend struct {
	opt Options
	run command.Runner
}

var _ host.Manager = (*backend)(nil)

// New returns the systemd backend.
func New(opt Options) (host.Manager, error) {
	opt, err := opt.withDefaults()
	if err != nil {
		return nil, err
	}
	return &backend{opt: opt, run: command.Runner{Prog: opt.Systemctl, Path: opt.Path, Timeout: opt.Timeout, Env: opt.Env}}, nil
}

func (o Options) withDefaults() (Options, error) {
	if o.Systemctl == "" {
		o.Systemctl = "systemctl"
	}
	if o.Timeout <= 0 {
		o.Timeout = command.DefaultTimeout
	}
	if o.StopTimeout <= 0 {
		o.StopTimeout = 100 * time.Second
	}
	if o.UnitDir == "" {
		if o.System {
			o.UnitDir = "/etc/systemd/system"
		} else {
			home, err := os.UserHomeDir()
			if err != nil {
				return o, fmt.Errorf("user unit directory: %w", err)
			}
			o.UnitDir = filepath.Join(home, ".config", "systemd", "user")
		}
	}
	if o.LoginUser == "" {
		o.LoginUser = currentUser()
	}
	if o.Env == nil {
		o.Env = os.Environ()
		if !o.System {
			o.Env = userBusEnv(o.Env, os.Getuid())
		}
	}
	return o, nil
}

// userBusEnv points systemctl --user at /run/user/<uid> when the
// environment does not say where the user bus is (cron, su, a service).
func userBusEnv(env []string, uid int) []string {
	runtime := "/run/user/" + strconv.Itoa(uid)
	if uid < 0 || lookup(env, "XDG_RUNTIME_DIR") != "" {
		return env
	}
	if fi, err := os.Stat(runtime); err != nil || !fi.IsDir() {
		return env
	}
	env = append(env, "XDG_RUNTIME_DIR="+runtime)
	if lookup(env, "DBUS_SESSION_BUS_ADDRESS") == "" {
		env = append(env, "DBUS_SESSION_BUS_ADDRESS=unix:path="+runtime+"/bus")
	}
	return env
}

func lookup(env []string, k string) string {
	v := ""
	for _, kv := range env {
		if s, ok := strings.CutPrefix(kv, k+"="); ok {
			v = s
		}
	}
	return v
}

func currentUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "$USER"
}

func (b *backend) unit(def host.Definition) string { return def.Name + ".service" }

// systemctl runs one systemctl call with the scope flag first, and turns
// "no manager to talk to" into an error that says what to do.
func (b *backend) systemctl(ctx context.Context, timeout time.Duration, args ...string) (int, string, error) {
	scope := "--user"
	if b.opt.System {
		scope = "--system"
	}
	code, out, stderr, err := b.run.Run(ctx, timeout, append([]string{scope}, args...)...)
	if err != nil {
		err = b.classify(err, stderr)
	}
	return code, out, err
}

func (b *backend) classify(err error, stderr string) error {
	switch {
	case strings.Contains(stderr, "has not been booted with systemd"):
		return fmt.Errorf("%w: %w", ErrNoSystemd, err)
	case !b.opt.System && (strings.Contains(stderr, "Failed to connect to bus") ||
		strings.Contains(stderr, "Failed to connect to user scope bus") ||
		strings.Contains(stderr, "XDG_RUNTIME_DIR")):
		return fmt.Errorf("%w of %s (%w): run `sudo loginctl enable-linger %s` so it runs without a login session "+
			"(or log in as %s first), or as root use --system", ErrUserManager, b.opt.LoginUser, err, b.opt.LoginUser, b.opt.LoginUser)
	}
	var ee *command.Error
	if !b.opt.System && errors.As(err, &ee) && ee.TimedOut {
		return fmt.Errorf("%w of %s (%w): is its user bus alive? `sudo loginctl enable-linger %s` keeps it running",
			ErrUserManager, b.opt.LoginUser, err, b.opt.LoginUser)
	}
	return err
}

// Define renders the unit of svc.
func (b *backend) Define(svc host.Service) (host.Definition, error) {
	name := Name(svc.Profile)
	data, err := Unit(svc, Scope{System: b.opt.System, RunAs: b.opt.RunAs})
	if err != nil {
		return host.Definition{}, fmt.Errorf("unit %s.service: %w", name, err)
	}
	return host.Definition{Name: name, Home: svc.Home,
		Files: []host.File{{Path: filepath.Join(b.opt.UnitDir, name+".service"), Mode: 0o644, Data: data}}}, nil
}

// showProps are the properties Status reads, in one call.
const showProps = "LoadState,ActiveState,SubState,UnitFileState,MainPID,ExecMainCode,ExecMainStatus"

// Status reads the unit file and `systemctl show`: one call, always, so an
// unreachable manager is reported before anything is written.
func (b *backend) Status(ctx context.Context, def host.Definition) (host.Observed, error) {
	o, err := host.ObserveFiles(def, HomeOf)
	if err != nil {
		return o, err
	}
	_, out, err := b.systemctl(ctx, 0, "show", "-p", showProps, b.unit(def))
	if err != nil {
		return o, err
	}
	p := parseShow(out)
	o.State, o.Detail = p["ActiveState"], p["SubState"]
	if ufs := p["UnitFileState"]; ufs != "" {
		o.Detail += ", unit file " + ufs
	}
	switch o.State {
	case "active", "activating", "reloading":
		o.Up = true
	}
	switch p["UnitFileState"] {
	case "enabled", "enabled-runtime":
		o.Enabled = true
	}
	o.PID = p.int("MainPID")
	switch p.int("ExecMainCode") {
	case 1: // CLD_EXITED
		o.LastExit = "exit " + p["ExecMainStatus"]
	case 2, 3: // CLD_KILLED, CLD_DUMPED
		o.LastExit = "signal " + p["ExecMainStatus"]
	}
	return o, nil
}

// Install writes the unit and runs daemon-reload so the manager reads it.
// A running gateway keeps running and picks the new unit up at its next
// (re)start, as Hermes's refresh_systemd_unit_if_needed does.
func (b *backend) Install(ctx context.Context, def host.Definition, live bool) error {
	if err := host.WriteFiles(def); err != nil {
		return err
	}
	_, _, err := b.systemctl(ctx, 0, "daemon-reload")
	return err
}

// Control enables and starts the unit, or disables and stops it: the
// enabled state mirrors the intent so a reboot keeps it, as s6's down file.
func (b *backend) Control(ctx context.Context, def host.Definition, up bool) error {
	if up {
		if _, _, err := b.systemctl(ctx, 0, "enable", b.unit(def)); err != nil {
			return err
		}
		_, _, err := b.systemctl(ctx, 0, "start", b.unit(def))
		return err
	}
	if _, _, err := b.systemctl(ctx, 0, "disable", b.unit(def)); err != nil {
		return err
	}
	_, _, err := b.systemctl(ctx, b.opt.StopTimeout, "stop", b.unit(def))
	return err
}

// Uninstall stops and disables the unit, deletes it and reloads.
func (b *backend) Uninstall(ctx context.Context, def host.Definition) error {
	// Exit 5: the unit is not loaded, so there is nothing to stop.
	if code, _, err := b.systemctl(ctx, b.opt.StopTimeout, "stop", b.unit(def)); err != nil && code != 5 {
		return err
	}
	if _, _, err := b.systemctl(ctx, 0, "disable", b.unit(def)); err != nil {
		return err
	}
	if err := host.RemoveFiles(def); err != nil {
		return err
	}
	_, _, err := b.systemctl(ctx, 0, "daemon-reload")
	return err
}

// operational are the answers of is-system-running from a manager that can
// take units (Hermes's _systemd_operational).
var operational = map[string]bool{"running": true, "degraded": true, "starting": true, "initializing": true}

// Detect is the detection table's systemd row: systemctl is in PATH
// (Options.Path) and the system manager, or failing it the user manager,
// answers.
func Detect(ctx context.Context, opt Options) error {
	if opt.Systemctl == "" {
		opt.Systemctl = "systemctl"
	}
	if _, err := command.LookPath(opt.Systemctl, opt.Path); err != nil {
		return fmt.Errorf("%s not found: %w", opt.Systemctl, err)
	}
	r := command.Runner{Prog: opt.Systemctl, Path: opt.Path, Timeout: opt.Timeout, Env: opt.Env}
	if r.Timeout <= 0 {
		r.Timeout = 10 * time.Second
	}
	var why []string
	for _, scope := range []string{"--system", "--user"} {
		_, out, _, err := r.Run(ctx, 0, scope, "is-system-running")
		state := strings.TrimSpace(out)
		if operational[state] {
			return nil
		}
		if state == "" && err != nil {
			state = err.Error()
		}
		why = append(why, fmt.Sprintf("systemctl %s is-system-running: %s", scope, state))
	}
	return errors.New(strings.Join(why, "; "))
}
