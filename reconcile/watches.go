package reconcile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/go-logr/logr"
)

// syncWatches watches the profile root, profiles/, profiles/.deleted/, the
// engine's unit dirs and the profile dirs a pass over keys reads (nil:
// every one), adding each before its content is read (so nothing written
// after the read is missed). A dir inotify dropped (removed, moved away) is
// forgotten when its event arrives (note) and watched again here if it is
// back.
func (w *watchLoop) syncWatches(log logr.Logger, keys []Key) {
	if w.fw == nil {
		return
	}
	pdir := w.layout.ProfilesDir()
	want := map[string]bool{w.layout.Root: true, pdir: true, w.layout.TombstonesDir(): true}
	for d := range w.unitDirs {
		want[d] = true
	}
	if keys == nil {
		if entries, err := os.ReadDir(pdir); err == nil {
			for _, e := range entries {
				if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
					want[filepath.Join(pdir, e.Name())] = true
				}
			}
		}
		for dir := range w.watched {
			if _, death := w.deathDirs[dir]; !want[dir] && !death {
				_ = w.fw.Remove(dir) // already gone from inotify if the dir was removed
				delete(w.watched, dir)
			}
		}
	} else {
		for _, k := range keys {
			dir := w.layout.Dir(k)
			if fi, err := os.Lstat(dir); err == nil && fi.IsDir() {
				want[dir] = true
			} else if w.watched[dir] {
				_ = w.fw.Remove(dir)
				delete(w.watched, dir)
			}
		}
	}
	degraded := false
	for dir := range want {
		if w.watched[dir] {
			continue
		}
		err := w.fw.Add(dir)
		switch {
		case err == nil:
			w.watched[dir] = true
		case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EMFILE):
			degraded = true
		}
	}
	if degraded && !w.degraded || keys == nil && degraded != w.degraded {
		if degraded {
			log.Info("inotify watch limit reached (fs.inotify.max_user_watches); falling back to periodic passes", "period", degradedResync.String())
		} else {
			log.Info("all directories watched again")
		}
		w.degraded = degraded
	}
}
