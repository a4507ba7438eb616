//go:build linux

package e2e

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"

	"github.com/hermes-reconcile/hermes-reconcile/test/testkit"
)

var _ = Describe("--once", func() {
	var w *world
	BeforeEach(func() { w = newWorld("home") })

	It("creates exactly the slots of the valid profiles, in their intended state", func() {
		s := w.Run("--once")
		Expect(s).To(gexec.Exit(0))
		Expect(w.Slots()).To(ConsistOf("gateway-default", "gateway-alpha", "gateway-beta", "gateway-gamma"))

		By("agreeing with each intent in s6-svstat")
		for profile, up := range map[string]bool{"default": true, "alpha": true, "beta": false, "gamma": false} {
			Eventually(func() (svstat, error) {
				st, err := w.Status(profile)
				st.PID = 0
				return st, err
			}).Should(Equal(svstat{Up: up, WantUp: up}), profile)
		}
		Expect(filepath.Join(w.Slot("beta"), "down")).To(BeAnExistingFile())
		Expect(filepath.Join(w.Slot("gamma"), "down")).To(BeAnExistingFile())
		Expect(filepath.Join(w.Slot("alpha"), "down")).NotTo(BeAnExistingFile())

		By("naming each bad entry, with the line for YAML")
		errText := string(s.Err.Contents())
		Expect(errText).To(ContainSubstring(filepath.Join(w.Home, "profiles", "broken", "config.yaml") + ":3: "))
		Expect(errText).To(ContainSubstring(filepath.Join(w.Home, "profiles", "Upper") + ": invalid profile name"))
		Expect(errText).To(ContainSubstring("profiles/default/ skipped"))
		Expect(errText).NotTo(ContainSubstring("epsilon"))
		Expect(errText).NotTo(ContainSubstring("staging"))

		By("rendering the stand-in gateway command into run")
		run := readFile(filepath.Join(w.Slot("alpha"), "run"))
		Expect(run).To(HaveSuffix(" -p alpha gateway run --replace\n"))
		Expect(readFile(filepath.Join(w.Slot("default"), "run"))).NotTo(ContainSubstring("-p default"))

		By("doing nothing the second time")
		s = w.Run("--once", "--detailed-exitcode")
		Expect(s).To(gexec.Exit(0))
		Expect(s.Out).To(gbytes.Say(`No changes\. Services match the profiles\.`))
	})

	It("writes the appendix bytes with default settings", func() {
		// Default rendering execs /command/with-contenv, which Debian lacks:
		// those gateways fail to start, which does not matter to the bytes.
		env := []string{}
		for _, e := range w.Env {
			if !strings.HasPrefix(e, "HERMES_RECONCILE_") || strings.HasPrefix(e, "HERMES_RECONCILE_SCANDIR=") {
				env = append(env, e)
			}
		}
		w.Env = env
		writeFile(filepath.Join(w.Home, "profiles", "coder", "SOUL.md"), "coder\n")
		Expect(w.Run("--once")).To(gexec.Exit(0))

		slot := w.Slot("coder")
		Expect(readFile(filepath.Join(slot, "type"))).To(Equal(appendixType))
		Expect(readFile(filepath.Join(slot, "run"))).To(Equal(appendixRun))
		Expect(readFile(filepath.Join(slot, "finish"))).To(Equal(appendixFinish))
		Expect(readFile(filepath.Join(slot, "log", "run"))).To(Equal(appendixLogRun))
		Expect(readFile(filepath.Join(slot, "down"))).To(Equal(""))
		for _, f := range []string{"run", "finish", "log/run"} {
			fi, err := os.Stat(filepath.Join(slot, f))
			Expect(err).NotTo(HaveOccurred())
			Expect(fi.Mode().Perm()).To(Equal(os.FileMode(0o755)), f)
		}
		Expect(readFile(filepath.Join(w.Slot("default"), "run"))).To(Equal(
			strings.ReplaceAll(appendixRun, "hermes -p coder gateway", "hermes gateway")))
	})
})

