package desired

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
)

// TestInotifyWatcher: what inotify is asked for, read without fsnotify: a
// file is news when closed after a write, moved, created or deleted; a
// write still open and a chmod are not. Absence is shown by order: inotify
// queues in order, so the event after a quiet act is the next act's.
func TestInotifyWatcher(t *testing.T) {
	dir := t.TempDir()
	events := make(chan fsnotify.Event, 64)
	errs := make(chan error, 4)
	w, err := newDirWatcher(func(ev fsnotify.Event) { events <- ev }, func(err error) { errs <- err })
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Add(dir); err != nil {
		t.Fatal(err)
	}
	next := func() fsnotify.Event {
		t.Helper()
		select {
		case ev := <-events:
			return ev
		case err := <-errs:
			t.Fatalf("watcher error: %v", err)
		case <-time.After(10 * time.Second):
			t.Fatal("no event within 10s")
		}
		return fsnotify.Event{}
	}
	expect := func(what string, name string, op fsnotify.Op) {
		t.Helper()
		if ev := next(); ev.Name != filepath.Join(dir, name) || ev.Op != op {
			t.Fatalf("%s: got %v, want %s %v", what, ev, name, op)
		}
	}
	do := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	// A file written through and left open: created, and nothing more
	// until it is closed.
	f, err := os.Create(filepath.Join(dir, "config.yaml"))
	do(err)
	expect("create", "config.yaml", fsnotify.Create)
	_, err = f.WriteString("model: x\n")
	do(err)
	do(os.Chmod(filepath.Join(dir, "config.yaml"), 0o600))
	do(os.Mkdir(filepath.Join(dir, "marker"), 0o755))
	expect("a write still open and a chmod say nothing", "marker", fsnotify.Create)
	do(f.Close())
	expect("closed after the write", "config.yaml", fsnotify.Write)

	// A status rewrite: temp file, rename.
	tmp := filepath.Join(dir, ".gateway_state.tmp")
	do(os.WriteFile(tmp, []byte(`{"gateway_state":"running"}`), 0o644))
	expect("temp created", ".gateway_state.tmp", fsnotify.Create)
	expect("temp closed", ".gateway_state.tmp", fsnotify.Write)
	do(os.Rename(tmp, filepath.Join(dir, StateFile)))
	expect("temp moved away", ".gateway_state.tmp", fsnotify.Rename)
	expect("moved into place", StateFile, fsnotify.Create)

	do(os.Remove(filepath.Join(dir, StateFile)))
	expect("deleted", StateFile, fsnotify.Remove)

	// A watched directory moved away: told once by its old name, and its
	// watch dropped (the name no longer leads to it), so nothing inside it
	// is reported under that name.
	sub := filepath.Join(dir, "marker")
	do(w.Add(sub))
	moved := filepath.Join(dir, "moved")
	do(os.Rename(sub, moved))
	expect("the move, in the parent", "marker", fsnotify.Rename)
	expect("the parent's other half", "moved", fsnotify.Create)
	expect("the move, by the directory itself", "marker", fsnotify.Rename)
	do(os.WriteFile(filepath.Join(moved, "x"), nil, 0o644))
	do(os.WriteFile(filepath.Join(dir, "after"), nil, 0o644))
	expect("nothing from the moved directory", "after", fsnotify.Create)
	expect("after closed", "after", fsnotify.Write)
	if err := w.Remove(sub); err != nil {
		t.Errorf("removing a watch the move dropped: %v", err)
	}

	// A watched directory deleted: told, and its watch gone.
	gone := filepath.Join(dir, "gone")
	do(os.Mkdir(gone, 0o755))
	expect("mkdir", "gone", fsnotify.Create)
	do(w.Add(gone))
	do(os.Remove(gone))
	seen := map[fsnotify.Event]bool{}
	for range 2 {
		seen[next()] = true
	}
	if !seen[fsnotify.Event{Name: gone, Op: fsnotify.Remove}] || len(seen) != 1 {
		t.Fatalf("rmdir of a watched directory: %v, want its Remove from both watches", seen)
	}
	do(os.WriteFile(filepath.Join(dir, "last"), nil, 0o644))
	expect("after the rmdir", "last", fsnotify.Create) // the IN_IGNORED came before it
	inw := w.(*inotifyWatcher)
	inw.mu.Lock()
	_, still := inw.watch[gone]
	inw.mu.Unlock()
	if still {
		t.Error("the deleted directory's watch is still mapped")
	}

	do(w.Close())
	if _, err := os.Stat(dir); err != nil {
		t.Fatal(err)
	}
}
