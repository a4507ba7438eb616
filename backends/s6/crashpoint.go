//go:build !crashpoint

package s6

// CrashAfterEnv names the test-only fault hook of the crashpoint build
// (crashpoint_on.go); without the tag it does nothing.
const CrashAfterEnv = "HERMES_RECONCILE_TEST_CRASH_AFTER"

// CrashCountEnv is the crashpoint build's count file; nothing without it.
const CrashCountEnv = "HERMES_RECONCILE_TEST_CRASH_COUNT"

// mutated passes a filesystem change's error through; the crashpoint build
// counts changes here to die after the k-th.
func mutated(err error) error { return err }
