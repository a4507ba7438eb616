package host

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
)

// Backend names, as --backend spells them.
const (
	S6      = "s6"
	Windows = "windows"
	Launchd = "launchd"
	Systemd = "systemd"
	None    = "none"
)

// ErrNoManager is returned by Detect when no row of the table matched.
var ErrNoManager = errors.New("no supported service manager detected")

// Detector is one row of the detection table: Detect returns nil when its
// manager is the one to use, else an error saying why not.
type Detector struct {
	Name   string
	Detect func(ctx context.Context) error
}

// Probes are the facts detection looks at. The paths are fields so that
// tests can point them at files of their own.
type Probes struct {
	// ProcComm is read for PID 1's name. Default /proc/1/comm.
	ProcComm string
	// S6Basedir must be a directory for s6 (s6-overlay's). Default /run/s6/basedir.
	S6Basedir string
	// GOOS is the operating system (runtime.GOOS in production).
	GOOS string
	// Systemd returns nil when systemctl is present and a manager answers.
	Systemd func(ctx context.Context) error
}

// Table is the detection order of DESIGN §7, as Hermes's
// detect_service_manager has it: s6 (PID 1 is s6-svscan and
// /run/s6/basedir is a directory), windows, launchd (macOS), systemd, and
// none, which never matches.
func Table(p Probes) []Detector {
	if p.ProcComm == "" {
		p.ProcComm = "/proc/1/comm"
	}
	if p.S6Basedir == "" {
		p.S6Basedir = "/run/s6/basedir"
	}
	goos := func(want string) func(context.Context) error {
		return func(context.Context) error {
			if p.GOOS != want {
				return fmt.Errorf("the OS is %s", p.GOOS)
			}
			return nil
		}
	}
	return []Detector{
		{Name: S6, Detect: func(context.Context) error { return detectS6(p.ProcComm, p.S6Basedir) }},
		{Name: Windows, Detect: goos("windows")},
		{Name: Launchd, Detect: goos("darwin")},
		{Name: Systemd, Detect: func(ctx context.Context) error {
			if err := goos("linux")(ctx); err != nil {
				return err
			}
			if p.Systemd == nil {
				return errors.New("no probe")
			}
			return p.Systemd(ctx)
		}},
	}
}

// detectS6 is Hermes's _s6_running: /proc/1/comm (stripped) is s6-svscan
// and /run/s6/basedir is a directory. /proc/1/exe is not used: it is
// unreadable for an unprivileged user.
func detectS6(comm, basedir string) error {
	b, err := os.ReadFile(comm)
	if err != nil {
		return fmt.Errorf("cannot read %s: %w", comm, err)
	}
	if name := strings.TrimSpace(string(b)); name != "s6-svscan" {
		return fmt.Errorf("PID 1 is %q, not s6-svscan (%s)", name, comm)
	}
	fi, err := os.Stat(basedir)
	if err != nil {
		return fmt.Errorf("PID 1 is s6-svscan but %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("PID 1 is s6-svscan but %s is not a directory", basedir)
	}
	return nil
}

// Detect returns the name of the first row that matches. When none does,
// the error is ErrNoManager with every row's reason.
func Detect(ctx context.Context, table []Detector) (string, error) {
	var why []string
	for _, d := range table {
		err := d.Detect(ctx)
		if err == nil {
			return d.Name, nil
		}
		why = append(why, d.Name+": "+err.Error())
	}
	return None, fmt.Errorf("%w (%s); choose one with --backend", ErrNoManager, strings.Join(why, "; "))
}
