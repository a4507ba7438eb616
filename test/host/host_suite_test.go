// Package host_test runs the hermes-reconcile binary with its host backends
// (systemd, launchd, Windows) against the stand-in systemctl, launchctl and
// schtasks of test/host/standins, placed first on PATH. Those programs
// cannot run on the test machines (no systemd as PID 1, no macOS, no
// Windows); the stand-ins record their argv and answer as the real ones do.
package host_test

import (
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"

	"github.com/hermes-reconcile/hermes-reconcile/test/testkit"
)

var binary string

func TestHostE2E(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "hermes-reconcile host backends end to end")
}

var _ = SynchronizedBeforeSuite(func() []byte {
	return []byte(testkit.Build(testkit.Cmd, "-race"))
}, func(path []byte) {
	binary = string(path)
	SetDefaultEventuallyTimeout(15 * time.Second)
})

var _ = SynchronizedAfterSuite(func() {}, func() {
	gexec.CleanupBuildArtifacts()
})
