package host_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"
)

// These specs run the binary against the stand-in systemctl (first on
// PATH), which emulates a program that cannot run here: the test machines
// have no systemd as PID 1, so no manager would answer.
var _ = Describe("the systemd backend, end to end", func() {
	const (
		svc    = "hermes-gateway-coder.service"
		detect = "systemctl --system is-system-running"
		show   = "systemctl --user show -p LoadState,ActiveState,SubState,UnitFileState,MainPID,ExecMainCode,ExecMainStatus " + svc
	)
	var w *world
	BeforeEach(func() { w = newWorld() })
	unit := func() string { return filepath.Join(w.unitDir(), svc) }

	It("is chosen by auto-detection, and plans, installs, starts, idles, repairs, stops and removes", func() {
		By("--dry-run plans the install and writes nothing")
		w.intent("stopped")
		s := w.run("--dry-run", "--detailed-exitcode")
		Expect(s.ExitCode()).To(Equal(2))
		Expect(string(s.Out.Contents())).To(Equal(topology + "+ hermes-gateway-coder  create (down)  profile_added\n" +
			"Plan: 1 to create, 0 to update, 0 to remove, 0 to start, 0 to stop.\n"))
		Expect(w.st.Calls()).To(Equal([]string{detect, show}))
		Expect(unit()).NotTo(BeAnExistingFile())

		By("--once installs it down")
		s = w.run("--once")
		Expect(s.ExitCode()).To(Equal(0))
		Expect(string(s.Out.Contents())).To(Equal(topology + "+ hermes-gateway-coder  create (down)  profile_added\n" +
			"Plan: 1 to create, 0 to update, 0 to remove, 0 to start, 0 to stop.\nApply: 1 done, 0 failed.\n"))
		Expect(w.st.Calls()).To(Equal([]string{detect, show, "systemctl --user daemon-reload"}))

		By("the unit it wrote passes systemd-analyze verify")
		verify(unit())

		By("start when the intent turns to running")
		w.intent("running")
		s = w.run("--once")
		Expect(s.ExitCode()).To(Equal(0))
		Expect(string(s.Out.Contents())).To(HavePrefix(topology + "> hermes-gateway-coder  start  intent_running\n"))
		Expect(w.st.Calls()).To(Equal([]string{detect, show, "systemctl --user enable " + svc, "systemctl --user start " + svc}))

		By("a second pass only reads")
		s = w.run("--once", "--detailed-exitcode")
		Expect(s.ExitCode()).To(Equal(0))
		Expect(string(s.Out.Contents())).To(Equal(topology + "No changes. Services match the profiles.\n"))
		Expect(w.st.Calls()).To(Equal([]string{detect, show}))

		By("status shows the one service, with the manager's own words")
		w.st.Set(svc+".state", "activating auto-restart\n")
		s = w.run("status")
		Expect(s.ExitCode()).To(Equal(0))
		Expect(string(s.Out.Contents())).To(MatchRegexp(`^PROFILE\s+SLOT\s+INTENT\s+WANT\s+ACTUAL\s+PID\s+UPTIME\s+LAST EXIT\s+NOTE\n` +
			`coder\s+hermes-gateway-coder\s+running\s+up\s+activating\s+-\s+-\s+-\s+auto-restart, unit file enabled\n` + regexp.QuoteMeta(topology) + `$`))
		s = w.run("status", "--output", "json")
		evs := ndjson(s.Out.Contents())
		Expect(evs).To(HaveLen(3))
		Expect(evs[2]).To(HaveKeyWithValue("type", "topology"))
		Expect(evs[0]).To(HaveKeyWithValue("type", "version"))
		Expect(evs[0]).To(HaveKeyWithValue("backend", "systemd"))
		Expect(evs[0]).To(HaveKeyWithValue("mode", "status"))
		Expect(keys(evs[1])).To(ConsistOf(statusKeys))
		Expect(evs[1]).To(HaveKeyWithValue("actual", "activating"))
		Expect(evs[1]).To(HaveKeyWithValue("intent", "running"))
		Expect(evs[1]).To(HaveKeyWithValue("slot", "hermes-gateway-coder"))
		s = w.run("--once")
		Expect(string(s.Out.Contents())).To(Equal(topology+"No changes. Services match the profiles.\n"), "activating is up: nothing to start")
		w.st.Set(svc+".state", "active running\n")

		By("a stale unit is rewritten and reloaded")
		writeFile(unit(), "[Service]\nExecStart=/bin/false\n")
		s = w.run("--once", "--output", "json")
		Expect(s.ExitCode()).To(Equal(0))
		evs = ndjson(s.Out.Contents())
		Expect(evs[0]).To(HaveKeyWithValue("schema", BeNumerically("==", 2)))
		Expect(evs[1]).To(HaveKeyWithValue("type", "topology"))
		Expect(evs[2]).To(HaveKeyWithValue("type", "planned_change"))
		Expect(evs[2]["change"]).To(Equal(map[string]any{"action": "update", "slot": "hermes-gateway-coder", "profile": "coder",
			"reason": "spec_changed", "files": []any{svc}, "want": nil}))
		Expect(evs[3]).To(HaveKeyWithValue("type", "apply_start"))
		Expect(evs[4]).To(HaveKeyWithValue("type", "apply_progress"))
		n := len(evs)
		Expect(evs[n-3]).To(HaveKeyWithValue("type", "applied_change"))
		Expect(evs[n-3]).To(HaveKeyWithValue("result", "ok"))
		Expect(evs[n-2]).To(HaveKeyWithValue("type", "apply_complete"))
		Expect(evs[n-1]).To(HaveKeyWithValue("type", "change_summary"))
		Expect(evs[n-1]).To(HaveKeyWithValue("update", BeNumerically("==", 1)))
		Expect(w.st.Calls()).To(Equal([]string{detect, show, "systemctl --user daemon-reload"}))
		verify(unit())

		By("stop when the intent turns to stopped")
		w.intent("stopped")
		s = w.run("--once")
		Expect(string(s.Out.Contents())).To(HavePrefix(topology + "< hermes-gateway-coder  stop  intent_stopped\n"))
		Expect(w.st.Calls()).To(Equal([]string{detect, show, "systemctl --user disable " + svc, "systemctl --user stop " + svc}))

		By("remove when the profile is tombstoned")
		writeFile(filepath.Join(w.root, "profiles", ".deleted", "coder"), "")
		s = w.run("--dry-run")
		Expect(string(s.Out.Contents())).To(Equal(topology + "- hermes-gateway-coder  remove  profile_tombstoned\n" +
			"Plan: 0 to create, 0 to update, 1 to remove, 0 to start, 0 to stop.\n"))
		s = w.run("--once")
		Expect(s.ExitCode()).To(Equal(0))
		Expect(w.st.Calls()).To(Equal([]string{detect, show, "systemctl --user stop " + svc,
			"systemctl --user disable " + svc, "systemctl --user daemon-reload"}))
		Expect(unit()).NotTo(BeAnExistingFile())
		s = w.run("status")
		Expect(string(s.Out.Contents())).To(MatchRegexp(`coder\s+hermes-gateway-coder\s+-\s+-\s+missing\s+.*profile_tombstoned`))
	})

	It("runs watch mode from the one loop: a profile change reaches the manager at once", func() {
		w.intent("stopped")
		w.st.Reset()
		cmd := exec.Command(binary, "--backend", "systemd", "-v", "1")
		cmd.Env = w.env
		s, err := gexec.Start(cmd, GinkgoWriter, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() {
			s.Signal(syscall.SIGTERM)
			Eventually(s, 10*time.Second).Should(gexec.Exit(0))
		})
		Eventually(w.st.Calls, 10*time.Second).Should(ContainElement("systemctl --user daemon-reload"), "the first pass installs it")
		Eventually(s.Err, 10*time.Second).Should(gbytes.Say(`"msg":"first pass complete; ready"`))
		Expect(unit()).To(BeARegularFile())

		w.st.Reset()
		t0 := time.Now()
		writeFile(filepath.Join(w.home, "gateway_state.json.tmp"), `{"desired_state": "running"}`)
		Expect(os.Rename(filepath.Join(w.home, "gateway_state.json.tmp"), filepath.Join(w.home, "gateway_state.json"))).To(Succeed())
		Eventually(w.st.Calls, 5*time.Second, 10*time.Millisecond).Should(ContainElement("systemctl --user start " + svc))
		GinkgoWriter.Printf("intent written -> systemctl start: %v\n", time.Since(t0))

		By("another profile's change is not this host's")
		w.st.Reset()
		writeFile(filepath.Join(w.root, "profiles", "other", "SOUL.md"), "other\n")
		Consistently(w.st.Calls, time.Second).ShouldNot(ContainElement(ContainSubstring("hermes-gateway-other")))
	})

	It("names the enable-linger fix when the user manager cannot be reached, without hanging", func() {
		w.st.Set("no-user-manager", "")
		w.intent("running")
		start := time.Now()
		s := w.run("--once", "--backend", "systemd")
		Expect(time.Since(start)).To(BeNumerically("<", 10*time.Second))
		Expect(s.ExitCode()).To(Equal(1))
		Expect(string(s.Err.Contents())).To(ContainSubstring("cannot reach the user service manager"))
		Expect(string(s.Err.Contents())).To(MatchRegexp("sudo loginctl enable-linger [^ ]+"))
		Expect(string(s.Out.Contents())).To(BeEmpty())
		Expect(unit()).NotTo(BeAnExistingFile())

		s = w.run("status", "--backend", "systemd", "--output", "json")
		Expect(s.ExitCode()).To(Equal(1))
		evs := ndjson(s.Out.Contents())
		Expect(evs[1]).To(HaveKeyWithValue("actual", "unknown"))
		Expect(evs[1]["note"]).To(ContainSubstring("enable-linger"))
		Expect(evs[2]).To(HaveKeyWithValue("type", "topology"))
		Expect(evs[3]).To(HaveKeyWithValue("type", "diagnostic"))
		Expect(evs[3]).To(HaveKeyWithValue("severity", "error"))
		Expect(evs[4]).To(HaveKeyWithValue("type", "change_summary"))
	})

	It("keeps the s6 path when a scandir is given, whatever PID 1 is", func() {
		w.env = append(w.env, "HERMES_RECONCILE_SCANDIR="+filepath.Join(w.dir, "no-scandir"))
		s := w.run("--once", "--output", "json")
		Expect(s.ExitCode()).To(Equal(1))
		Expect(ndjson(s.Out.Contents())[0]).To(HaveKeyWithValue("backend", "s6"))
		Expect(w.st.Calls()).To(BeEmpty(), "no systemctl call on the s6 path")
	})

	It("says so when no service manager answers", func() {
		// Without the stand-ins this machine's own systemctl (if any) finds
		// no running systemd; nothing else matches either.
		var env []string
		for _, kv := range w.env {
			if len(kv) > 5 && kv[:5] == "PATH=" {
				kv = "PATH=" + os.Getenv("PATH")
			}
			env = append(env, kv)
		}
		w.env = env
		s := w.run("--dry-run")
		Expect(s.ExitCode()).To(Equal(1))
		Expect(string(s.Err.Contents())).To(ContainSubstring("no supported service manager detected"))
		Expect(string(s.Err.Contents())).To(ContainSubstring("s6: PID 1 is"))
		Expect(string(s.Err.Contents())).To(ContainSubstring("--backend"))
	})

	It("refuses --system for another backend and without root", func() {
		s := w.run("--once", "--backend", "launchd", "--system")
		Expect(s.ExitCode()).To(Equal(1))
		Expect(string(s.Err.Contents())).To(ContainSubstring("--system applies to the systemd backend"))
	})
})

// verify runs systemd-analyze verify --user on a unit: no output at all.
func verify(unit string) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		Skip("systemd-analyze is not installed (apt-get install systemd): the unit cannot be verified here")
	}
	xdg := filepath.Join(GinkgoT().TempDir(), "xdg")
	Expect(os.Mkdir(xdg, 0o700)).To(Succeed())
	cmd := exec.Command(analyze, "verify", "--man=no", "--user", unit)
	cmd.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+xdg)
	out, err := cmd.CombinedOutput()
	Expect(string(out)).To(BeEmpty())
	Expect(err).NotTo(HaveOccurred())
}
