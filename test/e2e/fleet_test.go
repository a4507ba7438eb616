//go:build linux

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"

	"github.com/hermes-reconcile/hermes-reconcile/test/testkit"
)

var _ = Describe("removals that wait", func() {
	It("3: a profile away for a moment keeps its unit; gone for the window, removed; tombstoned, at once; 9 of 10 vanishing, none", func() {
		w := newWorld("home")
		w.Env = w.with("HERMES_RECONCILE_REMOVE_AFTER=3s")
		Expect(w.Run("--once")).To(gexec.Exit(0))
		pid := w.UpPID("alpha")
		away := filepath.Join(w.Dir, "alpha-away")

		By("moved away and back within the window: the unit and its gateway untouched")
		Expect(os.Rename(w.ProfileDir("alpha"), away)).To(Succeed())
		s := w.Run("--once")
		Expect(s).To(gexec.Exit(0))
		Expect(string(s.Out.Contents())).To(MatchRegexp(`(?m)^= gateway-alpha  remove deferred \S+  profile_absent: its profile is gone since `))
		Expect(string(s.Out.Contents())).To(ContainSubstring("No changes now. 1 removals waiting for their profiles to come back (--remove-after).\n"))
		Expect(os.Rename(away, w.ProfileDir("alpha"))).To(Succeed())
		s = w.Run("--once")
		Expect(s).To(gexec.Exit(0))
		Expect(string(s.Out.Contents())).To(HaveSuffix("No changes. Services match the profiles.\n"))
		Expect(w.UpPID("alpha")).To(Equal(pid))

		By("gone for longer than the window, one --once after another: removed once the window is over")
		Expect(os.Rename(w.ProfileDir("alpha"), away)).To(Succeed())
		start := time.Now()
		Expect(w.Run("--once")).To(gexec.Exit(0))
		Expect(w.Slots()).To(ContainElement("gateway-alpha"), "the first absence only noted")
		Eventually(func() []string {
			Expect(w.Run("--once")).To(gexec.Exit(0))
			return w.Slots()
		}, 15*time.Second, 500*time.Millisecond).ShouldNot(ContainElement("gateway-alpha"))
		Expect(time.Since(start)).To(BeNumerically(">=", 3*time.Second), "not before the window, which the slot recorded")

		By("tombstoned: removed at once")
		w.tombstone("beta")
		Expect(w.Run("--once")).To(gexec.Exit(0))
		Expect(w.Slots()).NotTo(ContainElement("gateway-beta"))

		By("in watch mode, the window's end is a wake-up of its own")
		wt := w.watch()
		Expect(os.RemoveAll(w.ProfileDir("gamma"))).To(Succeed())
		Eventually(w.Slots, 15*time.Second).ShouldNot(ContainElement("gateway-gamma"))
		Expect(wt.logLines("pass done")).NotTo(ContainElement(HaveKeyWithValue("why", "resync")), "no resync needed")
	})

	It("3: 9 of 10 named profiles vanishing at once remove none, with one warning (the default --max-remove)", func() {
		w := newWorld("")
		writeFile(filepath.Join(w.Home, "SOUL.md"), "default\n")
		for i := range 10 {
			w.createProfile(fmt.Sprintf("p%d", i), `{"desired_state":"stopped"}`)
		}
		Expect(w.Run("--once")).To(gexec.Exit(0))
		Expect(w.Slots()).To(HaveLen(11))
		for i := 1; i < 10; i++ {
			Expect(os.RemoveAll(w.ProfileDir(fmt.Sprintf("p%d", i)))).To(Succeed())
		}
		s := w.Run("--once") // HERMES_RECONCILE_REMOVE_AFTER=0 in the world: the guard alone decides
		Expect(s).To(gexec.Exit(0))
		Expect(w.Slots()).To(HaveLen(11), "none removed")
		Expect(strings.Count(string(s.Err.Contents()), "Warning: the pass would remove 9 of 10 named services at once")).To(Equal(1))
		Expect(string(s.Out.Contents())).To(ContainSubstring("No changes now. 9 removals held by the mass-removal guard.\n"))

		By("two of them gone, of ten: a quarter is allowed")
		for i := 1; i < 10; i++ {
			w.createProfile(fmt.Sprintf("p%d", i), `{"desired_state":"stopped"}`)
		}
		for _, i := range []int{1, 2} {
			Expect(os.RemoveAll(w.ProfileDir(fmt.Sprintf("p%d", i)))).To(Succeed())
		}
		Expect(w.Run("--once")).To(gexec.Exit(0))
		Expect(w.Slots()).To(HaveLen(9))
	})
})

