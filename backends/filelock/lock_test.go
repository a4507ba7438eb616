//go:build unix

package filelock

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestAcquireHoldsAndNamesTheHolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.lock")
	l, err := Acquire(context.Background(), path, "pid 1 (first)", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got := Holder(path); got != "pid 1 (first)" {
		t.Fatalf("holder = %q", got)
	}
	_, err = Acquire(context.Background(), path, "pid 2 (second)", 50*time.Millisecond)
	if !errors.Is(err, ErrHeld) || !strings.Contains(err.Error(), "pid 1 (first)") {
		t.Fatalf("second acquire: %v, want ErrHeld naming the holder", err)
	}
	if err := l.Lost(); err != nil {
		t.Fatalf("Lost while held and in place: %v", err)
	}
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	if got := Holder(path); got != unknownHolder {
		t.Fatalf("holder after unlock = %q, want none", got)
	}
}

// A lock whose file was removed or replaced is lost: the next writer would
// lock a new file beside it.
func TestLostWhenTheFileIsRemovedOrReplaced(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.lock")
	l, err := Acquire(context.Background(), path, "a", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Unlock()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := l.Lost(); !errors.Is(err, ErrLost) {
		t.Fatalf("removed: Lost = %v", err)
	}
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := l.Lost(); !errors.Is(err, ErrLost) {
		t.Fatalf("replaced: Lost = %v", err)
	}
}

// With a directory locked too, deleting the lock file does not let a
// second writer in.
func TestTheDirectoryLockSurvivesTheFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.lock")
	l, err := AcquireWith(context.Background(), path, "a", time.Second, Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if _, err := AcquireWith(context.Background(), path, "b", 50*time.Millisecond, Options{Dir: dir}); !errors.Is(err, ErrHeld) {
		t.Fatalf("second writer after the file went: %v, want ErrHeld", err)
	}
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	l2, err := AcquireWith(context.Background(), path, "b", time.Second, Options{Dir: dir})
	if err != nil {
		t.Fatalf("after unlock: %v", err)
	}
	l2.Unlock()
}

func TestPermissionErrorSaysWhoAndWhat(t *testing.T) {
	err := &PermissionError{Path: "/run/service/.hermes-reconcile.lock", UID: 10000, Owner: 0, Err: &os.PathError{Op: "open", Path: "x", Err: os.ErrPermission}}
	want := "lock /run/service/.hermes-reconcile.lock: permission denied: " + nameOf(10000) + " may not open it (it is owned by root); " +
		"as root run `chown 10000 /run/service/.hermes-reconcile.lock`, or run hermes-reconcile as root, as the writer that made it"
	if err.Error() != want {
		t.Fatalf("got  %s\nwant %s", err, want)
	}
	if !errors.Is(err, os.ErrPermission) {
		t.Fatal("not an os.ErrPermission")
	}
}
