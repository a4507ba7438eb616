package s6

import (
	"context"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/go-logr/logr"

	"github.com/hermes-reconcile/hermes-reconcile/desired"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile/loop"
)

// Source is what the s6 engine brings to the loop: the scandir's entries
// (a slot made, deleted or moved by someone else) and each slot's death
// records (s6-supervise's supervise/death_tally), so a crash loop is
// parked at its K-th death, not at the next resync.
type Source struct {
	b         *Backend
	crashLoop reconcile.CrashLoop
	log       logr.Logger
	passed    chan []watchedSlot
}

// watchedSlot is a slot whose death records a pass saw: watch them, or
// (gone) stop.
type watchedSlot struct {
	key  desired.Key
	name string
	gone bool
}

var (
	_ loop.Source      = (*Source)(nil)
	_ loop.PassWatcher = (*Source)(nil)
)

// Source returns the engine's source; cl is the crash-loop guard's count,
// which the death records are triaged by.
func (b *Backend) Source(cl reconcile.CrashLoop, log logr.Logger) *Source {
	return &Source{b: b, crashLoop: cl, log: log.WithName("scandir"), passed: make(chan []watchedSlot, 16)}
}

// Start watches the scandir until ctx ends.
func (s *Source) Start(ctx context.Context, send func(loop.Event)) error {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		s.log.Error(err, "cannot watch the filesystem; falling back to periodic passes", "watching", "scandir")
		send(loop.Event{Kind: loop.Degraded, On: true, Why: desired.NoWatcher})
		return nil
	}
	st := &sourceState{s: s, fw: fw, send: send, deathDirs: map[string]desired.Key{}}
	st.watchScandir()
	go st.run(ctx)
	return nil
}

// Passed hands the slots a pass saw or made to the watching goroutine:
// their death records are watched from then on (a death before is in what
// the pass read); a slot the pass removed is no longer.
func (s *Source) Passed(out reconcile.Outcome, _ []desired.Key) {
	if out.Err != nil {
		return
	}
	var slots []watchedSlot
	for k, u := range out.Observed.Units {
		if u.Ours && u.Untouchable == "" {
			slots = append(slots, watchedSlot{key: k, name: u.Name})
		}
	}
	for _, r := range out.Results {
		switch {
		case r.Err != nil:
		case r.Action.Kind == reconcile.Create:
			slots = append(slots, watchedSlot{key: r.Action.Key, name: r.Action.Unit})
		case r.Action.Kind == reconcile.Remove:
			slots = append(slots, watchedSlot{key: r.Action.Key, name: r.Action.Unit, gone: true})
		}
	}
	select {
	case s.passed <- slots:
	default: // the watcher is behind: the next pass says it again
	}
}

type sourceState struct {
	s         *Source
	fw        *fsnotify.Watcher
	send      func(loop.Event)
	scandir   bool
	deathDirs map[string]desired.Key // supervise/ dir → key
}

func (st *sourceState) watchScandir() {
	if err := st.fw.Add(st.s.b.scandir); err == nil {
		st.scandir = true
	}
}

func (st *sourceState) run(ctx context.Context) {
	defer st.fw.Close()
	retry := time.NewTicker(5 * time.Second) // a scandir made after we started
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-st.fw.Events:
			if !ok {
				return
			}
			st.note(ev)
		case err, ok := <-st.fw.Errors:
			if !ok {
				return
			}
			st.s.log.V(1).Info("scandir watcher error; running a full pass", "error", err.Error())
			st.send(loop.Event{Kind: loop.All, Why: "overflow"})
		case slots := <-st.s.passed:
			for _, sl := range slots {
				dir := filepath.Clean(st.s.b.DeathDir(sl.name))
				switch _, watched := st.deathDirs[dir]; {
				case sl.gone && watched:
					_ = st.fw.Remove(dir)
					delete(st.deathDirs, dir)
				case !sl.gone && !watched:
					if st.fw.Add(dir) == nil {
						st.deathDirs[dir] = sl.key
						// A death recorded between the pass's look and this
						// watch has no event of its own (a gateway that
						// exits 78 at once, as it starts): look once.
						if st.worthAPass(filepath.Join(dir, filepath.Base(DeathTally))) {
							st.send(loop.Event{Kind: loop.Deaths, Key: sl.key})
						}
					}
				}
			}
		case <-retry.C:
			if !st.scandir {
				st.watchScandir()
			}
		}
	}
}

// note turns a scandir event into the loop's: a slot's entry appearing or
// going, the scandir itself replaced, or a death record that makes a crash
// loop. Dot names are ours (staging, retired slots, the lock) or s6's.
func (st *sourceState) note(ev fsnotify.Event) {
	if ev.Op == fsnotify.Chmod {
		return
	}
	name := filepath.Clean(ev.Name)
	gone := ev.Op&(fsnotify.Remove|fsnotify.Rename) != 0
	if key, ok := st.deathDirs[filepath.Dir(name)]; ok {
		if st.worthAPass(name) {
			st.send(loop.Event{Kind: loop.Deaths, Key: key})
		}
		return
	}
	if _, ok := st.deathDirs[name]; ok && gone {
		delete(st.deathDirs, name) // its slot went
		return
	}
	if name == filepath.Clean(st.s.b.scandir) {
		if gone {
			st.scandir = false
			st.send(loop.Event{Kind: loop.All, Why: "scandir replaced"})
		}
		return
	}
	if filepath.Dir(name) != filepath.Clean(st.s.b.scandir) {
		return
	}
	k, ok := ProfileOfSlot(filepath.Base(name))
	if !ok {
		return
	}
	op := loop.Appeared
	if gone {
		op = loop.Gone
		dir := filepath.Join(name, "supervise")
		if _, watched := st.deathDirs[dir]; watched {
			_ = st.fw.Remove(dir)
			delete(st.deathDirs, dir) // its death records went with it
		}
	}
	st.send(loop.Event{Kind: loop.Unit, Key: k, Unit: filepath.Base(name), Op: op})
}

// worthAPass reports whether the death records an event names need a pass
// of their profile: a crash loop by the policy's count, or a last death by
// exit 78 (EX_CONFIG), which the finish script does not restart, so that a
// gateway failed for good is said now, not at the next resync. A crash
// alone, or a clean exit (what Hermes's gateway does on our every stop),
// costs this read and no pass.
func (st *sourceState) worthAPass(path string) bool {
	deaths, ok := st.s.b.Deaths(path)
	if !ok || len(deaths) == 0 {
		return false
	}
	if last := deaths[len(deaths)-1]; last.Signal == 0 && last.Exit == 78 {
		return true
	}
	cl := st.s.crashLoop
	return cl.Deaths > 0 && reconcile.Crashes(deaths, time.Now().Add(-cl.Window)) >= cl.Deaths
}
