package reconcile

import (
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/go-logr/logr"

	"github.com/hermes-reconcile/hermes-reconcile/desired"
)

// note records what an event asks of the next pass and reports whether it
// asks anything: the layout maps a path to its profile, the engine maps an
// entry of its unit dirs to its unit. The rest (a gateway's pid and log
// files, our own lock, a pass's own writes) would only wake us.
func (w *watchLoop) note(ev fsnotify.Event) bool {
	if ev.Op == fsnotify.Chmod {
		return false
	}
	name := cleanPath(ev.Name)
	gone := ev.Op&(fsnotify.Remove|fsnotify.Rename) != 0
	if gone && w.watched[name] {
		w.unwatch(name)
	}
	if key, ok := w.deathDirs[filepath.Dir(name)]; ok {
		return w.noteDeath(key, name)
	}
	if w.unitDirs[filepath.Dir(name)] {
		if gone {
			w.unwatch(name) // its death records went with it
		}
		// Dot names are ours (staging, retired units, the lock) or the
		// manager's; a full pass cleans up what a crash left of them.
		key, _, ok := w.units.UnitOf(name)
		if !ok || w.ownUnitEvent(ev, key) {
			return false
		}
		w.touch(key)
		return true
	}
	if w.unitDirs[name] && gone {
		w.all = true // the unit dir itself replaced
		return true
	}
	c, ok := w.layout.Classify(name)
	switch {
	case !ok:
		return false
	case name == filepath.Join(w.layout.Root, desired.ConfigFile):
		// The root config.yaml may change the topology, which every
		// service follows; the pass reads it and says.
		w.rootConfig, w.dirty[desired.DefaultProfile] = true, true
	case c.All:
		w.all = true
	case filepath.Base(name) == desired.StateFile && ev.Op&^(fsnotify.Create|fsnotify.Write) == 0:
		w.intents[c.Key] = true
	default:
		w.touch(c.Key)
	}
	return true
}

// touch asks for a pass over key: what it depends on changed, so a
// terminal failure of it is worth trying again.
func (w *watchLoop) touch(key Key) {
	w.dirty[key] = true
	w.retry.Touch(key)
}

// take is what the next pass covers, and clears it: every profile (full),
// or keys. An intent file rewritten with the intent it had costs one read
// here and no pass; in multiplex topology a named profile's intent change
// is default's too (it folds them).
func (w *watchLoop) take() (keys []Key, full bool) {
	defer func() {
		w.all, w.rootConfig = false, false
		clear(w.dirty)
		clear(w.intents)
	}()
	if w.all {
		return nil, true
	}
	rd := w.p.Reader
	if w.rootConfig {
		if t := rd.Topology(); !t.Known || t.Multiplex != w.multiplex {
			return nil, true
		}
	}
	for k := range w.intents {
		// A gateway held down after a failure is started again by an
		// intent rewritten after it, the same intent or not (`hermes
		// gateway start`): such a rewrite is news.
		if !w.dirty[k] && !w.held[k] && !rd.IntentChanged(k) {
			continue
		}
		w.touch(k)
	}
	if w.multiplex {
		for k := range w.dirty {
			if k != desired.DefaultProfile {
				w.dirty[desired.DefaultProfile] = true
				break
			}
		}
	}
	for k := range w.dirty {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return desired.Less(keys[i], keys[j]) })
	return keys, false
}

// ownUnitEvent reports whether an event on key's unit is one the last pass
// over it caused itself: a unit appearing that it left in place (the rename
// that publishes it) or one going that it retired. Anything else is
// someone else's doing, a unit deleted, moved or made by hand, and calls for
// a pass. Without this each pass would trigger another, and a profile
// created during that second pass would wait out a quiet period.
func (w *watchLoop) ownUnitEvent(ev fsnotify.Event, key Key) bool {
	present, known := w.left[key]
	if !known {
		return false
	}
	appeared := ev.Op == fsnotify.Create
	went := ev.Op&^(fsnotify.Remove|fsnotify.Rename) == 0
	return (present && appeared) || (!present && went)
}

// leave records what a pass left of the units it covered (keys; nil:
// all): the units it found, plus those it created, minus those it retired.
// A unit whose action failed is unknown; a failed pass knows nothing of
// what it covered.
func (w *watchLoop) leave(out Outcome, keys []Key) {
	if keys == nil || w.left == nil {
		w.left = map[Key]bool{}
	} else {
		for _, k := range keys {
			delete(w.left, k)
		}
	}
	if out.Err != nil {
		if keys == nil {
			w.left = nil
		}
		return
	}
	for k := range out.Observed.Units {
		w.left[k] = true
	}
	for _, r := range out.Results {
		k := r.Action.Key
		switch {
		case k == "":
		case r.Err != nil:
			delete(w.left, k)
		case r.Action.Kind == Create:
			w.left[k] = true
		case r.Action.Kind == Remove:
			w.left[k] = false
		}
	}
}

func cleanPath(p string) string { return filepath.Clean(p) }