var _ = Describe("rollouts that pace themselves", func() {
	// fleet is a world of default and 29 named running gateways, converged
	// with FAKE_GATEWAY_DIR, where each gateway counts its starts.
	fleet := func() (*world, string, []string) {
		w := newWorld("")
		writeFile(filepath.Join(w.Home, "SOUL.md"), "default\n")
		writeFile(filepath.Join(w.Home, "gateway_state.json"), `{"desired_state":"running"}`)
		profiles := []string{"default"}
		for i := range 29 {
			p := fmt.Sprintf("p%02d", i)
			w.createProfile(p, `{"desired_state":"running"}`)
			profiles = append(profiles, p)
		}
		starts := filepath.Join(w.Dir, "starts")
		Expect(os.Mkdir(starts, 0o755)).To(Succeed())
		w.Env = w.with("HERMES_RECONCILE_ENV=FAKE_GATEWAY_DIR=" + starts)
		Expect(w.Run("--once")).To(gexec.Exit(0))
		for _, p := range profiles {
			w.UpPID(p)
		}
		return w, starts, profiles
	}
	// command writes a gateway program of its own: body after the shebang.
	command := func(w *world, name, body string) string {
		path := filepath.Join(w.Dir, name)
		writeFile(path, "#!/bin/sh\n"+body+"\n")
		Expect(os.Chmod(path, 0o755)).To(Succeed())
		return path
	}
	// maxDown samples every gateway every 50 ms until stop is closed and
	// returns the most found down at once.
	maxDown := func(w *world, profiles []string, stop chan struct{}) chan int {
		out := make(chan int, 1)
		go func() {
			defer GinkgoRecover()
			most := 0
			t := time.NewTicker(50 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-stop:
					out <- most
					return
				case <-t.C:
					down := 0
					for _, p := range profiles {
						if !w.State(p).Up {
							down++
						}
					}
					most = max(most, down)
				}
			}
		}()
		return out
	}
	startsOf := func(dir, p string) int {
		data, _ := os.ReadFile(filepath.Join(dir, p+".starts"))
		return strings.Count(string(data), "\n")
	}
	runs := func(w *world, p, program string) bool {
		return strings.Contains(readFile(filepath.Join(w.Slot(p), "run")), program)
	}

	It("2: a new gateway command restarts a batch at a time, each batch once, across a watcher killed -9", func() {
		w, starts, profiles := fleet()
		v2 := command(w, "gateway-v2", "exec "+testkit.FakeGateway()+` "$@"`)
		w.Env = w.with("HERMES_RECONCILE_GATEWAY_COMMAND=" + v2)
		stop := make(chan struct{})
		most := maxDown(w, profiles, stop)

		wt := w.watch("--rollout-batch", "10%", "--rollout-healthy-after", "1s")
		By("the first batches restart, then the watcher is killed mid-rollout")
		Eventually(func() int {
			n := 0
			for _, p := range profiles {
				if runs(w, p, v2) {
					n++
				}
			}
			return n
		}, 30*time.Second, 20*time.Millisecond).Should(BeNumerically(">=", 6))
		Expect(wt.Kill().Wait(10 * time.Second)).To(gexec.Exit())
		wt = w.watch("--rollout-batch", "10%", "--rollout-healthy-after", "1s")

		By("the next watcher finishes it")
		Eventually(func() []string {
			var old []string
			for _, p := range profiles {
				if !runs(w, p, v2) || !w.State(p).Up {
					old = append(old, p)
				}
			}
			return old
		}, 90*time.Second, 100*time.Millisecond).Should(BeEmpty())
		close(stop)
		Expect(<-most).To(BeNumerically("<=", 3), "never more than the batch (a tenth of 30) down at once")
		var at []time.Time
		for _, p := range profiles {
			// Eventually: s6 says up when it spawns the run script, a moment
			// before the gateway records its start.
			Eventually(func() int { return startsOf(starts, p) }).Should(Equal(2), "%s: started at converge and once by the rollout, never twice", p)
			fi, err := os.Stat(filepath.Join(starts, p+".starts"))
			Expect(err).NotTo(HaveOccurred())
			at = append(at, fi.ModTime())
		}
		// A batch starts once the one before has been up for 1 s: any four
		// restarts span at least that.
		slices.SortFunc(at, func(a, b time.Time) int { return a.Compare(b) })
		for i := 0; i+3 < len(at); i++ {
			Expect(at[i+3].Sub(at[i])).To(BeNumerically(">=", 900*time.Millisecond), "restarts %d to %d: %v", i, i+3, at)
		}
	})

	It("2: a new run that crashes halts the rollout after its first batch; the others keep their gateways, and status says why", func() {
		w, _, profiles := fleet()
		pids := map[string]int{}
		for _, p := range profiles {
			pids[p] = w.UpPID(p)
		}
		broken := command(w, "gateway-broken", "exit 1")
		w.Env = w.with("HERMES_RECONCILE_GATEWAY_COMMAND=" + broken)
		wt := w.watch("--rollout-batch", "10%", "--rollout-healthy-after", "1s")
		Eventually(func() []map[string]any { return wt.logLines("profile diagnostic") }, 30*time.Second).Should(
			ContainElement(HaveKeyWithValue("diagnostic", ContainSubstring("rollout halted with 27 restarts to go: gateway-default died after its restart (exit 1)"))))
		var rolled []string
		for _, p := range profiles {
			if runs(w, p, broken) {
				rolled = append(rolled, p)
			}
		}
		Expect(rolled).To(Equal([]string{"default", "p00", "p01"}), "the first batch only: default first, then by name")
		Consistently(func() map[string]int {
			now := map[string]int{}
			for _, p := range profiles[3:] {
				now[p] = w.State(p).PID
			}
			return now
		}, 3*time.Second, 200*time.Millisecond).Should(Equal(func() map[string]int {
			m := map[string]int{}
			for _, p := range profiles[3:] {
				m[p] = pids[p]
			}
			return m
		}()), "the other 27 keep their gateways")
		for _, p := range profiles[3:] {
			Expect(runs(w, p, broken)).To(BeFalse(), "%s: its run is not rewritten before its batch", p)
		}
		s := w.Run("status", "--rollout-batch", "10%")
		Expect(s).To(gexec.Exit(3))
		Expect(string(s.Err.Contents())).To(ContainSubstring("rollout halted with 27 restarts to go"))
		Expect(string(s.Out.Contents())).To(MatchRegexp(`(?m)^p10\s+gateway-p10\s+running\s+up\s+up\s+\d+.*held: update \(rollout_halted\): the rollout halted`))
	})
})

