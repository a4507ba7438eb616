//go:build linux

package reliability

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"

	"github.com/hermes-reconcile/hermes-reconcile/test/testkit"
)

// rssMiB is a process's resident set (VmHWM: its peak) in MiB.
func peakRSSMiB(pid int) float64 {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.Atoi(f[1])
			return float64(kb) / 1024
		}
	}
	return 0
}

var _ = Describe("the loop and the scandir under faults", func() {
	passes := func(s *gexec.Session) int { return len(logLines(s.Err.Contents(), "pass done")) }

	It("idles after a slot whose action failed is gone, by hand or as a removal that failed", Label("root"), func() {
		skipUnlessRoot("mounts a tmpfs in a slot")
		w := newWorld("")
		w.profile("spin", "running")
		w.profile("gone", "running")
		w.StartSvscan()
		w.converge()
		s := w.Watch("--resync", "1h")

		By("a slot whose rewrite fails, then its profile and slot deleted by hand")
		run := filepath.Join(w.Slot("spin"), "run")
		Expect(os.Remove(run)).To(Succeed())
		writeFile(filepath.Join(run, "x"), "")
		s.Signal(syscall.SIGHUP)
		Eventually(func() int { return len(logLines(s.Err.Contents(), "slot backing off")) }).Should(BeNumerically(">=", 1))
		Expect(os.RemoveAll(w.ProfileDir("spin"))).To(Succeed())
		Expect(exec.Command("s6-svc", "-dx", w.Slot("spin")).Run()).To(Succeed())
		Expect(exec.Command("s6-svc", "-dx", filepath.Join(w.Slot("spin"), "log")).Run()).To(Succeed())
		// Both supervisors gone (the logger's writes its supervise/ until
		// it exits), then the slot deleted.
		Eventually(func() bool { return lockHeld(w.Slot("spin")) }).Should(BeFalse())
		Eventually(func() bool { return lockHeld(filepath.Join(w.Slot("spin"), "log")) }).Should(BeFalse())
		Expect(os.RemoveAll(w.Slot("spin"))).To(Succeed())
		Eventually(func() int { return len(logLines(s.Err.Contents(), "slot recovered")) }).Should(Equal(1))
		before := passes(s)
		Consistently(func() int { return passes(s) }, 10*time.Second, time.Second).Should(BeNumerically("<=", before+1))
		idleA := passes(s) - before

		By("a removal that fails (a mount inside the slot), then its retired dir deleted by hand")
		busy := filepath.Join(w.Slot("gone"), "data", "busy")
		Expect(os.MkdirAll(busy, 0o755)).To(Succeed())
		if !mount("-t", "tmpfs", "-o", "size=64k", "tmpfs", busy) {
			Skip("this machine does not allow mounts")
		}
		Expect(os.RemoveAll(w.ProfileDir("gone"))).To(Succeed())
		Eventually(func() int { return len(logLines(s.Err.Contents(), "slot backing off")) }).Should(BeNumerically(">=", 2))
		left := w.Leftovers()
		Expect(left).To(HaveLen(1))
		umount(filepath.Join(w.Scandir, left[0], "data", "busy"))
		Expect(os.RemoveAll(filepath.Join(w.Scandir, left[0]))).To(Succeed())
		Eventually(func() int { return len(logLines(s.Err.Contents(), "slot recovered")) }, 30*time.Second).Should(Equal(2))
		before = passes(s)
		Consistently(func() int { return passes(s) }, 10*time.Second, time.Second).Should(BeNumerically("<=", before+1))
		idleB := passes(s) - before
		GinkgoWriter.Printf("passes in 10 idle seconds: %d after a failed slot went by hand, %d after a failed removal's leftover went\n", idleA, idleB)
		record("6.2", "a slot whose action failed, then gone: its profile and slot deleted by hand; a removal that failed (a mount in the slot), its retired dir then deleted by hand; in watch mode", 2,
			"held: each failure backed off and was forgotten once its slot was gone; at most 1 pass in each of the 10 idle seconds windows after, no hot loop")
	})

	It("leaves alone a slot with a 10 GiB sparse file or a symlink to /dev/zero, and converges the rest", func() {
		w := newWorld("")
		for _, p := range []string{"sparse", "zero", "fine"} {
			w.profile(p, "running")
		}
		w.StartSvscan()
		w.converge()
		pids := map[string]int{"sparse": w.UpPID("sparse"), "zero": w.UpPID("zero")}
		f, err := os.OpenFile(filepath.Join(w.Slot("sparse"), "finish"), os.O_WRONLY|os.O_TRUNC, 0)
		Expect(err).NotTo(HaveOccurred())
		Expect(f.Truncate(10 << 30)).To(Succeed())
		Expect(f.Close()).To(Succeed())
		hash := filepath.Join(w.Slot("zero"), "data", "hermes-reconcile.hash")
		Expect(os.Remove(hash)).To(Succeed())
		Expect(os.Symlink("/dev/zero", hash)).To(Succeed())
		w.profile("new", "running") // a change the pass must still make
		w.profile("fine", "stopped")

		for _, mode := range [][]string{{"--once"}, {"status"}} {
			// --settle 0: the new intent of "fine" may be written before its
			// gateway's start is recorded; that is not what this is about.
			cmd := w.Command(append(mode, "-v", "1", "--settle", "0"))
			s, err := gexec.Start(cmd, GinkgoWriter, GinkgoWriter)
			Expect(err).NotTo(HaveOccurred())
			peak := 0.0
			Eventually(func() bool {
				peak = max(peak, peakRSSMiB(cmd.Process.Pid))
				select {
				case <-s.Exited:
					return true
				default:
					return false
				}
			}, time.Minute, 5*time.Millisecond).Should(BeTrue())
			Expect(s.ExitCode()).To(Equal(0), "%v", mode)
			out := string(s.Err.Contents())
			Expect(strings.Count(out, "finish: 10737418240 bytes, over the 1048576 byte limit; slot left as it is")).To(Equal(1), "%v: one diagnostic for the sparse file", mode)
			Expect(strings.Count(out, "hermes-reconcile.hash: not a regular file (L")).To(Equal(1), "%v: one diagnostic for the symlink", mode)
			Expect(peak).To(BeNumerically("<", 50), "%v: peak RSS in MiB", mode)
			GinkgoWriter.Printf("%v: peak RSS %.1f MiB (sampled)\n", mode, peak)
		}
		w.UpPID("new")
		Eventually(func() slotState { return w.State("fine") }).Should(HaveField("Up", false))
		for p, pid := range pids {
			Expect(w.State(p)).To(Equal(slotState{Supervised: true, Up: true, WantUp: true, PID: pid}), "gateway-%s left as it was", p)
		}
		fi, err := os.Lstat(hash)
		Expect(err).NotTo(HaveOccurred())
		Expect(fi.Mode() & os.ModeSymlink).NotTo(BeZero())
		record("6.3", "a 10 GiB sparse `finish` in one slot and `data/hermes-reconcile.hash` a symlink to /dev/zero in another, with other profiles to create and stop; `--once`, then `status`", 2,
			"held: one diagnostic naming each file, both slots and gateways left as they were, the other profiles converged, peak RSS under 50 MiB")
	})

	It("finishes a removal after s6-svscan was killed and replaced, its supervisors orphaned", func() {
		w := newWorld("")
		for _, p := range []string{"stay", "leave", "later"} {
			w.profile(p, "running")
		}
		w.StartSvscan()
		w.converge()
		pids := map[string]int{"stay": w.UpPID("stay"), "leave": w.UpPID("leave"), "later": w.UpPID("later")}
		old := w.Sv.Pid()
		Expect(syscall.Kill(old, syscall.SIGKILL)).To(Succeed())
		// The orphans go when the spec ends, whatever it left.
		DeferCleanup(func() {
			for _, p := range []string{"stay", "leave", "later"} {
				for _, d := range []string{w.Slot(p), filepath.Join(w.Slot(p), "log")} {
					_ = exec.Command("s6-svc", "-dx", d).Run()
				}
			}
		})
		Eventually(func() bool {
			ok, _ := testkit.FIFOListening(filepath.Join(w.Scandir, ".s6-svscan", "control"))
			return ok
		}).Should(BeFalse())
		w.StartSvscan()
		for p, pid := range pids {
			Expect(w.State(p).PID).To(Equal(pid), "gateway-%s survived s6-svscan's death", p)
		}

		By("--once removes a profile's slot within one timeout")
		Expect(os.RemoveAll(w.ProfileDir("leave"))).To(Succeed())
		start := time.Now()
		s := w.Run("--once", "--timeout", "5s")
		took := time.Since(start)
		Expect(s).To(gexec.Exit(0), "%s", s.Err.Contents())
		Expect(took).To(BeNumerically("<", 5*time.Second), "one timeout")
		Expect(w.Slots()).NotTo(ContainElement("gateway-leave"))
		Expect(w.Leftovers()).To(BeEmpty())
		Expect(syscall.Kill(pids["leave"], 0)).To(MatchError(syscall.ESRCH), "its gateway is gone")

		By("the watcher removes another, and its passes stay bounded")
		wt := w.Watch("--timeout", "5s")
		Expect(os.RemoveAll(w.ProfileDir("later"))).To(Succeed())
		Eventually(func() []string { return w.Slots() }, 10*time.Second).ShouldNot(ContainElement("gateway-later"))
		Eventually(func() []string { return w.Leftovers() }).Should(BeEmpty())
		before := passes(wt)
		Consistently(func() int { return passes(wt) }, 5*time.Second, 500*time.Millisecond).Should(BeNumerically("<=", before+1))
		Expect(w.State("stay").PID).To(Equal(pids["stay"]))
		GinkgoWriter.Printf("removal after s6-svscan replaced: --once took %v\n", took)
		record("6.4", "s6-svscan killed (-9) and a new one started on the scandir, its supervisors orphaned; then a profile removed by `--once`, another in watch mode", 2,
			"held: each removal finished within one --timeout (the orphaned supervisors told to exit), no leftover, the other gateway untouched, passes bounded after")
	})

	It("does not wait on slots s6-svscan refuses past its -c: a change to a supervised profile goes through at once", func() {
		w := newWorld("")
		var names []string
		for i := range 12 {
			names = append(names, fmt.Sprintf("p%02d", i))
			w.profile(names[i], "running")
		}
		w.StartSvscan("-c", "10")
		s := w.Run("--once", "--timeout", "10s")
		// 13 slots (the root's too) for 10 places: a warning before, three
		// refused at once, not after a timeout.
		Expect(s.Err.Contents()).To(ContainSubstring("the scandir would hold 13 services, over s6-svscan's limit of 10"))
		Expect(strings.Count(string(s.Err.Contents()), "s6-svscan is at its service limit of 10 services")).To(Equal(3))
		supervised := 0
		for _, n := range append([]string{"default"}, names...) {
			if lockHeld(w.Slot(n)) {
				supervised++
			}
		}
		Expect(supervised).To(Equal(10))

		wt := w.Watch("--timeout", "10s")
		var target string
		for _, n := range names {
			if lockHeld(w.Slot(n)) && w.State(n).Up {
				target = n
				break
			}
		}
		Expect(target).NotTo(BeEmpty())
		start := time.Now()
		writeFile(filepath.Join(w.ProfileDir(target), "gateway_state.json"), `{"desired_state":"stopped"}`)
		Eventually(func() bool { return w.State(target).Up }, 5*time.Second, 5*time.Millisecond).Should(BeFalse())
		took := time.Since(start)
		Expect(wt.ExitCode()).To(Equal(-1))
		GinkgoWriter.Printf("-c 10, 13 slots: a stop of a supervised gateway applied after %v\n", took)
		record("6.5", "s6-svscan -c 10 with 13 slots to make; then, in watch mode, a supervised profile's intent flipped to stopped", 1,
			"held: a capacity warning before applying (the limit learned from s6-svscan's command line), the 3 slots past it reported at once as refused (no wait), and the stop applied within 5 s (10 s is one --timeout)")
	})
})