// The DESIGN appendix, byte for byte, for profile coder: the golden files
// backends/s6's rendering specs check too.
var (
	appendixType   = appendix("coder/type")
	appendixRun    = appendix("coder/run")
	appendixFinish = appendix("coder/finish")
	appendixLogRun = appendix("coder/log/run")
)

// appendix reads a file of backends/s6/testdata/appendix.
func appendix(name string) string {
	data, err := os.ReadFile(filepath.Join(repoRoot(), "backends", "s6", "testdata", "appendix", filepath.FromSlash(name)))
	if err != nil {
		panic(err)
	}
	return string(data)
}

var _ = Describe("drift", func() {
	var w *world
	BeforeEach(func() {
		w = newWorld("home")
		Expect(w.Run("--once")).To(gexec.Exit(0))
	})

	It("removes the slot of a deleted profile and its supervisors", func() {
		Expect(w.SupervisorsOf("gateway-alpha")).To(HaveLen(2))
		Expect(os.RemoveAll(w.ProfileDir("alpha"))).To(Succeed())
		s := w.Run("--once")
		Expect(s).To(gexec.Exit(0))
		Expect(s.Out).To(gbytes.Say(`- gateway-alpha  remove  profile_removed`))
		Expect(w.Slots()).NotTo(ContainElement("gateway-alpha"))
		Expect(w.SupervisorsOf("gateway-alpha")).To(BeEmpty())
		entries, _ := os.ReadDir(w.Scandir)
		for _, e := range entries {
			Expect(e.Name()).NotTo(HavePrefix(".gateway-alpha"))
		}
	})

	It("removes the slot of a tombstoned profile", func() {
		writeFile(filepath.Join(w.Home, "profiles", ".deleted", "alpha"), "deleted\n")
		s := w.Run("--once")
		Expect(s).To(gexec.Exit(0))
		Expect(s.Out).To(gbytes.Say(`- gateway-alpha  remove  profile_tombstoned`))
		Expect(w.Slots()).NotTo(ContainElement("gateway-alpha"))
		Expect(w.SupervisorsOf("gateway-alpha")).To(BeEmpty())
	})

	It("starts and stops gateways when desired_state flips", func() {
		writeAtomic(filepath.Join(w.ProfileDir("alpha"), "gateway_state.json"), `{"desired_state":"stopped"}`)
		writeAtomic(filepath.Join(w.ProfileDir("beta"), "gateway_state.json"), `{"desired_state":"running"}`)
		s := w.Run("--once")
		Expect(s).To(gexec.Exit(0))
		Expect(s.Out).To(gbytes.Say(`< gateway-alpha  stop  intent_stopped`))
		Expect(s.Out).To(gbytes.Say(`> gateway-beta  start  intent_running`))
		st, err := w.Status("alpha")
		Expect(err).NotTo(HaveOccurred())
		Expect(st).To(Equal(svstat{Up: false, WantUp: false, PID: -1}))
		w.UpPID("beta")
		Expect(filepath.Join(w.Slot("alpha"), "down")).To(BeAnExistingFile())
		Expect(filepath.Join(w.Slot("beta"), "down")).NotTo(BeAnExistingFile())
	})

	It("puts back a hand-edited run and restarts the gateway, but not for finish", func() {
		pid := w.UpPID("alpha")
		finish := filepath.Join(w.Slot("alpha"), "finish")
		want := readFile(finish)
		writeFile(finish, "#!/bin/sh\nexit 0\n")
		Expect(os.Chmod(finish, 0o755)).To(Succeed())
		s := w.Run("--once")
		Expect(s).To(gexec.Exit(0))
		Expect(s.Out).To(gbytes.Say(`~ gateway-alpha  update finish  spec_changed`))
		Expect(readFile(finish)).To(Equal(want))
		Expect(w.UpPID("alpha")).To(Equal(pid), "a finish change needs no restart")

		run := filepath.Join(w.Slot("alpha"), "run")
		want = readFile(run)
		writeFile(run, "#!/bin/sh\nexec sleep 1000\n")
		Expect(os.Chmod(run, 0o755)).To(Succeed())
		s = w.Run("--once")
		Expect(s).To(gexec.Exit(0))
		Expect(s.Out).To(gbytes.Say(`~ gateway-alpha  update run \(restart\)  spec_changed`))
		Expect(readFile(run)).To(Equal(want))
		Eventually(func() int { return w.UpPID("alpha") }).ShouldNot(Equal(pid))
	})

	It("recreates a hand-deleted slot", func() {
		Expect(os.RemoveAll(w.Slot("gamma"))).To(Succeed())
		s := w.Run("--once")
		Expect(s).To(gexec.Exit(0))
		Expect(s.Out).To(gbytes.Say(`\+ gateway-gamma  create \(down\)  profile_added`))
		st, err := w.Status("gamma")
		Expect(err).NotTo(HaveOccurred())
		Expect(st.WantUp).To(BeFalse())
		Expect(w.SupervisorsOf("gateway-gamma")).To(HaveLen(2), "the old supervisor is gone, the new one runs")
	})

	It("leaves a foreign service and the Hermes CLI's staging alone, and cleans our stale staging dir", func() {
		foreign := filepath.Join(w.Scandir, "cron")
		writeFile(filepath.Join(foreign, "run"), "#!/bin/sh\nexec sleep 1000\n")
		ours := filepath.Join(w.Scandir, testkit.Staging("gateway-x"))
		writeFile(filepath.Join(ours, "run"), "half\n")
		hermes := filepath.Join(w.Scandir, ".gateway-y.tmp")
		writeFile(filepath.Join(hermes, "run"), "half, Hermes's\n")
		before, hermesBefore := treeHash(foreign), treeHash(hermes)
		s := w.Run("--once")
		Expect(s).To(gexec.Exit(0))
		Expect(s.Out).To(gbytes.Say(`- ` + regexpQuote(testkit.Staging("gateway-x")) + `  clean  stale_staging`))
		Expect(ours).NotTo(BeADirectory())
		Expect(treeHash(foreign)).To(Equal(before))
		Expect(treeHash(hermes)).To(Equal(hermesBefore), "another writer's staging is not ours to clean")

		By("saying so when another writer's staging dir lingers")
		old := time.Now().Add(-2 * time.Hour)
		Expect(os.Chtimes(hermes, old, old)).To(Succeed())
		s = w.Run("--once")
		Expect(s.Err).To(gbytes.Say(`\.gateway-y\.tmp: another writer's staging dir, untouched for 2h0m0s: left as it is`))
		Expect(treeHash(hermes)).To(Equal(hermesBefore))
	})

	It("adopts a slot made by hand with the same bytes without a restart", func() {
		// Build gateway-zeta the way Hermes does, from the bytes of a slot
		// the reconciler wrote, with no hash in data/.
		writeFile(filepath.Join(w.ProfileDir("zeta"), "SOUL.md"), "zeta\n")
		writeFile(filepath.Join(w.ProfileDir("zeta"), "gateway_state.json"), `{"desired_state":"running"}`)
		tmp := filepath.Join(w.Scandir, ".gateway-zeta.tmp")
		for _, f := range []string{"type", "run", "finish", "log/run"} {
			data := strings.ReplaceAll(readFile(filepath.Join(w.Slot("alpha"), f)), "alpha", "zeta")
			writeFile(filepath.Join(tmp, f), data)
			Expect(os.Chmod(filepath.Join(tmp, f), 0o755)).To(Succeed())
		}
		Expect(os.Rename(tmp, w.Slot("zeta"))).To(Succeed())
		Expect(exec.Command("s6-svscanctl", "-a", w.Scandir).Run()).To(Succeed())
		pid := w.UpPID("zeta")

		s := w.Run("--once")
		Expect(s).To(gexec.Exit(0))
		Expect(s.Out).To(gbytes.Say(`~ gateway-zeta  adopt  adopted`))
		Expect(filepath.Join(w.Slot("zeta"), "data", "hermes-reconcile.hash")).To(BeAnExistingFile())
		Consistently(func() int { return w.UpPID("zeta") }).Should(Equal(pid))
		Expect(w.Run("--once", "--detailed-exitcode")).To(gexec.Exit(0))
	})

	It("leaves a running slot untouched when its config.yaml breaks, while others converge", func() {
		pid := w.UpPID("alpha")
		before := treeHash(w.Slot("alpha"))
		writeFile(filepath.Join(w.ProfileDir("alpha"), "config.yaml"), "gateway: {multiplex_profiles: [\n")
		writeAtomic(filepath.Join(w.ProfileDir("alpha"), "gateway_state.json"), `{"desired_state":"stopped"}`)
		Expect(os.RemoveAll(w.Slot("gamma"))).To(Succeed())
		writeAtomic(filepath.Join(w.ProfileDir("beta"), "gateway_state.json"), `{"desired_state":"running"}`)

		s := w.Run("--once")
		Expect(s).To(gexec.Exit(0))
		Expect(s.Err).To(gbytes.Say(regexpQuote(filepath.Join(w.ProfileDir("alpha"), "config.yaml")) + `:2: `))
		Expect(string(s.Out.Contents())).NotTo(ContainSubstring("gateway-alpha"))
		Expect(w.Slots()).To(ContainElement("gateway-gamma"))
		w.UpPID("beta")
		Consistently(func() int { return w.UpPID("alpha") }).Should(Equal(pid))
		Expect(treeHash(w.Slot("alpha"))).To(Equal(before))

		By("failing the pass only with --strict")
		Expect(w.Run("--once", "--strict")).To(gexec.Exit(1))
	})
})

