//go:build linux

// Package e2e runs the hermes-reconcile binary against a real s6-svscan on a
// temporary scandir, with a HERMES_HOME copied from test/fixtures.
package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"

	"github.com/hermes-reconcile/hermes-reconcile/test/testkit"
)

var binary string

func TestE2E(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "hermes-reconcile end to end")
}

var _ = SynchronizedBeforeSuite(func() []byte {
	testkit.RequireS6()
	path, err := gexec.Build("github.com/hermes-reconcile/hermes-reconcile/cmd/hermes-reconcile", "-race")
	Expect(err).NotTo(HaveOccurred())
	// The non-root specs run the binary as the hermes user: open up the
	// build dirs (gexec_artifacts*/g*/).
	for d := filepath.Dir(path); strings.HasPrefix(filepath.Base(d), "g"); d = filepath.Dir(d) {
		Expect(os.Chmod(d, 0o755)).To(Succeed())
	}
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
