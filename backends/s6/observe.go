package s6

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hermes-reconcile/hermes-reconcile/desired"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
)

// ErrScandirMissing is returned when the scandir does not exist: s6 is not
// set up, and every slot would otherwise look deleted.
var ErrScandirMissing = errors.New("scandir missing")

// CheckScandir says, when scandir is not a directory, what it is and what
// to set: the one wording of every command.
func CheckScandir(scandir string) error {
	fi, err := os.Stat(scandir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w: %s does not exist (is s6-overlay up? set --scandir or S6_PROFILE_GATEWAY_SCANDIR)", ErrScandirMissing, scandir)
	case err != nil:
		return fmt.Errorf("%w: %w", ErrScandirMissing, err)
	case !fi.IsDir():
		return fmt.Errorf("%w: %s is not a directory (set --scandir or S6_PROFILE_GATEWAY_SCANDIR to the s6 scandir)", ErrScandirMissing, scandir)
	}
	return nil
}

// HashFile is where a slot records the spec hash it was written from. s6
// guarantees never to touch data/.
const HashFile = "data/hermes-reconcile.hash"

// DownFile makes s6-supervise leave a service down when it starts.
const DownFile = "down"

// Status is what a slot's supervisor reports.
type Status struct {
	// Supervised is true when an s6-supervise process holds the slot.
	Supervised bool
	Up         bool
	WantUp     bool
	NormallyUp bool
	Ready      bool
	PID        int
	// Since is when the service last went up or down.
	Since time.Time
	// ExitCode is the last exit code, -1 when it was killed by a signal or
	// never ran.
	ExitCode int
	// Signal is the signal that last killed it, 0 when none.
	Signal int
	// PermanentFailure is true when finish asked s6 not to restart
	// (exit 125): down, wanted down, normally up, after exit 0 or 78.
	PermanentFailure bool
}

// ErrOddFile is a file in a slot we refuse to read: a symlink, a device
// or FIFO, or one over MaxSlotFile bytes.
var ErrOddFile = errors.New("refused")

// MaxSlotFile caps every read of a slot file: far over the largest file we
// write (a run with its env; NewRenderer refuses bigger), far under what
// would hurt. A bigger one leaves its slot alone, with a diagnostic.
const MaxSlotFile = 1 << 20

// slotFile is one slot file as found; missing when absent.
type slotFile struct {
	path    string
	mode    fs.FileMode
	data    []byte
	missing bool
	// notRegular is true for a symlink, FIFO or directory in a file's place.
	notRegular bool
	// odd says why a file was refused (ErrOddFile): too big, or swapped
	// for something else between the stat and the read.
	odd string
}

// slot is a service directory named gateway-<profile>, as read.
type slot struct {
	name, profile, dir string
	files              []slotFile
	// hash is the spec hash from data/, empty for a slot we did not write.
	hash      string
	hasDown   bool
	status    Status
	statusErr error
	// logStatus is the logger's; state what we recorded (StateFile);
	// deaths the recent ones from s6's tally, read only when the status
	// says the gateway went up or down within the crash window.
	logStatus Status
	state     slotState
	deaths    []reconcile.Death
	// untouchable explains why the slot must not be changed (a symlink in
	// the slot's place); empty when it is ours to manage.
	untouchable string
	// blocked explains why we cannot control its supervisor, and the fix.
	blocked string
}

func (s *slot) file(path string) slotFile {
	for _, f := range s.files {
		if f.path == path {
			return f
		}
	}
	return slotFile{path: path, missing: true}
}

// slotFiles are read in every slot: the files a rendering is made of.
var slotFiles = []string{FileType, FileRun, FileFinish, FileLogRun}

// Observe reads the slots of keys (nil: the whole scandir, with our
// leftovers and a count of the services that are not ours) and says how
// each differs from its wanted rendering.
func (b *Backend) Observe(ctx context.Context, keys []desired.Key, want map[desired.Key]reconcile.Spec) (reconcile.Observed, error) {
	return b.Prefetch(ctx, keys)(want)
}

// Prefetch reads the slots of keys, which needs no rendering, and returns
// what judges them against one: a pass reads the scandir on one core while
// the profiles are read on the other (reconcile.Prefetcher).
func (b *Backend) Prefetch(_ context.Context, keys []desired.Key) func(want map[desired.Key]reconcile.Spec) (reconcile.Observed, error) {
	o := reconcile.Observed{Keys: keys, Units: map[desired.Key]*reconcile.Unit{}}
	slots, err := b.readSlots(&o, keys)
	return func(want map[desired.Key]reconcile.Spec) (reconcile.Observed, error) {
		if err != nil {
			return o, err
		}
		for i := range slots {
			o.Units[slots[i].profile] = unitOf(&slots[i], want)
		}
		return o, nil
	}
}