var _ = Describe("multiplex topology", func() {
	It("keeps named slots down and runs default for every running intent", func() {
		w := newWorld("home")
		writeFile(filepath.Join(w.Home, "config.yaml"), "multiplex_profiles: true\n")
		writeAtomic(filepath.Join(w.Home, "gateway_state.json"), `{"desired_state":"stopped"}`)
		s := w.Run("--once")
		Expect(s).To(gexec.Exit(0))
		Expect(s.Out).To(gbytes.Say(`\+ gateway-default  create \(up\)  profile_added \(serves alpha\)`))
		Expect(s.Out).To(gbytes.Say(`\+ gateway-alpha  create \(down\)  profile_added`))
		w.UpPID("default")
		for _, p := range []string{"alpha", "beta", "gamma"} {
			st, err := w.Status(p)
			Expect(err).NotTo(HaveOccurred())
			Expect(st.WantUp).To(BeFalse(), p)
		}

		By("stopping named gateways started by hand")
		Expect(exec.Command("s6-svc", "-u", w.Slot("gamma")).Run()).To(Succeed())
		w.UpPID("gamma")
		s = w.Run("--once")
		Expect(s.Out).To(gbytes.Say(`< gateway-gamma  stop  multiplex`))

		By("stopping default when no intent runs any more")
		writeAtomic(filepath.Join(w.ProfileDir("alpha"), "gateway_state.json"), `{"desired_state":"stopped"}`)
		s = w.Run("--once")
		Expect(s.Out).To(gbytes.Say(`< gateway-default  stop  intent_stopped`))
	})
})