// remember updates what the loop saw of each key a pass covered (keys; nil:
// every one) for the settle window: a profile it had not seen appeared, a
// unit a pass had left in place and that is gone was removed by someone
// else, a run state deferred is a conflict; and until when held keys wait.
func (w *watchLoop) remember(log logr.Logger, out Outcome, keys []Key) {
	if out.Err != nil {
		return
	}
	now := out.Plan.Now
	covered := keys
	if keys == nil {
		all := map[Key]bool{}
		for _, s := range out.Desired.Services {
			all[s.Profile] = true
		}
		for k := range out.Desired.Held {
			all[k] = true
		}
		for k := range out.Observed.Units {
			all[k] = true
		}
		for k := range w.seen {
			all[k] = true
		}
		for k := range w.deferred {
			all[k] = true
		}
		covered = nil
		for k := range all {
			covered = append(covered, k)
		}
	}
	conflict := map[Key]bool{}
	for _, k := range covered {
		delete(w.deferred, k)
		delete(w.held, k)
	}
	for _, d := range out.Plan.Deferred {
		if d.Until.IsZero() {
			// Held until its inputs or intent change: an intent file
			// rewritten with the same intent is then news (see take).
			w.held[d.Key] = true
			log.V(1).Info("held", "profile", d.Key, "slot", d.Unit, "action", d.Kind.String(), "reason", string(d.Reason), "why", d.Why)
			continue
		}
		w.deferred[d.Key] = d.Until
		conflict[d.Key] = d.Reason == desired.ReasonSettling && (d.Kind == Start || d.Kind == Stop)
		log.V(1).Info("deferred", "profile", d.Key, "slot", d.Unit, "action", d.Kind.String(), "reason", string(d.Reason), "why", d.Why,
			"until", d.Until.Format(time.RFC3339Nano))
	}
	for _, k := range covered {
		if out.Desired.Service(k) == nil && !out.Desired.Held[k] {
			delete(w.seen, k)
			continue
		}
		s, known := w.seen[k]
		if !known && w.ready {
			s.Appeared = now
		}
		if settle := w.p.Policy.Settle; settle <= 0 || !now.Before(s.Appeared.Add(settle)) {
			s.Appeared = time.Time{} // its window is over
		}
		switch {
		case out.Observed.Units[k] != nil || w.left[k]:
			s.Vanished = time.Time{}
		case s.Present && s.Vanished.IsZero():
			s.Vanished = now
		}
		s.Present = w.left[k]
		switch {
		case !conflict[k]:
			s.Conflict = time.Time{}
		case s.Conflict.IsZero():
			s.Conflict = now
		}
		w.seen[k] = s
	}
}

// unwatch forgets the watch of a directory removed or moved away (inotify
// dropped it: DELETE_SELF, MOVE_SELF) and of every directory under it: a
// profile dir inside a profiles/ that was renamed away gets no event of its
// own, and its watch would follow the old inode. The next pass over them
// watches what is there now.
func (w *watchLoop) unwatch(dir string) {
	delete(w.watched, dir)
	delete(w.deathDirs, dir)
	prefix := dir + string(filepath.Separator)
	for d := range w.watched {
		if strings.HasPrefix(d, prefix) {
			if w.fw != nil {
				_ = w.fw.Remove(d)
			}
			delete(w.watched, d)
			delete(w.deathDirs, d)
		}
	}
}

// noteDeath triages an event among a unit's death records: a pass over
// its key only when the deaths make a crash loop by the policy's count. A
// stop of ours, a clean exit, one crash alone cost this read and no pass.
func (w *watchLoop) noteDeath(key Key, path string) bool {
	deaths, ok := w.deaths.Deaths(path)
	cl := w.p.Policy.CrashLoop
	if !ok || cl.Deaths <= 0 {
		return false
	}
	if crashes(deaths, time.Now().Add(-cl.Window)).n < cl.Deaths {
		return false
	}
	w.touch(key)
	return true
}

// watchDeaths watches the death records of the units a pass saw or made,
// after the pass: a death before the watch is in what the pass read.
func (w *watchLoop) watchDeaths(out Outcome) {
	if w.deaths == nil || w.fw == nil || out.Err != nil {
		return
	}
	for _, r := range out.Results {
		if r.Action.Kind == Remove {
			w.unwatch(w.deaths.DeathDir(r.Action.Unit))
		}
	}
	add := func(k Key, unit string) {
		dir := cleanPath(w.deaths.DeathDir(unit))
		if w.watched[dir] {
			return
		}
		if err := w.fw.Add(dir); err == nil {
			w.watched[dir], w.deathDirs[dir] = true, k
		}
	}
	for k, u := range out.Observed.Units {
		if u.Ours && u.Untouchable == "" {
			add(k, u.Name)
		}
	}
	for _, r := range out.Results {
		if r.Action.Kind == Create && r.Err == nil {
			add(r.Action.Key, r.Action.Unit)
		}
	}
}
