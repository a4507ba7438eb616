//go:build linux

package e2e

import (
	"bytes"
	"fmt"
	"math/rand/v2"
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

// watcher is a hermes-reconcile in watch mode, logging JSON at -v 1.
type watcher struct {
	*gexec.Session
}

// watch starts the binary in watch mode (World.Watch) with backoff capped
// at 2s.
func (w *world) watch(args ...string) watcher {
	return watcher{w.Watch(append([]string{"--backoff-max", "2s"}, args...)...)}
}

// logLines are the JSON log lines with the given message.
func (wt watcher) logLines(msg string) []map[string]any {
	return testkit.LogLines(wt.Err.Contents(), msg)
}

func (wt watcher) passes() int { return len(wt.logLines("pass done")) }

// lastPass is the last "pass done" line.
func (wt watcher) lastPass() map[string]any {
	l := wt.logLines("pass done")
	if len(l) == 0 {
		return nil
	}
	return l[len(l)-1]
}

// askedPass asks for a pass with SIGHUP and returns one that started after
// it was asked for: the second pass to end from then on (the first may have
// been in flight already; the second started after the first ended).
func (wt watcher) askedPass() map[string]any {
	before := wt.passes()
	wt.Signal(syscall.SIGHUP)
	Eventually(wt.passes, 30*time.Second).Should(BeNumerically(">", before))
	wt.Signal(syscall.SIGHUP)
	Eventually(wt.passes, 30*time.Second).Should(BeNumerically(">", before+1))
	return wt.logLines("pass done")[before+1]
}

// createProfile does what `hermes profile create` does: build a hidden
// staging dir, then publish it with one rename.
func (w *world) createProfile(name, state string) {
	staging := filepath.Join(w.Home, "profiles", fmt.Sprintf(".%s.staging-%d", name, os.Getpid()))
	writeFile(filepath.Join(staging, "SOUL.md"), "You are "+name+".\n")
	if state != "" {
		writeFile(filepath.Join(staging, "gateway_state.json"), state)
	}
	Expect(os.Rename(staging, w.ProfileDir(name))).To(Succeed())
}

func (w *world) supervised(profile string) bool {
	return exec.Command("s6-svok", w.Slot(profile)).Run() == nil
}

var _ = Describe("watch mode", func() {
	var w *world
	BeforeEach(func() { w = newWorld("home") })

	It("follows profiles as Hermes creates, stops and deletes them, and repairs slots", func() {
		wt := w.watch()
		Eventually(w.Slots).Should(ConsistOf("gateway-default", "gateway-alpha", "gateway-beta", "gateway-gamma"))

		By("supervising a profile published by staging dir and rename")
		w.createProfile("delta", `{"desired_state":"running"}`)
		Eventually(func() bool { return w.supervised("delta") }).Should(BeTrue())
		w.UpPID("delta")

		By("downing a gateway whose intent is written stopped by temp and rename")
		writeAtomic(filepath.Join(w.ProfileDir("delta"), "gateway_state.json"), `{"desired_state":"stopped"}`)
		Eventually(func() (svstat, error) { return w.Status("delta") }).Should(Equal(svstat{Up: false, WantUp: false, PID: -1}))

		By("removing the slot of a profile removed with rm -rf")
		Expect(os.RemoveAll(w.ProfileDir("beta"))).To(Succeed())
		Eventually(w.Slots).ShouldNot(ContainElement("gateway-beta"))
		Eventually(func() []string { return w.SupervisorsOf("gateway-beta") }).Should(BeEmpty())

		By("bringing back a hand-deleted slot")
		Expect(os.RemoveAll(w.Slot("gamma"))).To(Succeed())
		Eventually(func() bool { return w.supervised("gamma") }).Should(BeTrue())
		Eventually(func() []string { return w.SupervisorsOf("gateway-gamma") }).Should(HaveLen(2))
		Expect(wt.ExitCode()).To(Equal(-1), "still running")
	})

	It("runs one pass per profile created, not woken by its own scandir writes, and still by a hand's", func() {
		// The mechanism, without the settle window (which defers a new
		// profile's slot to its creator, a second pass).
		wt := w.watch("--settle", "0")
		Eventually(w.Slots).Should(HaveLen(4))
		// The first pass created four slots; none of that wakes the loop.
		Consistently(wt.passes, time.Second).Should(Equal(1))
		for _, name := range []string{"one", "two", "three"} {
			before := wt.passes()
			w.createProfile(name, `{"desired_state":"running"}`)
			Eventually(func() bool { return w.supervised(name) }).Should(BeTrue())
			Eventually(wt.passes).Should(Equal(before + 1))
			// The pass staged, renamed and rescanned in the scandir; none of
			// that may start another pass.
			Consistently(wt.passes, time.Second).Should(Equal(before + 1))
		}

		By("bringing back a slot moved out of the scandir by hand")
		pid := w.UpPID("alpha")
		Expect(os.Rename(w.Slot("alpha"), filepath.Join(filepath.Dir(w.Scandir), "moved-away"))).To(Succeed())
		Eventually(func() bool { return w.supervised("alpha") }).Should(BeTrue())
		Eventually(func() int { return w.UpPID("alpha") }).ShouldNot(Equal(pid))
	})

	It("does not stop a gateway started by hand when the intent is only legacy", func() {
		writeFile(filepath.Join(w.ProfileDir("legacy"), "SOUL.md"), "legacy\n")
		writeFile(filepath.Join(w.ProfileDir("legacy"), "gateway_state.json"), `{"gateway_state":"starting"}`)
		wt := w.watch()
		Eventually(func() bool { return w.supervised("legacy") }).Should(BeTrue())
		st, err := w.Status("legacy")
		Expect(err).NotTo(HaveOccurred())
		Expect(st.WantUp).To(BeFalse(), "created down: starting is not running")

		Expect(exec.Command("s6-svc", "-u", w.Slot("legacy")).Run()).To(Succeed())
		pid := w.UpPID("legacy")
		// The gateway rewrites its state as it starts, with the same
		// (legacy) intent: that runs no pass, and a pass that does run
		// leaves it alone.
		writeAtomic(filepath.Join(w.ProfileDir("legacy"), "gateway_state.json"), `{"gateway_state":"starting","updated_at":"2026-11-26T00:00:00Z"}`)
		Expect(wt.askedPass()["actions"]).To(Equal(0.0))
		Consistently(func() int { return w.UpPID("legacy") }).Should(Equal(pid))
	})

	It("runs a handful of passes for a burst of 200 profile creations, and converges", func() {
		wt := w.watch()
		Eventually(w.Slots).Should(HaveLen(4))
		before := wt.passes()
		for i := range 200 {
			w.createProfile(fmt.Sprintf("burst-%03d", i), `{"desired_state":"stopped"}`)
		}
		Eventually(w.Slots, 60*time.Second).Should(HaveLen(204))
		Eventually(func() bool { return w.supervised("burst-199") }).Should(BeTrue())
		// Converged: a pass asked for now finds nothing to do.
		passes := wt.passes() - before
		Expect(wt.askedPass()["actions"]).To(Equal(0.0))
		Expect(passes).To(BeNumerically("<=", 20), "passes for 200 creations")
		GinkgoWriter.Printf("200 creations took %d passes\n", passes)
	})

	It("keeps running while s6-svscan is down, backs off, and converges when it returns", func() {
		wt := w.watch()
		Eventually(w.Slots).Should(HaveLen(4))
		w.StopSvscan()
		w.createProfile("late", `{"desired_state":"running"}`)
		Eventually(func() int { return len(wt.logLines("pass failed; backing off")) }).Should(BeNumerically(">=", 1))
		// Retries are not logged again while the failure stays the same.
		Consistently(func() int { return len(wt.logLines("pass failed; backing off")) }, 3*time.Second).Should(Equal(1))
		Expect(wt.ExitCode()).To(Equal(-1), "the watcher keeps running")

		w.StartSvscan()
		Eventually(func() bool { return w.supervised("late") }, 30*time.Second).Should(BeTrue())
		w.UpPID("late")
		w.UpPID("alpha")
		Eventually(func() int { return len(wt.logLines("pass recovered")) }).Should(Equal(1))
	})

	It("idles after a slot whose action failed goes away: no hot retry loop", func() {
		wt := w.watch()
		w.createProfile("spin", `{"desired_state":"running"}`)
		w.UpPID("spin")
		// run becomes a non-empty directory: rewriting it fails, and the
		// slot backs off.
		run := filepath.Join(w.Slot("spin"), "run")
		Expect(os.Remove(run)).To(Succeed())
		writeFile(filepath.Join(run, "x"), "")
		wt.Signal(syscall.SIGHUP)
		Eventually(func() int { return len(wt.logLines("slot backing off")) }).Should(BeNumerically(">=", 1))
		// Then profile and slot go by hand: the slot needs nothing any more.
		// The first pass that looks at it once its backoff is due forgets
		// it; then the loop idles.
		Expect(os.RemoveAll(w.ProfileDir("spin"))).To(Succeed())
		Expect(os.RemoveAll(w.Slot("spin"))).To(Succeed())
		Eventually(func() int { return len(wt.logLines("slot recovered")) }).Should(Equal(1))
		Expect(wt.lastPass()).To(HaveKeyWithValue("actions", 0.0))
		before := wt.passes()
		Consistently(wt.passes, 10*time.Second, time.Second).Should(BeNumerically("<=", before+1), "passes in 10 idle seconds")
		GinkgoWriter.Printf("passes in the 10 idle seconds after the retry: %d\n", wt.passes()-before)
	})

	It("exits 0 on SIGTERM and leaves every gateway up", func() {
		wt := w.watch()
		pid := w.UpPID("alpha")
		wt.Signal(syscall.SIGTERM)
		Eventually(wt, 30*time.Second).Should(gexec.Exit(0))
		Consistently(func() int { return w.UpPID("alpha") }).Should(Equal(pid))
		w.UpPID("default")
	})
})

var _ = Describe("deploy/s6-overlay", func() {
	It("runs the reconciler as an s6 service: ready after the first pass, stopped cleanly", func() {
		w := newWorld("home")
		// A second scandir supervises the reconciler itself, from the
		// deploy files, with with-contenv (s6-overlay's) replaced by sh.
		svc := filepath.Join(GinkgoT().TempDir(), "services")
		dir := filepath.Join(svc, "hermes-reconcile")
		src := filepath.Join(repoRoot(), "deploy", "s6-overlay", "etc", "s6-overlay", "s6-rc.d", "hermes-reconcile")
		for _, f := range []string{"run", "notification-fd", "type"} {
			data := strings.Replace(readFile(filepath.Join(src, f)), "#!/command/with-contenv sh", "#!/bin/sh", 1)
			writeFile(filepath.Join(dir, f), data)
		}
		Expect(os.Chmod(filepath.Join(dir, "run"), 0o755)).To(Succeed())
		writeFile(filepath.Join(dir, "down"), "")

		cmd := exec.Command("s6-svscan", svc)
		cmd.Env = append(append([]string{}, w.Env...), "PATH="+filepath.Dir(binary)+":"+os.Getenv("PATH"))
		cmd.Env = renameBinary(cmd.Env)
		cmd.Stdout, cmd.Stderr = GinkgoWriter, GinkgoWriter
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		Expect(cmd.Start()).To(Succeed())
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		DeferCleanup(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			Eventually(done, 10*time.Second).Should(BeClosed())
		})
		Eventually(func() error { return exec.Command("s6-svok", dir).Run() }).Should(Succeed())

		Expect(exec.Command("s6-svc", "-u", dir).Run()).To(Succeed())
		out, err := exec.Command("s6-svwait", "-U", "-t", "30000", dir).CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), string(out))
		// Ready means the first pass is done: the slots are there.
		Expect(w.Slots()).To(ConsistOf("gateway-default", "gateway-alpha", "gateway-beta", "gateway-gamma"))
		pid := w.UpPID("alpha")

		out, err = exec.Command("s6-svc", "-wd", "-T", "30000", "-d", dir).CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), string(out))
		st, err := exec.Command("s6-svstat", "-o", "up,exitcode", dir).Output()
		Expect(err).NotTo(HaveOccurred())
		Expect(strings.Fields(string(st))).To(Equal([]string{"false", "0"}), "exit 0 on SIGTERM")
		Expect(w.UpPID("alpha")).To(Equal(pid))
		w.UpPID("default")
	})
})

