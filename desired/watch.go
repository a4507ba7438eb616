package desired

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/go-logr/logr"
)

// Event is what the profile watcher saw change, in the reader's terms: a
// profile's input, its intent file alone, the root config.yaml, or
// something every profile depends on. It is a trigger: a pass reads again.
type Event struct {
	Key Key
	// Intent: only the intent file was written (a running gateway rewrites
	// it at every turn, mostly with the intent it had).
	Intent bool
	// RootConfig: the root config.yaml, which may change the topology.
	RootConfig bool
	// All: profiles/ or the root replaced, an overflow, a watch error.
	All bool
	Why string
	// Degraded is set when the watcher could not watch every directory
	// (inotify's limit) or can again (DegradedOn false); Why says why
	// when it is not the watch limit ("no watcher": none could be made).
	Degraded, DegradedOn bool
}

// NoWatcher is a Degraded event's Why when no inotify instance could be
// made (fs.inotify.max_user_instances): nothing is watched.
const NoWatcher = "no watcher"

// WatchOptions tune the profile watcher.
type WatchOptions struct {
	// Poll, when positive, also stats every profile's inputs this often:
	// inotify does not see writes made by other NFS clients or hosts.
	Poll time.Duration
}

// Watcher is the one profile watcher of every engine: fsnotify on the
// profile root, profiles/, profiles/.deleted/ and every profile dir
// (followed as profiles come and go), and a stat-validated poll for
// volumes whose writes inotify cannot see. One goroutine owns it.
type Watcher struct {
	layout Layout
	opt    WatchOptions
	log    logr.Logger
	resync chan struct{}
}

// NewWatcher watches the profiles under layout.
func NewWatcher(layout Layout, opt WatchOptions, log logr.Logger) *Watcher {
	return &Watcher{layout: layout, opt: opt, log: log.WithName("profiles"), resync: make(chan struct{}, 1)}
}

// Resync asks the watcher to check what it watches again: a directory it
// could not watch (the limit) may be watchable now. Never blocks.
func (w *Watcher) Resync() {
	select {
	case w.resync <- struct{}{}:
	default:
	}
}

// Start watches until ctx ends, calling send from goroutines of its own.
// Without inotify (an error creating it) it says so and relies on the poll
// and the loop's resync.
func (w *Watcher) Start(ctx context.Context, send func(Event)) error {
	s := &watchState{w: w, send: send, watched: map[string]bool{}}
	fw, err := newDirWatcher(s.onEvent, s.onError)
	switch {
	case err != nil && w.opt.Poll > 0:
		// The poll stats every profile anyway: it sees what inotify would
		// have, and periodic full passes would only add their cost.
		w.log.Error(err, "cannot watch the filesystem; the poll covers the profiles", "watching", "profiles", "poll", w.opt.Poll.String())
	case err != nil:
		w.log.Error(err, "cannot watch the filesystem; falling back to periodic passes", "watching", "profiles")
		send(Event{Degraded: true, DegradedOn: true, Why: NoWatcher})
	}
	if err == nil {
		s.mu.Lock()
		s.fw = fw
		s.sync(true)
		s.mu.Unlock()
	}
	go s.run(ctx)
	return nil
}

// dirWatcher watches directories, one level deep: inotify read directly on
// Linux, fsnotify elsewhere. Its handlers run on a goroutine of its own.
type dirWatcher interface {
	Add(dir string) error
	Remove(dir string) error
	Close() error
}

// watchState is the watcher's: its handlers and its goroutine (the poll,
// resyncs) take mu.
type watchState struct {
	mu       sync.Mutex
	w        *Watcher
	fw       dirWatcher
	send     func(Event)
	watched  map[string]bool
	degraded bool
	stamps   map[Key]string
	// The poll's memory: each directory's stamp when its files were last
	// stat'ed, the profiles/ and tombstone listings, and the polls since
	// the last full sweep.
	dirStamps       map[string]string
	profiles, tombs []string
	sincePollSweep  int
	pollStats       int
}

// onEvent is the directory watcher's handler: the event read, on its
// goroutine, without a hand-off to another (20 status rewrites a second
// across a fleet are 80 events).
func (s *watchState) onEvent(ev fsnotify.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.note(ev)
}

