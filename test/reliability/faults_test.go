//go:build linux

package reliability

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"
)

// snapshot is what a fault must leave alone: the scandir's slots (files,
// modes, owners; not what s6 rewrites, nor our lock's holder text) and the
// pid of every running gateway.
type snapshot struct {
	tree string
	pids map[string]int
}

func (w *world) snapshot() snapshot {
	s := snapshot{tree: w.slotsHash(), pids: map[string]int{}}
	for _, slot := range w.Slots() {
		p := strings.TrimPrefix(slot, "gateway-")
		if st := w.State(p); st.Up {
			s.pids[p] = st.PID
		}
	}
	return s
}

func (w *world) slotsHash() string {
	h := ""
	for _, slot := range w.Slots() {
		h += slot + ":" + treeHash(filepath.Join(w.Scandir, slot), true) + "\n"
	}
	return h
}

// expectUnchanged checks the scandir and every gateway are as they were.
func (w *world) expectUnchanged(before snapshot) {
	Expect(w.slotsHash()).To(Equal(before.tree), "the slots changed")
	Expect(w.Leftovers()).To(BeEmpty())
	for p, pid := range before.pids {
		Expect(w.State(p)).To(Equal(slotState{Supervised: true, Up: true, WantUp: true, PID: pid}), "gateway-%s", p)
	}
}

// errorLines are the lines of a text run that report an error.
func errorLines(s *gexec.Session) []string {
	var out []string
	for _, l := range strings.Split(string(s.Out.Contents())+string(s.Err.Contents()), "\n") {
		if strings.HasPrefix(l, "Error: ") || strings.HasPrefix(l, "! ") {
			out = append(out, l)
		}
	}
	return out
}

// expectOneError checks a run printed exactly one error, matching re.
func expectOneError(s *gexec.Session, re string) {
	lines := errorLines(s)
	Expect(lines).To(HaveLen(1), "one clear error, got:\n%s", strings.Join(lines, "\n"))
	Expect(lines[0]).To(MatchRegexp(re))
}

// pending makes the next pass want to change things: a new profile to
// create and beta's profile gone, so its slot would be removed.
func (w *world) pending() {
	w.profile("zeta", "running")
	Expect(os.RemoveAll(w.ProfileDir("beta"))).To(Succeed())
}

// cleanHome is test/fixtures/home without its deliberately broken entries,
// so that each fault below is the only error of its run.
func cleanHome() *world {
	w := newWorld("home")
	for _, p := range []string{"broken", "Upper", "default"} {
		Expect(os.RemoveAll(filepath.Join(w.Home, "profiles", p))).To(Succeed())
	}
	return w
}

