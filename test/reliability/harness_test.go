//go:build linux

package reliability

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
	"golang.org/x/sys/unix"

	"github.com/hermes-reconcile/hermes-reconcile/backends/s6"
)

// world is one spec's HERMES_HOME, scandir and s6-svscan. Its directory is
// world-readable so the unprivileged user can reach it.
type world struct {
	dir, home, scandir string
	svscan             *exec.Cmd
	svscanDone         chan struct{}
	// env is what every reconciler run gets: the rendering points the slots
	// at the stand-in gateway.
	env []string
	// as runs the reconciler as another user; nil: as the test (root).
	as *syscall.Credential
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

func fakeGateway() string { return filepath.Join(repoRoot(), "test", "fake-gateway") }

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
		"NO_COLOR=1",
	)
	return w
}

// startSvscan runs s6-svscan (as root) in its own process group; the
// cleanup stops it by PID (SIGTERM stops every supervisor and service).
func (w *world) startSvscan() {
	cmd := exec.Command("s6-svscan", w.scandir)
	cmd.Env = append(os.Environ(), "HERMES_HOME="+w.home)
	cmd.Stdout, cmd.Stderr = GinkgoWriter, GinkgoWriter
	// Pdeathsig: should this test process die without its cleanups (a
	// timeout), s6-svscan and its gateways still go.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	Expect(cmd.Start()).To(Succeed())
	w.svscan = cmd
	done := make(chan struct{})
	w.svscanDone = done
	go func() { _ = cmd.Wait(); close(done) }()
	Eventually(func() (bool, error) {
		return fifoListening(filepath.Join(w.scandir, ".s6-svscan", "control"))
	}).Should(BeTrue(), "s6-svscan listening")
	DeferCleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		Eventually(done, 10*time.Second).Should(BeClosed())
	})
}

// stopSvscan stops s6-svscan now (and with it every gateway).
func (w *world) stopSvscan() {
	_ = w.svscan.Process.Signal(syscall.SIGTERM)
	Eventually(w.svscanDone, 10*time.Second).Should(BeClosed())
}

func fifoListening(path string) (bool, error) {
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENXIO) || errors.Is(err, unix.ENOENT) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	unix.Close(fd)
	return true, nil
}

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
func (w *world) slots() []string {
	entries, err := os.ReadDir(w.scandir)
	Expect(err).NotTo(HaveOccurred())
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "gateway-") {
			out = append(out, e.Name())
		}
	}
	return out
}

// leftovers lists our dot-named staging and removal dirs.
func (w *world) leftovers() []string {
	entries, err := os.ReadDir(w.scandir)
	Expect(err).NotTo(HaveOccurred())
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".gateway-") {
			out = append(out, e.Name())
		}
	}
	return out
}

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
	if !lockHeld(filepath.Join(dir, "supervise", "lock")) {
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

// lockHeld is s6-svok's test: s6-supervise holds a lock on supervise/lock.
func lockHeld(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	lk := unix.Flock_t{Type: unix.F_WRLCK}
	if err := unix.FcntlFlock(f.Fd(), unix.F_GETLK, &lk); err != nil {
		return false
	}
	return lk.Type != unix.F_UNLCK
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

// supervisors lists the service directories of s6-svscan's children, as
// their s6-supervise command lines name them.
func (w *world) supervisors() []string {
	pid := w.svscan.Process.Pid
	var out []string
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, t := range tasks {
		data, _ := os.ReadFile(t)
		for _, c := range strings.Fields(string(data)) {
			cmdline, err := os.ReadFile("/proc/" + c + "/cmdline")
			if err != nil {
				continue
			}
			args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
			if len(args) == 2 && args[0] == "s6-supervise" {
				out = append(out, args[1])
			}
		}
	}
	sort.Strings(out)
	return out
}

func (w *world) supervisorsOf(slot string) []string {
	var out []string
	for _, s := range w.supervisors() {
		if s == slot || s == slot+"/log" {
			out = append(out, s)
		}
	}
	return out
}

func writeFile(path, content string) {
	Expect(os.MkdirAll(filepath.Dir(path), 0o755)).To(Succeed())
	Expect(os.WriteFile(path, []byte(content), 0o644)).To(Succeed())
}

func readFile(path string) string {
	data, err := os.ReadFile(path)
	Expect(err).NotTo(HaveOccurred())
	return string(data)
}

// treeHash hashes names, types, modes, owners, symlink targets and contents
// of a tree, leaving out what s6 itself rewrites at run time (supervise/,
// event/, .s6-svscan/) when skipS6 is set.
func treeHash(root string, skipS6 bool) string {
	h := sha256.New()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if skipS6 && d.IsDir() {
			switch d.Name() {
			case "supervise", "event", ".s6-svscan":
				fmt.Fprintf(h, "%s dir(s6)\n", rel)
				return filepath.SkipDir
			}
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		st := info.Sys().(*syscall.Stat_t)
		fmt.Fprintf(h, "%s %v %d:%d\n", rel, info.Mode(), st.Uid, st.Gid)
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(path)
			fmt.Fprintf(h, "-> %s\n", target)
		case info.Mode().IsRegular():
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			h.Write(data)
		}
		return nil
	})
	Expect(err).NotTo(HaveOccurred())
	return hex.EncodeToString(h.Sum(nil))
}

func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
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

// hermesUser creates the unprivileged `hermes` account for one spec and
// deletes it in the cleanup (an account that already existed is used and
// left alone).
func hermesUser() account {
	const name = "hermes"
	_, err := user.Lookup(name)
	if err != nil {
		out, err := exec.Command("useradd", "--system", "--user-group", "--no-create-home",
			"--shell", "/usr/sbin/nologin", name).CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "useradd: %s", out)
		DeferCleanup(func() {
			out, err := exec.Command("userdel", name).CombinedOutput()
			Expect(err).NotTo(HaveOccurred(), "userdel: %s", out)
		})
	}
	u, err := user.Lookup(name)
	Expect(err).NotTo(HaveOccurred())
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return account{name: name, uid: uid, gid: gid}
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
