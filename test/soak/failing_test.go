//go:build linux

package soak

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"

	"github.com/hermes-reconcile/hermes-reconcile/test/testkit"
)

// world is a testkit.World whose gateways are the stand-in with a mode
// per profile (FAKE_GATEWAY_DIR).
type world struct {
	*testkit.World
	modes string
}

func newWorld(bin string) *world {
	w := &world{World: testkit.NewWorld(bin, "")}
	w.modes = filepath.Join(w.Dir, "modes")
	Expect(os.MkdirAll(w.modes, 0o755)).To(Succeed())
	w.Env = append(w.Env, "HERMES_RECONCILE_ENV=FAKE_GATEWAY_DIR="+w.modes)
	w.StartSvscan()
	return w
}

// profile makes a profile with an explicit intent and its gateway's mode.
func (w *world) profile(name, intent, mode string) {
	testkit.WriteFile(filepath.Join(w.ProfileDir(name), "SOUL.md"), name+"\n")
	w.intent(name, intent)
	if mode != "" {
		testkit.WriteFile(filepath.Join(w.modes, name+".mode"), mode)
	}
}

// intent writes desired_state as `hermes gateway start|stop` does: the
// whole file replaced, with a new updated_at.
func (w *world) intent(name, intent string) {
	testkit.WriteAtomic(filepath.Join(w.ProfileDir(name), "gateway_state.json"),
		fmt.Sprintf(`{"desired_state":%q,"updated_at":%d}`, intent, time.Now().UnixNano()))
}

func (w *world) editConfig(name string, n int) {
	testkit.WriteAtomic(filepath.Join(w.ProfileDir(name), "config.yaml"), fmt.Sprintf("# edit %d\nmodel: test\n", n))
}

// starts is how many times profile's gateway was started.
func (w *world) starts(profile string) int {
	data, err := os.ReadFile(filepath.Join(w.modes, profile+".starts"))
	if err != nil {
		return 0
	}
	return strings.Count(string(data), "\n")
}

func (w *world) gatewayLogBytes(profile string) int64 {
	var n int64
	entries, _ := os.ReadDir(filepath.Join(w.Home, "logs", "gateways", profile))
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() && e.Name() != "lock" && e.Name() != "state" {
			n += fi.Size()
		}
	}
	return n
}

// watch runs the binary in watch mode until the spec ends, and expects it
// to exit 0 on SIGTERM.
func (w *world) watch(args ...string) *gexec.Session {
	s := w.Start(args...)
	DeferCleanup(func() {
		s.Signal(syscall.SIGTERM)
		Eventually(s, time.Minute).Should(gexec.Exit(0))
	})
	return s
}

type statusRow struct {
	Type, Profile, Actual, Note string
}

// status is `hermes-reconcile status --output json`: its rows by profile
// and its exit code.
func (w *world) status() (map[string]statusRow, int) {
	s := w.Run("status", "--output", "json")
	rows := map[string]statusRow{}
	for _, line := range strings.Split(string(s.Out.Contents()), "\n") {
		var r statusRow
		if json.Unmarshal([]byte(line), &r) == nil && r.Type == "status" {
			rows[r.Profile] = r
		}
	}
	return rows, s.ExitCode()
}

// everyTwoSeconds edits profile's config.yaml every 2 s until the spec ends:
// events that run passes beside the failing gateways.
func (w *world) everyTwoSeconds(profile string) {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer GinkgoRecover()
		defer wg.Done()
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for n := 0; ; n++ {
			select {
			case <-stop:
				return
			case <-t.C:
				w.editConfig(profile, n)
			}
		}
	}()
	DeferCleanup(func() { close(stop); wg.Wait() })
}

const (
	deaths = 5 // the guard's default: 5 deaths within 60 s
	window = 5 * time.Minute
)