// parallelSlotsMin is how many slots each extra goroutine of a full read
// must have to be worth starting.
const parallelSlotsMin = 32

// readSlots reads the slots of keys (nil: the scandir's every entry, whose
// leftovers, strays and foreign services go into o).
func (b *Backend) readSlots(o *reconcile.Observed, keys []desired.Key) ([]slot, error) {
	var slots []slot
	if keys != nil {
		if err := CheckScandir(b.scandir); err != nil {
			return nil, err
		}
		for _, k := range keys {
			name := SlotName(k)
			fi, err := os.Lstat(b.slotDir(name))
			if err != nil {
				continue
			}
			if s, ok := b.classify(name, k, fi.Mode().Type()); ok {
				slots = append(slots, s)
			}
		}
		return slots, nil
	}
	entries, err := os.ReadDir(b.scandir)
	if err != nil {
		if err := CheckScandir(b.scandir); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("read scandir: %w", err)
	}
	b.files.reserve(len(entries) * (len(slotFiles) + 4))
	type candidate struct {
		name, profile string
		typ           fs.FileMode
	}
	cands := make([]candidate, 0, len(entries))
	for _, e := range entries {
		name := e.Name()
		if retired, ok := leftover(name); ok {
			o.Strays = append(o.Strays, reconcile.Stray{Name: name, Ours: true, Live: retired})
			continue
		}
		if foreignStaging(name) {
			if fi, err := e.Info(); err == nil {
				o.Strays = append(o.Strays, reconcile.Stray{Name: name, Since: fi.ModTime()})
			}
			continue
		}
		if name[0] == '.' {
			continue // s6-svscan's own .s6-svscan, our lock: not services
		}
		profile, ok := ProfileOfSlot(name)
		if !ok {
			o.Others++
			continue
		}
		cands = append(cands, candidate{name, profile, e.Type()})
	}
	read := make([]slot, len(cands))
	isSlot := make([]bool, len(cands))
	readRange := func(lo, hi int) {
		for i := lo; i < hi; i++ {
			read[i], isSlot[i] = b.classify(cands[i].name, cands[i].profile, cands[i].typ)
		}
	}
	// A slot is a dozen small files and a lock probe, each a system call
	// or three: past a few dozen slots the reading is worth a second core
	// (the cache and the slots' own files are safe to share).
	if w := min(runtime.GOMAXPROCS(0), len(cands)/parallelSlotsMin); w > 1 {
		var wg sync.WaitGroup
		for i := range w {
			wg.Add(1)
			go func() {
				defer wg.Done()
				readRange(i*len(cands)/w, (i+1)*len(cands)/w)
			}()
		}
		wg.Wait()
	} else {
		readRange(0, len(cands))
	}
	slots = make([]slot, 0, len(cands))
	for i := range read {
		if !isSlot[i] {
			o.Others++
			continue
		}
		slots = append(slots, read[i])
	}
	sort.Slice(o.Strays, func(i, j int) bool { return o.Strays[i].Name < o.Strays[j].Name })
	o.Capacity = b.capacity()
	return slots, nil
}

// classify reads an entry named like a slot; ok is false for one that is no
// service directory at all (a file).
func (b *Backend) classify(name, profile string, typ fs.FileMode) (slot, bool) {
	dir := b.slotDir(name)
	switch {
	case typ&fs.ModeSymlink != 0:
		return slot{name: name, profile: profile, dir: dir, untouchable: "slot is a symlink; left as it is"}, true
	case !typ.IsDir():
		return slot{}, false
	}
	return b.readSlot(name, profile, dir), true
}

