//go:build linux

// Package e2e runs the hermes-reconcile binary against a real s6-svscan on a
// temporary scandir, with a HERMES_HOME copied from test/fixtures.
package e2e

import (
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
	return []byte(testkit.Build(testkit.Cmd, "-race"))
}, func(path []byte) {
	binary = string(path)
	SetDefaultEventuallyTimeout(15 * time.Second)
	SetDefaultEventuallyPollingInterval(20 * time.Millisecond)
	SetDefaultConsistentlyDuration(500 * time.Millisecond)
})

var _ = SynchronizedAfterSuite(func() {}, func() {
	gexec.CleanupBuildArtifacts()
})
