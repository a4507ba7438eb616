//go:build linux

package reliability

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/hermes-reconcile/hermes-reconcile/backends/s6"
)

// killPoints chooses where to kill: k = 1, 2, 4, … until a run completes,
// then a few bisection steps towards the number of changes M the plan
// makes, then the remaining runs spread evenly over 1…lo, the largest k
// known to kill. Every run, including the searching ones, is a full
// crash-and-converge check; all but the first completion and the misses
// of the bisection kill.
type killPoints struct {
	total, used int
	bisect      int // bisection steps left
	lo, hi      int // largest k that killed, smallest k that completed (0: none yet)
	spread      []int
}

func (p *killPoints) next() int {
	p.used++
	switch {
	case p.hi == 0:
		return 1 << (p.used - 1)
	case p.bisect > 0 && p.hi-p.lo > 1:
		p.bisect--
		return (p.lo + p.hi) / 2
	}
	if p.spread == nil {
		n := p.total - p.used + 1
		for j := range n {
			p.spread = append(p.spread, 1+j*(p.lo-1)/max(n-1, 1))
		}
	}
	k := p.spread[0]
	p.spread = p.spread[1:]
	return k
}

func (p *killPoints) observe(k int, killed bool) {
	if killed {
		p.lo = max(p.lo, k)
	} else if p.hi == 0 || k < p.hi {
		p.hi = k
	}
}

var _ = Describe("kill -9 mid-apply", func() {
	It("converges on the next --once after SIGKILL at any filesystem change, never exposing a half-built slot", func() {
		const runs = 56
		w := newWorld("")
		writeFile(filepath.Join(w.Home, "gateway_state.json"), `{"desired_state":"running"}`)
		intent := func(i int) string { return []string{"running", "stopped"}[i%2] }
		names := func(prefix string, n int) []string {
			out := make([]string, n)
			for i := range out {
				out[i] = fmt.Sprintf("%s%02d", prefix, i)
			}
			return out
		}
		// 80 profiles that stay, each with a hand-edited finish every time
		// (an update that must not restart them), and two sets of 10 that
		// replace each other: 10 removals, 10 creations, 80 updates. Most
		// of the plan is file work, so 50 runs cost little s6 churn.
		survivors, setA, setB := names("s", 80), names("a", 10), names("b", 10)
		want := map[string]string{"default": "running"}
		for i, p := range append(append([]string{}, survivors...), setA...) {
			w.profile(p, intent(i))
			want[p] = intent(i)
		}
		w.StartSvscan()
		w.converge()
		pids := map[string]int{"default": w.UpPID("default")}
		for i, p := range survivors {
			if intent(i) == "running" {
				pids[p] = w.UpPID(p)
			}
		}

		points := &killPoints{total: runs, bisect: 4}
		kills := 0
		for run := range runs {
			from, to := setA, setB
			if run%2 == 1 {
				from, to = setB, setA
			}
			for _, p := range from {
				Expect(os.RemoveAll(w.ProfileDir(p))).To(Succeed())
				delete(want, p)
			}
			for i, p := range to {
				w.profile(p, intent(i))
				want[p] = intent(i)
			}
			for _, p := range survivors {
				f, err := os.OpenFile(filepath.Join(w.Slot(p), "finish"), os.O_APPEND|os.O_WRONLY, 0)
				Expect(err).NotTo(HaveOccurred())
				_, _ = fmt.Fprintf(f, "# edited by hand, run %d\n", run)
				Expect(f.Close()).To(Succeed())
			}

			k := points.next()
			killed := w.crashRun(k)
			points.observe(k, killed)
			if killed {
				kills++
			}
			By(fmt.Sprintf("run %d: k=%d killed=%v", run, k, killed))

			// Whatever a rescan finds now (s6-svscan -t, an operator, the
			// next boot) must be whole: no slot is supervised half-built.
			Expect(exec.Command("s6-svscanctl", "-a", w.Scandir).Run()).To(Succeed())
			w.expectWholeSlots()
			w.expectSurvivors(pids)

			w.converge()
			w.expectConverged(want)
			w.expectSurvivors(pids)
			if run%4 == 3 || run == runs-1 {
				w.inSync() // the planner agrees: a pass now would do nothing
			}
		}
		GinkgoWriter.Printf("kill -9: %d runs, %d killed mid-apply, the plan makes %d to %d filesystem changes\n", runs, kills, points.lo, points.hi-1)
		Expect(kills).To(BeNumerically(">=", 50), "runs killed mid-apply")
		record("1", "kill -9 of `--once` after its k-th filesystem change of a 100-action plan (10 creates, 10 removes, 80 updates), k from 1 to the last change", runs,
			"held: ≥50 runs killed mid-apply; after each, no gateway-* slot a rescan could see lacked type, run, finish or log/run, and the next `--once` converged (no drift, no leftovers, no stray supervisor) without losing or restarting any of the 81 surviving gateways")
	})
})

