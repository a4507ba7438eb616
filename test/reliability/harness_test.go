//go:build linux

package reliability

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"

	"github.com/hermes-reconcile/hermes-reconcile/backends/s6"
	"github.com/hermes-reconcile/hermes-reconcile/test/testkit"
)

// world is one spec's HERMES_HOME, scandir and s6-svscan. Its directory is
// world-readable so the unprivileged user can reach it.
type world struct {
	dir, home, scandir string
	sv                 *testkit.Svscan
	// env is what every reconciler run gets: the rendering points the slots
	// at the stand-in gateway.
	env []string
	// as runs the reconciler as another user; nil: as the test (root).
	as *syscall.Credential
}

var (
	repoRoot    = testkit.RepoRoot
	fakeGateway = testkit.FakeGateway
	writeFile   = testkit.WriteFile
	readFile    = testkit.ReadFile
	treeHash    = testkit.TreeHash
	copyTree    = testkit.CopyTree
	lockHeld    = testkit.LockHeld
)

// newWorld makes a HERMES_HOME (a copy of test/fixtures/<fixture>, or just a
// root profile when fixture is "") and an empty scandir, without starting
// s6-svscan.
func newWorld(fixture string) *world {
	dir, err := os.MkdirTemp("", "hermes-reliability-")
	Expect(err).NotTo(HaveOccurred())
	Expect(os.Chmod(dir, 0o755)).To(Succeed())
	DeferCleanup(func() { Expect(os.RemoveAll(dir)).To(Succeed()) })
	w := &world{dir: dir, home: filepath.Join(dir, "home"), scandir: filepath.Join(dir, "scan")}
	if fixture != "" {
		Expect(copyTree(filepath.Join(repoRoot(), "test", "fixtures", fixture), w.home)).To(Succeed())
	} else {
		writeFile(filepath.Join(w.home, "SOUL.md"), "default\n")
	}
	Expect(os.Mkdir(w.scandir, 0o755)).To(Succeed())
	w.env = append(os.Environ(),
		"HERMES_HOME="+w.home,
		"HERMES_RECONCILE_SCANDIR="+w.scandir,
		"HERMES_RECONCILE_SHEBANG=#!/bin/sh",
		"HERMES_RECONCILE_USER=",
		"HERMES_RECONCILE_GATEWAY_COMMAND="+fakeGateway(),
		"HERMES_RECONCILE_HOME_DIR="+w.home,
		"HERMES_RECONCILE_LOG_HERMES_HOME="+w.home,
		"HERMES_RECONCILE_LOG_FORMAT=json",
		"GATEWAY_MULTIPLEX_PROFILES=",
		// A Hermes before #112854: multiplex_profiles decides, absent per-profile.
		"HERMES_RECONCILE_HERMES_VERSION=0.21.3",
		"NO_COLOR=1",
	)
	return w
}

// startSvscan runs s6-svscan (as root) on the scandir until the spec ends.
func (w *world) startSvscan() { w.sv = testkit.StartSvscan(w.scandir, w.home) }

// stopSvscan stops s6-svscan now (and with it every gateway).
func (w *world) stopSvscan() { w.sv.Stop() }

// command is the reconciler with args, as w.as, with w.env and extra env.
func (w *world) command(args []string, extraEnv ...string) *exec.Cmd {
	cmd := exec.Command(binary, args...)
	cmd.Env = append(append([]string{}, w.env...), extraEnv...)
	// A watcher must not outlive a test process that died without its
	// cleanups.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: w.as, Pdeathsig: syscall.SIGTERM}
	return cmd
}

// reconcile runs the reconciler and waits for it to exit.
func (w *world) reconcile(args ...string) *gexec.Session {
	s := w.start(args...)
	Eventually(s, 60*time.Second).Should(gexec.Exit())
	return s
}

func (w *world) start(args ...string) *gexec.Session {
	s, err := gexec.Start(w.command(args), GinkgoWriter, GinkgoWriter)
	Expect(err).NotTo(HaveOccurred())
	return s
}

// converge runs --once and expects it to succeed.
func (w *world) converge() {
	s := w.reconcile("--once")
	Expect(s).To(gexec.Exit(0), "--once:\n%s\n%s", s.Out.Contents(), s.Err.Contents())
}

// inSync runs --dry-run --detailed-exitcode: exit 0 means no drift.
func (w *world) inSync() {
	s := w.reconcile("--dry-run", "--detailed-exitcode")
	Expect(s).To(gexec.Exit(0), "drift after converging:\n%s", s.Out.Contents())
}

