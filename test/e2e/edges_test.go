//go:build linux

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"

	"github.com/hermes-reconcile/hermes-reconcile/test/testkit"
)

// handOver gives the world's home and scandir to acct and runs the
// binary as acct from now on, as a cont-init that drops privileges would.
func (w *world) handOver(acct testkit.Account) {
	Expect(filepath.WalkDir(w.Home, func(path string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, acct.UID, acct.GID)
	})).To(Succeed())
	for _, f := range []string{"", ".s6-svscan", ".s6-svscan/control", ".s6-svscan/lock"} {
		Expect(os.Lchown(filepath.Join(w.Scandir, f), acct.UID, acct.GID)).To(Succeed())
	}
	w.As = acct.Cred()
}

// errLines are the lines of stderr that say an error.
func errLines(s *gexec.Session) []string {
	var out []string
	for _, l := range strings.Split(string(s.Err.Contents()), "\n") {
		if strings.HasPrefix(l, "Error: ") {
			out = append(out, l)
		}
	}
	return out
}

// pids are the running gateways' pids, by profile.
func (w *world) pids(profiles ...string) map[string]int {
	out := map[string]int{}
	for _, p := range profiles {
		out[p] = w.UpPID(p)
	}
	return out
}

// orphanCleanup stops, when the spec ends, the supervisors a killed
// s6-svscan left: they are in its process group.
func (w *world) orphanCleanup() {
	pgid := w.Sv.Pid()
	DeferCleanup(func() { _ = syscall.Kill(-pgid, syscall.SIGTERM) })
}

