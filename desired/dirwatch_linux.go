package desired

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"unsafe"

	"github.com/fsnotify/fsnotify"
	"golang.org/x/sys/unix"
)

// dirEvents are what the profile watcher asks inotify for: what can change
// a decision. A file is news when it is closed after a write, not at each
// write (IN_MODIFY: a partial file, and a wake-up per write), moved in or
// out, created (a directory, a symlink), or deleted; a watched directory
// when it goes. Attribute changes are not asked for: the watcher ignores
// them. A running gateway's status rewrite (temp file, rename) is then
// create, close-write and the two halves of the move.
const dirEvents = unix.IN_CREATE | unix.IN_CLOSE_WRITE | unix.IN_MOVED_FROM | unix.IN_MOVED_TO |
	unix.IN_DELETE | unix.IN_DELETE_SELF | unix.IN_MOVE_SELF | unix.IN_ONLYDIR | unix.IN_EXCL_UNLINK

// inotifyWatcher is inotify read without fsnotify in between: fsnotify
// asks for every write and attribute change (it offers no public way to
// choose), and hands each event to the watcher's goroutine through a
// channel of its own, a goroutine switch per event. Here the goroutine that
// reads the descriptor calls the handler.
type inotifyWatcher struct {
	f     *os.File
	fd    int
	mu    sync.Mutex
	dirs  map[int32]string // by watch descriptor
	watch map[string]int32
}

// newDirWatcher starts reading inotify; onEvent and onError are called from
// its goroutine until Close.
func newDirWatcher(onEvent func(fsnotify.Event), onError func(error)) (dirWatcher, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, os.NewSyscallError("inotify_init1", err)
	}
	// A non-blocking descriptor in an *os.File is read through the
	// runtime's poller; Close wakes the read.
	w := &inotifyWatcher{f: os.NewFile(uintptr(fd), "inotify"), fd: fd, dirs: map[int32]string{}, watch: map[string]int32{}}
	go w.read(onEvent, onError)
	return w, nil
}

func (w *inotifyWatcher) Add(dir string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	wd, err := unix.InotifyAddWatch(w.fd, dir, dirEvents)
	if err != nil {
		return &os.PathError{Op: "inotify_add_watch", Path: dir, Err: err}
	}
	if old, ok := w.dirs[int32(wd)]; ok && old != dir {
		delete(w.watch, old) // the same directory by another path
	}
	w.dirs[int32(wd)], w.watch[dir] = dir, int32(wd)
	return nil
}

func (w *inotifyWatcher) Remove(dir string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.forget(dir)
}

// forget drops dir's watch (w.mu held); one the kernel dropped already
// (the directory went) is no error.
func (w *inotifyWatcher) forget(dir string) error {
	wd, ok := w.watch[dir]
	if !ok {
		return nil
	}
	delete(w.watch, dir)
	delete(w.dirs, wd)
	if _, err := unix.InotifyRmWatch(w.fd, uint32(wd)); err != nil && err != unix.EINVAL {
		return &os.PathError{Op: "inotify_rm_watch", Path: dir, Err: err}
	}
	return nil
}

func (w *inotifyWatcher) Close() error { return w.f.Close() }

func (w *inotifyWatcher) read(onEvent func(fsnotify.Event), onError func(error)) {
	var buf [64 << 10]byte
	for {
		n, err := w.f.Read(buf[:])
		switch {
		case errors.Is(err, os.ErrClosed):
			return
		case err != nil:
			onError(err)
			return
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			raw := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			name := buf[off+unix.SizeofInotifyEvent : off+unix.SizeofInotifyEvent+int(raw.Len)]
			off += unix.SizeofInotifyEvent + int(raw.Len)
			if raw.Mask&unix.IN_Q_OVERFLOW != 0 {
				onError(fsnotify.ErrEventOverflow)
				continue
			}
			if ev, ok := w.event(raw.Wd, raw.Mask, name); ok {
				onEvent(ev)
			}
		}
	}
}

// event is what a raw event says, in fsnotify's terms: a close after a
// write is a Write.
func (w *inotifyWatcher) event(wd int32, mask uint32, name []byte) (fsnotify.Event, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	dir, ok := w.dirs[wd]
	switch {
	case !ok:
		return fsnotify.Event{}, false // removed meanwhile
	case mask&unix.IN_IGNORED != 0:
		// The kernel dropped the watch (the directory went, or Remove).
		if w.watch[dir] == wd {
			delete(w.watch, dir)
		}
		delete(w.dirs, wd)
		return fsnotify.Event{}, false
	case mask&unix.IN_MOVE_SELF != 0:
		// The watch follows the directory to wherever it went; dir no
		// longer names it.
		_ = w.forget(dir)
	}
	path := dir
	if i := indexNUL(name); i > 0 {
		path = filepath.Join(dir, string(name[:i]))
	}
	var op fsnotify.Op
	if mask&(unix.IN_CREATE|unix.IN_MOVED_TO) != 0 {
		op |= fsnotify.Create
	}
	if mask&unix.IN_CLOSE_WRITE != 0 {
		op |= fsnotify.Write
	}
	if mask&(unix.IN_DELETE|unix.IN_DELETE_SELF) != 0 {
		op |= fsnotify.Remove
	}
	if mask&(unix.IN_MOVED_FROM|unix.IN_MOVE_SELF) != 0 {
		op |= fsnotify.Rename
	}
	return fsnotify.Event{Name: path, Op: op}, op != 0
}

// indexNUL is the length of an event's name, NUL-padded by the kernel.
func indexNUL(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return len(b)
}
