package s6

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hermes-reconcile/hermes-reconcile/backends/command"
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
	_ reconcile.Engine       = (*Backend)(nil)
	_ reconcile.Prober       = (*Backend)(nil)
	_ reconcile.Watched      = (*Backend)(nil)
	_ reconcile.DeathWatched = (*Backend)(nil)
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
		return fmt.Errorf("%w: %s", ErrSvscanDown, b.scandir)
	}
	return nil
}

func (b *Backend) slotDir(slot string) string { return filepath.Join(b.scandir, slot) }

// write rewrites the listed files of a live slot one by one (write temp,
// rename), then records the spec hash. Every write is relative to an open
// directory and follows no symlink, so a planted one can never lead it
// outside the scandir.
//
// When what the gateway or its logger runs changes, the time is recorded
// first (StateFile): a process that started before it runs the old script,
// so a pass killed before the restart leaves one the next pass restarts.
// An adoption records the opposite: the processes running are accepted as
// they are, and the new scripts take effect at their next start, as with
// any rewrite by Hermes itself.
func (b *Backend) write(slot string, spec reconcile.Spec, files []string, adopt bool) error {
	root, err := os.OpenRoot(b.scandir)
	if err != nil {
		return err
	}
	defer root.Close()
	var run, log bool
	for _, f := range spec.Files {
		if slices.Contains(files, f.Path) {
			run = run || f.Effect == reconcile.RestartsService
			log = log || f.Effect == reconcile.RestartsLogger
		}
	}
	if run || log || adopt {
		now := time.Now()
		err := b.updateState(root, slot, func(st *slotState) {
			switch {
			case adopt:
				st.RunWritten, st.LogWritten, st.Adopted = time.Time{}, time.Time{}, now
			case run:
				st.RunWritten = now
			}
			if log && !adopt {
				st.LogWritten = now
			}
		})
		if err != nil {
			return err
		}
	}
	for _, f := range spec.Files {
		if !slices.Contains(files, f.Path) {
			continue
		}
		if err := b.replaceFile(root, path.Join(slot, f.Path), f.Data, f.Mode); err != nil {
			return err
		}
	}
	return b.writeHash(root, slot, spec.Hash)
}

// publish builds the slot under a dot name s6-svscan skips, then renames
// it into place: a rescan sees the whole slot or nothing of it. Every step
// is relative to an open directory (stageDir).
func (b *Backend) publish(slot string, spec reconcile.Spec, wantUp bool) error {
	scan, err := openStageDir(b.scandir, b.uid, b.gid)
	if err != nil {
		return err
	}
	defer scan.Close()
	tmp := stagingName(slot)
	stage, err := scan.Mkdir(tmp, 0o755)
	if errors.Is(err, fs.ErrExist) {
		if err := b.removeAll(tmp); err != nil {
			return fmt.Errorf("remove stale staging %s: %w", tmp, err)
		}
		stage, err = scan.Mkdir(tmp, 0o755)
	}
	if err != nil {
		return err
	}
	err = b.fill(stage, spec, wantUp)
	stage.Close()
	if err == nil {
		err = scan.Publish(tmp, slot)
	}
	if err != nil {
		_ = b.removeAll(tmp)
		if errors.Is(err, fs.ErrExist) {
			// Another writer published the slot meanwhile: not a failure;
			// the next pass over it adopts theirs.
			return fmt.Errorf("publish %s: %w", slot, reconcile.ErrSuperseded)
		}
		return fmt.Errorf("publish %s: %w", slot, err)
	}
	return nil
}

// removeAll deletes name in the scandir, never through a symlink.
func (b *Backend) removeAll(name string) error {
	root, err := os.OpenRoot(b.scandir)
	if err != nil {
		return err
	}
	defer root.Close()
	return mutated(root.RemoveAll(name))
}

