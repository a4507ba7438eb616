//go:build linux

package reliability

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"

	"github.com/hermes-reconcile/hermes-reconcile/test/testkit"
)

// world is one spec's testkit.World.
type world struct{ *testkit.World }

var (
	repoRoot      = testkit.RepoRoot
	fakeGateway   = testkit.FakeGateway
	writeFile     = testkit.WriteFile
	readFile      = testkit.ReadFile
	treeHash      = testkit.TreeHash
	copyTree      = testkit.CopyTree
	lockHeld      = testkit.LockHeld
	logLines      = testkit.LogLines
	readSlotState = testkit.ReadSlotState
)

// slotState is what s6-supervise last recorded for a slot.
type slotState = testkit.SlotState

// newWorld makes a HERMES_HOME (a copy of test/fixtures/<fixture>, or just a
// root profile when fixture is "") and an empty scandir, without starting
// s6-svscan.
func newWorld(fixture string) *world {
	w := &world{testkit.NewWorld(binary, fixture)}
	if fixture == "" {
		writeFile(filepath.Join(w.Home, "SOUL.md"), "default\n")
	}
	return w
}

// converge runs --once and expects it to succeed.
func (w *world) converge() {
	s := w.Run("--once")
	Expect(s).To(gexec.Exit(0), "--once:\n%s\n%s", s.Out.Contents(), s.Err.Contents())
}

// inSync runs --dry-run --detailed-exitcode: exit 0 means no drift.
func (w *world) inSync() {
	s := w.Run("--dry-run", "--detailed-exitcode")
	Expect(s).To(gexec.Exit(0), "drift after converging:\n%s", s.Out.Contents())
}

// profile writes a profile as Hermes does; state "" writes no intent file.
func (w *world) profile(name, state string) {
	dir := w.ProfileDir(name)
	writeFile(filepath.Join(dir, "SOUL.md"), "You are "+name+".\n")
	if state != "" {
		writeFile(filepath.Join(dir, "gateway_state.json"), `{"desired_state":"`+state+`"}`)
	}
}

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
	chownTree(w.Home, a.uid, a.gid)
	Expect(os.Lchown(w.Scandir, a.uid, a.gid)).To(Succeed())
	for _, f := range []string{".s6-svscan", ".s6-svscan/control", ".s6-svscan/lock"} {
		p := filepath.Join(w.Scandir, f)
		if _, err := os.Lstat(p); err == nil {
			Expect(os.Lchown(p, a.uid, a.gid)).To(Succeed())
		}
	}
	w.As = a.cred()
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