func (s *watchState) onError(err error) {
	why := "watch error"
	if errors.Is(err, fsnotify.ErrEventOverflow) {
		why = "overflow"
	} else {
		s.w.log.Error(err, "profile watcher error")
	}
	s.send(Event{All: true, Why: why})
}

func (s *watchState) run(ctx context.Context) {
	if s.fw != nil {
		defer s.fw.Close()
	}
	var poll <-chan time.Time
	if s.w.opt.Poll > 0 {
		t := time.NewTicker(s.w.opt.Poll)
		defer t.Stop()
		poll = t.C
		s.mu.Lock()
		s.stamps = s.scan(true)
		s.mu.Unlock()
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.w.resync:
			s.mu.Lock()
			if s.fw != nil {
				s.sync(true)
			}
			s.mu.Unlock()
		case <-poll:
			s.mu.Lock()
			s.poll()
			s.mu.Unlock()
		}
	}
}

// poll stats the profiles (s.mu held) and sends what changed.
func (s *watchState) poll() {
	s.sincePollSweep++
	full := s.sincePollSweep >= pollSweepEvery
	if full {
		s.sincePollSweep = 0
	}
	now := s.scan(full)
	for _, ev := range changedStamps(s.stamps, now) {
		s.send(ev)
	}
	s.stamps = now
}

// note turns a directory event into what it means to the reader (s.mu
// held), and follows the tree: a profile dir that appears is watched (before the pass
// its event asks for reads it), one that goes is forgotten.
func (s *watchState) note(ev fsnotify.Event) {
	if ev.Op == fsnotify.Chmod {
		return
	}
	name := filepath.Clean(ev.Name)
	gone := ev.Op&(fsnotify.Remove|fsnotify.Rename) != 0
	if gone && s.watched[name] {
		s.unwatch(name)
	}
	l := s.w.layout
	c, ok := l.Classify(name)
	if !ok {
		return
	}
	switch {
	case name == filepath.Join(l.Root, ConfigFile):
		s.send(Event{RootConfig: true})
		return
	case c.All:
		if ev.Op&fsnotify.Create != 0 && (name == l.ProfilesDir() || name == l.TombstonesDir()) {
			s.sync(false)
		}
		s.send(Event{All: true})
		return
	}
	if ev.Op&fsnotify.Create != 0 && name == l.Dir(c.Key) && s.fw != nil {
		s.add(name)
	}
	if filepath.Base(name) == StateFile && ev.Op&^(fsnotify.Create|fsnotify.Write) == 0 {
		s.send(Event{Key: c.Key, Intent: true})
		return
	}
	s.send(Event{Key: c.Key})
}

// sync watches the root, profiles/, profiles/.deleted/ and every profile
// dir, each added before its content is read, so nothing written after the
// read is missed; full also drops what is no longer there.
func (s *watchState) sync(full bool) {
	l := s.w.layout
	want := map[string]bool{l.Root: true, l.ProfilesDir(): true, l.TombstonesDir(): true}
	for _, d := range []string{l.Root, l.ProfilesDir(), l.TombstonesDir()} {
		s.add(d)
	}
	if entries, err := os.ReadDir(l.ProfilesDir()); err == nil {
		for _, e := range entries {
			if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
				d := filepath.Join(l.ProfilesDir(), e.Name())
				want[d] = true
				s.add(d)
			}
		}
	}
	degraded := false
	for d := range want {
		if !s.watched[d] {
			if _, err := os.Lstat(d); err == nil {
				degraded = true // there, and not watched: the limit
			}
		}
	}
	if full {
		for d := range s.watched {
			if !want[d] {
				_ = s.fw.Remove(d) // already gone from inotify if the dir was removed
				delete(s.watched, d)
			}
		}
	}
	if degraded != s.degraded {
		s.degraded = degraded
		s.degrade(degraded)
	}
}

// degrade tells that some directories cannot be watched (inotify's
// limit), or all can again: the loop then runs periodic full passes, unless
// the poll runs, which stats every profile directory whether watched or
// not and so sees what inotify would have.
func (s *watchState) degrade(on bool) {
	switch {
	case s.w.opt.Poll > 0 && on:
		s.w.log.Info("inotify watch limit reached (fs.inotify.max_user_watches); the poll covers the directories not watched", "poll", s.w.opt.Poll.String())
	case s.w.opt.Poll > 0:
		s.w.log.Info("all directories watched again")
	default:
		s.send(Event{Degraded: true, DegradedOn: on})
	}
}

