//go:build linux

// Package reliability tries to break the promises of DESIGN.md §4 and §9:
// it kills the reconciler mid-apply, races reconcilers, runs it as an
// unprivileged user, feeds it hostile input and takes its environment away,
// each time against a real s6-svscan. What it measured is the table of
// RELIABILITY.md, which the suite checks (report_test.go).
package reliability

import (
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"

	"github.com/hermes-reconcile/hermes-reconcile/test/testkit"
)

var binary string

func TestReliability(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "hermes-reconcile reliability")
}

var _ = SynchronizedBeforeSuite(func() []byte {
	testkit.RequireS6()
	// Without -race (test/e2e has it): these specs run the binary hundreds
	// of times, and what they check is on disk and in s6, not in memory.
	// The unprivileged specs run it as another user, which Build allows.
	return []byte(testkit.Build(testkit.Cmd, "-tags", "crashpoint"))
}, func(path []byte) {
	binary = string(path)
	SetDefaultEventuallyTimeout(15 * time.Second)
	SetDefaultEventuallyPollingInterval(20 * time.Millisecond)
	SetDefaultConsistentlyDuration(500 * time.Millisecond)
})

var _ = SynchronizedAfterSuite(func() {}, func() {
	gexec.CleanupBuildArtifacts()
})