var _ = Describe("the edges: errors that say what is true", func() {
	It("1: a boot that may not read HERMES_HOME fails naming the user and the fix; default is registered where the root can be read; nothing running is removed", Label("root"), func() {
		acct := testkit.HermesUser()
		w := newWorld("home")
		w.handOver(acct)
		who := fmt.Sprintf("uid %d (%s)", acct.UID, acct.Name)

		By("profiles/ refused: default is registered, the run fails")
		pdir := filepath.Join(w.Home, "profiles")
		Expect(os.Lchown(pdir, 0, 0)).To(Succeed())
		Expect(os.Chmod(pdir, 0o700)).To(Succeed())
		s := w.Run("--once")
		Expect(s).To(gexec.Exit(1), "so s6-overlay's S6_BEHAVIOUR_IF_STAGE2_FAILS sees it")
		Expect(errLines(s)).To(ContainElement("Error: " + pdir + ": cannot list profiles; no slot will be removed: permission denied: " + who +
			" cannot read it (" + pdir + " is owned by root, mode 0700); as root run `chown -R " + fmt.Sprint(acct.UID) + " " + pdir + "`, or run hermes-reconcile as root"))
		Expect(w.Slots()).To(Equal([]string{"gateway-default"}))
		Eventually(func() bool { return testkit.LockHeld(w.Slot("default")) }).Should(BeTrue(), "default supervised")

		By("readable again: the named profiles come up")
		Expect(os.Lchown(pdir, acct.UID, acct.GID)).To(Succeed())
		s = w.Run("--once")
		Expect(s).To(gexec.Exit(0), "%s", s.Err.Contents())
		before := w.pids("default", "alpha")
		slots := w.Slots()

		By("the home itself refused: no plan claims the services match, nothing changes")
		Expect(os.Lchown(w.Home, 0, 0)).To(Succeed())
		Expect(os.Chmod(w.Home, 0o700)).To(Succeed())
		DeferCleanup(func() { _ = os.Chmod(w.Home, 0o755) })
		w.createProfile("zeta", `{"desired_state":"running"}`) // a change the run must not see
		s = w.Run("--once")
		Expect(s).To(gexec.Exit(1))
		Expect(errLines(s)).To(Equal([]string{"Error: " + w.Home + ": cannot read HERMES_HOME; no slot will be removed: permission denied: " + who +
			" cannot read it (" + w.Home + " is owned by root, mode 0700); as root run `chown -R " + fmt.Sprint(acct.UID) + " " + w.Home + "`, or run hermes-reconcile as root"}))
		Expect(string(s.Out.Contents())).NotTo(ContainSubstring("Services match the profiles"))
		Expect(string(s.Out.Contents())).To(ContainSubstring("No changes made: what could not be read is left as it is (see the errors).\n"))
		Expect(w.Slots()).To(Equal(slots))
		Expect(w.pids("default", "alpha")).To(Equal(before))
	})

	It("2: a lock the user may not open names the user, the owner and the fix", Label("root"), func() {
		acct := testkit.HermesUser()
		w := newWorld("home")
		w.handOver(acct)
		lock := filepath.Join(w.Scandir, ".hermes-reconcile.lock")
		writeFile(lock, "")
		Expect(os.Chmod(lock, 0o600)).To(Succeed())
		s := w.Run("--once")
		Expect(s).To(gexec.Exit(1))
		Expect(errLines(s)).To(Equal([]string{fmt.Sprintf("Error: lock %s: permission denied: uid %d (%s) may not open it (it is owned by root); "+
			"as root run `chown %d %s`, or run hermes-reconcile as root, as the writer that made it", lock, acct.UID, acct.Name, acct.UID, lock)}))
		Expect(w.Slots()).To(BeEmpty())
	})

	It("3: s6-svscan down is said with its fix by --dry-run, --once and status, and status never calls live supervisors gone", func() {
		w := newWorld("home")
		Expect(w.Run("--once")).To(gexec.Exit(0))
		before := w.pids("default", "alpha")
		w.createProfile("zeta", `{"desired_state":"running"}`)

		By("s6-svscan killed, its supervisors alive")
		w.orphanCleanup()
		Expect(syscall.Kill(w.Sv.Pid(), syscall.SIGKILL)).To(Succeed())
		Eventually(func() (bool, error) {
			return testkit.FIFOListening(filepath.Join(w.Scandir, ".s6-svscan", "control"))
		}).Should(BeFalse())
		fix := "(it is s6-overlay's stage 2: restart the container, or run s6-svscan " + w.Scandir + ")"
		s := w.Run("status")
		Expect(s).To(gexec.Exit(3), "zeta should run and has no slot")
		Expect(string(s.Out.Contents())).To(MatchRegexp(`(?m)^alpha\s+gateway-alpha\s+running\s+up\s+up\s+` + itoa(before["alpha"])))
		Expect(string(s.Err.Contents())).To(ContainSubstring("Warning: s6-svscan is not running on the scandir " + w.Scandir +
			": the 4 slots whose supervisors outlived it keep their gateways, but no new slot is supervised and no slot can be removed until it runs again " + fix))
		Expect(string(s.Err.Contents())).NotTo(ContainSubstring("every slot is unsupervised"))

		s = w.Run("--dry-run")
		Expect(s).To(gexec.Exit(0))
		Expect(string(s.Out.Contents())).To(ContainSubstring("+ gateway-zeta  create (up)  profile_added\n"))
		Expect(string(s.Err.Contents())).To(ContainSubstring("Warning: s6-svscan is not running on the scandir " + w.Scandir + ": the 4 slots"))

		s = w.Run("--once")
		Expect(s).To(gexec.Exit(1))
		Expect(errLines(s)).To(ContainElement("Error: nothing applied: s6-svscan is not running on the scandir " + w.Scandir + " " + fix))
		Expect(w.pids("default", "alpha")).To(Equal(before), "nothing running touched")

		By("its supervisors gone too: every slot is unsupervised, and the dry run says so")
		Expect(syscall.Kill(-w.Sv.Pid(), syscall.SIGTERM)).To(Succeed())
		Eventually(func() bool { return testkit.LockHeld(w.Slot("alpha")) }).Should(BeFalse())
		s = w.Run("--dry-run")
		Expect(s).To(gexec.Exit(0))
		Expect(string(s.Out.Contents())).To(ContainSubstring("~ gateway-alpha  update (register)  not_supervised"))
		Expect(string(s.Err.Contents())).To(ContainSubstring("Warning: s6-svscan is not running on the scandir " + w.Scandir +
			": every slot is unsupervised, and no gateway is started or stopped until it runs " + fix))
	})

	It("4: the summary names each hold's own cause", func() {
		w := newWorld("home")
		Expect(w.Run("--once")).To(gexec.Exit(0))
		for _, p := range []string{"alpha", "beta", "gamma"} {
			Expect(os.RemoveAll(w.ProfileDir(p))).To(Succeed())
		}
		s := w.Run("--dry-run")
		Expect(s).To(gexec.Exit(0))
		Expect(string(s.Out.Contents())).To(ContainSubstring("No changes now. 3 removals held by the mass-removal guard.\n"))
		Expect(string(s.Out.Contents())).NotTo(ContainSubstring("another writer"))

		By("a gateway failed for good (exit 78) beside them")
		Expect(w.Run("--once", "--allow-mass-remove")).To(gexec.Exit(0))
		modes := GinkgoT().TempDir()
		w.Env = w.with("HERMES_RECONCILE_ENV=FAKE_GATEWAY_DIR=" + modes)
		writeFile(filepath.Join(modes, "default.mode"), "exit78")
		Expect(w.Run("--once")).To(gexec.Exit(0))
		Eventually(func() string { return string(w.Run("--dry-run").Out.Contents()) }).Should(
			ContainSubstring("No changes now. 1 held until their inputs or intent change.\n"))
	})

	It("5: when s6-svscan's limit refuses slots, gateway-default is never one of them", func() {
		w := newWorld("home")
		for i := range 12 {
			// Names that sort before "default": published in name order,
			// they would fill s6-svscan's places first.
			w.createProfile(fmt.Sprintf("a%02d", i), `{"desired_state":"running"}`)
		}
		w.StopSvscan()
		w.StartSvscan("-c", "8")
		s := w.Run("--once", "--timeout", "5s")
		Expect(s).To(gexec.Exit(1), "slots past the limit are refused")
		Expect(string(s.Err.Contents())).To(ContainSubstring("over s6-svscan's limit of 8"))
		Expect(w.supervised("default")).To(BeTrue(), "the root profile's gateway is the last to be refused")
		supervised := 0
		for _, slot := range w.Slots() {
			if w.supervised(strings.TrimPrefix(slot, "gateway-")) {
				supervised++
			}
		}
		Expect(supervised).To(Equal(8))
	})
})

