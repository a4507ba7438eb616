//go:build linux

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"

	"github.com/hermes-reconcile/hermes-reconcile/test/testkit"
)

// world is one spec's HERMES_HOME, scandir and s6-svscan.
type world struct {
	home, scandir string
	sv            *testkit.Svscan
	// env is what every reconciler run gets: the rendering points the slots
	// at the stand-in gateway.
	env []string
	// as is the user reconciler runs are made as; nil: this process's.
	as *syscall.Credential
}

var (
	repoRoot  = testkit.RepoRoot
	writeFile = testkit.WriteFile
	readFile  = testkit.ReadFile
)

// newWorld copies the fixture home and starts s6-svscan on an empty scandir.
func newWorld(fixture string) *world { return newWorldIn(GinkgoT().TempDir(), fixture) }

// newWorldIn is newWorld in dir.
func newWorldIn(dir, fixture string) *world {
	w := &world{home: filepath.Join(dir, "home"), scandir: filepath.Join(dir, "scan")}
	Expect(testkit.CopyTree(filepath.Join(repoRoot(), "test", "fixtures", fixture), w.home)).To(Succeed())
	Expect(os.Mkdir(w.scandir, 0o755)).To(Succeed())
	w.env = append(os.Environ(),
		"HERMES_HOME="+w.home,
		"HERMES_RECONCILE_SCANDIR="+w.scandir,
		"HERMES_RECONCILE_SHEBANG=#!/bin/sh",
		"HERMES_RECONCILE_USER=",
		"HERMES_RECONCILE_GATEWAY_COMMAND="+testkit.FakeGateway(),
		"HERMES_RECONCILE_HOME_DIR="+w.home,
		"HERMES_RECONCILE_LOG_HERMES_HOME="+w.home,
		"HERMES_RECONCILE_LOG_FORMAT=json",
		"GATEWAY_MULTIPLEX_PROFILES=",
		// A Hermes before #112854: multiplex_profiles decides, absent per-profile.
		"HERMES_RECONCILE_HERMES_VERSION=0.21.3",
		"NO_COLOR=1",
	)
	w.startSvscan()
	return w
}

// startSvscan runs s6-svscan on the scandir until the spec ends.
func (w *world) startSvscan() { w.sv = testkit.StartSvscan(w.scandir, w.home) }

// stopSvscan stops s6-svscan now (and with it every gateway).
func (w *world) stopSvscan() { w.sv.Stop() }

// reconcile runs the binary with args and waits for it to exit.
func (w *world) reconcile(args ...string) *gexec.Session {
	s := w.start(args...)
	Eventually(s, 60*time.Second).Should(gexec.Exit())
	return s
}

func (w *world) start(args ...string) *gexec.Session {
	cmd := exec.Command(binary, args...)
	cmd.Env = w.env
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: w.as}
	s, err := gexec.Start(cmd, GinkgoWriter, GinkgoWriter)
	Expect(err).NotTo(HaveOccurred())
	return s
}

func (w *world) slot(profile string) string { return filepath.Join(w.scandir, "gateway-"+profile) }

func (w *world) profileDir(profile string) string {
	if profile == "default" {
		return w.home
	}
	return filepath.Join(w.home, "profiles", profile)
}

// svstat is `s6-svstat -o up,wantedup,pid` of a slot.
type svstat struct {
	Up, WantUp bool
	PID        int
}

func (w *world) status(profile string) (svstat, error) {
	out, err := exec.Command("s6-svstat", "-o", "up,wantedup,pid", w.slot(profile)).CombinedOutput()
	if err != nil {
		return svstat{}, fmt.Errorf("s6-svstat: %v: %s", err, out)
	}
	f := strings.Fields(string(out))
	if len(f) != 3 {
		return svstat{}, fmt.Errorf("s6-svstat printed %q", out)
	}
	pid, _ := strconv.Atoi(f[2])
	return svstat{Up: f[0] == "true", WantUp: f[1] == "true", PID: pid}, nil
}

// upPID waits until profile's gateway is up and returns its pid.
func (w *world) upPID(profile string) int {
	var st svstat
	Eventually(func() (bool, error) {
		var err error
		st, err = w.status(profile)
		return st.Up, err
	}).Should(BeTrue(), "gateway-%s up", profile)
	return st.PID
}

// slots lists the gateway-* entries of the scandir.
func (w *world) slots() []string { return testkit.Slots(w.scandir) }

// supervisors lists the slots and loggers s6-svscan supervises.
func (w *world) supervisors() []string { return w.sv.Supervisors() }

func (w *world) supervisorsOf(slot string) []string { return w.sv.SupervisorsOf(slot) }

// writeAtomic writes like Hermes does: a temp file renamed over the target.
func writeAtomic(path, content string) {
	tmp := path + ".tmp"
	writeFile(tmp, content)
	Expect(os.Rename(tmp, path)).To(Succeed())
}

// treeHash hashes a tree but what s6 itself rewrites at run time.
func treeHash(root string) string { return testkit.TreeHash(root, true) }

func regexpQuote(s string) string { return regexp.QuoteMeta(s) }

func itoa(i int) string { return strconv.Itoa(i) }
