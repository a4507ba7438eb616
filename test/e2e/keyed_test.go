//go:build linux

package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/hermes-reconcile/hermes-reconcile/test/testkit"
)

// churn rewrites the gateway_state.json of profiles the way running
// gateways do, at every turn: temp file and rename, the same intent, other
// fields changing. It stops when the spec ends.
func (w *world) churn(perSecond int, profiles ...string) *churner {
	c := &churner{stop: make(chan struct{})}
	c.wg.Add(1)
	go func() {
		defer GinkgoRecover()
		defer c.wg.Done()
		t := time.NewTicker(time.Second / time.Duration(perSecond))
		defer t.Stop()
		for i := 0; ; i++ {
			select {
			case <-c.stop:
				return
			case <-t.C:
			}
			p := profiles[i%len(profiles)]
			path := filepath.Join(w.ProfileDir(p), "gateway_state.json")
			intent := "running"
			if data, err := os.ReadFile(path); err == nil && bytes.Contains(data, []byte(`"desired_state":"stopped"`)) {
				intent = "stopped"
			}
			tmp := fmt.Sprintf("%s.%d.tmp", path, i)
			body := fmt.Sprintf(`{"desired_state":%q,"gateway_state":"running","active_agents":%d,"updated_at":"%s"}`,
				intent, i%7, time.Now().UTC().Format(time.RFC3339Nano))
			if os.WriteFile(tmp, []byte(body), 0o644) == nil {
				_ = os.Rename(tmp, path)
			}
			c.writes++
		}
	}()
	DeferCleanup(c.Stop)
	return c
}

type churner struct {
	stop   chan struct{}
	once   sync.Once
	wg     sync.WaitGroup
	writes int
}

func (c *churner) Stop() {
	c.once.Do(func() { close(c.stop) })
	c.wg.Wait()
}

var _ = Describe("keyed watch", func() {
	var w *world
	BeforeEach(func() { w = newWorld("home") })

	It("runs no pass for status churn, and still repairs what changes, by hand or by Hermes", func() {
		for _, p := range []string{"c1", "c2", "c3"} {
			w.createProfile(p, `{"desired_state":"running"}`)
		}
		wt := w.watch("--resync", "4s")
		Eventually(w.Slots).Should(HaveLen(7))
		for _, p := range []string{"c1", "c2", "c3", "alpha"} {
			w.UpPID(p)
		}
		c := w.churn(20, "c1", "c2", "c3")

		By("costing no pass: a gateway's own status writes say the same intent")
		Eventually(func() int { return c.writes }).Should(BeNumerically(">=", 20))
		before := wt.passes()
		Consistently(wt.passes, 2*time.Second, 100*time.Millisecond).Should(BeNumerically("<=", before+1), "passes during 2 s of churn (a resync may fall in)")

		By("bringing back a hand-deleted slot")
		Expect(os.RemoveAll(w.Slot("gamma"))).To(Succeed())
		Eventually(func() bool { return w.supervised("gamma") }).Should(BeTrue())

		By("putting back a hand-edited run at the next resync, and restarting its gateway")
		pid := w.UpPID("alpha")
		run := filepath.Join(w.Slot("alpha"), "run")
		want := readFile(run)
		writeFile(run, "#!/bin/sh\nexec sleep 1000\n")
		Expect(os.Chmod(run, 0o755)).To(Succeed())
		Eventually(func() string { return readFile(run) }, 15*time.Second).Should(Equal(want))
		Eventually(func() int { return w.UpPID("alpha") }).ShouldNot(Equal(pid))

		By("removing a tombstoned profile's slot")
		writeFile(filepath.Join(w.Home, "profiles", ".deleted", "beta"), "deleted\n")
		Eventually(w.Slots).ShouldNot(ContainElement("gateway-beta"))

		By("following a root multiplex_profiles flip: named gateways down, default serving them")
		writeAtomic(filepath.Join(w.Home, "config.yaml"), "multiplex_profiles: true\n")
		for _, p := range []string{"alpha", "c1", "c2", "c3"} {
			Eventually(func() (bool, error) { st, err := w.Status(p); return st.WantUp, err }).Should(BeFalse(), p)
		}
		w.UpPID("default")
		c.Stop()
		Expect(wt.askedPass()["actions"]).To(Equal(0.0))
	})

	It("keeps watching a profile dir, and profiles/ itself, replaced while a pass runs", func() {
		w.createProfile("delta", `{"desired_state":"running"}`)
		wt := w.watch("--resync", "1h")
		w.UpPID("delta")

		By("a profile dir removed and made again")
		wt.Signal(syscall.SIGHUP)
		Expect(os.RemoveAll(w.ProfileDir("delta"))).To(Succeed())
		w.createProfile("delta", `{"desired_state":"running"}`)
		Eventually(func() any { return wt.askedPass()["actions"] }).Should(Equal(0.0))
		writeAtomic(filepath.Join(w.ProfileDir("delta"), "gateway_state.json"), `{"desired_state":"stopped"}`)
		Eventually(func() (svstat, error) { return w.Status("delta") }, 5*time.Second).Should(Equal(svstat{Up: false, WantUp: false, PID: -1}))

		By("profiles/ moved away and another put in its place")
		profiles := filepath.Join(w.Home, "profiles")
		next := filepath.Join(w.Home, ".profiles.next")
		Expect(os.Mkdir(next, 0o755)).To(Succeed())
		Expect(testkit.CopyTree(profiles, next)).To(Succeed())
		wt.Signal(syscall.SIGHUP)
		Expect(os.Rename(profiles, filepath.Join(w.Home, ".profiles.old"))).To(Succeed())
		Expect(os.Rename(next, profiles)).To(Succeed())
		Eventually(func() any { return wt.askedPass()["actions"] }).Should(Equal(0.0))
		writeAtomic(filepath.Join(w.ProfileDir("delta"), "gateway_state.json"), `{"desired_state":"running"}`)
		Eventually(func() int { return w.UpPID("delta") }, 5*time.Second).Should(BeNumerically(">", 0))
		writeAtomic(filepath.Join(w.ProfileDir("alpha"), "gateway_state.json"), `{"desired_state":"stopped"}`)
		Eventually(func() (svstat, error) { return w.Status("alpha") }, 5*time.Second).Should(Equal(svstat{Up: false, WantUp: false, PID: -1}))
	})
})