// crashRun runs --once with the crash hook at k; it reports whether the
// hook killed it (a run that ends first must have succeeded).
func (w *world) crashRun(k int) bool {
	cmd := w.Command([]string{"--once"}, fmt.Sprintf("%s=%d", s6.CrashAfterEnv, k))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ws.Signaled() && ws.Signal() == syscall.SIGKILL {
		return true
	}
	Expect(err).NotTo(HaveOccurred(), "k=%d: not killed, yet failed:\n%s", k, stderr.String())
	return false
}

// expectWholeSlots checks every gateway-* entry s6-svscan can see is a
// complete slot, that s6-svscan supervises every one of them after the
// rescan, and never a dot-named (staging or retired) one.
func (w *world) expectWholeSlots() {
	slots := w.Slots()
	for _, name := range slots {
		dir := filepath.Join(w.Scandir, name)
		fi, err := os.Lstat(dir)
		Expect(err).NotTo(HaveOccurred())
		Expect(fi.IsDir()).To(BeTrue(), name)
		for _, f := range []string{"type", "run", "finish", "log/run"} {
			fi, err := os.Lstat(filepath.Join(dir, f))
			Expect(err).NotTo(HaveOccurred(), "%s/%s visible to s6-svscan", name, f)
			Expect(fi.Mode().IsRegular()).To(BeTrue(), "%s/%s", name, f)
		}
		Expect(readFile(filepath.Join(dir, "type"))).To(Equal("longrun\n"), name)
		Expect(readFile(filepath.Join(dir, "run"))).To(HaveSuffix(" gateway run --replace\n"), name)
		Expect(readFile(filepath.Join(dir, "finish"))).To(HavePrefix("#!/bin/sh\n"), name)
		Expect(readFile(filepath.Join(dir, "log", "run"))).To(ContainSubstring("exec s6-log "), name)
	}
	Eventually(func() []string {
		var unsupervised []string
		for _, name := range slots {
			if !lockHeld(filepath.Join(w.Scandir, name)) {
				unsupervised = append(unsupervised, name)
			}
		}
		return unsupervised
	}).Should(BeEmpty(), "slots not supervised after a rescan")
	for _, s := range w.Supervisors() {
		Expect(s).NotTo(HavePrefix("."), "s6-svscan supervises a dot-named dir")
	}
}

// expectSurvivors checks the gateways that were up before are up with the
// same pid, and that the stopped survivors are still there, down.
func (w *world) expectSurvivors(pids map[string]int) {
	for p, pid := range pids {
		st := w.State(p)
		Expect(st).To(Equal(slotState{Supervised: true, Up: true, WantUp: true, PID: pid}), "survivor gateway-%s", p)
	}
}

// expectConverged checks the scandir is exactly the profiles: one slot
// each, supervised, in its intended state, nothing left over, two
// supervisors per slot and no drift for the planner.
func (w *world) expectConverged(want map[string]string) {
	var slots []string
	for p := range want {
		slots = append(slots, "gateway-"+p)
	}
	Expect(w.Slots()).To(ConsistOf(slots))
	Expect(w.Leftovers()).To(BeEmpty())
	for p, intent := range want {
		up := intent == "running"
		Eventually(func() slotState { st := w.State(p); st.PID = 0; return st }).
			Should(Equal(slotState{Supervised: true, Up: up, WantUp: up}), "gateway-%s", p)
		_, err := os.Lstat(filepath.Join(w.Slot(p), "down"))
		Expect(err == nil).To(Equal(!up), "gateway-%s down file", p)
	}
	Eventually(func() int { return len(w.Supervisors()) }).Should(Equal(2*len(slots)), "supervisors")
}
