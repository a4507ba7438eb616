// Package testkit is what the suites under test/ share: the one way they
// build the binary (Build), a World to run it in (a HERMES_HOME copied
// from test/fixtures, a scandir and a real s6-svscan, and the environment
// every run gets), and file-tree helpers. It asserts with Gomega: in Ginkgo
// specs through Gomega's default (NewWorld), in benchmarks through their
// testing.B (NewBenchWorld). The s6 parts are Linux's; Build and the file
// helpers build everywhere, for the host suite.
package testkit