func (b *Backend) readSlot(name, profile, dir string) slot {
	s := slot{name: name, profile: profile, dir: dir, files: make([]slotFile, 0, len(slotFiles))}
	for _, p := range slotFiles {
		s.files = append(s.files, b.readFile(dir, p))
	}
	h := b.readFile(dir, HashFile)
	if !h.missing && !h.notRegular && h.odd == "" {
		s.hash = strings.TrimSpace(string(h.data))
	}
	state := b.readFile(dir, StateFile)
	if !state.missing && !state.notRegular && state.odd == "" {
		s.state, _ = parseState(state.data) // unreadable: as if none, at worst one restart too few
	}
	// A slot file we must read and may not: the slot is left as it is,
	// with one diagnostic; the other slots go on.
	for _, f := range append(s.files, h, state) {
		why := f.odd
		if why == "" && f.notRegular && (f.path == HashFile || f.path == StateFile) {
			why = "not a regular file (" + f.mode.Type().String() + ")"
		}
		if why != "" {
			s.untouchable = fmt.Sprintf("%s: %s; slot left as it is: remove or replace the file", filepath.Join(dir, f.path), why)
			return s
		}
	}
	if _, err := os.Lstat(filepath.Join(dir, DownFile)); err == nil {
		s.hasDown = true
	}
	s.status, s.statusErr = b.ReadStatus(dir)
	if s.status.Supervised {
		// The logger's record alone, without its lock: s6-svscan runs (and
		// respawns) both supervisors of a slot, so with the slot's own
		// supervisor alive a logger record is a live one; three system
		// calls less per slot and pass.
		if f := b.readFile(dir, "log/supervise/status"); !f.missing && !f.notRegular && f.odd == "" {
			if ls, err := ParseStatus(f.data); err == nil {
				s.logStatus = ls
			}
		}
	}
	if st := s.status; st.Supervised && !st.Since.IsZero() && time.Since(st.Since) < b.crashWindow {
		// A gateway up or down since longer than the window has no death
		// in it: only one that changed state lately costs the read.
		if f := b.readFile(dir, DeathTally); !f.missing && !f.notRegular && f.odd == "" {
			s.deaths, _ = ParseDeathTally(f.data)
		}
	}
	s.blocked = b.blocked(dir)
	st := &s.status
	st.NormallyUp = !s.hasDown
	// finish exits 125 for a clean stop (0) or a config error (78): s6
	// then wants the service down although it is normally up.
	st.PermanentFailure = st.Supervised && !st.Up && !st.WantUp && st.NormallyUp && (st.ExitCode == 0 || st.ExitCode == 78)
	return s
}

// readFile reads a slot file, from the cache when its stamp says it is what
// was read last time: a full pass over slots we wrote mostly stats them. A
// file not in the cache (a one-shot run's every file) is read at once, its
// stamp and mode taken from the descriptor: a stat first would cost a call
// per file and tell nothing the read does not.
func (b *Backend) readFile(dir, rel string) slotFile {
	path := filepath.Join(dir, filepath.FromSlash(rel))
	if c, ok := b.files.get(path); ok {
		st, mode, err := desired.StatFile(path)
		if err == nil && mode.IsRegular() && st.Size <= MaxSlotFile && st.Trusted(c.st, c.readAt) {
			return slotFile{path: rel, mode: mode.Perm(), data: c.data}
		}
	}
	readAt := time.Now().UnixNano()
	data, info, err := readSmallStamped(path, MaxSlotFile)
	switch {
	case err == nil:
		b.files.put(path, cachedFile{st: info.stamp, readAt: readAt, data: data})
		return slotFile{path: rel, mode: info.mode.Perm(), data: data}
	case info.mode&fs.ModeType != 0:
		b.files.forget(path)
		return slotFile{path: rel, mode: info.mode, notRegular: true}
	case errors.Is(err, ErrOddFile) && info.stamp.Size > MaxSlotFile:
		b.files.forget(path)
		return slotFile{path: rel, mode: info.mode.Perm(), odd: fmt.Sprintf("%d bytes, over the %d byte limit", info.stamp.Size, MaxSlotFile)}
	case errors.Is(err, ErrOddFile):
		b.files.forget(path)
		return slotFile{path: rel, mode: info.mode.Perm(), odd: unwrapErr(err).Error()}
	}
	b.files.forget(path)
	return slotFile{path: rel, missing: true}
}

// fileInfo is what a read learnt of a file besides its bytes.
type fileInfo struct {
	stamp desired.Stamp
	mode  fs.FileMode
}

// cachedFile is a slot file as last read, valid while its stamp is st.
type cachedFile struct {
	st     desired.Stamp
	readAt int64
	data   []byte
}

// fileCache holds the slot files the observer read, by path.
type fileCache struct {
	mu    sync.Mutex
	files map[string]cachedFile
}

func (c *fileCache) get(path string) (cachedFile, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f, ok := c.files[path]
	return f, ok
}

