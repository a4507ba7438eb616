//go:build linux

package reliability

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"

	"github.com/hermes-reconcile/hermes-reconcile/backends/s6"
)

// procHas reports whether process pid's environ or command line (which,
// "environ" or "cmdline") holds the NUL-separated word.
func procHas(pid int, which, word string) bool {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), which))
	return err == nil && bytes.Contains(append([]byte{0}, data...), []byte("\x00"+word+"\x00"))
}

var _ = Describe("kill -9 mid-restart", func() {
	const gateways, runs = 60, 20
	type rewrite struct {
		id, what string
		// setting is the flag that makes the pass rewrite the file for
		// value i; runsIt checks a slot's process runs what value i wrote.
		setting func(i int) []string
		runsIt  func(w *world, profile string, i int) bool
	}
	logPID := func(w *world, profile string) int {
		return readSlotState(filepath.Join(w.Slot(profile), "log")).PID
	}
	cases := []rewrite{
		{"1.2", "run", func(i int) []string { return []string{"--env", "NEW=" + strconv.Itoa(i)} },
			func(w *world, p string, i int) bool {
				return procHas(w.State(p).PID, "environ", "NEW="+strconv.Itoa(i))
			}},
		{"1.3", "log/run", func(i int) []string { return []string{"--log-script", fmt.Sprintf("1 n%d s1000000 T", 10+i)} },
			func(w *world, p string, i int) bool {
				return procHas(logPID(w, p), "cmdline", fmt.Sprintf("n%d", 10+i))
			}},
	}
	for _, c := range cases {
		It(fmt.Sprintf("finishes what a watcher killed at a random point of a %s rewrite of %d running gateways left", c.what, gateways), func() {
			w := newWorld("")
			// Gateways that exit 0 on SIGTERM, as Hermes's do: a restart
			// left half done leaves them down with finish's 125.
			fixed := []string{"--env", "FAKE_GATEWAY_MODE=term0"}
			var names []string
			for i := range gateways {
				name := fmt.Sprintf("g%02d", i)
				names = append(names, name)
				if i%2 == 0 {
					w.profile(name, "running")
				} else {
					w.profile(name, "")
					writeFile(filepath.Join(w.ProfileDir(name), "gateway_state.json"), `{"gateway_state":"running"}`)
				}
			}
			w.StartSvscan()
			args := func(i int, more ...string) []string {
				return append(append(append([]string{}, fixed...), c.setting(i)...), more...)
			}
			Expect(w.Run(args(0, "--once")...)).To(gexec.Exit(0))

			// How many changes one rewrite makes: counted by a pass that
			// is not killed.
			count := filepath.Join(w.Dir, "count")
			calib := w.Command(args(1, "--once"), s6.CrashCountEnv+"="+count)
			calib.Stdout, calib.Stderr = GinkgoWriter, GinkgoWriter
			Expect(calib.Run()).To(Succeed())
			total, err := strconv.Atoi(readFile(count))
			Expect(err).NotTo(HaveOccurred())
			w.expectAllUp(names, func(p string) bool { return c.runsIt(w, p, 1) })

			seed := uint64(time.Now().UnixNano())
			rng := rand.New(rand.NewPCG(seed, 13))
			kills := 0
			for run := 2; run < runs+2; run++ {
				k := 1 + rng.IntN(total)
				cmd := w.Command(args(run, "-v", "1"), fmt.Sprintf("%s=%d", s6.CrashAfterEnv, k))
				s, err := gexec.Start(cmd, GinkgoWriter, GinkgoWriter)
				Expect(err).NotTo(HaveOccurred())
				exited := func() bool {
					select {
					case <-s.Exited:
						return true
					default:
						return false
					}
				}
				Eventually(func() bool {
					return exited() || len(logLines(s.Err.Contents(), "pass done")) > 0
				}, 2*time.Minute).Should(BeTrue(), "run %d: the watcher dies or finishes its pass", run)
				if !exited() {
					s.Signal(syscall.SIGTERM) // it finished the pass: k was past its last change
				}
				Eventually(s, time.Minute).Should(gexec.Exit())
				ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
				killed := ws.Signaled() && ws.Signal() == syscall.SIGKILL
				if killed {
					kills++
				}
				By(fmt.Sprintf("run %d: k=%d of %d, killed=%v", run, k, total, killed))

				// The next pass finishes the job: every gateway up, on what
				// this run's setting wrote, every logger up.
				s = w.Run(args(run, "--once")...)
				Expect(s).To(gexec.Exit(0), "run %d, k=%d: the next pass", run, k)
				w.expectAllUp(names, func(p string) bool { return c.runsIt(w, p, run) })
			}
			GinkgoWriter.Printf("kill -9 mid %s rewrite: %d runs (seed %d), %d killed mid-pass, %d changes per rewrite\n", c.what, runs, seed, kills, total)
			Expect(kills).To(BeNumerically(">=", runs*3/4), "runs killed mid-pass")
			record(c.id, fmt.Sprintf("kill -9 of a watcher at a random one of the %s rewrite's filesystem changes and s6-svc commands (%d gateways up that exit 0 on SIGTERM, half legacy intent)", c.what, gateways), runs,
				fmt.Sprintf("held: ≥%d runs killed mid-pass; after each, the next pass left every gateway up, on the %s the new setting wrote, and every logger up", runs*3/4, c.what))
		})
	}
})

// expectAllUp checks every named gateway and its logger are up, wanted up,
// and that runsNew holds of it.
func (w *world) expectAllUp(names []string, runsNew func(string) bool) {
	for _, p := range names {
		Eventually(func() slotState { return w.State(p) }).Should(And(HaveField("Up", true), HaveField("WantUp", true)), "gateway-%s", p)
		Eventually(func() slotState { return readSlotState(filepath.Join(w.Slot(p), "log")) }).Should(
			And(HaveField("Up", true), HaveField("WantUp", true)), "gateway-%s's logger", p)
		// Eventually: the pid is run's shell until it execs the program.
		Eventually(func() bool { return runsNew(p) }).Should(BeTrue(), "gateway-%s runs the new script", p)
	}
}
