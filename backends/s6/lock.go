package s6

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-logr/logr"
)

// LockFile is the single-writer lock in the scandir: --once at boot and the
// longrun never interleave. The dot keeps s6-svscan away from it.
const LockFile = ".hermes-reconcile.lock"

// ErrLockHeld is returned when another reconciler kept the lock past the
// timeout.
var ErrLockHeld = errors.New("lock held by another hermes-reconcile")

// Lock is a held single-writer lock; Unlock releases it.
type Lock struct{ f *os.File }

// Unlock releases the lock. The file stays: deleting it would race with
// the next holder. Our name goes first, so no waiter names a holder that
// is gone.
func (l *Lock) Unlock() error {
	_ = l.f.Truncate(0)
	return l.f.Close()
}

// AcquireLock takes the scandir lock, waiting up to timeout. While it waits
// it says once who holds it; on timeout the error names the holder.
func AcquireLock(ctx context.Context, scandir, who string, timeout time.Duration) (*Lock, error) {
	if err := CheckScandir(scandir); err != nil {
		return nil, err
	}
	path := filepath.Join(scandir, LockFile)
	f, err := openNoFollow(path)
	if err != nil {
		return nil, fmt.Errorf("open lock: %w", err)
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	said, ticked := false, false
	for {
		ok, err := tryLock(f)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if ok {
			// Record who we are for whoever waits next.
			if err := f.Truncate(0); err == nil {
				_, _ = f.WriteAt([]byte(who+"\n"), 0)
			}
			return &Lock{f: f}, nil
		}
		if !said {
			// The holder writes its name just after it takes the lock: if
			// it has not yet, ask again after a tick before saying we do
			// not know whom we wait for.
			if h := holder(path); h != unknownHolder || ticked {
				logr.FromContextOrDiscard(ctx).Info("waiting for lock", "path", path, "holder", h)
				said = true
			}
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-deadline.C:
			f.Close()
			return nil, fmt.Errorf("%w (%s) after %s: %s", ErrLockHeld, holder(path), timeout, path)
		case <-tick.C:
			ticked = true
		}
	}
}

const unknownHolder = "unknown holder"

func holder(path string) string {
	data, err := readSmall(path, 4096) // a pid and a mode; never follows a link
	if err != nil || len(strings.TrimSpace(string(data))) == 0 {
		return unknownHolder
	}
	return strings.TrimSpace(string(data))
}
