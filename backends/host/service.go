package host

import (
	"context"
	"errors"
	"io/fs"
	"regexp"
	"sort"
	"strings"

	"github.com/hermes-reconcile/hermes-reconcile/config"
	"github.com/hermes-reconcile/hermes-reconcile/desired"
)

// Description is the service description Hermes gives its gateway units.
const Description = "Hermes Agent Gateway - Messaging Platform Integration"

// Service is the gateway service of the active profile as it should be
// installed. Backends render it; nothing in it is backend-specific.
type Service struct {
	// Profile is "default" or a named profile.
	Profile string
	// Home is the profile's HERMES_HOME: the profile root for default,
	// <root>/profiles/<name> otherwise. It is the gateway's working directory
	// and its HERMES_HOME.
	Home string
	// Command is the gateway's argv. Default (see Command):
	// hermes [-p <name>] gateway run --replace.
	Command []string
	// Env is exported to the gateway besides HERMES_HOME and
	// HERMES_SUPERVISED_CHILD=1; rendered sorted by key. Default none.
	Env map[string]string
	// RestartSec is how many seconds the manager waits before it restarts an
	// exited gateway (systemd RestartSec, launchd ThrottleInterval; Windows
	// rounds it up to its one-minute minimum). Default 5.
	RestartSec int
}

// GatewayArgs is the gateway command line of a profile: gatewayCommand and
// desired.Service.GatewayArgs.
func GatewayArgs(gatewayCommand, profile string) []string {
	return append([]string{gatewayCommand}, desired.Service{Profile: profile}.GatewayArgs()...)
}

var envKeyRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// RenderEnv checks that s can be rendered at all (a gateway command) and
// returns its Environment: what every renderer needs first.
func (s Service) RenderEnv() ([][2]string, error) {
	if len(s.Command) == 0 || s.Command[0] == "" {
		return nil, errors.New("the gateway command is empty")
	}
	return s.Environment()
}