var _ = Describe("the edges: names and exit codes as systemctl and kubectl users expect", func() {
	var w *world
	BeforeEach(func() {
		w = newWorld("home")
		Expect(w.Run("--once")).To(gexec.Exit(0))
		w.UpPID("alpha")
	})

	It("6: a name that is nothing exits 4 with a did-you-mean; explain explains an invalid name; unpark says when there is nothing to unpark; WANT is one word", func() {
		for _, args := range [][]string{{"status", "alpah"}, {"explain", "alpah"}, {"unpark", "alpah"}} {
			s := w.Run(args...)
			Expect(s).To(gexec.Exit(4), "%v", args)
			Expect(errLines(s)).To(Equal([]string{`Error: no such profile or unit: "alpah" (did you mean alpha?)`}), "%v", args)
		}
		s := w.Run("status", "nobody-at-all")
		Expect(s).To(gexec.Exit(4))
		Expect(errLines(s)).To(Equal([]string{`Error: no such profile or unit: "nobody-at-all"`}))
		s = w.Run("status", "gateway-alpha")
		Expect(s).To(gexec.Exit(4))
		Expect(errLines(s)).To(Equal([]string{`Error: "gateway-alpha" is the unit of profile alpha: name the profile`}))

		By("status of a name that exists and one that does not: the row, then the error")
		s = w.Run("status", "alpha", "nobody-at-all")
		Expect(s).To(gexec.Exit(4))
		Expect(string(s.Out.Contents())).To(MatchRegexp(`(?m)^alpha\s+gateway-alpha\s+running\s+up\s+up\s+\d+`))
		Expect(errLines(s)).To(Equal([]string{`Error: no such profile or unit: "nobody-at-all"`}))

		By("an invalid name the loader reports on is explained")
		s = w.Run("explain", "Upper")
		Expect(s).To(gexec.Exit(0))
		Expect(string(s.Out.Contents())).To(MatchRegexp(`(?m)^Wants:\s+- \(no service: invalid profile name "Upper": must match`))
		Expect(string(s.Out.Contents())).To(MatchRegexp(`(?m)^Service:\s+none$`))

		By("unpark of a gateway that runs: said, and nothing done")
		pid := w.UpPID("alpha")
		s = w.Run("unpark", "alpha")
		Expect(s).To(gexec.Exit(0))
		Expect(string(s.Out.Contents())).To(HaveSuffix("alpha is not parked and has not failed for good: nothing to unpark (up)\n"))
		Expect(w.UpPID("alpha")).To(Equal(pid))

		By("WANT: what the profiles want, in status and explain alike")
		s = w.Run("status", "beta", "-o", "json")
		Expect(s).To(gexec.Exit(0))
		row := ndjsonOf(s.Out.Contents(), "status")[0]
		Expect(row).To(HaveKeyWithValue("want", "down"))
		s = w.Run("explain", "beta", "-o", "json")
		Expect(s).To(gexec.Exit(0))
		Expect(ndjsonOf(s.Out.Contents(), "explain")[0]).To(HaveKeyWithValue("want", "down"))
		s = w.Run("explain", "beta")
		Expect(string(s.Out.Contents())).To(MatchRegexp(`(?m)^Wants:\s+down \(`))
	})

	It("7: LAST EXIT is - for a gateway that never ran; watch mode logs failures and diagnostics at their level", func() {
		s := w.Run("status", "beta")
		Expect(string(s.Out.Contents())).To(MatchRegexp(`(?m)^beta\s+gateway-beta\s+stopped\s+down\s+down\s+-\s+-\s+-\s*$`))
		s = w.Run("status", "beta", "-o", "json")
		row := ndjsonOf(s.Out.Contents(), "status")[0]
		Expect(row).To(HaveKeyWithValue("last_exit", BeNil()))
		Expect(row).To(HaveKeyWithValue("pid", BeNil()))
		Expect(row).To(HaveKeyWithValue("uptime_s", BeNil()))

		By("in watch mode: exit 78 and a crash-loop park at error level, diagnostics at theirs")
		modes := GinkgoT().TempDir()
		writeFile(filepath.Join(modes, "alpha.mode"), "exit78")
		writeFile(filepath.Join(modes, "default.mode"), "exit1")
		w.Env = w.with("HERMES_RECONCILE_ENV=FAKE_GATEWAY_DIR="+modes, "HERMES_RECONCILE_CRASH_LOOP_DEATHS=2")
		wt := w.watch()
		level := func(msg, profile string) func() any {
			return func() any {
				for _, l := range wt.logLines(msg) {
					if l["profile"] == profile {
						return l["level"]
					}
				}
				return nil
			}
		}
		Eventually(level("gateway held down", "alpha"), 30*time.Second).Should(Equal("error"), "exit 78: failed for good")
		Eventually(level("gateway parked", "default"), 30*time.Second).Should(Equal("error"), "a crash loop parked")
		Expect(level("profile diagnostic", "broken")()).To(Equal("error"))
		var warned bool
		for _, l := range wt.logLines("profile diagnostic") {
			if strings.Contains(l["diagnostic"].(string), "profiles/default/ skipped") {
				warned = l["level"] == "warn"
			}
		}
		Expect(warned).To(BeTrue(), "a warning is logged at warn")
	})

	It("8: a host backend on the wrong machine says so in one line", func() {
		for backend, want := range map[string]string{
			"launchd": "Error: --backend launchd manages macOS's services; this machine runs Linux: use --backend auto (or s6, systemd)\n",
			"windows": "Error: --backend windows manages Windows's services; this machine runs Linux: use --backend auto (or s6, systemd)\n",
		} {
			s := w.Run("--once", "--backend", backend)
			Expect(s).To(gexec.Exit(1))
			Expect(string(s.Err.Contents())).To(Equal(want))
		}
		comm, err := os.ReadFile("/proc/1/comm")
		Expect(err).NotTo(HaveOccurred())
		if strings.TrimSpace(string(comm)) == "systemd" {
			Skip("PID 1 is systemd here")
		}
		s := w.Run("--once", "--backend", "systemd")
		Expect(s).To(gexec.Exit(1))
		Expect(string(s.Err.Contents())).To(Equal("Error: --backend systemd: no systemd manager answers here (PID 1 is " +
			strings.TrimSpace(string(comm)) + "): use --backend auto, or s6 in a container\n"))
	})
})

