package s6

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os/user"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/hermes-reconcile/hermes-reconcile/config"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
)

// ErrSvscanDown is returned when no s6-svscan listens on the scandir.
var ErrSvscanDown = errors.New("s6-svscan is not running on the scandir")

// ErrScandirReadOnly is returned when the scandir cannot be written.
var ErrScandirReadOnly = errors.New("scandir is not writable")

// Options configure a Backend.
type Options struct {
	Scandir string
	// Bindir is searched for s6 programs before PATH.
	Bindir string
	// Timeout bounds every wait on s6.
	Timeout time.Duration
	// User owns the supervise skeleton when running as root, so the gateway
	// user can control its slot. UID/GID -1: look User up, else 10000.
	User     string
	UID, GID int
	// Render shapes every slot's files.
	Render config.Render
	// MaxServices is how many services s6-svscan supervises (its -c); 0:
	// learn it from the running s6-svscan, else DefaultCapacity.
	MaxServices int
	// CrashWindow is the crash-loop guard's window: a slot whose gateway
	// went up or down within it has its death tally read. Zero: 60 s.
	CrashWindow time.Duration
}

// Backend is the engine of gateway slots in one scandir.
type Backend struct {
	scandir string
	timeout time.Duration
	run     runner
	render  *Renderer
	// renderRecord is RenderFile's content: the settings render was made of.
	renderRecord []byte
	// files are the slot files as last read (observe.go).
	files fileCache
	// uid, gid own what we write when we run as root; -1 when not root.
	uid, gid int
	// euid, egid are who we are.
	euid, egid  int
	rescans     atomic.Int64
	crashWindow time.Duration
	maxServices int
	// learned is the capacity learned from s6-svscan, by its pid.
	learned atomic.Value
}

var (
	_ reconcile.Engine = (*Backend)(nil)
	_ reconcile.Prober = (*Backend)(nil)
)

// New returns the engine of opt.Scandir. It fails when the render settings
// cannot make a safe script.
func New(opt Options) (*Backend, error) {
	rd, err := NewRenderer(opt.Render)
	if err != nil {
		return nil, fmt.Errorf("render settings: %w", err)
	}
	b := &Backend{scandir: opt.Scandir, timeout: opt.Timeout, render: rd, renderRecord: renderRecord(opt.Render), uid: -1, gid: -1}
	if b.timeout <= 0 {
		b.timeout = 10 * time.Second
	}
	b.maxServices = opt.MaxServices
	b.crashWindow = opt.CrashWindow
	if b.crashWindow <= 0 {
		b.crashWindow = time.Minute
	}
	b.run = runner{bindir: opt.Bindir, bound: 2*b.timeout + 5*time.Second}
	b.euid, b.egid = euid(), egid()
	if euid() == 0 {
		b.uid, b.gid = opt.UID, opt.GID
		if b.uid < 0 || b.gid < 0 {
			b.uid, b.gid = 10000, 10000 // Hermes's image: hermes is 10000:10000
			if u, err := user.Lookup(opt.User); err == nil && opt.User != "" {
				b.uid, _ = strconv.Atoi(u.Uid)
				b.gid, _ = strconv.Atoi(u.Gid)
			}
		}
	}
	return b, nil
}

// Spawned is how many programs the backend has started so far.
func (b *Backend) Spawned() int { return b.run.spawned() }

// Rescans is how many rescan commands the backend has sent s6-svscan.
func (b *Backend) Rescans() int { return int(b.rescans.Load()) }

// Probe checks that the scandir exists, is writable and has a running
// s6-svscan: each failure is one clear error before anything changes.
func (b *Backend) Probe(context.Context) error {
	if err := CheckScandir(b.scandir); err != nil {
		return err
	}
	if err := writable(b.scandir); err != nil {
		return fmt.Errorf("%w: %w", ErrScandirReadOnly, err)
	}
	ok, err := fifoListening(filepath.Join(b.scandir, ".s6-svscan", "control"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		// Not "not running": s6-svscan may well run, out of our reach.
		return fmt.Errorf("cannot reach s6-svscan: %w", err)
	}
	if !ok {
		return svscanDown(b.scandir)
	}
	return nil
}

func (b *Backend) slotDir(slot string) string { return filepath.Join(b.scandir, slot) }