// Environment is the gateway's environment in rendering order: HERMES_HOME,
// HERMES_SUPERVISED_CHILD, then Env sorted by key. An Env entry may not
// override the first two; keys must be shell names and values one line.
func (s Service) Environment() ([][2]string, error) {
	out := [][2]string{{"HERMES_HOME", s.Home}, {"HERMES_SUPERVISED_CHILD", "1"}}
	keys := make([]string, 0, len(s.Env))
	for k := range s.Env {
		if k == "HERMES_HOME" || k == "HERMES_SUPERVISED_CHILD" {
			return nil, errors.New("env " + k + " is set by the reconciler and may not be overridden")
		}
		if !envKeyRE.MatchString(k) {
			return nil, errors.New("env key " + quote(k) + " must match " + envKeyRE.String())
		}
		if strings.ContainsAny(s.Env[k], "\n\r\x00") {
			return nil, errors.New("env value of " + k + " holds a newline or NUL")
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out = append(out, [2]string{k, s.Env[k]})
	}
	return out, nil
}

// Restart returns RestartSec, or its default when unset.
func (s Service) Restart() int {
	if s.RestartSec <= 0 {
		return config.Default().Host.RestartSec
	}
	return s.RestartSec
}

// File is one file of a rendered definition.
type File struct {
	// Path is absolute.
	Path string
	Mode fs.FileMode
	Data []byte
}

// Definition is a service as a backend renders it.
type Definition struct {
	// Name is the service's name in its manager: the systemd unit
	// (hermes-gateway-coder), the launchd label or the task name. Plans and
	// status show it where s6 shows the slot.
	Name string
	// Home is the Service's HERMES_HOME.
	Home string
	// Files are what the backend writes, the one the manager reads first.
	Files []File
	// ReloadRestarts is true when making a running manager read a new
	// definition restarts the gateway (launchd: bootout + bootstrap).
	ReloadRestarts bool
}

// FileNames returns the base names of the definition's files.
func (d Definition) FileNames() []string {
	out := make([]string, len(d.Files))
	for i, f := range d.Files {
		out[i] = baseName(f.Path)
	}
	return out
}

// Observed is what a backend found installed and running. Status fills it
// from reads only.
type Observed struct {
	// Installed is true when the manager knows the service: the unit file or
	// plist exists, or the task is registered.
	Installed bool
	// Stale lists the definition's files (base names) that are missing or
	// differ from the rendering, including a registered task that differs.
	Stale []string
	// Foreign, when set, says why the installed service belongs to another
	// installation (another HERMES_HOME): it is left alone.
	Foreign string
	// State is the manager's own word for the run state, faithfully
	// (systemd ActiveState: active, activating, deactivating, failed,
	// inactive, reloading; launchd's state; the task's status).
	State string
	// Detail qualifies State (systemd SubState, "unit file enabled").
	Detail string
	// Up is true when the manager runs the gateway or is bringing it up
	// (systemd activating, e.g. auto-restart, counts: it is trying).
	Up bool
	// Enabled is true when the manager brings the gateway up by itself at
	// boot or login. Only systemd has such a switch that stop clears
	// (disable); launchd and Windows report Enabled == Up, so a gateway
	// stopped there stays stopped until the next login, as with Hermes.
	Enabled bool
	// PID is the gateway's process id, 0 when unknown or not running.
	PID int
	// LastExit is "exit N", "signal N" or "" when unknown.
	LastExit string
}

// Manager is what a host backend implements: render, read, and three
// verbs. It acts on one service at a time. Every call to the manager's
// program is bounded by a timeout.
type Manager interface {
	// Define renders svc. It is pure: the same svc gives the same bytes.
	Define(svc Service) (Definition, error)
	// Status reads what is installed under def.Name and its run state. It
	// changes nothing.
	Status(ctx context.Context, def Definition) (Observed, error)
	// Install writes def (new or rewriting a stale one, never failing
	// because it exists) and makes the manager read it. live says the
	// service is running and must pick the new definition up now.
	Install(ctx context.Context, def Definition, live bool) error
	// Control brings the gateway up (and enables it) or down.
	Control(ctx context.Context, def Definition, up bool) error
	// Uninstall stops the service and removes its definition.
	Uninstall(ctx context.Context, def Definition) error
}

func baseName(p string) string {
	if i := strings.LastIndexAny(p, `/\`); i >= 0 {
		return p[i+1:]
	}
	return p
}

func quote(s string) string { return `"` + s + `"` }

// Settings are the installation-specific parts of a host service; cmd/
// fills them from flags once.
type Settings struct {
	// GatewayCommand is the Hermes program. Default "hermes".
	GatewayCommand string
	// Env is Service.Env.
	Env map[string]string
	// RestartSec is Service.RestartSec.
	RestartSec int
	// NotesFile keeps the passes' notes of the service (reconcile.Noter);
	// "": none are kept beyond the process.
	NotesFile string
}

// Service is the host service of a desired one.
func (s Settings) Service(svc desired.Service) Service {
	cmd := s.GatewayCommand
	if cmd == "" {
		cmd = "hermes"
	}
	return Service{Profile: svc.Profile, Home: svc.Dir, Command: append([]string{cmd}, svc.GatewayArgs()...),
		Env: s.Env, RestartSec: s.RestartSec}
}

// Word is the run state for status tables, in the s6 vocabulary where the
// manager's state means the same (up, down, missing) and the manager's own
// word where it does not (activating, deactivating, failed, reloading,
// waiting, queued…).
func (o Observed) Word() string {
	if !o.Installed {
		return "missing"
	}
	switch o.State {
	case "active", "running", "Running":
		return "up"
	case "inactive", "not loaded", "Ready":
		return "down"
	case "":
		return "unknown"
	}
	return strings.ToLower(o.State)
}
