//go:build linux

// Package e2e runs the hermes-reconcile binary against a real s6-svscan on a
// temporary scandir, with a HERMES_HOME copied from test/fixtures.
package e2e

import (
	"os/exec"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
)

var binary string

func TestE2E(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "hermes-reconcile end to end")
}

var _ = SynchronizedBeforeSuite(func() []byte {
	for _, prog := range []string{"s6-svscan", "s6-svscanctl", "s6-svstat", "s6-svc", "s6-svok", "s6-log"} {
		_, err := exec.LookPath(prog)
		Expect(err).NotTo(HaveOccurred(), "%s must be installed (Debian package s6; `make test` installs it)", prog)
	}
	path, err := gexec.Build("github.com/hermes-reconcile/hermes-reconcile/cmd/hermes-reconcile", "-race")
	Expect(err).NotTo(HaveOccurred())
	return []byte(path)
}, func(path []byte) {
	binary = string(path)
	SetDefaultEventuallyTimeout(15 * time.Second)
	SetDefaultEventuallyPollingInterval(20 * time.Millisecond)
	SetDefaultConsistentlyDuration(500 * time.Millisecond)
})

var _ = SynchronizedAfterSuite(func() {}, func() {
	gexec.CleanupBuildArtifacts()
})
