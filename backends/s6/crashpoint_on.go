//go:build crashpoint

package s6

import (
	"os"
	"strconv"
	"sync/atomic"
	"time"
)

// CrashAfterEnv is a test-only fault hook, compiled in only with the
// crashpoint build tag (the reliability suite builds the binary with it):
// with HERMES_RECONCILE_TEST_CRASH_AFTER=k the process kills itself with SIGKILL
// right after its k-th filesystem change in the scandir (mkdir, create,
// write, rename, remove, chmod, chown, mkfifo), so the reliability tests can
// stop an apply at any point, deterministically. It is read once; unset, a
// change costs one integer compare.
const CrashAfterEnv = "HERMES_RECONCILE_TEST_CRASH_AFTER"

var (
	crashAfter, _ = strconv.ParseInt(os.Getenv(CrashAfterEnv), 10, 64)
	mutations     atomic.Int64
)

// mutated counts one filesystem change and passes its error through; see
// CrashAfterEnv.
func mutated(err error) error {
	if crashAfter > 0 && mutations.Add(1) == crashAfter {
		if p, err := os.FindProcess(os.Getpid()); err == nil {
			_ = p.Kill()
		}
		time.Sleep(time.Hour) // the SIGKILL is already on its way
	}
	return err
}