// fill writes a new slot's files into its staging dir.
func (b *Backend) fill(stage *stageDir, spec reconcile.Spec, wantUp bool) error {
	logDir, err := stage.Mkdir("log", 0o755)
	if err != nil {
		return err
	}
	defer logDir.Close()
	for _, f := range spec.Files {
		dir, name := stage, f.Path
		if rest, ok := strings.CutPrefix(f.Path, "log/"); ok {
			dir, name = logDir, rest
		}
		if strings.Contains(name, "/") {
			return fmt.Errorf("slot file %s: no such directory in a slot", f.Path)
		}
		if err := dir.Create(name, f.Data, f.Mode); err != nil {
			return err
		}
	}
	if !wantUp {
		if err := stage.Create(DownFile, nil, 0o644); err != nil {
			return err
		}
	}
	data, err := stage.Mkdir("data", 0o755)
	if err != nil {
		return err
	}
	defer data.Close()
	if err := data.Create(path.Base(HashFile), []byte(spec.Hash+"\n"), 0o644); err != nil {
		return err
	}
	if err := data.Create(path.Base(RenderFile), b.renderRecord, 0o644); err != nil {
		return err
	}
	for _, dir := range []*stageDir{stage, logDir} {
		if err := seedSkeleton(dir); err != nil {
			return err
		}
	}
	return nil
}

// seedSkeleton pre-creates what s6-supervise would, owned by the gateway
// user, so that user can run s6-svc and s6-svstat on its slot. The modes
// are s6's own.
func seedSkeleton(dir *stageDir) error {
	const eventMode = 0o730 | fs.ModeSetgid | fs.ModeSticky
	event, err := dir.Mkdir("event", eventMode)
	if err != nil {
		return err
	}
	event.Close()
	sup, err := dir.Mkdir("supervise", 0o755)
	if err != nil {
		return err
	}
	defer sup.Close()
	supEvent, err := sup.Mkdir("event", eventMode)
	if err != nil {
		return err
	}
	supEvent.Close()
	return sup.Mkfifo("control", 0o660)
}

// createFile writes a new file; O_EXCL refuses anything already there,
// including a symlink.
func (b *Backend) createFile(root *os.Root, name string, data []byte, mode fs.FileMode) error {
	f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode.Perm())
	if mutated(err) != nil {
		return err
	}
	_, werr := f.Write(data)
	cerr := f.Close()
	if err := mutated(errors.Join(werr, cerr)); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := mutated(root.Chmod(name, mode.Perm())); err != nil {
		return err
	}
	return b.chown(root, name)
}