// add watches dir when it is there and not yet watched.
func (s *watchState) add(dir string) {
	if s.watched[dir] {
		return
	}
	err := s.fw.Add(dir)
	switch {
	case err == nil:
		s.watched[dir] = true
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EMFILE):
		if !s.degraded {
			s.degraded = true
			s.degrade(true)
		}
	}
}

// unwatch forgets the watch of a directory removed or moved away (inotify
// dropped it) and of every directory under it: a profile dir inside a
// profiles/ that was renamed away gets no event of its own, and its watch
// would follow the old inode. The next sync watches what is there now.
func (s *watchState) unwatch(dir string) {
	delete(s.watched, dir)
	prefix := dir + string(filepath.Separator)
	for d := range s.watched {
		if strings.HasPrefix(d, prefix) {
			if s.fw != nil {
				_ = s.fw.Remove(d)
			}
			delete(s.watched, d)
		}
	}
}

// pollSweepEvery: one poll in this many stats every file, whatever the
// directories say; the others stat a directory and only its files when it
// changed.
const pollSweepEvery = 10

// scan is the stamp of every file a profile is read from, by key, plus the
// tombstones: a poll costs stats, never a read. Hermes writes its files by
// a temp file and a rename (and creates and deletes profiles by renames),
// which changes the directory's mtime: a poll stats each profile's
// directory and stats its files only when the directory changed, or on a
// full sweep (full), which also catches a file rewritten in place (an
// editor writing through, `>>`) and a directory stamp an NFS client cached
// (acdirmin). profiles/ and the tombstones are listed only when their
// directory changed, or on a full sweep.
func (s *watchState) scan(full bool) map[Key]string {
	l := s.w.layout
	if s.dirStamps == nil {
		s.dirStamps = map[string]string{}
	}
	out := make(map[Key]string, len(s.stamps))
	changed := func(dir string) bool {
		s.pollStats++
		st, _, err := StatFile(dir)
		key := ""
		if err == nil {
			key = st.key()
		}
		old, seen := s.dirStamps[dir]
		s.dirStamps[dir] = key
		return full || !seen || old != key
	}
	stat := func(k Key, dir string) {
		if !changed(dir) {
			if v, ok := s.stamps[k]; ok {
				out[k] = v
				return
			}
		}
		var b strings.Builder
		for _, f := range []string{ConfigFile, StateFile, SoulFile, EnvFile} {
			s.pollStats++
			if st, _, err := StatFile(filepath.Join(dir, f)); err == nil {
				b.WriteString(f)
				b.WriteString(st.key())
			}
		}
		out[k] = b.String()
	}
	stat(DefaultProfile, l.Root)
	if changed(l.ProfilesDir()) || s.profiles == nil {
		entries, _ := os.ReadDir(l.ProfilesDir())
		s.profiles = s.profiles[:0]
		for _, e := range entries {
			if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
				s.profiles = append(s.profiles, e.Name())
			}
		}
	}
	for _, name := range s.profiles {
		stat(name, filepath.Join(l.ProfilesDir(), name))
	}
	if changed(l.TombstonesDir()) || s.tombs == nil {
		tombs, _ := os.ReadDir(l.TombstonesDir())
		s.tombs = make([]string, 0, len(tombs))
		for _, t := range tombs {
			s.tombs = append(s.tombs, t.Name())
		}
		sort.Strings(s.tombs)
	}
	out[tombstonesKey] = strings.Join(s.tombs, ",")
	return out
}

// tombstonesKey keys the tombstone listing in a scan: no profile has that
// name.
const tombstonesKey = ".deleted"

// changedStamps are the events a poll found: a profile whose files changed
// is its key, one that came or went, or a tombstone, is all.
func changedStamps(before, now map[Key]string) []Event {
	if len(before) != len(now) || before[tombstonesKey] != now[tombstonesKey] {
		return []Event{{All: true, Why: "poll"}}
	}
	var out []Event
	for k, v := range now {
		old, ok := before[k]
		switch {
		case !ok:
			return []Event{{All: true, Why: "poll"}}
		case old == v:
		case k == DefaultProfile:
			out = append(out, Event{RootConfig: true}, Event{Key: k})
		default:
			out = append(out, Event{Key: k})
		}
	}
	return out
}