var _ = Describe("the edges: a CLI on the ecosystem's libraries", func() {
	var w *world
	BeforeEach(func() { w = newWorld("home") })

	It("9: subcommands with their own help, -o, and a bash completion that completes stat to status", func() {
		s := w.Run("status", "--help")
		Expect(s).To(gexec.Exit(0))
		Expect(string(s.Out.Contents())).To(HavePrefix("Usage:\n  hermes-reconcile status [PROFILE...] [flags]\n"))
		Expect(string(s.Out.Contents())).To(ContainSubstring("  4   status, explain, unpark: no such profile or unit\n"))
		s = w.Run("explain", "--help")
		Expect(s).To(gexec.Exit(0))
		Expect(string(s.Out.Contents())).To(HavePrefix("Usage:\n  hermes-reconcile explain PROFILE [flags]\n"))

		s = w.Run("--dry-run", "-o", "json")
		Expect(s).To(gexec.Exit(0))
		Expect(ndjsonTypes(s.Out.Contents())[0]).To(Equal("version"))

		s = w.Run("stauts")
		Expect(s).To(gexec.Exit(64))
		Expect(string(s.Err.Contents())).To(Equal("hermes-reconcile: unknown command \"stauts\" (did you mean status?); the commands are status, unpark, explain, help, version or completion\n"))

		for _, sh := range []string{"zsh", "fish", "powershell"} {
			s = w.Run("completion", sh)
			Expect(s).To(gexec.Exit(0), sh)
			Expect(s.Out.Contents()).NotTo(BeEmpty(), sh)
		}

		By("bash loads the script and completes with the binary's own answers")
		complete := func(line string) []string {
			script := `source /usr/share/bash-completion/bash_completion
source <(hermes-reconcile completion bash)
COMP_LINE="$1"; read -ra COMP_WORDS <<<"$COMP_LINE"; [[ $COMP_LINE == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$((${#COMP_WORDS[@]}-1)); COMP_POINT=${#COMP_LINE}
__start_hermes-reconcile 2>/dev/null
printf '%s\n' "${COMPREPLY[@]}"`
			cmd := exec.Command("bash", "-c", script, "bash", line)
			cmd.Env = append(w.with(), "PATH="+filepath.Dir(binary)+":"+os.Getenv("PATH"))
			out, err := cmd.Output()
			Expect(err).NotTo(HaveOccurred())
			return strings.Fields(string(out))
		}
		Expect(complete("hermes-reconcile stat")).To(Equal([]string{"status"}))
		Expect(complete("hermes-reconcile -o ")).To(Equal([]string{"text", "json", "wide"}))
		Expect(complete("hermes-reconcile explain al")).To(Equal([]string{"alpha"}))
	})

	It("10: --diff shows a change of the final newline", func() {
		Expect(w.Run("--once")).To(gexec.Exit(0))
		run := filepath.Join(w.Slot("alpha"), "run")
		writeFile(run, strings.TrimSuffix(readFile(run), "\n"))
		s := w.Run("--dry-run", "--diff")
		Expect(s).To(gexec.Exit(0))
		Expect(string(s.Out.Contents())).To(ContainSubstring("~ gateway-alpha  update run (restart)  spec_changed\n"))
		Expect(string(s.Out.Contents())).To(MatchRegexp(`(?m)^--- gateway-alpha/run \(now\)\n\+\+\+ gateway-alpha/run \(planned\)\n`))
		Expect(string(s.Out.Contents())).To(ContainSubstring("\n\\ No newline at end of file\n"))
	})

	It("11: NDJSON is one envelope, null for what is not known, the same nesting for planned and deferred changes", func() {
		Expect(w.Run("--once")).To(gexec.Exit(0))
		for _, p := range []string{"alpha", "beta", "gamma"} {
			Expect(os.RemoveAll(w.ProfileDir(p))).To(Succeed())
		}
		w.createProfile("zeta", `{"desired_state":"running"}`)
		s := w.Run("--dry-run", "-o", "json")
		Expect(s).To(gexec.Exit(0))
		evs := ndjsonOf(s.Out.Contents(), "")
		for _, ev := range evs {
			Expect(ev).To(HaveKey("@level"))
			Expect(ev["@level"]).To(BeElementOf("info", "warn", "error"))
			Expect(ev).To(HaveKeyWithValue("@message", Not(BeEmpty())))
			Expect(ev).To(HaveKeyWithValue("@timestamp", MatchRegexp(`^\d{4}-\d\d-\d\dT`)))
			Expect(ev).To(HaveKey("type"))
		}
		Expect(evs[0]).To(HaveKeyWithValue("type", "version"))
		Expect(evs[0]).To(HaveKeyWithValue("schema", BeNumerically("==", 2)))
		var noLine, withLine bool
		for _, d := range ndjsonOf(s.Out.Contents(), "diagnostic") {
			Expect(d).To(HaveKey("line"))
			switch d["line"] {
			case nil:
				noLine = true
			default:
				withLine = true
				Expect(d["line"]).To(BeNumerically(">", 0))
			}
		}
		Expect(noLine && withLine).To(BeTrue(), "null where a diagnostic has no line, a number where it has one")
		planned := ndjsonOf(s.Out.Contents(), "planned_change")
		deferred := ndjsonOf(s.Out.Contents(), "deferred_change")
		Expect(planned).To(HaveLen(1))
		Expect(deferred).To(HaveLen(3))
		pc, dc := planned[0]["change"].(map[string]any), deferred[0]["change"].(map[string]any)
		Expect(pc).To(HaveKeyWithValue("slot", "gateway-zeta"))
		Expect(pc).To(HaveKeyWithValue("action", "create"))
		Expect(dc).To(HaveKeyWithValue("action", "remove"))
		Expect(dc).To(HaveKeyWithValue("reason", "mass_removal"))
		for _, k := range []string{"action", "slot", "profile", "reason", "want"} {
			Expect(pc).To(HaveKey(k))
			Expect(dc).To(HaveKey(k))
		}
		Expect(dc["want"]).To(BeNil())
		sum := ndjsonOf(s.Out.Contents(), "change_summary")[0]
		Expect(sum).To(HaveKeyWithValue("held", BeNumerically("==", 3)))
		Expect(sum).To(HaveKeyWithValue("error", BeNil()))
	})

	It("12: on a terminal, one progress line redrawn, no log line per action, colours unless --no-color", func() {
		for i := range 30 {
			w.createProfile(fmt.Sprintf("p%02d", i), `{"desired_state":"running"}`)
		}
		tty := func(args ...string) string {
			// script(1) gives the binary a terminal for stdout and stderr.
			line := binary
			for _, a := range args {
				line += " '" + a + "'"
			}
			cmd := exec.Command("script", "-qefc", line, "/dev/null")
			for _, kv := range w.Env {
				if !strings.HasPrefix(kv, "NO_COLOR=") && !strings.HasPrefix(kv, "HERMES_RECONCILE_LOG_FORMAT=") {
					cmd.Env = append(cmd.Env, kv)
				}
			}
			cmd.Env = append(cmd.Env, "TERM=xterm")
			out, err := cmd.Output()
			Expect(err).NotTo(HaveOccurred(), "%s", out)
			return string(out)
		}
		out := tty("--once")
		Expect(out).To(ContainSubstring("\x1b[32m+ gateway-p00  create (up)  profile_added"), "green creates")
		Expect(strings.Count(out, "\r\x1b[KApplying: step")).To(BeNumerically(">=", 2), "redrawn")
		Expect(regexp.MustCompile(`Applying: [^\r]*\r?\n`).FindAllString(out, -1)).To(BeEmpty(), "no progress line is left behind")
		Expect(out).NotTo(ContainSubstring("action done"))
		Expect(out).To(ContainSubstring("Apply: 34 done, 0 failed."))

		By("--no-color: none on a terminal either")
		w.createProfile("late", `{"desired_state":"running"}`)
		out = tty("--once", "--no-color")
		Expect(out).To(ContainSubstring("+ gateway-late  create (up)  profile_added"))
		Expect(out).NotTo(MatchRegexp(`\x1b\[3\dm`))

		By("off a terminal: one line per step")
		w.createProfile("later", `{"desired_state":"running"}`)
		s := w.Run("--once")
		Expect(s).To(gexec.Exit(0))
		Expect(string(s.Err.Contents())).To(MatchRegexp(`(?m)^Applying: step 1 of \d+ \(publish, 1 units\), 1 of 1 changes, \S+\n`))
		Expect(string(s.Err.Contents())).NotTo(ContainSubstring("\r"))
	})

	It("13: make demo installs only s6; make test the tests' packages", func() {
		demo, err := exec.Command("make", "-s", "-n", "-C", repoRoot(), "demo-deps").CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "%s", demo)
		Expect(string(demo)).To(ContainSubstring(`APT="s6"`))
		test, err := exec.Command("make", "-s", "-n", "-C", repoRoot(), "deps").CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "%s", test)
		for _, pkg := range []string{"s6", "execline", "shellcheck", "systemd", "bash-completion"} {
			Expect(string(test)).To(MatchRegexp(`APT="[^"]*\b` + pkg + `\b`))
		}
		plan, err := exec.Command("make", "-n", "-C", repoRoot(), "demo").CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "%s", plan)
		Expect(string(plan)).NotTo(ContainSubstring("shellcheck"))
	})
})

// ndjsonOf are the NDJSON events of type typ ("": all), in order.
func ndjsonOf(out []byte, typ string) []map[string]any {
	var evs []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var ev map[string]any
		Expect(json.Unmarshal([]byte(line), &ev)).To(Succeed(), "%s", line)
		if typ == "" || ev["type"] == typ {
			evs = append(evs, ev)
		}
	}
	return evs
}