// replaceFile swaps a file of a live slot: s6 never sees it half written.
func (b *Backend) replaceFile(root *os.Root, name string, data []byte, mode fs.FileMode) error {
	dir, base := path.Split(name)
	if dir != "" {
		if err := mutated(root.MkdirAll(strings.TrimSuffix(dir, "/"), 0o755)); err != nil {
			return err
		}
	}
	tmp := dir + "." + base + ".hermes-reconcile.tmp"
	if err := mutated(root.Remove(tmp)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := b.createFile(root, tmp, data, mode); err != nil {
		_ = mutated(root.Remove(tmp)) // a short write (disk full) leaves no litter in a live slot
		return err
	}
	if err := mutated(root.Rename(tmp, name)); err != nil {
		_ = mutated(root.Remove(tmp))
		return fmt.Errorf("replace %s: %w", name, err)
	}
	return nil
}

func (b *Backend) writeHash(root *os.Root, slot, hash string) error {
	if err := b.ensureData(root, slot); err != nil {
		return err
	}
	if err := b.replaceFile(root, path.Join(slot, HashFile), []byte(hash+"\n"), 0o644); err != nil {
		return err
	}
	return b.replaceFile(root, path.Join(slot, RenderFile), b.renderRecord, 0o644)
}

// ensureData makes the slot's data/ when a slot we adopt has none.
func (b *Backend) ensureData(root *os.Root, slot string) error {
	switch err := mutated(root.Mkdir(slot+"/data", 0o755)); {
	case err == nil:
		return b.chown(root, slot+"/data")
	case !errors.Is(err, fs.ErrExist):
		return err
	}
	return nil
}

// chown gives name to the gateway user when we run as root. Lchown: a
// symlink is never followed.
func (b *Backend) chown(root *os.Root, name string) error {
	if b.uid < 0 {
		return nil
	}
	return mutated(root.Lchown(name, b.uid, b.gid))
}

// control sets the run state: the down marker first (so a restart of
// s6-svscan keeps it), then the supervisor, if there is one yet. Down waits
// until the gateway is down. What the slot's state must record (a park, its
// lift, the end of a restart) is written before a stop and after a start:
// a kill in between then leaves a gateway that runs, or a record that says
// why it does not, never a gateway down for no recorded reason.
func (b *Backend) control(ctx context.Context, slot string, up bool, record func(*slotState)) error {
	root, err := os.OpenRoot(b.scandir)
	if err != nil {
		return err
	}
	defer root.Close()
	// A start or stop of ours ends any restart mark too: the run state is
	// now what a pass asked for.
	if st, _ := b.readState(slot); st.Restarting {
		inner := record
		record = func(st *slotState) {
			st.Restarting = false
			if inner != nil {
				inner(st)
			}
		}
	}
	if record != nil && !up {
		if err := b.updateState(root, slot, record); err != nil {
			return err
		}
	}
	if err := b.setRunState(ctx, root, slot, up); err != nil {
		return err
	}
	if record != nil && up {
		return b.updateState(root, slot, record)
	}
	return nil
}

func (b *Backend) setRunState(ctx context.Context, root *os.Root, slot string, up bool) error {
	down := slot + "/" + DownFile
	if up {
		if err := mutated(root.Remove(down)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	} else if _, err := root.Lstat(down); errors.Is(err, fs.ErrNotExist) {
		if err := b.createFile(root, down, nil, 0o644); err != nil {
			return err
		}
	}
	dir := b.slotDir(slot)
	held, err := lockHeld(filepath.Join(dir, "supervise", "lock"))
	if err != nil || !held {
		return nil // not supervised: the down marker decides when it is
	}
	if err := controllable(dir); err != nil {
		return err
	}
	if up {
		_, err = b.run.run(ctx, "s6-svc", "-u", dir)
		return err
	}
	_, err = b.run.run(ctx, "s6-svc", "-wd", "-T", ms(b.timeout), "-d", dir)
	return err
}

// controllable fails at once when we may not write the supervisor's
// control FIFO: s6-svc -wd would otherwise report it only after waiting
// out its whole bound, and the rest of the pass with it.
func controllable(dir string) error {
	_, err := fifoListening(filepath.Join(dir, "supervise", "control"))
	return err
}

// restart takes the gateway (or its logger) down and up again so s6 spawns
// the new script. Down-then-up rather than a signal: a gateway that exits 0
// on SIGTERM would make finish exit 125 and stay down. The wait is -wD
// (down and finish done), not -wd (process dead): a -u sent while finish
// still runs is overridden by its exit 125, which left 14 in 40 gateways
// down when measured by hand; with -wD, none.
//
// A gateway restart is marked in the slot's state while the gateway is
// down for it, so a pass killed before the -u leaves a mark the next pass
// finishes. A stop that outlasts the timeout is escalated as s6's own
// timeout-kill would: SIGKILL, a second bounded wait, then the start; the
// restart then ends with a Caveat that says so.
func (b *Backend) restart(ctx context.Context, slot string, logger bool) error {
	dir := b.slotDir(slot)
	if logger {
		dir = filepath.Join(dir, "log")
	}
	if err := controllable(dir); err != nil {
		return err
	}
	var root *os.Root
	if !logger {
		var err error
		if root, err = os.OpenRoot(b.scandir); err != nil {
			return err
		}
		defer root.Close()
		if err := b.updateState(root, slot, func(st *slotState) { st.Restarting = true }); err != nil {
			return err
		}
	}
	var caveat error
	if _, err := b.run.run(ctx, "s6-svc", "-wD", "-T", ms(b.timeout), "-d", dir); err != nil {
		if !timedOut(err) {
			return err
		}
		// The whole process group, as s6's timeout-kill with
		// flag-timeout-killpg would; else s6-svc -k, the process alone.
		if st, serr := b.ReadStatus(dir); serr != nil || killGroup(st.PID) != nil {
			if _, err := b.run.run(ctx, "s6-svc", "-k", dir); err != nil {
				return fmt.Errorf("stop outlasted %s; SIGKILL: %w", b.timeout, err)
			}
		}
		if _, err := b.run.run(ctx, "s6-svwait", "-D", "-t", ms(b.timeout), dir); err != nil {
			return fmt.Errorf("stop outlasted %s; still not down %s after SIGKILL: %w", b.timeout, b.timeout, err)
		}
		caveat = &reconcile.Caveat{Msg: fmt.Sprintf("its stop outlasted %s and it was killed (SIGKILL) before the start", b.timeout)}
	}
	if _, err := b.run.run(ctx, "s6-svc", "-u", dir); err != nil {
		return err
	}
	if !logger {
		if err := b.updateState(root, slot, func(st *slotState) { st.Restarting = false }); err != nil {
			return err
		}
	}
	return caveat
}

// timedOut reports whether s6-svc or s6-svwait gave up waiting (exit 99).
func timedOut(err error) bool {
	var ce *command.Error
	return errors.As(err, &ce) && ce.Code == 99
}

// retire moves a slot out of s6-svscan's sight under the dot name retired;
// the next pruning rescan stops its supervisors.
func (b *Backend) retire(slot, retired string) error {
	if err := mutated(os.Rename(b.slotDir(slot), b.slotDir(retired))); err != nil {
		return fmt.Errorf("retire %s: %w", slot, err)
	}
	return nil
}

// rescan asks s6-svscan once to rescan and prune: -a picks up new slots,
// -n stops the supervisors of slots that are gone (retired by us, or
// deleted by hand and now being recreated under a new inode). It writes
// "an" to .s6-svscan/control itself, byte for byte what `s6-svscanctl -an`
// writes and with the same failure when nobody listens (its exit 100):
// spawning the program cost 1 ms on an idle machine and 10-25 ms on a
// loaded one, in the path of every new slot.
func (b *Backend) rescan(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	control := filepath.Join(b.scandir, ".s6-svscan", "control")
	listening, err := writeFIFO(control, []byte("an"))
	switch {
	case errors.Is(err, fs.ErrNotExist), err == nil && !listening:
		return fmt.Errorf("%w: %s", ErrSvscanDown, b.scandir)
	case err != nil:
		return fmt.Errorf("rescan: %w", err)
	}
	b.rescans.Add(1)
	return nil
}

// waitSupervised waits for many slots in one poll loop, so a pass that
// registered N slots waits about as long as s6 takes for the slowest. The
// timeout bounds a stall, not the whole set: the wait ends when no slot has
// come up for that long, as when every slot had its own bound counted from
// the previous one, but slots s6-svscan will never take (past its -c limit)
// cost one bound together instead of one each. A round checks the slots in
// order and stops at the first one not supervised yet, so it costs one check
// plus one per slot that came up since. errs[i] is nil once slots[i] is
// supervised.
//
// s6-svscan refuses slots past its capacity (it logs "too many services"
// and never supervises them): the wait ends as soon as every place left
// is taken, and the slots still pending then are refused at once, so a
// scandir over capacity costs no pass a timeout.
func (b *Backend) waitSupervised(ctx context.Context, slots []string) []error {
	errs := make([]error, len(slots))
	locks := make([]string, len(slots))
	pending := make([]int, len(slots))
	waiting := map[string]bool{}
	for i, slot := range slots {
		locks[i] = filepath.Join(b.slotDir(slot), "supervise", "lock")
		pending[i] = i
		waiting[slot] = true
	}
	limit := b.capacity()
	free := limit - b.supervisedServices(waiting)
	taken := 0
	refuse := func() bool {
		if taken < free {
			return false
		}
		// Every place is taken: what is still pending, s6-svscan refused.
		// A slot that came up meanwhile anyway (another service went) is
		// not refused.
		for _, i := range pending {
			if held, err := lockHeld(locks[i]); err == nil && held {
				continue
			}
			errs[i] = refused(slots[i], limit)
		}
		return true
	}
	// settled: supervised, or its lock cannot be checked (errs says why).
	settled := func(i int) bool {
		held, err := lockHeld(locks[i])
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return false
		case err != nil:
			errs[i] = err
			return true
		}
		if held {
			taken++
		}
		return held
	}
	if refuse() {
		return errs
	}
	stall := time.NewTimer(b.timeout)
	defer stall.Stop()
	start := time.Now()
	t := time.NewTimer(0)
	defer t.Stop()
	for len(pending) > 0 {
		select {
		case <-ctx.Done():
			for _, i := range pending {
				errs[i] = ctx.Err()
			}
			return errs
		case <-stall.C:
			// Nothing at the head came up for a whole bound: look at every
			// pending slot before giving up on them.
			n := len(pending)
			pending = slices.DeleteFunc(pending, settled)
			if len(pending) == n {
				for _, i := range pending {
					errs[i] = fmt.Errorf("timed out after %s waiting for supervised %s", b.timeout, slots[i])
				}
				return errs
			}
			stall.Reset(b.timeout)
		case <-t.C:
			n := len(pending)
			if over := len(pending) > free-taken; over {
				// More slots than places: which ones s6-svscan takes is
				// its order, so look at every one.
				pending = slices.DeleteFunc(pending, settled)
			} else {
				for len(pending) > 0 && settled(pending[0]) {
					pending = pending[1:]
				}
			}
			if len(pending) > 0 && refuse() {
				return errs
			}
			if len(pending) < n {
				stall.Reset(b.timeout)
			}
		}
		t.Reset(pollInterval(time.Since(start)))
	}
	return errs
}

// purge waits until no supervisor holds a retired slot (nor its logger),
// then deletes it.
//
// The pruning rescan reaches only the supervisors the running s6-svscan
// started: after s6-svscan was killed and replaced, the old supervisors
// live on, orphaned, and no prune ever stops them. So each supervisor
// still holding the slot is told itself, as `s6-svc -dx` would: down (the
// logger is still up), then exit once down. For a supervisor the prune
// reached anyway this changes nothing.
func (b *Backend) purge(ctx context.Context, retired string) error {
	dir := b.slotDir(retired)
	for _, d := range []string{dir, filepath.Join(dir, "log")} {
		if held, err := lockHeld(filepath.Join(d, "supervise", "lock")); err == nil && held {
			_, _ = writeFIFO(filepath.Join(d, "supervise", "control"), []byte("dx"))
		}
	}
	err := b.poll(ctx, "supervisor of "+retired+" to exit", func() (bool, error) {
		for _, l := range []string{filepath.Join(dir, "supervise", "lock"), filepath.Join(dir, "log", "supervise", "lock")} {
			held, err := lockHeld(l)
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return false, err
			}
			if held {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	return b.removeAll(retired)
}

// poll checks cond until it holds, bounded by the backend timeout and ctx.
// It checks at once, then as pollInterval says: what s6 does in a few
// milliseconds is seen within about one, and a long wait costs few checks.
func (b *Backend) poll(ctx context.Context, what string, cond func() (bool, error)) error {
	deadline := time.NewTimer(b.timeout)
	defer deadline.Stop()
	start := time.Now()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return fmt.Errorf("timed out after %s waiting for %s", b.timeout, what)
		case <-t.C:
		}
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		t.Reset(pollInterval(time.Since(start)))
	}
}

// pollInterval is the pause between checks after waiting for waited: a
// millisecond, then a sixteenth of the time waited, at most 25 ms.
func pollInterval(waited time.Duration) time.Duration {
	return min(max(waited/16, time.Millisecond), 25*time.Millisecond)
}

func ms(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }
