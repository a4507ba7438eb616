//go:build linux

// Package soak runs the hermes-reconcile binary in watch mode for minutes
// against a real s6-svscan, with stand-in gateways that fail: what must
// hold over time (no restart storm, a crash loop parked) rather than after
// one pass. Its specs mostly wait, so `make test` runs this package beside
// the others.
package soak

import (
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"

	"github.com/hermes-reconcile/hermes-reconcile/test/testkit"
)

var binary string

func TestSoak(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "hermes-reconcile over minutes")
}

var _ = BeforeSuite(func() {
	testkit.RequireS6()
	binary = testkit.Build(testkit.Cmd, "-race")
	SetDefaultEventuallyTimeout(30 * time.Second)
	SetDefaultEventuallyPollingInterval(50 * time.Millisecond)
})

var _ = AfterSuite(func() { gexec.CleanupBuildArtifacts() })
