package launchd

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hermes-reconcile/hermes-reconcile/backends/command"
	"github.com/hermes-reconcile/hermes-reconcile/backends/host"
)

// Options configure the backend.
type Options struct {
	// AgentsDir holds the plist. Default ~/Library/LaunchAgents.
	AgentsDir string
	// UID names the domains gui/<uid> and user/<uid>. Default os.Getuid().
	UID int
	// Launchctl is the program. Default "launchctl" from PATH.
	Launchctl string
	// Path is the PATH Launchctl is looked up in. Default the process's
	// own. It does not change launchctl's environment (Env does).
	Path string
	// Timeout bounds every launchctl call. Default 30s.
	Timeout time.Duration
	// Env is launchctl's environment. Default the process's own.
	Env []string
}

type backend struct {
	opt Options
	run command.Runner
	// domain is chosen once per process, as Hermes caches it.
	domain string
}

var _ host.Manager = (*backend)(nil)

// New returns the launchd backend. Options.UID 0 is root's domain; pass -1
// for the default (the current user).
func New(opt Options) (host.Manager, error) {
	if opt.Launchctl == "" {
		opt.Launchctl = "launchctl"
	}
	if opt.UID < 0 {
		opt.UID = os.Getuid()
	}
	if opt.AgentsDir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return nil, fmt.Errorf("LaunchAgents directory: %w", err)
		}
		opt.AgentsDir = filepath.Join(home, "Library", "LaunchAgents")
	}
	return &backend{opt: opt, run: command.Runner{Prog: opt.Launchctl, Path: opt.Path, Timeout: opt.Timeout, Env: opt.Env}}, nil
}

func (b *backend) launchctl(ctx context.Context, args ...string) (int, string, error) {
	code, out, _, err := b.run.Run(ctx, 0, args...)
	return code, out, err
}

// Define renders the plist of svc.
func (b *backend) Define(svc host.Service) (host.Definition, error) {
	label := Label(svc.Profile)
	j, err := NewJob(svc)
	if err == nil {
		var data []byte
		if data, err = Plist(j); err == nil {
			return host.Definition{Name: label, Home: svc.Home, ReloadRestarts: true,
				Files: []host.File{{Path: filepath.Join(b.opt.AgentsDir, label+".plist"), Mode: 0o644, Data: data}}}, nil
		}
	}
	return host.Definition{}, fmt.Errorf("plist %s: %w", label, err)
}

// job is what launchctl print says of a loaded job.
type job struct {
	loaded   bool
	domain   string
	state    string
	pid      int
	lastExit string
}

// find looks for the job as Hermes's _launchd_domain does: loaded in
// gui/<uid>, else in user/<uid>; when in neither, the domain is gui/<uid>
// in an Aqua (GUI) session and user/<uid> otherwise (ssh, no login).
func (b *backend) find(ctx context.Context, label string) (job, error) {
	uid := strconv.Itoa(b.opt.UID)
	for _, d := range []string{"gui/" + uid, "user/" + uid} {
		if b.domain != "" && b.domain != d {
			continue
		}
		code, out, err := b.launchctl(ctx, "print", d+"/"+label)
		if err == nil {
			b.domain = d
			return parsePrint(d, out), nil
		}
		if code < 0 {
			return job{}, err // timed out or could not run
		}
	}
	if b.domain == "" {
		_, out, err := b.launchctl(ctx, "managername")
		if err != nil {
			return job{}, err
		}
		b.domain = "user/" + uid
		if strings.Contains(out, "Aqua") {
			b.domain = "gui/" + uid
		}
	}
	return job{domain: b.domain}, nil
}

func parsePrint(domain, out string) job {
	j := job{loaded: true, domain: domain}
	for _, l := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(l), " = ")
		if !ok {
			continue
		}
		switch k {
		case "state":
			if j.state == "" {
				j.state = v
			}
		case "pid":
			j.pid, _ = strconv.Atoi(v)
		case "last exit code":
			if n, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(v, ":", 2)[0])); err == nil {
				j.lastExit = "exit " + strconv.Itoa(n)
			}
		}
	}
	return j
}

// plistHome is the HERMES_HOME a plist's job serves, "" when unreadable.
func plistHome(data []byte) string {
	j, err := ParsePlist(data)
	if err != nil {
		return ""
	}
	return j.EnvironmentVariables["HERMES_HOME"]
}

// Status reads the plist and where and how the job is loaded. A loaded
// KeepAlive job counts as up: launchd keeps (re)starting it.
func (b *backend) Status(ctx context.Context, def host.Definition) (host.Observed, error) {
	o, err := host.ObserveFiles(def, plistHome)
	if err != nil {
		return o, err
	}
	j, err := b.find(ctx, def.Name)
	if err != nil {
		return o, err
	}
	o.Up, o.Enabled = j.loaded, j.loaded
	o.PID, o.LastExit = j.pid, j.lastExit
	o.State, o.Detail = "not loaded", j.domain
	if j.loaded {
		o.State = j.state
		o.Detail = "loaded in " + j.domain
	}
	return o, nil
}

// Install writes the plist (and the log directory, which launchd does not
// create). live reloads a loaded job: bootout, then bootstrap.
func (b *backend) Install(ctx context.Context, def host.Definition, live bool) error {
	if err := os.MkdirAll(LogDir(def.Home), 0o755); err != nil {
		return err
	}
	if err := host.WriteFiles(def); err != nil {
		return err
	}
	if !live {
		return nil
	}
	j, err := b.find(ctx, def.Name)
	if err != nil {
		return err
	}
	if j.loaded {
		if err := b.bootout(ctx, j.domain, def.Name); err != nil {
			return err
		}
	}
	return b.bootstrap(ctx, j.domain, def)
}

// Control loads the job (RunAtLoad starts it) or, when it is loaded
// already, restarts it with kickstart -k; down boots it out, so KeepAlive
// does not bring it back.
func (b *backend) Control(ctx context.Context, def host.Definition, up bool) error {
	j, err := b.find(ctx, def.Name)
	if err != nil {
		return err
	}
	switch {
	case up && j.loaded:
		_, _, err := b.launchctl(ctx, "kickstart", "-k", j.domain+"/"+def.Name)
		return err
	case up:
		return b.bootstrap(ctx, j.domain, def)
	case j.loaded:
		return b.bootout(ctx, j.domain, def.Name)
	}
	return nil
}

// Uninstall boots the job out and deletes the plist.
func (b *backend) Uninstall(ctx context.Context, def host.Definition) error {
	if err := b.Control(ctx, def, false); err != nil {
		return err
	}
	return host.RemoveFiles(def)
}

// bootstrap loads the plist into domain. Exit 5 (EIO) is what a stale
// registration of the label gives: boot it out and try once more.
func (b *backend) bootstrap(ctx context.Context, domain string, def host.Definition) error {
	path := def.Files[0].Path
	code, _, err := b.launchctl(ctx, "bootstrap", domain, path)
	if code != 5 {
		return err
	}
	if err := b.bootout(ctx, domain, def.Name); err != nil {
		return fmt.Errorf("%w (after a bootstrap that exited 5)", err)
	}
	if _, _, err := b.launchctl(ctx, "bootstrap", domain, path); err != nil {
		return fmt.Errorf("%w (retried once after bootout)", err)
	}
	return nil
}

// bootout unloads the label; "not loaded" (exit 3 ESRCH, 113) is done.
func (b *backend) bootout(ctx context.Context, domain, label string) error {
	code, _, err := b.launchctl(ctx, "bootout", domain+"/"+label)
	if code == 3 || code == 113 {
		return nil
	}
	return err
}
