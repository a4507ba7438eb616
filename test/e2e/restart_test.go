//go:build linux

package e2e

import (
	"fmt"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
)

var _ = Describe("restart on a run change", func() {
	It("brings back every gateway that exits 0 on SIGTERM, legacy and explicit intent", func() {
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
			writeFile(filepath.Join(w.profileDir(name), "SOUL.md"), name+"\n")
			writeFile(filepath.Join(w.profileDir(name), "gateway_state.json"), state)
			names = append(names, name)
		}
		Expect(w.reconcile("--once", "--env", "FAKE_GATEWAY_MODE=term0")).To(gexec.Exit(0))
		pids := map[string]int{}
		for _, n := range names {
			pids[n] = w.upPID(n)
		}

		s := w.reconcile("--once", "--env", "FAKE_GATEWAY_MODE=term0", "--env", "NEW=1")
		Expect(s).To(gexec.Exit(0))
		for _, n := range names {
			Eventually(func() (svstat, error) { return w.status(n) }).Should(
				And(HaveField("Up", true), HaveField("WantUp", true), Not(HaveField("PID", pids[n]))), n)
		}
	})
})
