package s6

import (
	"context"
	"path/filepath"
	"time"

	"github.com/hermes-reconcile/hermes-reconcile/backends/filelock"
)

// LockFile is the single-writer lock in the scandir: --once at boot and the
// longrun never interleave. The dot keeps s6-svscan away from it.
const LockFile = ".hermes-reconcile.lock"

// ErrLockHeld is returned when another reconciler kept the lock past the
// timeout.
var ErrLockHeld = filelock.ErrHeld

// Lock is a held single-writer lock; Unlock releases it.
type Lock = filelock.Lock

// AcquireLock takes the scandir lock, waiting up to timeout. While it waits
// it says once who holds it; on timeout the error names the holder. The
// scandir itself is locked too, so deleting the lock file (a cleanup, a
// hand) never lets a second writer act beside the one that holds it.
func AcquireLock(ctx context.Context, scandir, who string, timeout time.Duration) (*Lock, error) {
	if err := CheckScandir(scandir); err != nil {
		return nil, err
	}
	return filelock.AcquireWith(ctx, filepath.Join(scandir, LockFile), who, timeout, filelock.Options{Dir: scandir})
}

func holder(path string) string { return filelock.Holder(path) }
