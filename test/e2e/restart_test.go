//go:build linux

package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"
)

// runsWith reports whether process pid was started with env var kv: a
// gateway started after its run was rewritten has the new run's env.
func runsWith(pid int, kv string) bool {
	env, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "environ"))
	return err == nil && bytes.Contains(append([]byte{0}, env...), []byte("\x00"+kv+"\x00"))
}

var _ = Describe("restart on a run change", func() {
	It("brings back every gateway that exits 0 on SIGTERM, legacy and explicit intent, change after change", func() {
		w := newWorld("home")
		// 40 gateways that stop cleanly on SIGTERM, as Hermes's do: their
		// finish then exits 125, which must not outlive the restart.
		var names []string
		for i := range 40 {
			name := fmt.Sprintf("term-%02d", i)
			state := `{"gateway_state":"running"}`
			if i%2 == 1 {
				state = `{"desired_state":"running"}`
			}
			writeFile(filepath.Join(w.ProfileDir(name), "SOUL.md"), name+"\n")
			writeFile(filepath.Join(w.ProfileDir(name), "gateway_state.json"), state)
			names = append(names, name)
		}
		Expect(w.Run("--once", "--env", "FAKE_GATEWAY_MODE=term0", "--env", "NEW=0")).To(gexec.Exit(0))
		for round := 1; round <= 5; round++ {
			pids := map[string]int{}
			for _, n := range names {
				pids[n] = w.UpPID(n)
			}
			kv := "NEW=" + strconv.Itoa(round)
			s := w.Run("--once", "--env", "FAKE_GATEWAY_MODE=term0", "--env", kv)
			Expect(s).To(gexec.Exit(0), "round %d", round)
			Expect(s.Out).To(gbytes.Say(`Apply: \d+ done, 0 failed\.`))
			for _, n := range names {
				st, err := w.Status(n)
				Expect(err).NotTo(HaveOccurred())
				Expect(st).To(And(HaveField("Up", true), HaveField("WantUp", true), Not(HaveField("PID", pids[n]))), "round %d: %s", round, n)
				// Eventually: the pid is run's shell until it execs the gateway.
				Eventually(func() bool { return runsWith(st.PID, kv) }).Should(BeTrue(), "round %d: %s runs the new run", round, n)
			}
			Expect(w.Run("--dry-run", "--detailed-exitcode", "--env", "FAKE_GATEWAY_MODE=term0", "--env", kv)).To(gexec.Exit(0), "round %d: nothing left to do", round)
		}
	})

	It("brings back a gateway slower to stop than --timeout, killing it, and says so", func() {
		w := newWorld("home")
		name := "slow"
		writeFile(filepath.Join(w.ProfileDir(name), "SOUL.md"), "slow\n")
		writeFile(filepath.Join(w.ProfileDir(name), "gateway_state.json"), `{"desired_state":"running"}`)
		// Only this one is slow: the fixture's other gateways stop at once.
		modes := GinkgoT().TempDir()
		writeFile(filepath.Join(modes, name+".mode"), "slowstop")
		args := []string{"--once", "--timeout", "1s", "--env", "FAKE_GATEWAY_MODE=term0", "--env", "FAKE_GATEWAY_DIR=" + modes,
			"--env", "FAKE_GATEWAY_STOP_DELAY=4"}
		Expect(w.Run(append(args, "--env", "NEW=0")...)).To(gexec.Exit(0))
		pid := w.UpPID(name)

		s := w.Run(append(args, "--env", "NEW=1")...)
		Expect(s).To(gexec.Exit(0))
		Expect(s.Out).To(gbytes.Say(`~ gateway-slow  update  done, but its stop outlasted 1s and it was killed \(SIGKILL\) before the start`))
		Expect(s.Err).To(gbytes.Say(`"caveat":"its stop outlasted 1s`))
		st, err := w.Status(name)
		Expect(err).NotTo(HaveOccurred())
		Expect(st).To(And(HaveField("Up", true), HaveField("WantUp", true), Not(HaveField("PID", pid))))
		Eventually(func() bool { return runsWith(st.PID, "NEW=1") }).Should(BeTrue())
		Expect(string(s.Out.Contents())).NotTo(ContainSubstring("gateway-default  update  done, but"), "a gateway that stops at once has no caveat")
	})
})