var _ = Describe("faults of the environment", func() {
	var w *world
	var before snapshot
	// settle starts s6-svscan and converges the clean home; as the
	// account when one is given (it then owns the scandir).
	settle := func(as *account) {
		w = cleanHome()
		w.StartSvscan()
		if as != nil {
			w.handOver(*as)
		}
		w.converge()
		w.UpPID("alpha")
		w.UpPID("default")
		// A file's mtime is the kernel's coarse clock, up to a tick behind
		// the precise one s6 stamps with: an intent written within a tick
		// of the start could read as older than it, and wait out the settle
		// window. Past a few ticks it cannot.
		Eventually(func() time.Duration { return time.Since(w.World.Since("alpha")) }).Should(BeNumerically(">", 50*time.Millisecond))
		before = w.snapshot()
	}

	It("HERMES_HOME missing: one error, no change", func() {
		settle(nil)
		w.pending()
		w.Env = append(w.Env, "HERMES_HOME="+filepath.Join(w.Dir, "nowhere"))
		s := w.Run("--once")
		Expect(s).To(gexec.Exit(1))
		expectOneError(s, `HERMES_HOME missing: .*nowhere`)
		w.expectUnchanged(before)
		record("5.1", "HERMES_HOME missing", 1, "held: exit 1, one error `HERMES_HOME missing: <path>`, no slot changed or stopped")
	})

	It("HERMES_HOME an empty mount point: a warning, and no slot removed", Label("root"), func() {
		skipUnlessRoot("mounts a tmpfs")
		settle(nil)
		mnt := filepath.Join(w.Dir, "volume")
		Expect(os.Mkdir(mnt, 0o755)).To(Succeed())
		if !mount("-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt) {
			Skip("mount -t tmpfs is not permitted here")
		}
		DeferCleanup(func() { umount(mnt) })
		w.Env = append(w.Env, "HERMES_HOME="+mnt)
		s := w.Run("--once", "--detailed-exitcode")
		Expect(s).To(gexec.Exit(0), "nothing to do")
		Expect(s.Out).To(gbytes.Say(`No changes`))
		Expect(s.Err).To(gbytes.Say(`Warning: .*volume: HERMES_HOME is empty \(not mounted\?\): no slot will be removed`))
		Expect(errorLines(s)).To(BeEmpty())
		w.expectUnchanged(before)
		record("5.2", "HERMES_HOME an empty tmpfs mount point (the volume did not mount), slots in place", 1,
			"held: exit 0 with `HERMES_HOME is empty (not mounted?): no slot will be removed`; no change")
	})

	It("profiles/ or a profile unreadable by the unprivileged user: one error, no slot removed", Label("root"), func() {
		skipUnlessRoot("creates the hermes account")
		acct := hermesUser()
		settle(&acct)
		pdir := filepath.Join(w.Home, "profiles")
		Expect(os.Chmod(pdir, 0)).To(Succeed())
		DeferCleanup(func() { _ = os.Chmod(pdir, 0o755) })
		s := w.Run("--once")
		Expect(s).To(gexec.Exit(1), "a boot that cannot read its profiles fails, so s6-overlay sees it")
		// The hermes user owns it (the handover): the fix is its mode.
		expectOneError(s, regexp.QuoteMeta(pdir)+`: cannot list profiles; no slot will be removed: permission denied: uid \d+ \(hermes\) cannot read it \(`+
			regexp.QuoteMeta(pdir)+` is owned by hermes itself, mode 0000\); run `+"`"+`chmod -R u\+rwX `+regexp.QuoteMeta(pdir)+"`")
		w.expectUnchanged(before)

		Expect(os.Chmod(pdir, 0o755)).To(Succeed())
		alpha := w.ProfileDir("alpha")
		Expect(os.Chmod(alpha, 0)).To(Succeed())
		DeferCleanup(func() { _ = os.Chmod(alpha, 0o755) })
		s = w.Run("--once")
		Expect(s).To(gexec.Exit(1))
		expectOneError(s, regexp.QuoteMeta(alpha)+`: cannot read profile; its slot is left as it is: permission denied: uid \d+ \(hermes\) cannot read it`)
		w.expectUnchanged(before)
		record("5.3", "`profiles/`, then one profile dir, chmod 000 with the reconciler running as the unprivileged user", 2,
			"held: exit 1, one error naming the dir, the uid and user, the owner and the `chown` that fixes it; no slot removed or stopped")
	})

	It("scandir missing: one error, nothing created", func() {
		settle(nil)
		missing := filepath.Join(w.Dir, "no-scandir")
		s := w.Run("--once", "--scandir", missing)
		Expect(s).To(gexec.Exit(1))
		expectOneError(s, `scandir missing: .*no-scandir does not exist \(is s6-overlay up\? set --scandir or S6_PROFILE_GATEWAY_SCANDIR\)`)
		_, err := os.Lstat(missing)
		Expect(errors.Is(err, fs.ErrNotExist)).To(BeTrue(), "not created")
		w.expectUnchanged(before)
		record("5.4", "scandir missing", 1, "held: exit 1, one error naming the scandir; nothing created")
	})

	It("scandir read-only (a read-only bind mount): one error, no change", Label("root"), func() {
		skipUnlessRoot("bind-mounts the scandir read-only")
		settle(nil)
		ro := filepath.Join(w.Dir, "scan-ro")
		Expect(os.Mkdir(ro, 0o755)).To(Succeed())
		if !mount("--bind", w.Scandir, ro) {
			Skip("mount --bind is not permitted here")
		}
		DeferCleanup(func() { umount(ro) })
		Expect(mount("-o", "remount,bind,ro", ro)).To(BeTrue())
		w.pending()
		s := w.Run("--once", "--scandir", ro)
		Expect(s).To(gexec.Exit(1))
		expectOneError(s, `read-only file system`)
		w.expectUnchanged(before)
		record("5.5", "scandir read-only (a read-only bind mount of it), with a creation and a removal pending", 1,
			"held: exit 1, one error (`read-only file system`); nothing created, removed or stopped")
	})

	It("s6-svscan not running: one error, no change", func() {
		settle(nil)
		w.StopSvscan()
		before.pids = nil // s6-svscan took its gateways with it
		before.tree = w.slotsHash()
		w.pending()
		s := w.Run("--once")
		Expect(s).To(gexec.Exit(1))
		expectOneError(s, `nothing applied: s6-svscan is not running on the scandir`)
		w.expectUnchanged(before)
		record("5.6", "s6-svscan not running, with a creation and a removal pending", 1,
			"held: exit 1, one error `nothing applied: s6-svscan is not running on the scandir`; no slot written or removed")
	})

	It("supervise control not writable by the unprivileged user: one error, the gateway left up", Label("root"), func() {
		skipUnlessRoot("creates the hermes account and gives a FIFO to root")
		acct := hermesUser()
		settle(&acct)
		control := filepath.Join(w.Slot("alpha"), "supervise", "control")
		Expect(os.Lchown(control, 0, 0)).To(Succeed())
		Expect(os.Chmod(control, 0o600)).To(Succeed())
		writeFile(filepath.Join(w.ProfileDir("alpha"), "gateway_state.json"), `{"desired_state":"stopped"}`)
		start := time.Now()
		s := w.Run("--once")
		Expect(s).To(gexec.Exit(1))
		expectOneError(s, `gateway-alpha  stop  failed: .*supervise/control: permission denied`)
		// At once, not after s6-svc -wd's whole bound (10 s): in watch mode
		// every other slot of the pass would wait that long on each retry.
		Expect(time.Since(start)).To(BeNumerically("<", 5*time.Second))
		w.expectUnchanged(before)

		By("with a supervise/ only root can enter (what s6-supervise makes without our skeleton)")
		sup := filepath.Join(w.Slot("alpha"), "supervise")
		Expect(os.Lchown(sup, 0, 0)).To(Succeed())
		Expect(os.Chmod(sup, 0o700)).To(Succeed())
		// (A stop that is not tried writes no down marker either.)
		if err := os.Remove(filepath.Join(w.Slot("alpha"), "down")); err != nil {
			Expect(err).To(MatchError(os.ErrNotExist))
		}
		before.tree = w.slotsHash()
		s = w.Run("--once")
		Expect(s).To(gexec.Exit(1))
		// The stop itself fails: it must not pass for done while the
		// gateway runs.
		expectOneError(s, `gateway-alpha  stop  failed: .*supervise/control: permission denied`)
		w.expectUnchanged(before)
		record("5.7", "supervise control FIFO of a running slot owned by root (0600), then its supervise/ root-only (0700); the unprivileged user asks for a stop", 2,
			"held: exit 1, one error naming the slot and `permission denied`; the gateway stayed up with the same pid, nothing removed")
	})

	It("s6-svscan's control out of the unprivileged user's reach: one error saying so, not \"not running\"", Label("root"), func() {
		skipUnlessRoot("creates the hermes account")
		acct := hermesUser()
		settle(&acct)
		// What a cont-init that chowns the FIFO but not .s6-svscan/ (0700
		// root, as s6-svscan makes it) leaves.
		Expect(os.Lchown(filepath.Join(w.Scandir, ".s6-svscan"), 0, 0)).To(Succeed())
		w.pending()
		s := w.Run("--once")
		Expect(s).To(gexec.Exit(1))
		expectOneError(s, `nothing applied: cannot reach s6-svscan: .*\.s6-svscan/control: permission denied`)
		w.expectUnchanged(before)
		record("5.10", "s6-svscan's .s6-svscan/ (0700 root) out of the unprivileged user's reach, with a creation and a removal pending", 1,
			"held: exit 1, one error `nothing applied: cannot reach s6-svscan: … permission denied`; no slot written or removed")
	})

	It("disk full while staging (a tiny tmpfs as the scandir): per-slot errors, nothing half-built, converges once space is back", Label("root"), func() {
		skipUnlessRoot("mounts a tmpfs")
		w = cleanHome()
		if !mount("-t", "tmpfs", "-o", "size=2m,mode=0755", "tmpfs", w.Scandir) {
			Skip("mount -t tmpfs is not permitted here")
		}
		DeferCleanup(func() { umount(w.Scandir) })
		w.StartSvscan()
		w.converge()
		w.UpPID("alpha")
		// A live slot's file to rewrite, too: gamma's finish, edited by hand.
		writeFile(filepath.Join(w.Slot("gamma"), "finish"), "#!/bin/sh\n# edited by hand\n")
		before = w.snapshot()
		filler := filepath.Join(w.Scandir, ".filler")
		fill(filler)
		for i := range 3 {
			w.profile(fmt.Sprintf("full%d", i), "running")
		}
		s := w.Run("--once")
		Expect(s).To(gexec.Exit(1))
		lines := errorLines(s)
		Expect(lines).To(HaveLen(4))
		Expect(lines[3]).To(MatchRegexp(`^! gateway-gamma  update  failed: .*no space left on device`))
		for _, l := range lines[:3] {
			Expect(l).To(MatchRegexp(`^! gateway-full\d  create  failed: .*no space left on device`))
		}
		Expect(w.Slots()).NotTo(ContainElement(HavePrefix("gateway-full")), "no half-built slot published")
		w.expectUnchanged(before) // gamma's finish included: never half written

		Expect(os.Remove(filler)).To(Succeed())
		w.converge()
		for i := range 3 {
			w.UpPID(fmt.Sprintf("full%d", i))
		}
		w.inSync()
		record("5.8", "disk full while staging: the scandir a 2 MiB tmpfs filled up, three profiles added and a live slot's finish to rewrite", 1,
			"held: exit 1, one `no space left on device` error per slot, no staging dir, half-built slot or temp file left behind, the live file and running gateways untouched; converged once space was freed")
	})

	It("inotify limits reached: the watcher says so and falls back to periodic passes", Label("root"), func() {
		skipUnlessRoot("lowers inotify limits inside a user namespace")
		type limited struct {
			w   *world
			s   *gexec.Session
			msg string
		}
		var runs []limited
		for _, c := range []struct{ sysctl, msg string }{
			{"max_inotify_watches", "inotify watch limit reached (fs.inotify.max_user_watches); falling back to periodic passes"},
			{"max_inotify_instances", "cannot watch the filesystem; falling back to periodic passes"},
		} {
			w := cleanHome()
			w.StartSvscan()
			runs = append(runs, limited{w: w, s: w.watchLimited(c.sysctl), msg: c.msg})
		}
		for _, r := range runs {
			// In either order: the limit may be met before or after the
			// first pass.
			stderr := func() string { return string(r.s.Err.Contents()) }
			Eventually(stderr).Should(ContainSubstring(r.msg))
			Eventually(stderr).Should(ContainSubstring(`"msg":"first pass complete; ready"`))
			r.w.profile("late", "running")
		}
		// No watch sees "late": only the periodic pass (every 10 s) can.
		for _, r := range runs {
			Eventually(func() bool { return r.w.State("late").Up }, 25*time.Second).Should(BeTrue())
			r.s.Signal(syscall.SIGTERM)
			Eventually(r.s, 30*time.Second).Should(gexec.Exit(0))
		}
		record("5.9", "inotify limits reached: the watcher run with max_inotify_watches, then max_inotify_instances, set to 0 in its own user namespace", 2,
			"held: the watcher logged that it fell back to periodic passes, stayed up, and created a profile's slot on the next periodic pass without any event")
	})

	It("inotify limits reached with --poll: the poll covers the profiles, and periodic passes run only for what it cannot see", Label("root"), func() {
		skipUnlessRoot("lowers inotify limits inside a user namespace")
		for _, c := range []struct {
			sysctl, msg string
			resync      bool // the scandir unwatched too: its deaths and deleted slots need periodic passes
		}{
			{"max_inotify_watches", "inotify watch limit reached (fs.inotify.max_user_watches); the poll covers the directories not watched", false},
			{"max_inotify_instances", "cannot watch the filesystem; the poll covers the profiles", true},
		} {
			By(c.sysctl)
			w := cleanHome()
			w.StartSvscan()
			s := w.watchLimited(c.sysctl, "--poll", "300ms")
			stderr := func() string { return string(s.Err.Contents()) }
			Eventually(stderr).Should(ContainSubstring(c.msg))
			Eventually(stderr).Should(ContainSubstring(`"msg":"first pass complete; ready"`))
			w.profile("late", "running")
			Eventually(func() bool { return w.State("late").Up }, 25*time.Second).Should(BeTrue())
			// A degraded loop resyncs every 10 s; the default period is 5 min.
			if c.resync {
				Eventually(stderr, 25*time.Second).Should(ContainSubstring(`"why":"resync"`))
			} else {
				Consistently(stderr, 11*time.Second, time.Second).ShouldNot(ContainSubstring(`"why":"resync"`))
			}
			s.Signal(syscall.SIGTERM)
			Eventually(s, 30*time.Second).Should(gexec.Exit(0))
		}
		record("5.11", "inotify limits reached with --poll 300ms: max_inotify_watches, then max_inotify_instances, set to 0 in the watcher's user namespace", 2,
			"held: the watcher logged that the poll covers what it cannot watch and created a late profile's slot through the poll; no periodic full pass ran while only profile directories were unwatched, and they ran when the scandir could not be watched either")
	})
})

