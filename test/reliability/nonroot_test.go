//go:build linux

package reliability

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/hermes-reconcile/hermes-reconcile/test/testkit"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"
)

// owner is the uid owning path (not following a symlink).
func owner(path string) int {
	fi, err := os.Lstat(path)
	Expect(err).NotTo(HaveOccurred())
	return int(fi.Sys().(*syscall.Stat_t).Uid)
}

// asUser runs an s6 program as the account.
func asUser(a account, prog string, args ...string) (string, error) {
	cmd := exec.Command(prog, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: a.cred()}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

var _ = Describe("as an unprivileged user", Label("root"), func() {
	It("runs the whole life of the slots as `hermes` against a scandir it owns, with s6-svscan as root", func() {
		skipUnlessRoot("creates the hermes account and runs s6-svscan as root")
		acct := hermesUser()
		w := newWorld("home")
		w.StartSvscan()
		w.handOver(acct)

		By("creating the slots as hermes: the skeleton is the user's")
		w.converge()
		Expect(w.Slots()).To(ConsistOf("gateway-default", "gateway-alpha", "gateway-beta", "gateway-gamma"))
		for _, f := range []string{"", "run", "supervise", "supervise/control", "event", "log/supervise/control", "data/hermes-reconcile.hash"} {
			Expect(owner(filepath.Join(w.Slot("alpha"), f))).To(Equal(acct.uid), "gateway-alpha/%s", f)
		}
		Eventually(func() (string, error) { return w.SvstatOutput("alpha") }).Should(MatchRegexp(`^true true \d+$`))
		Eventually(func() (string, error) { return w.SvstatOutput("beta") }).Should(Equal("false false -1"))

		By("controlling its gateways with s6-svc and s6-svwait as hermes")
		out, err := asUser(acct, "s6-svc", "-wd", "-T", "10000", "-d", w.Slot("alpha"))
		Expect(err).NotTo(HaveOccurred(), out)
		Expect(w.SvstatOutput("alpha")).To(Equal("false false -1"))
		out, err = asUser(acct, "s6-svc", "-wu", "-T", "10000", "-u", w.Slot("alpha"))
		Expect(err).NotTo(HaveOccurred(), out)
		out, err = asUser(acct, "s6-svwait", "-u", "-t", "10000", w.Slot("alpha"))
		Expect(err).NotTo(HaveOccurred(), out)
		pid := w.UpPID("alpha")

		By("following intents, removals and a hand-deleted slot as hermes")
		writeFile(filepath.Join(w.ProfileDir("default"), "gateway_state.json"), `{"desired_state":"stopped"}`)
		Expect(os.RemoveAll(w.ProfileDir("beta"))).To(Succeed())
		w.profile("delta", "running")
		chownTree(w.Home, acct.uid, acct.gid)
		Expect(os.RemoveAll(w.Slot("gamma"))).To(Succeed())
		w.converge()
		Expect(w.Slots()).To(ConsistOf("gateway-default", "gateway-alpha", "gateway-gamma", "gateway-delta"))
		Expect(w.SvstatOutput("default")).To(Equal("false false -1"))
		Eventually(func() []string { return w.SupervisorsOf("gateway-beta") }).Should(BeEmpty())
		Expect(w.Leftovers()).To(BeEmpty(), "the retired slot, with root's supervise files in it, was deleted")
		w.UpPID("delta")
		Expect(w.State("gamma").Supervised).To(BeTrue())
		Expect(w.UpPID("alpha")).To(Equal(pid), "alpha untouched")

		By("watching as hermes")
		wt := w.Start("-v", "1")
		DeferCleanup(func() {
			wt.Signal(syscall.SIGTERM)
			Eventually(wt, 30*time.Second).Should(gexec.Exit())
		})
		Eventually(wt.Err).Should(gbytes.Say(`"msg":"first pass complete; ready"`))
		w.profile("omega", "running")
		chownTree(w.ProfileDir("omega"), acct.uid, acct.gid)
		w.UpPID("omega")
		wt.Signal(syscall.SIGTERM)
		Eventually(wt, 30*time.Second).Should(gexec.Exit(0))

		By("reporting status as hermes")
		s := w.Run("status")
		Expect(s).To(gexec.Exit(0))
		Expect(s.Out).To(gbytes.Say("omega"))
		w.inSync()
		Expect(w.UpPID("alpha")).To(Equal(pid))
		record("3.1", "the end-to-end life of the slots (create, s6-svc/s6-svwait/s6-svstat, stop, remove, repair, watch, status) run as the unprivileged `hermes` user on a scandir it owns, s6-svscan as root", 1,
			"held: the pre-seeded supervise skeleton is the user's; the user controlled and read its gateways and removed slots holding root's supervise files")
	})
})

var _ = Describe("as root, near symlinks", Label("root"), func() {
	It("never writes, chmods or chowns through a symlink at the staging path, supervise, log, data or down", func() {
		skipUnlessRoot("chowning to the service user only happens as root")
		w := newWorld("home")
		outside := filepath.Join(w.Dir, "outside")
		for _, d := range []string{"stage", "sup", "log", "data", "data2", "log2"} {
			writeFile(filepath.Join(outside, d, "keep"), d+"\n")
			Expect(os.Chmod(filepath.Join(outside, d, "keep"), 0o600)).To(Succeed())
		}
		writeFile(filepath.Join(outside, "log2", "run"), "#!/bin/sh\necho not ours\n")
		writeFile(filepath.Join(outside, "victim"), "victim\n")
		before := treeHash(outside, false)
		w.StartSvscan()

		By("planting symlinks in the staging dirs of two new profiles")
		w.profile("new1", "running")
		w.profile("new2", "running")
		Expect(os.Symlink(filepath.Join(outside, "stage"), filepath.Join(w.Scandir, testkit.Staging("gateway-new1")))).To(Succeed())
		stale := filepath.Join(w.Scandir, testkit.Staging("gateway-new2"))
		Expect(os.MkdirAll(stale, 0o755)).To(Succeed())
		for name, target := range map[string]string{"supervise": "sup", "event": "sup", "log": "log", "data": "data", "run": "victim", "down": "victim"} {
			Expect(os.Symlink(filepath.Join(outside, target), filepath.Join(stale, name))).To(Succeed())
		}
		w.converge()
		Expect(treeHash(outside, false)).To(Equal(before), "nothing outside the scandir changed")
		Expect(w.Leftovers()).To(BeEmpty())
		for _, p := range []string{"new1", "new2"} {
			w.UpPID(p)
			for _, f := range []string{"supervise", "supervise/control", "log/supervise/control", "event", "run"} {
				fi, err := os.Lstat(filepath.Join(w.Slot(p), f))
				Expect(err).NotTo(HaveOccurred())
				Expect(fi.Mode()&os.ModeSymlink).To(BeZero(), "gateway-%s/%s", p, f)
				Expect(owner(filepath.Join(w.Slot(p), f))).To(Equal(10000), "gateway-%s/%s given to the service user", p, f)
			}
		}

		By("planting symlinks at data, log and down of live slots")
		alpha, beta := w.Slot("alpha"), w.Slot("beta")
		Expect(os.RemoveAll(filepath.Join(alpha, "data"))).To(Succeed())
		Expect(os.Symlink(filepath.Join(outside, "data2"), filepath.Join(alpha, "data"))).To(Succeed())
		writeFile(filepath.Join(alpha, "finish"), "#!/bin/sh\n# edited by hand\n")
		// The logger keeps running in the renamed dir; log/ is now a link.
		Expect(os.Rename(filepath.Join(beta, "log"), filepath.Join(beta, "log.real"))).To(Succeed())
		Expect(os.Symlink(filepath.Join(outside, "log2"), filepath.Join(beta, "log"))).To(Succeed())
		new1 := w.Slot("new1")
		Expect(os.Symlink(filepath.Join(outside, "victim"), filepath.Join(new1, "down"))).To(Succeed())
		writeFile(filepath.Join(w.ProfileDir("new1"), "gateway_state.json"), `{"desired_state":"stopped"}`)
		s := w.Run("--once")
		Expect(s).To(gexec.Exit(1), "the slots behind symlinks fail, clearly")
		Expect(s.Out).To(gbytes.Say(`gateway-alpha.*escapes`))
		Expect(s.Out).To(gbytes.Say(`gateway-beta.*escapes`))
		Expect(treeHash(outside, false)).To(Equal(before), "nothing outside the scandir changed")
		Eventually(func() bool { return w.State("new1").Up }).Should(BeFalse(), "new1 stopped; its down link left alone")
		record("3.2", "as root, symlinks planted at the staging path, in a stale staging dir (supervise, event, log, data, run, down) and in live slots (data, log, down), all pointing outside the scandir", 2,
			"held: the outside tree (contents, modes, owners) hashed the same after each pass; staging links were removed, not followed; live slots behind links failed with a clear error")
	})
})