// renameBinary makes the built binary reachable as hermes-reconcile, the
// name the deploy scripts call.
func renameBinary(env []string) []string {
	link := filepath.Join(filepath.Dir(binary), "hermes-reconcile")
	if _, err := os.Lstat(link); err != nil {
		Expect(os.Symlink(binary, link)).To(Succeed())
	}
	return env
}

var _ = Describe("churn", Label("churn"), func() {
	It("ends with the scandir matching the profiles, no leaked supervisors, goroutines or fds", func() {
		w := newWorld("home")
		wt := w.watch("--quiet", "50ms")
		Eventually(w.Slots).Should(HaveLen(4))
		pid := wt.Command.Process.Pid
		fdsBefore := countFDs(pid)
		goroutinesBefore := wt.lastPass()["goroutines"].(float64)

		rng := rand.New(rand.NewPCG(1, 2))
		deadline := time.Now().Add(churnDuration())
		ops := 0
		for time.Now().Before(deadline) {
			name := "churn-" + strconv.Itoa(rng.IntN(50))
			dir := w.ProfileDir(name)
			_, err := os.Stat(dir)
			switch {
			case os.IsNotExist(err):
				w.createProfile(name, `{"desired_state":"running"}`)
			case rng.IntN(3) == 0:
				Expect(os.RemoveAll(dir)).To(Succeed())
			default:
				state := []string{"running", "stopped"}[rng.IntN(2)]
				writeAtomic(filepath.Join(dir, "gateway_state.json"), `{"desired_state":"`+state+`"}`)
			}
			ops++
			// Pace the churn like people and scripts do, not like a loop.
			time.Sleep(time.Duration(rng.IntN(40)) * time.Millisecond)
		}
		GinkgoWriter.Printf("churn: %d operations\n", ops)

		Eventually(func() []string { return w.Slots() }, 30*time.Second).Should(ConsistOf(w.expectedSlots()))
		Eventually(func() int { return len(w.Supervisors()) }, 30*time.Second).Should(Equal(2 * len(w.Slots())))
		Expect(wt.askedPass()["actions"]).To(Equal(0.0))
		for _, s := range w.Slots() {
			p := strings.TrimPrefix(s, "gateway-")
			data, err := os.ReadFile(filepath.Join(w.ProfileDir(p), "gateway_state.json"))
			if err != nil || !bytes.Contains(data, []byte("desired_state")) {
				continue
			}
			up := bytes.Contains(data, []byte(`"running"`))
			Eventually(func() (bool, error) { st, err := w.Status(p); return st.WantUp, err }).Should(Equal(up), p)
		}
		Expect(countFDs(pid)).To(BeNumerically("<=", fdsBefore), "fds of the reconciler")
		// A pass's workers (slot reads, the prefetch) hand over their result
		// a moment before they end, and a pass may count one still ending:
		// a leak is a goroutine that outlives the passes after it.
		Eventually(func() float64 { return wt.askedPass()["goroutines"].(float64) }).Should(
			BeNumerically("<=", goroutinesBefore), "goroutines of the reconciler")
	})
})

func churnDuration() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("CHURN_DURATION")); err == nil {
		return d
	}
	return 60 * time.Second
}

// expectedSlots are the slots the current profiles call for.
func (w *world) expectedSlots() []string {
	want := []string{"gateway-default", "gateway-alpha", "gateway-beta", "gateway-gamma"}
	entries, _ := os.ReadDir(filepath.Join(w.Home, "profiles"))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "churn-") {
			want = append(want, "gateway-"+e.Name())
		}
	}
	return want
}

func countFDs(pid int) int {
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	Expect(err).NotTo(HaveOccurred())
	return len(entries)
}