var _ = Describe("--dry-run", func() {
	It("prints the plan, reports drift in its exit code and writes nothing", func() {
		w := newWorld("home")
		before := treeHash(w.Scandir)
		homeBefore := treeHash(w.Home)
		s := w.Run("--dry-run", "--detailed-exitcode")
		Expect(s).To(gexec.Exit(2))
		Expect(s.Out).To(gbytes.Say(`\+ gateway-default  create \(up\)  profile_added`))
		Expect(s.Out).To(gbytes.Say(`Plan: 4 to create, 0 to update, 0 to remove, 0 to start, 0 to stop\.`))
		Expect(treeHash(w.Scandir)).To(Equal(before))
		Expect(treeHash(w.Home)).To(Equal(homeBefore))
		Expect(w.Run("--dry-run")).To(gexec.Exit(0))

		By("warning when the plan needs more services than s6-svscan allows")
		s = w.Run("--dry-run", "--max-services", "3")
		Expect(s).To(gexec.Exit(0))
		Expect(s.Err).To(gbytes.Say(`would hold 4 services, over s6-svscan's limit of 3`))

		By("emitting NDJSON with the documented types")
		s = w.Run("--dry-run", "--output", "json")
		Expect(s).To(gexec.Exit(0))
		types := []string{}
		sc := bufio.NewScanner(strings.NewReader(string(s.Out.Contents())))
		for sc.Scan() {
			var ev map[string]any
			Expect(json.Unmarshal(sc.Bytes(), &ev)).To(Succeed(), sc.Text())
			types = append(types, ev["type"].(string))
			switch ev["type"] {
			case "version":
				Expect(ev["schema"]).To(Equal(2.0))
			case "planned_change":
				ch := ev["change"].(map[string]any)
				Expect(ch["action"]).To(BeAssignableToTypeOf(""))
				Expect(ch["slot"]).To(HavePrefix("gateway-"))
				Expect(ch["reason"]).To(Equal("profile_added"))
				Expect(ch["want"]).To(BeElementOf("up", "down"))
			case "diagnostic":
				if ev["line"] != nil { // null where the diagnostic has no line
					Expect(ev["line"]).To(BeNumerically(">", 0))
				}
				Expect(ev["path"]).To(BeAssignableToTypeOf(""))
				Expect(ev["severity"]).To(BeElementOf("error", "warning"))
			case "change_summary":
				Expect(ev["create"]).To(Equal(4.0))
			}
		}
		Expect(types[0]).To(Equal("version"))
		Expect(types[len(types)-1]).To(Equal("change_summary"))
		Expect(types).To(ContainElements("diagnostic", "planned_change"))
		Expect(treeHash(w.Scandir)).To(Equal(before))
	})
})

