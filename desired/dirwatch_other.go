//go:build !linux

package desired

import "github.com/fsnotify/fsnotify"

// fsnotifyWatcher is fsnotify (kqueue, ReadDirectoryChangesW) feeding the
// handlers from a goroutine of its own.
type fsnotifyWatcher struct{ *fsnotify.Watcher }

// newDirWatcher starts fsnotify; onEvent and onError are called from one
// goroutine until Close.
func newDirWatcher(onEvent func(fsnotify.Event), onError func(error)) (dirWatcher, error) {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	go func() {
		for {
			select {
			case ev, ok := <-fw.Events:
				if !ok {
					return
				}
				onEvent(ev)
			case err, ok := <-fw.Errors:
				if !ok {
					return
				}
				onError(err)
			}
		}
	}()
	return fsnotifyWatcher{fw}, nil
}
