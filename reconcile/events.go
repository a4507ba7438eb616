package reconcile

import (
	"path/filepath"
	"sort"

	"github.com/fsnotify/fsnotify"

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
		// inotify dropped the watch of a directory removed or moved away
		// (DELETE_SELF, MOVE_SELF); the next pass over it adds it again.
		delete(w.watched, name)
	}
	if w.unitDirs[filepath.Dir(name)] {
		// Dot names are ours (staging, retired units, the lock) or the
		// manager's; a full pass cleans up what a crash left of them.
		key, _, ok := w.units.UnitOf(name)
		if !ok || w.ownUnitEvent(ev, key) {
			return false
		}
		w.dirty[key] = true
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
		w.dirty[c.Key] = true
	}
	return true
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
		if multiplex, known := rd.Topology(); !known || multiplex != w.multiplex {
			return nil, true
		}
	}
	for k := range w.intents {
		if !w.dirty[k] && !rd.IntentChanged(k) {
			continue
		}
		w.dirty[k] = true
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