var _ = Describe("status", func() {
	It("shows every profile and slot with intent, want, actual state and pid", func() {
		w := newWorld("home")
		Expect(w.Run("--once")).To(gexec.Exit(0))
		pid := w.UpPID("alpha")
		s := w.Run("status")
		Expect(s).To(gexec.Exit(0))
		Expect(s.Out).To(gbytes.Say(`PROFILE\s+SLOT\s+INTENT\s+WANT\s+ACTUAL\s+PID\s+UPTIME\s+LAST EXIT\s+NOTE`))
		Expect(s.Out).To(gbytes.Say(`default\s+gateway-default\s+running\s+up\s+up\s+\d+`))
		Expect(s.Out).To(gbytes.Say(`alpha\s+gateway-alpha\s+running\s+up\s+up\s+` + itoa(pid)))
		Expect(s.Out).To(gbytes.Say(`beta\s+gateway-beta\s+stopped\s+down\s+down\s+-`))
		Expect(s.Out).To(gbytes.Say(`broken\s+gateway-broken\s+\?\s+\?\s+missing`))
		Expect(s.Out).To(gbytes.Say(`gamma\s+gateway-gamma\s+-\s+down\s+down`))

		s = w.Run("status", "--output", "json")
		Expect(s).To(gexec.Exit(0))
		rows := map[string]map[string]any{}
		sc := bufio.NewScanner(strings.NewReader(string(s.Out.Contents())))
		for sc.Scan() {
			var ev map[string]any
			Expect(json.Unmarshal(sc.Bytes(), &ev)).To(Succeed())
			if ev["type"] == "status" {
				rows[ev["profile"].(string)] = ev
			}
		}
		Expect(rows).To(HaveKey("alpha"))
		Expect(rows["alpha"]).To(HaveKeyWithValue("pid", float64(pid)))
		Expect(rows["alpha"]).To(HaveKeyWithValue("actual", "up"))
		Expect(rows["alpha"]).To(HaveKeyWithValue("intent", "running"))
		Expect(rows["beta"]).To(HaveKeyWithValue("want", "down"))
		Expect(rows).To(HaveLen(5))
	})
})
