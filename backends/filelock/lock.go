// Package filelock is the single-writer lock of the loops that keep their
// state in files (s6, the hosts): flock on a file whose name says who holds
// it. A lock is only as good as its file: one deleted or replaced while held
// lets the next writer lock a new file beside ours, so a held Lock checks
// that its path still names the file it locked (Lost), and taking it checks
// that the file locked is the one the path names.
package filelock

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
)

// ErrHeld is returned when another writer kept the lock past the timeout.
var ErrHeld = errors.New("lock held by another hermes-reconcile")

// ErrLost is returned by Lost when the lock's file was removed or replaced
// while held: another writer may hold a lock on its successor.
var ErrLost = errors.New("lock file removed or replaced while held")

// PermissionError is a lock file the user may not open: it names the user,
// the file's owner and the fix.
type PermissionError struct {
	Path string
	// UID is who we are; Owner owns the file (or the directory it would be
	// made in), -1 when unknown.
	UID, Owner int
	Err        error
}

func (e *PermissionError) Error() string {
	owner := "another user"
	if e.Owner >= 0 {
		owner = userName(e.Owner)
	}
	return fmt.Sprintf("lock %s: %v: %s may not open it (it is owned by %s); as root run `chown %d %s`, or run hermes-reconcile as %s, as the writer that made it",
		e.Path, unwrap(e.Err), nameOf(e.UID), owner, e.UID, e.Path, owner)
}

// nameOf is "uid N (name)", or "uid N" when the name is unknown.
func nameOf(uid int) string {
	if n := userName(uid); !strings.HasPrefix(n, "uid ") {
		return fmt.Sprintf("uid %d (%s)", uid, n)
	}
	return "uid " + strconv.Itoa(uid)
}

// userName is the name of uid, else "uid N".
func userName(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return u.Username
	}
	return "uid " + strconv.Itoa(uid)
}

func (e *PermissionError) Unwrap() error { return e.Err }

// Lock is a held lock; Unlock releases it.
type Lock struct {
	f    *os.File
	dir  *os.File // the directory locked too, nil when none
	path string
	id   fileID
}

// Lost reports whether the lock's path still names the file locked: an
// error (ErrLost) when it was removed or replaced, so whoever holds it
// stops before another writer acts beside it.
func (l *Lock) Lost() error {
	id, err := pathID(l.path)
	if err != nil || id != l.id {
		return fmt.Errorf("%w: %s", ErrLost, l.path)
	}
	return nil
}

// Unlock releases the lock. The file stays: deleting it would race with
// the next holder. Our name goes first, so no waiter names a holder that
// is gone.
func (l *Lock) Unlock() error {
	_ = l.f.Truncate(0)
	err := l.f.Close()
	if l.dir != nil {
		_ = l.dir.Close()
	}
	return err
}

// Options are what a lock locks besides its file.
type Options struct {
	// Dir, when set, is a directory locked first (Unix): a lock no file
	// deletion can break, for a directory that cannot go while in use
	// (s6's scandir). The file still names the holder, and is what older
	// writers lock.
	Dir string
}

// Acquire takes the lock at path, waiting up to timeout. While it waits it
// says once who holds it; on timeout the error names the holder. who is
// written into the file for the next waiter.
func Acquire(ctx context.Context, path, who string, timeout time.Duration) (*Lock, error) {
	return AcquireWith(ctx, path, who, timeout, Options{})
}

// AcquireWith is Acquire with a directory locked too.
func AcquireWith(ctx context.Context, path, who string, timeout time.Duration, opt Options) (*Lock, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	said, ticked := false, false
	for {
		l, err := try(path, who, opt)
		if err != nil || l != nil {
			return l, err
		}
		if !said {
			// The holder writes its name just after it takes the lock: if
			// it has not yet, ask again after a tick before saying we do
			// not know whom we wait for.
			if h := Holder(path); h != unknownHolder || ticked {
				logr.FromContextOrDiscard(ctx).Info("waiting for lock", "path", path, "holder", h)
				said = true
			}
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-deadline.C:
			return nil, fmt.Errorf("%w (%s) after %s: %s", ErrHeld, Holder(path), timeout, path)
		case <-tick.C:
			ticked = true
		}
	}
}

// try takes the lock once: the lock, or nil when another writer holds it.
// A file replaced between our open and our lock is tried again at once.
func try(path, who string, opt Options) (*Lock, error) {
	var dir *os.File
	if opt.Dir != "" {
		d, ok, err := lockDir(opt.Dir)
		if err != nil || !ok {
			return nil, err
		}
		dir = d
	}
	for range 10 {
		f, err := openNoFollow(path)
		if err != nil {
			closeFile(dir)
			if errors.Is(err, os.ErrPermission) {
				return nil, &PermissionError{Path: path, UID: os.Geteuid(), Owner: ownerOf(path), Err: err}
			}
			return nil, fmt.Errorf("open lock: %w", err)
		}
		ok, err := tryLock(f)
		if err != nil || !ok {
			f.Close()
			closeFile(dir)
			if err != nil {
				return nil, fmt.Errorf("lock %s: %w", path, err)
			}
			return nil, nil
		}
		id, err := fdID(f)
		if err != nil {
			f.Close()
			closeFile(dir)
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if pid, err := pathID(path); err != nil || pid != id {
			// Removed or replaced between the open and the lock: that file
			// is no lock any more.
			f.Close()
			continue
		}
		if err := f.Truncate(0); err == nil {
			_, _ = f.WriteAt([]byte(who+"\n"), 0)
		}
		return &Lock{f: f, dir: dir, path: path, id: id}, nil
	}
	closeFile(dir)
	return nil, fmt.Errorf("lock %s: replaced under us again and again", path)
}

func closeFile(f *os.File) {
	if f != nil {
		_ = f.Close()
	}
}

const unknownHolder = "unknown holder"

// Holder is who the lock file says holds it.
func Holder(path string) string {
	data, err := readSmall(path, 4096) // a pid and a mode; never follows a link
	if err != nil || len(strings.TrimSpace(string(data))) == 0 {
		return unknownHolder
	}
	return strings.TrimSpace(string(data))
}

func unwrap(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
