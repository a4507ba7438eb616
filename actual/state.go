package actual

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/hermes-reconcile/hermes-reconcile/desired"
)

// ErrScandirMissing is returned when the scandir does not exist: s6 is not
// set up, and every slot would otherwise look deleted.
var ErrScandirMissing = errors.New("scandir missing")

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

// StatusReader reads what a slot's supervisor reports. The s6 backend
// implements it; NormallyUp and PermanentFailure are left to Read, which
// knows the slot's down file.
type StatusReader interface {
	ReadStatus(slotDir string) (Status, error)
}

// File is one slot file as found; Missing when absent.
type File struct {
	Path    string
	Mode    fs.FileMode
	Data    []byte
	Missing bool
	// NotRegular is true for a symlink, FIFO or directory in a file's place.
	NotRegular bool
}

// Slot is a service directory named gateway-<profile>.
type Slot struct {
	Name    string
	Profile string
	Dir     string
	Files   []File
	// Hash is the spec hash from data/, empty for a slot we did not write.
	Hash    string
	HasDown bool
	Status  Status
	// StatusErr is set when the status could not be read.
	StatusErr error
	// Untouchable explains why the slot must not be changed (a symlink in
	// the slot's place); empty when it is ours to manage.
	Untouchable string
}

// File returns the slot file at path (relative to the slot).
func (s *Slot) File(path string) File {
	for _, f := range s.Files {
		if f.Path == path {
			return f
		}
	}
	return File{Path: path, Missing: true}
}

// State is the scandir as read in one pass.
type State struct {
	Scandir string
	// Slots are sorted by name.
	Slots []Slot
	// Leftovers are our dot-named staging (.gateway-*.tmp) and removal
	// (.gateway-*.del) dirs from an interrupted pass.
	Leftovers []string
	// Others counts the services that are not ours: never touched.
	Others int
}

// Slot returns the slot of profile, or nil.
func (st *State) Slot(profile string) *Slot {
	name := desired.SlotName(profile)
	i := sort.Search(len(st.Slots), func(i int) bool { return st.Slots[i].Name >= name })
	if i < len(st.Slots) && st.Slots[i].Name == name {
		return &st.Slots[i]
	}
	return nil
}

// slotFiles are read in every slot: the files a rendering is made of.
var slotFiles = []string{desired.FileType, desired.FileRun, desired.FileFinish, desired.FileLogRun}

// Read reads the scandir. Entries that are not ours are only counted.
func Read(scandir string, sr StatusReader) (State, error) {
	entries, err := os.ReadDir(scandir)
	if errors.Is(err, fs.ErrNotExist) {
		return State{}, fmt.Errorf("%w: %s", ErrScandirMissing, scandir)
	}
	if err != nil {
		return State{}, fmt.Errorf("read scandir: %w", err)
	}
	st := State{Scandir: scandir, Slots: make([]Slot, 0, len(entries))}
	for _, e := range entries {
		name := e.Name()
		if IsLeftover(name) {
			st.Leftovers = append(st.Leftovers, name)
			continue
		}
		if name[0] == '.' {
			continue // s6-svscan's own .s6-svscan, our lock: not services
		}
		profile, ok := desired.ProfileOfSlot(name)
		if !ok {
			st.Others++
			continue
		}
		dir := filepath.Join(scandir, name)
		if e.Type()&fs.ModeSymlink != 0 {
			st.Slots = append(st.Slots, Slot{Name: name, Profile: profile, Dir: dir, Untouchable: "slot is a symlink; left as it is"})
			continue
		}
		if !e.IsDir() {
			st.Others++
			continue
		}
		st.Slots = append(st.Slots, readSlot(name, profile, dir, sr))
	}
	return st, nil
}

// IsLeftover reports whether a scandir entry is one of our interrupted
// staging or removal directories.
func IsLeftover(name string) bool {
	if !strings.HasPrefix(name, "."+desired.SlotPrefix) {
		return false
	}
	return strings.HasSuffix(name, ".tmp") || strings.HasSuffix(name, ".del")
}

func readSlot(name, profile, dir string, sr StatusReader) Slot {
	s := Slot{Name: name, Profile: profile, Dir: dir, Files: make([]File, 0, len(slotFiles))}
	for _, p := range slotFiles {
		s.Files = append(s.Files, readFile(dir, p))
	}
	if data, err := ReadSmall(filepath.Join(dir, HashFile), 64); err == nil {
		s.Hash = strings.TrimSpace(string(data))
	}
	if _, err := os.Lstat(filepath.Join(dir, DownFile)); err == nil {
		s.HasDown = true
	}
	s.Status, s.StatusErr = sr.ReadStatus(dir)
	st := &s.Status
	st.NormallyUp = !s.HasDown
	// finish exits 125 for a clean stop (0) or a config error (78): s6
	// then wants the service down although it is normally up.
	st.PermanentFailure = st.Supervised && !st.Up && !st.WantUp && st.NormallyUp && (st.ExitCode == 0 || st.ExitCode == 78)
	return s
}

func readFile(dir, rel string) File {
	path := filepath.Join(dir, filepath.FromSlash(rel))
	fi, err := os.Lstat(path)
	if err != nil {
		return File{Path: rel, Missing: true}
	}
	if !fi.Mode().IsRegular() {
		return File{Path: rel, Mode: fi.Mode(), NotRegular: true}
	}
	data, err := ReadSmall(path, fi.Size())
	if err != nil {
		return File{Path: rel, Missing: true}
	}
	return File{Path: rel, Mode: fi.Mode().Perm(), Data: data}
}
