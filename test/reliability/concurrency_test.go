//go:build linux

package reliability

import (
	"fmt"
	"regexp"
	"strconv"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
)

var holderRE = regexp.MustCompile(`^pid (\d+) \(hermes-reconcile (--once|watch)\)$`)

var _ = Describe("two reconcilers at once", func() {
	It("serialises two --once runs and a watcher on the lock: all converge, no error, every change made exactly once", func() {
		const trials = 3
		waits := 0
		for trial := range trials {
			By(fmt.Sprintf("trial %d", trial))
			trialWaits := waits
			w := newWorld("home")
			for i := range 60 {
				w.profile(fmt.Sprintf("c%02d", i), []string{"running", "stopped"}[i%2])
			}
			w.StartSvscan()

			runs := []*gexec.Session{w.Start("--once"), w.Start("--once"), w.Start("-v", "1")}
			watcher := runs[2]
			DeferCleanup(func() {
				watcher.Signal(syscall.SIGTERM)
				Eventually(watcher, 30*time.Second).Should(gexec.Exit())
			})
			for _, s := range runs[:2] {
				Eventually(s, 60*time.Second).Should(gexec.Exit(0), "--once:\n%s", s.Err.Contents())
			}
			want := []string{"gateway-default", "gateway-alpha", "gateway-beta", "gateway-gamma"}
			for i := range 60 {
				want = append(want, fmt.Sprintf("gateway-c%02d", i))
			}
			Expect(w.Slots()).To(ConsistOf(want))
			// The watcher agrees: a pass asked for with SIGHUP now finds
			// nothing to do. Two asks: the first pass to end may have been
			// in flight already, the second started after it.
			passes := func() int { return len(logLines(watcher.Err.Contents(), "pass done")) }
			Eventually(passes, 30*time.Second).Should(BeNumerically(">=", 1), "first pass")
			before := passes()
			watcher.Signal(syscall.SIGHUP)
			Eventually(passes, 30*time.Second).Should(BeNumerically(">", before))
			watcher.Signal(syscall.SIGHUP)
			Eventually(passes, 30*time.Second).Should(BeNumerically(">", before+1))
			Expect(logLines(watcher.Err.Contents(), "pass done")[before+1]["actions"]).To(Equal(0.0))
			watcher.Signal(syscall.SIGTERM)
			Eventually(watcher, 30*time.Second).Should(gexec.Exit(0))

			pids := map[int]bool{}
			for _, s := range runs {
				pids[s.Command.Process.Pid] = true
			}
			created := map[string]int{}
			for _, s := range runs {
				out := s.Err.Contents()
				Expect(logLines(out, "action failed")).To(BeEmpty())
				Expect(logLines(out, "pass failed; backing off")).To(BeEmpty())
				for _, a := range logLines(out, "action done") {
					Expect(a["action"]).To(Equal("create"), "only creates were needed: %v", a)
					created[a["slot"].(string)]++
				}
				for _, l := range logLines(out, "waiting for lock") {
					waits++
					holder, _ := l["holder"].(string)
					m := holderRE.FindStringSubmatch(holder)
					Expect(m).NotTo(BeNil(), "the waiting run names the holder: %q", holder)
					pid, _ := strconv.Atoi(m[1])
					Expect(pid).NotTo(Equal(s.Command.Process.Pid), "a run waits for another")
					Expect(pids).To(HaveKey(pid), "the holder is one of the racing runs")
				}
			}
			Expect(created).To(HaveLen(len(want)), "every slot created")
			for slot, n := range created {
				Expect(n).To(Equal(1), "%s created %d times", slot, n)
			}
			Expect(waits).To(BeNumerically(">", trialWaits), "at least one run waited for the lock")
			w.inSync()
		}
		record("2", "two `--once` and a watcher started together on one scandir (64 slots to create)", trials,
			"held: all exited 0 / settled with no failed action; each slot created exactly once; every waiting run logged `waiting for lock` naming the racing run that held it")
	})
})
