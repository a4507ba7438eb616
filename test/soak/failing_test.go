//go:build linux

package soak

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
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

// world is one HERMES_HOME, scandir and s6-svscan, its gateways the
// stand-in with a mode per profile (FAKE_GATEWAY_DIR).
type world struct {
	bin, home, scandir, modes string
	env                       []string
}

func newWorld(bin string) *world {
	dir := GinkgoT().TempDir()
	w := &world{bin: bin, home: filepath.Join(dir, "home"), scandir: filepath.Join(dir, "scan"), modes: filepath.Join(dir, "modes")}
	for _, d := range []string{w.home, w.scandir, w.modes} {
		Expect(os.MkdirAll(d, 0o755)).To(Succeed())
	}
	w.env = append(os.Environ(),
		"HERMES_HOME="+w.home,
		"HERMES_RECONCILE_SCANDIR="+w.scandir,
		"HERMES_RECONCILE_SHEBANG=#!/bin/sh",
		"HERMES_RECONCILE_USER=",
		"HERMES_RECONCILE_GATEWAY_COMMAND="+testkit.FakeGateway(),
		"HERMES_RECONCILE_HOME_DIR="+w.home,
		"HERMES_RECONCILE_LOG_HERMES_HOME="+w.home,
		"HERMES_RECONCILE_ENV=FAKE_GATEWAY_DIR="+w.modes,
		"HERMES_RECONCILE_LOG_FORMAT=json",
		"GATEWAY_MULTIPLEX_PROFILES=",
		// A Hermes before #112854: multiplex_profiles decides, absent per-profile.
		"HERMES_RECONCILE_HERMES_VERSION=0.21.3",
		"NO_COLOR=1",
	)
	testkit.StartSvscan(w.scandir, w.home)
	return w
}

func (w *world) dir(profile string) string {
	if profile == "default" {
		return w.home
	}
	return filepath.Join(w.home, "profiles", profile)
}

// profile makes a profile with an explicit intent and its gateway's mode.
func (w *world) profile(name, intent, mode string) {
	testkit.WriteFile(filepath.Join(w.dir(name), "SOUL.md"), name+"\n")
	w.intent(name, intent)
	if mode != "" {
		testkit.WriteFile(filepath.Join(w.modes, name+".mode"), mode)
	}
}

// intent writes desired_state as `hermes gateway start|stop` does: the
// whole file replaced, with a new updated_at.
func (w *world) intent(name, intent string) {
	path := filepath.Join(w.dir(name), "gateway_state.json")
	testkit.WriteFile(path+".tmp", fmt.Sprintf(`{"desired_state":%q,"updated_at":%d}`, intent, time.Now().UnixNano()))
	Expect(os.Rename(path+".tmp", path)).To(Succeed())
}

func (w *world) editConfig(name string, n int) {
	path := filepath.Join(w.dir(name), "config.yaml")
	testkit.WriteFile(path+".tmp", fmt.Sprintf("# edit %d\nmodel: test\n", n))
	Expect(os.Rename(path+".tmp", path)).To(Succeed())
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
	entries, _ := os.ReadDir(filepath.Join(w.home, "logs", "gateways", profile))
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() && e.Name() != "lock" && e.Name() != "state" {
			n += fi.Size()
		}
	}
	return n
}

func (w *world) command(args ...string) *exec.Cmd {
	cmd := exec.Command(w.bin, args...)
	cmd.Env = w.env
	return cmd
}

// watch runs the binary in watch mode until the spec ends.
func (w *world) watch(args ...string) *gexec.Session {
	s, err := gexec.Start(w.command(args...), GinkgoWriter, GinkgoWriter)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() {
		s.Signal(syscall.SIGTERM)
		Eventually(s, time.Minute).Should(gexec.Exit(0))
	})
	return s
}

func (w *world) run(args ...string) *gexec.Session {
	s, err := gexec.Start(w.command(args...), GinkgoWriter, GinkgoWriter)
	Expect(err).NotTo(HaveOccurred())
	Eventually(s, time.Minute).Should(gexec.Exit())
	return s
}

type statusRow struct {
	Type, Profile, Actual, Note string
}

// status is `hermes-reconcile status --output json`: its rows by profile
// and its exit code.
func (w *world) status() (map[string]statusRow, int) {
	s := w.run("status", "--output", "json")
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
		u := w.run("unpark", "loop")
		Expect(u).To(gexec.Exit(0))
		Expect(u.Out).To(gbytes.Say(`> gateway-loop  start  unparked`))
		Eventually(func() int { return w.starts("loop") }).Should(BeNumerically(">", loopStarts))
		Eventually(func() string { rows, _ := w.status(); return rows["loop"].Actual }, time.Minute, time.Second).Should(Equal("parked"))
		Expect(w.starts("loop")).To(BeNumerically("<=", loopStarts+deaths+1))
	})
})