func (w *world) slot(profile string) string { return filepath.Join(w.scandir, "gateway-"+profile) }

func (w *world) profileDir(profile string) string {
	if profile == "default" {
		return w.home
	}
	return filepath.Join(w.home, "profiles", profile)
}

// profile writes a profile as Hermes does; state "" writes no intent file.
func (w *world) profile(name, state string) {
	dir := w.profileDir(name)
	writeFile(filepath.Join(dir, "SOUL.md"), "You are "+name+".\n")
	if state != "" {
		writeFile(filepath.Join(dir, "gateway_state.json"), `{"desired_state":"`+state+`"}`)
	}
}

// slots lists the gateway-* entries of the scandir, sorted.
func (w *world) slots() []string { return testkit.Slots(w.scandir) }

// leftovers lists our dot-named staging and removal dirs.
func (w *world) leftovers() []string { return testkit.Leftovers(w.scandir) }

// slotState is what s6-supervise last recorded for a slot, read from its
// supervise/ files without forking.
type slotState struct {
	Supervised, Up, WantUp bool
	PID                    int
}

func (w *world) state(profile string) slotState {
	return readSlotState(w.slot(profile))
}

func readSlotState(dir string) slotState {
	if !lockHeld(dir) {
		return slotState{}
	}
	data, err := os.ReadFile(filepath.Join(dir, "supervise", "status"))
	if err != nil {
		return slotState{Supervised: true}
	}
	st, err := s6.ParseStatus(data)
	if err != nil {
		return slotState{Supervised: true}
	}
	return slotState{Supervised: true, Up: st.Up, WantUp: st.WantUp, PID: st.PID}
}

// upPID waits until profile's gateway is up and returns its pid.
func (w *world) upPID(profile string) int {
	var st slotState
	Eventually(func() bool { st = w.state(profile); return st.Up }).Should(BeTrue(), "gateway-%s up", profile)
	return st.PID
}

// svstat runs s6-svstat -o up,wantedup,pid as w.as.
func (w *world) svstat(profile string) (string, error) {
	cmd := exec.Command("s6-svstat", "-o", "up,wantedup,pid", w.slot(profile))
	if w.as != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: w.as}
	}
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// supervisors lists the slots and loggers s6-svscan supervises.
func (w *world) supervisors() []string { return w.sv.Supervisors() }

func (w *world) supervisorsOf(slot string) []string { return w.sv.SupervisorsOf(slot) }

// chownTree gives a tree to uid:gid without following symlinks.
func chownTree(root string, uid, gid int) {
	Expect(filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, uid, gid)
	})).To(Succeed())
}

func isRoot() bool { return os.Geteuid() == 0 }

// skipUnlessRoot skips a spec labelled "root" with the reason.
func skipUnlessRoot(why string) {
	if !isRoot() {
		Skip("needs root: " + why)
	}
}

// account is the unprivileged user of the non-root specs.
type account struct {
	name     string
	uid, gid int
}

func (a account) cred() *syscall.Credential {
	return &syscall.Credential{Uid: uint32(a.uid), Gid: uint32(a.gid), Groups: []uint32{}}
}

// hermesUser is testkit's `hermes` account (uid 10000), made when missing.
func hermesUser() account {
	a := testkit.HermesUser()
	return account{name: a.Name, uid: a.UID, gid: a.GID}
}

// handOver does what deploy/s6-overlay's cont-init does for the gateway
// user: the scandir and s6-svscan's control FIFO become the user's, so it
// can publish slots and ask for rescans; the home is readable by it. It also
// gives the user .s6-svscan/ itself, which s6-svscan makes 0700 root here:
// without it the FIFO cannot be reached.
func (w *world) handOver(a account) {
	chownTree(w.home, a.uid, a.gid)
	Expect(os.Lchown(w.scandir, a.uid, a.gid)).To(Succeed())
	for _, f := range []string{".s6-svscan", ".s6-svscan/control", ".s6-svscan/lock"} {
		p := filepath.Join(w.scandir, f)
		if _, err := os.Lstat(p); err == nil {
			Expect(os.Lchown(p, a.uid, a.gid)).To(Succeed())
		}
	}
	w.as = a.cred()
}

// mount runs mount(8); false (and a note) when this machine does not allow it.
func mount(args ...string) bool {
	out, err := exec.Command("mount", args...).CombinedOutput()
	if err != nil {
		GinkgoWriter.Printf("mount %v: %v: %s\n", args, err, out)
		return false
	}
	return true
}

func umount(dir string) {
	out, err := exec.Command("umount", dir).CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "umount %s: %s", dir, out)
}