var _ = Describe("one credential, one gateway", func() {
	const token = "7001234567:AAHsecret-e2e-token-never-shown"
	// profile writes a running profile with .env and, if any, config.yaml.
	profile := func(w *world, name, env, cfg string) {
		w.createProfile(name, `{"desired_state":"running"}`)
		writeFile(filepath.Join(w.ProfileDir(name), ".env"), env)
		if cfg != "" {
			writeFile(filepath.Join(w.ProfileDir(name), "config.yaml"), cfg)
		}
	}
	// nowhere fails if secret is in any output given or any file of the
	// scandir (the slots, their logs, our state).
	nowhere := func(w *world, secret string, outputs ...*gexec.Session) {
		for _, s := range outputs {
			Expect(string(s.Out.Contents()) + string(s.Err.Contents())).NotTo(ContainSubstring(secret))
		}
		Expect(filepath.WalkDir(w.Scandir, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !d.Type().IsRegular() {
				return nil
			}
			data, rerr := os.ReadFile(path)
			if rerr == nil {
				Expect(string(data)).NotTo(ContainSubstring(secret), path)
			}
			return nil
		})).To(Succeed())
	}

	It("1: of two profiles with one Telegram token, one gateway runs; the other is held naming the first, and starts once it has its own", func() {
		w := newWorld("")
		writeFile(filepath.Join(w.Home, "SOUL.md"), "default\n")
		profile(w, "one", "TELEGRAM_BOT_TOKEN="+token+"\n", "")
		profile(w, "two", "# a clone of one\nTELEGRAM_BOT_TOKEN="+token+"\n", "")
		s := w.Run("--once")
		Expect(s).To(gexec.Exit(0), "%s", s.Err.Contents())
		Expect(string(s.Out.Contents())).To(ContainSubstring("= gateway-two  start held  conflict: one already claims the Telegram bot token: held, not started, until it has its own"))
		w.UpPID("one")
		Expect(w.Slots()).To(ContainElement("gateway-two"), "made, down")
		Consistently(func() bool { return w.State("two").Up }).Should(BeFalse())

		By("what every output says of it: never the token")
		js := w.Run("--dry-run", "-o", "json")
		Expect(string(js.Out.Contents())).To(ContainSubstring(`"reason":"conflict"`))
		st := w.Run("status")
		Expect(st).To(gexec.Exit(3), "two should run and does not")
		Expect(string(st.Out.Contents())).To(MatchRegexp(`(?m)^two\s+gateway-two\s+running\s+up\s+down\s.*held: start \(conflict\): one already claims the Telegram bot token`))
		ex := w.Run("explain", "two")
		Expect(string(ex.Out.Contents())).To(MatchRegexp(`(?m)^Claims:\s+Telegram bot token \(from TELEGRAM_BOT_TOKEN \(profile \.env\)\)`))
		wt := w.watch()
		nowhere(w, token, s, js, st, ex, wt.Session)

		By("its own token: started within a pass")
		writeFile(filepath.Join(w.ProfileDir("two"), ".env"), "TELEGRAM_BOT_TOKEN=7009999999:AAHanother-token-of-its-own\n")
		Eventually(func() bool { return w.State("two").Up }, 15*time.Second).Should(BeTrue())
		Expect(w.State("one").Up).To(BeTrue())
		nowhere(w, token, wt.Session)
	})

	It("1: two API servers on 8642 (one key inherited, one in .env), and a port set in config.yaml", func() {
		w := newWorld("")
		writeFile(filepath.Join(w.Home, "SOUL.md"), "default\n")
		writeFile(filepath.Join(w.Home, "gateway_state.json"), `{"desired_state":"running"}`)
		key := "inherited-api-key-0123456789"
		w.Env = w.with("API_SERVER_KEY=" + key) // the container's: every slot inherits it (#80310)
		profile(w, "alpha", "API_SERVER_KEY=its-own-api-key-0123456789\n", "")
		s := w.Run("--once")
		Expect(s).To(gexec.Exit(0))
		Expect(string(s.Out.Contents())).To(ContainSubstring("= gateway-alpha  start held  conflict: default already listens on port 8642"))
		nowhere(w, key, s)

		By("masking the inherited key and moving alpha's port in its config.yaml: both run")
		w.Env = w.with("API_SERVER_KEY=")
		profile(w, "beta", "API_SERVER_KEY=betas-own-api-key-0123456789\n", "platforms:\n  api_server:\n    extra:\n      port: 9100\n")
		profile(w, "gamma", "API_SERVER_KEY=gammas-own-api-key-0123456789\n", "platforms:\n  api_server:\n    extra:\n      port: 9100\n")
		s = w.Run("--once")
		Expect(s).To(gexec.Exit(0))
		Expect(string(s.Out.Contents())).To(ContainSubstring("= gateway-gamma  start held  conflict: beta already listens on port 9100"))
		w.UpPID("beta")
		// alpha, made down while held, gets the settle window a run state
		// changed after its intent gets; then a pass starts it.
		Eventually(func() bool {
			Expect(w.Run("--once")).To(gexec.Exit(0))
			return w.State("alpha").Up
		}, 15*time.Second, 500*time.Millisecond).Should(BeTrue())
		Expect(w.State("gamma").Up).To(BeFalse())
	})

	It("1: two gateways already running on one token are reported, exit 3, and neither is stopped", func() {
		w := newWorld("")
		writeFile(filepath.Join(w.Home, "SOUL.md"), "default\n")
		profile(w, "one", "TELEGRAM_BOT_TOKEN="+token+"\n", "")
		profile(w, "two", "TELEGRAM_BOT_TOKEN="+token+"\n", "")
		Expect(w.Run("--once", "--conflicts", "warn")).To(gexec.Exit(0))
		pids := w.pids("one", "two")
		s := w.Run("status")
		Expect(s).To(gexec.Exit(3))
		Expect(string(s.Err.Contents())).To(ContainSubstring("Error: the gateways of one and two both run and claim the same Telegram bot token"))
		s = w.Run("--once")
		Expect(s).To(gexec.Exit(0))
		Expect(w.pids("one", "two")).To(Equal(pids), "neither stopped")
		nowhere(w, token, s)
	})
})