func (c *fileCache) put(path string, f cachedFile) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.files == nil {
		c.files = map[string]cachedFile{}
	}
	c.files[path] = f
}

// reserve makes room for n files at once: a first full pass fills the
// cache in one go, and growing it slot by slot rehashes it again and again.
func (c *fileCache) reserve(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.files) == 0 {
		c.files = make(map[string]cachedFile, n)
	}
}

func (c *fileCache) forget(path string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.files, path)
}

// forgetSlot drops every file of a slot that went (removed or retired).
func (c *fileCache) forgetSlot(dir string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	prefix := dir + string(filepath.Separator)
	for p := range c.files {
		if strings.HasPrefix(p, prefix) {
			delete(c.files, p)
		}
	}
}

// unitOf is a slot in the planner's terms.
func unitOf(s *slot, want map[desired.Key]reconcile.Spec) *reconcile.Unit {
	u := &reconcile.Unit{Key: s.profile, Name: s.name, Untouchable: s.untouchable}
	if s.untouchable != "" {
		u.State = "untouchable"
		return u
	}
	st := s.status
	u.Ours, u.Hash = s.hash != "", s.hash
	if spec, ok := want[s.profile]; ok {
		u.Drift = diffFiles(&spec, s)
	}
	u.Registered, u.Running, u.WantUp, u.Persisted = st.Supervised, st.Up, st.WantUp, !s.hasDown
	ls := s.logStatus
	// What a pass that did not live to restart them left: a process that
	// started before its script was last written.
	u.Companion = reconcile.Companion{Registered: ls.Supervised, Running: ls.Up, WantUp: ls.WantUp,
		Stale: ls.Up && ls.Since.Before(s.state.LogWritten)}
	u.Stale = st.Up && st.Since.Before(s.state.RunWritten)
	u.PID, u.Since, u.ExitCode, u.Signal, u.PermanentFailure = st.PID, st.Since, st.ExitCode, st.Signal, st.PermanentFailure
	u.StatusErr, u.Blocked = s.statusErr, s.blocked
	u.Restarting, u.Park, u.Absent, u.Rolled = s.state.Restarting, s.state.Park, s.state.Absent, s.state.Rolled
	u.Adopted = s.state.Adopted
	u.Deaths = s.deaths
	parked := u.Park != nil && !u.Park.Unparked() && !st.Up
	if parked {
		u.Detail = "parked: " + u.Park.Why
	}
	switch {
	case s.statusErr != nil:
		u.State = "unknown"
	case parked:
		u.State = "parked"
	case st.PermanentFailure:
		u.State = "failed"
	case !st.Supervised:
		u.State = "unsupervised"
	case st.Up:
		u.State = "up"
	default:
		u.State = "down"
	}
	return u
}

// blocked says why we, not being root, cannot control the supervisors of a
// slot, and how to mend it; "" when we can (or are root, or s6 has not
// made its supervise/ yet). A supervise/ made by s6-supervise running as
// root before our skeleton was in place is root's, 0700: every start and
// stop of it fails.
func (b *Backend) blocked(dir string) string {
	if b.uid >= 0 {
		return "" // root: we can
	}
	for _, d := range []string{dir, filepath.Join(dir, "log")} {
		ctl := filepath.Join(d, "supervise", "control")
		err := writable(ctl)
		if err == nil || errors.Is(err, fs.ErrNotExist) {
			continue
		}
		return fmt.Sprintf("%s: %v: its supervisor cannot be controlled by uid %d (s6-supervise made supervise/ as root before the skeleton existed); "+
			"as root run `chown -R %d:%d %s %s`, or remove the slot so the next pass makes it again",
			ctl, unwrapErr(err), b.euid, b.euid, b.egid, filepath.Join(d, "supervise"), filepath.Join(d, "event"))
	}
	return ""
}

func unwrapErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// diffFiles lists the spec files the slot lacks or holds differently. A
// file that should be executable and is not counts as different; other mode
// bits do not (Hermes and umasks vary).
func diffFiles(spec *reconcile.Spec, s *slot) []string {
	var changed []string
	for _, want := range spec.Files {
		got := s.file(want.Path)
		exec := want.Mode&0o111 != 0
		if got.missing || got.notRegular || !bytes.Equal(got.data, want.Data) || (exec && got.mode&0o111 == 0) {
			changed = append(changed, want.Path)
		}
	}
	return changed
}