var _ = Describe("gateways that fail, over five minutes of watch mode", func() {
	It("parks a crash loop after K deaths, starts an exit-78 gateway at most once, and starts each again once when told", func() {
		setup := func(bin string) *world {
			w := newWorld(bin)
			w.profile("default", "stopped", "")
			w.profile("loop", "running", "exit1") // a crash loop: exits 1 at once
			w.profile("cfg", "running", "exit78") // a config error: finish exits 125
			w.profile("tick", "running", "")      // healthy, its config edited every 2 s
			w.editConfig("tick", -1)
			return w
		}
		w := setup(binary)
		var base *world
		if bin := os.Getenv("SOAK_BASELINE_BIN"); bin != "" {
			// The build before, on its own world in the same minutes: the
			// figures of "before" for RELIABILITY.md. Nothing is asserted.
			base = setup(bin)
		}
		start := time.Now()
		// Full passes every 20 s too: a resync must not start them either.
		s := w.watch("--resync", "20s")
		var bs *gexec.Session
		if base != nil {
			bs = base.watch("--resync", "20s")
			base.everyTwoSeconds("tick")
		}
		w.everyTwoSeconds("tick")

		By("the crash loop is parked after its K-th death")
		Eventually(func() string { rows, _ := w.status(); return rows["loop"].Actual }, time.Minute, time.Second).Should(Equal("parked"))
		Expect(w.starts("loop")).To(BeNumerically(">=", deaths))

		By("for five minutes, no storm: at most K+1 starts of the loop, at most one start of the exit-78 gateway after its failure")
		Consistently(func() []int { return []int{w.starts("loop"), w.starts("cfg")} }, window-time.Since(start), time.Second).Should(
			And(HaveEach(BeNumerically(">=", 1)), WithTransform(func(n []int) int { return n[0] }, BeNumerically("<=", deaths+1)),
				WithTransform(func(n []int) int { return n[1] }, BeNumerically("<=", 2))))
		elapsed := time.Since(start)
		loopStarts, cfgStarts := w.starts("loop"), w.starts("cfg")
		Expect(w.starts("tick")).To(Equal(1), "the healthy gateway was never restarted by the edits")
		logBytes := len(s.Err.Contents())
		perHour := func(n int64) int64 { return n * int64(time.Hour) / int64(elapsed) }
		GinkgoWriter.Printf("guard on, %s: loop started %d times, cfg %d, tick %d; reconciler log %d bytes (%d/h), loop's gateway log %d bytes (%d/h)\n",
			elapsed.Round(time.Second), loopStarts, cfgStarts, w.starts("tick"), logBytes, perHour(int64(logBytes)),
			w.gatewayLogBytes("loop"), perHour(w.gatewayLogBytes("loop")))
		if base != nil {
			n := len(bs.Err.Contents())
			GinkgoWriter.Printf("baseline %s, %s: loop started %d times, cfg %d, tick %d; reconciler log %d bytes (%d/h), loop's gateway log %d bytes (%d/h)\n",
				os.Getenv("SOAK_BASELINE_BIN"), elapsed.Round(time.Second), base.starts("loop"), base.starts("cfg"), base.starts("tick"),
				n, perHour(int64(n)), base.gatewayLogBytes("loop"), perHour(base.gatewayLogBytes("loop")))
		}

		By("status says why, and exits 3")
		rows, code := w.status()
		Expect(code).To(Equal(3))
		Expect(rows["loop"].Actual).To(Equal("parked"))
		Expect(rows["loop"].Note).To(MatchRegexp(`parked: crash loop, %d deaths in \d+s, last exit 1`, deaths))
		Expect(rows["loop"].Note).To(ContainSubstring("hermes-reconcile unpark loop"))
		Expect(rows["cfg"].Note).To(ContainSubstring("held: start (permanent_failure): finish asked s6 not to restart it (exit 78)"))
		Expect(rows["tick"].Actual).To(Equal("up"))

		By("`hermes gateway start` rewriting cfg's desired_state starts it once")
		w.intent("cfg", "running")
		// Within 10 s: the event, not the next resync (20 s), starts it.
		Eventually(func() int { return w.starts("cfg") }, 10*time.Second).Should(Equal(cfgStarts + 1))
		Consistently(func() int { return w.starts("cfg") }, 10*time.Second, time.Second).Should(Equal(cfgStarts + 1))

		By("a config.yaml edit starts the parked loop once; it loops and is parked again")
		w.editConfig("loop", 1)
		Eventually(func() int { return w.starts("loop") }).Should(BeNumerically(">", loopStarts))
		Eventually(func() string { rows, _ := w.status(); return rows["loop"].Actual }, time.Minute, time.Second).Should(Equal("parked"))
		Consistently(func() int { return w.starts("loop") }, 5*time.Second, time.Second).Should(BeNumerically("<=", loopStarts+deaths+1))
		loopStarts = w.starts("loop")

		By("unpark starts it once more")
		u := w.Run("unpark", "loop")
		Expect(u).To(gexec.Exit(0))
		Expect(u.Out).To(gbytes.Say(`> gateway-loop  start  unparked`))
		Eventually(func() int { return w.starts("loop") }).Should(BeNumerically(">", loopStarts))
		Eventually(func() string { rows, _ := w.status(); return rows["loop"].Actual }, time.Minute, time.Second).Should(Equal("parked"))
		Expect(w.starts("loop")).To(BeNumerically("<=", loopStarts+deaths+1))
	})
})
