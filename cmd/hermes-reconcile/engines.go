package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/go-logr/logr"

	"github.com/hermes-reconcile/hermes-reconcile/backends/filelock"
	"github.com/hermes-reconcile/hermes-reconcile/backends/host"
	"github.com/hermes-reconcile/hermes-reconcile/backends/launchd"
	"github.com/hermes-reconcile/hermes-reconcile/backends/s6"
	"github.com/hermes-reconcile/hermes-reconcile/backends/systemd"
	"github.com/hermes-reconcile/hermes-reconcile/backends/windows"
	"github.com/hermes-reconcile/hermes-reconcile/cmd/internal/cli"
	"github.com/hermes-reconcile/hermes-reconcile/desired"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile/loop"
)

// detectBackend resolves --backend auto. A scandir given explicitly (flag
// or variable) means s6, whatever PID 1 is; otherwise the detection table
// of DESIGN §7 decides: s6, windows, launchd, systemd, or a clear error.
func detectBackend(o *cli.Options) (string, error) {
	if o.ScandirGiven {
		return host.S6, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return host.Detect(ctx, host.Table(host.Probes{
		GOOS:    runtime.GOOS,
		Systemd: func(ctx context.Context) error { return systemd.Detect(ctx, systemd.Options{}) },
	}))
}

// build makes the engine of a backend: the s6 slots, or a host's one
// service.
func build(ctx context.Context, backend string, o *cli.Options, getenv func(string) string) (*cli.Setup, error) {
	if backend == host.S6 {
		return buildS6(ctx, o, getenv)
	}
	return buildHost(backend, o, getenv)
}

func buildS6(ctx context.Context, o *cli.Options, getenv func(string) string) (*cli.Setup, error) {
	if o.Cfg.Host.System {
		return nil, errors.New("--system applies to the systemd backend, not s6")
	}
	if o.Status && !o.RenderGiven {
		// Render as the slots were written, not with this command line's
		// defaults: status must not show drift a pass would not see.
		if r, ok := s6.RecordedRender(o.Cfg.Scandir); ok {
			o.Cfg.Render = r
		}
	}
	c := &o.Cfg
	be, err := s6.New(s6.Options{Scandir: c.Scandir, Bindir: c.S6Bindir, Timeout: c.SuperviseTimeout,
		User: c.Render.User, UID: c.Render.ServiceUID, GID: c.Render.ServiceGID, Render: c.Render,
		CrashWindow: c.CrashLoopWindow, MaxServices: c.MaxServices})
	if err != nil {
		return nil, err
	}
	lock := func(mode string) loop.Locker {
		who := fmt.Sprintf("pid %d (hermes-reconcile %s)", os.Getpid(), mode)
		return func(ctx context.Context) (func(), error) {
			l, err := s6.AcquireLock(ctx, c.Scandir, who, c.LockTimeout)
			if err != nil {
				return nil, err
			}
			return func() { _ = l.Unlock() }, nil
		}
	}
	return &cli.Setup{
		Engine: be,
		Reader: o.ReaderOptions(getenv, true),
		Policy: func(p *reconcile.Policy) {
			p.Capacity, p.CapacityWarning = c.MaxServices, be.CapacityWarning
		},
		Lock:      lock("--once"),
		WatchLock: lock("watch"),
		Sources:   []loop.Source{be.Source(reconcile.CrashLoop{Deaths: c.CrashLoopDeaths, Window: c.CrashLoopWindow}, logr.FromContextOrDiscard(ctx))},
		Startup:   []any{"scandir", c.Scandir, "timeout", c.SuperviseTimeout.String(), "max_services", c.MaxServices},
	}, nil
}

// buildHost reconciles the single host service of the active profile
// (systemd, launchd, Windows) through the same pass as s6: --once, --dry-run
// and status.
func buildHost(kind string, o *cli.Options, getenv func(string) string) (*cli.Setup, error) {
	if o.Cfg.Host.System && kind != host.Systemd {
		return nil, fmt.Errorf("--system applies to the systemd backend, not %s", kind)
	}
	if o.Cfg.Host.System && os.Geteuid() != 0 {
		return nil, errors.New("--system installs a system unit and needs root: re-run with sudo")
	}
	if err := hostHere(kind, o); err != nil {
		return nil, err
	}
	m, err := newManager(kind, o)
	if err != nil {
		return nil, err
	}
	if h, err := os.UserHomeDir(); err == nil {
		// DESIGN §1: ~/.hermes on a host, /opt/data only in a container.
		if o.HomeDefault {
			o.Cfg.Home = filepath.Join(h, ".hermes")
		}
		if o.HermesRootDefault {
			o.Cfg.HermesRoot = filepath.Join(h, ".hermes", "hermes-agent")
		}
	}
	s := host.Settings{GatewayCommand: gatewayProgram(o.Cfg.Render.GatewayCommand), Env: o.Cfg.Render.Env, RestartSec: o.Cfg.Host.RestartSec,
		NotesFile: hostFile(kind, o, ".notes.json")}
	active, held := desired.Active(o.Cfg.Home)
	lock := hostLock(kind, o)
	return &cli.Setup{
		Engine:    host.NewEngine(m, desired.NewLayout(o.Cfg.Home), active, s),
		Keys:      []desired.Key{active},
		Held:      held,
		Reader:    o.ReaderOptions(getenv, false),
		Lock:      lock("--once"),
		WatchLock: lock("watch"),
		Startup:   []any{"service_manager", kind, "profile", active},
		// One service per host: nothing to remove en masse, and the guard
		// would widen a pass to every profile, which a host does not serve.
		Policy:   func(p *reconcile.Policy) { p.MaxRemove = nil },
		NoUnpark: fmt.Sprintf("unpark applies to s6 slots; the %s backend restarts its service itself (e.g. systemctl restart)", kind),
	}, nil
}

// hostHere says, in one line, when the service manager asked for cannot be
// on this machine: launchd is macOS's, the Task Scheduler Windows's, and
// systemd must be running (PID 1 is often s6 or a shell in a container).
func hostHere(kind string, o *cli.Options) error {
	want := map[string]struct{ goos, prog string }{host.Launchd: {"darwin", "launchctl"}, host.Windows: {"windows", "schtasks"}}
	if w, ok := want[kind]; ok && runtime.GOOS != w.goos {
		if _, err := exec.LookPath(w.prog); err != nil { // a stand-in of it may run elsewhere
			return fmt.Errorf("--backend %s manages %s's services; this machine runs %s: use --backend auto (or s6, systemd)", kind, osName(w.goos), osName(runtime.GOOS))
		}
	}
	if kind != host.Systemd || o.Backend == "auto" {
		return nil // auto found it answering
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := exec.LookPath("systemctl"); err != nil {
		return fmt.Errorf("--backend systemd: systemctl is not installed here (PID 1 is %s): use --backend auto, or s6 in a container", pid1())
	}
	if err := systemd.Detect(ctx, systemd.Options{}); err != nil {
		return fmt.Errorf("--backend systemd: no systemd manager answers here (PID 1 is %s): use --backend auto, or s6 in a container", pid1())
	}
	return nil
}

// pid1 names the init of this machine, as /proc/1/comm says.
func pid1() string {
	if b, err := os.ReadFile("/proc/1/comm"); err == nil && strings.TrimSpace(string(b)) != "" {
		return strings.TrimSpace(string(b))
	}
	return "unknown"
}

func osName(goos string) string {
	switch goos {
	case "darwin":
		return "macOS"
	case "windows":
		return "Windows"
	case "linux":
		return "Linux"
	}
	return goos
}

// hostFile is a file of ours about a host's service, in the user's cache
// directory, one per manager and profile root: its lock, its notes.
func hostFile(kind string, o *cli.Options, ext string) string {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	sum := sha256.Sum256([]byte(desired.Root(o.Cfg.Home)))
	return filepath.Join(dir, "hermes-reconcile", kind+"-"+hex.EncodeToString(sum[:6])+ext)
}

// hostLock is the single-writer lock of a host's service, so --once from a
// timer and watch mode never act at once.
func hostLock(kind string, o *cli.Options) func(mode string) loop.Locker {
	path := hostFile(kind, o, ".lock")
	return func(mode string) loop.Locker {
		who := fmt.Sprintf("pid %d (hermes-reconcile %s)", os.Getpid(), mode)
		return func(ctx context.Context) (func(), error) {
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				return nil, fmt.Errorf("lock: %w", err)
			}
			l, err := filelock.Acquire(ctx, path, who, o.Cfg.LockTimeout)
			if err != nil {
				return nil, err
			}
			return func() { _ = l.Unlock() }, nil
		}
	}
}

func newManager(kind string, o *cli.Options) (host.Manager, error) {
	switch kind {
	case host.Systemd:
		opt := systemd.Options{System: o.Cfg.Host.System}
		if o.Cfg.Host.System {
			opt.RunAs = o.Cfg.Render.User
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
