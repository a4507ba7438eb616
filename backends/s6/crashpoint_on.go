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
// right after its k-th change in the scandir (mkdir, create, write,
// rename, remove, chmod, chown, mkfifo, and every s6-svc command), so the reliability tests can
// stop an apply at any point, deterministically. It is read once; unset, a
// change costs one integer compare.
const CrashAfterEnv = "HERMES_RECONCILE_TEST_CRASH_AFTER"

// CrashCountEnv names a file the crashpoint build keeps the count of
// changes in, so a test learns how many changes a plan makes before it
// picks where to kill.
const CrashCountEnv = "HERMES_RECONCILE_TEST_CRASH_COUNT"

var (
	crashAfter, _ = strconv.ParseInt(os.Getenv(CrashAfterEnv), 10, 64)
	countFile     = os.Getenv(CrashCountEnv)
	mutations     atomic.Int64
)

// mutated counts one filesystem change and passes its error through; see
// CrashAfterEnv.
func mutated(err error) error {
	n := mutations.Add(1)
	if countFile != "" {
		_ = os.WriteFile(countFile, []byte(strconv.FormatInt(n, 10)), 0o644)
	}
	if crashAfter > 0 && n == crashAfter {
		if p, err := os.FindProcess(os.Getpid()); err == nil {
			_ = p.Kill()
		}
		time.Sleep(time.Hour) // the SIGKILL is already on its way
	}
	return err
}