// fill writes path until the filesystem is full.
func fill(path string) {
	f, err := os.Create(path)
	Expect(err).NotTo(HaveOccurred())
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			Expect(errors.Is(err, syscall.ENOSPC)).To(BeTrue(), "filling: %v", err)
			break
		}
	}
	// Small writes take what is left of the last page.
	for {
		if _, err := f.Write(buf[:1]); err != nil {
			break
		}
	}
}

// watchLimited starts a watcher in its own user namespace (uids and gids
// mapped one to one) with the given inotify limit set to 0 there: the
// limit is the namespace's own, so nothing else on the machine feels it.
func (w *world) watchLimited(sysctl string, extra ...string) *gexec.Session {
	args := append([]string{"-c", `echo 0 > /proc/sys/user/` + sysctl + ` && exec "$0" "$@"`, binary, "-v", "1"}, extra...)
	cmd := w.Command(nil)
	cmd.Path, cmd.Args = "/bin/sh", append([]string{"sh"}, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Pdeathsig:   syscall.SIGTERM,
		Cloneflags:  syscall.CLONE_NEWUSER,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 65536}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 65536}},
	}
	s, err := gexec.Start(cmd, GinkgoWriter, GinkgoWriter)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() {
		s.Signal(syscall.SIGTERM)
		Eventually(s, 30*time.Second).Should(gexec.Exit())
	})
	return s
}
