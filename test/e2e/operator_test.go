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
)

// runEnv runs the binary with env instead of the world's, and waits.
func (w *world) runEnv(env []string, args ...string) *gexec.Session {
	cmd := exec.Command(binary, args...)
	cmd.Env = env
	s, err := gexec.Start(cmd, GinkgoWriter, GinkgoWriter)
	Expect(err).NotTo(HaveOccurred())
	Eventually(s, 60*time.Second).Should(gexec.Exit())
	return s
}

// with is the world's environment plus kv.
func (w *world) with(kv ...string) []string { return append(append([]string{}, w.Env...), kv...) }

// ndjsonTypes are the "type" of each NDJSON line, in order.
func ndjsonTypes(out []byte) []string {
	var types []string
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var ev struct{ Type string }
		Expect(json.Unmarshal(sc.Bytes(), &ev)).To(Succeed(), "%s", sc.Text())
		types = append(types, ev.Type)
	}
	return types
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}

func lastIndexOf(list []string, s string) int {
	for i := len(list) - 1; i >= 0; i-- {
		if list[i] == s {
			return i
		}
	}
	return -1
}

var _ = Describe("operator safety and truthfulness", func() {
	var w *world
	BeforeEach(func() { w = newWorld("home") })

	converge := func() {
		s := w.Run("--once")
		Expect(s).To(gexec.Exit(0), "%s", s.Err.Contents())
		Expect(w.Slots()).To(ConsistOf("gateway-default", "gateway-alpha", "gateway-beta", "gateway-gamma"))
	}

	It("1: removes nothing from a HERMES_HOME holding only logs/, and holds a mass removal until allowed", func() {
		converge()
		By("a home swapped for one with only the loggers' logs/")
		entries, err := os.ReadDir(w.Home)
		Expect(err).NotTo(HaveOccurred())
		saved := filepath.Join(filepath.Dir(w.Home), "saved")
		Expect(os.Mkdir(saved, 0o755)).To(Succeed())
		for _, e := range entries {
			Expect(os.Rename(filepath.Join(w.Home, e.Name()), filepath.Join(saved, e.Name()))).To(Succeed())
		}
		Expect(os.MkdirAll(filepath.Join(w.Home, "logs", "gateways", "alpha"), 0o755)).To(Succeed())
		s := w.Run("--dry-run")
		Expect(s).To(gexec.Exit(0))
		Expect(string(s.Out.Contents())).NotTo(ContainSubstring("remove"))
		Expect(string(s.Err.Contents())).To(ContainSubstring("Warning: " + w.Home + ": HERMES_HOME holds no Hermes data (no config.yaml, SOUL.md, .env, profiles/ or gateway_state.json; not mounted?): no slot will be removed; check the volume and --home (HERMES_HOME)"))
		s = w.Run("--once")
		Expect(s).To(gexec.Exit(0))
		Expect(w.Slots()).To(ConsistOf("gateway-default", "gateway-alpha", "gateway-beta", "gateway-gamma"))

		By("a real home whose every named profile is gone")
		Expect(os.RemoveAll(w.Home)).To(Succeed())
		Expect(os.Rename(saved, w.Home)).To(Succeed())
		for _, p := range []string{"alpha", "beta", "gamma", "broken", "Upper", "epsilon", "default"} {
			Expect(os.RemoveAll(filepath.Join(w.Home, "profiles", p))).To(Succeed())
		}
		s = w.Run("--once")
		Expect(s).To(gexec.Exit(0))
		out := string(s.Out.Contents())
		for _, p := range []string{"alpha", "beta", "gamma"} {
			Expect(out).To(ContainSubstring("= gateway-" + p + "  remove held  mass_removal: profile_removed, held with the other removals (see the warning)"))
		}
		Expect(string(s.Err.Contents())).To(ContainSubstring("Warning: the pass would remove 3 of 3 named services at once, more than --max-remove one or a quarter allows: none removed; if those profiles really are gone, run once with --allow-mass-remove (HERMES_RECONCILE_ALLOW_MASS_REMOVE=1)"))
		Expect(w.Slots()).To(ConsistOf("gateway-default", "gateway-alpha", "gateway-beta", "gateway-gamma"))
		w.UpPID("alpha")

		By("a share allows some: --max-remove 50% still holds 3 of 3")
		s = w.Run("--once", "--max-remove", "50%")
		Expect(s).To(gexec.Exit(0))
		Expect(w.Slots()).To(HaveLen(4))

		By("--allow-mass-remove removes them")
		s = w.runEnv(w.with("HERMES_RECONCILE_ALLOW_MASS_REMOVE=yes"), "--once")
		Expect(s).To(gexec.Exit(0), "%s", s.Err.Contents())
		Expect(w.Slots()).To(ConsistOf("gateway-default"))
	})

	It("2: prints no plan and no 'No changes.' on a fatal error, and names the path and the fix", func() {
		missing := filepath.Join(filepath.Dir(w.Home), "nohome")
		file := filepath.Join(filepath.Dir(w.Home), "afile")
		writeFile(file, "x")
		cases := []struct {
			args []string
			env  []string
			err  string
		}{
			{[]string{"--dry-run"}, []string{"HERMES_HOME=" + missing}, "Error: HERMES_HOME missing: " + missing + " does not exist (is the volume mounted? set --home or HERMES_HOME)\n"},
			{[]string{"--once"}, []string{"HERMES_HOME=" + file}, "Error: HERMES_HOME missing: " + file + " is a file, not a directory (set --home or HERMES_HOME to the profile root)\n"},
			{[]string{"--once"}, []string{"HERMES_RECONCILE_SCANDIR=" + file}, "Error: scandir missing: " + file + " is not a directory (set --scandir or S6_PROFILE_GATEWAY_SCANDIR to the s6 scandir)\n"},
			{[]string{"--dry-run"}, []string{"HERMES_RECONCILE_SCANDIR=" + missing}, "Error: scandir missing: " + missing + " does not exist (is s6-overlay up? set --scandir or S6_PROFILE_GATEWAY_SCANDIR)\n"},
		}
		for _, c := range cases {
			s := w.runEnv(w.with(c.env...), c.args...)
			Expect(s).To(gexec.Exit(1), "%v %v", c.args, c.env)
			Expect(string(s.Out.Contents())).To(BeEmpty(), "%v %v: stdout", c.args, c.env)
			Expect(string(s.Err.Contents())).To(Equal(c.err), "%v %v", c.args, c.env)

			s = w.runEnv(w.with(c.env...), append(c.args, "--output", "json")...)
			Expect(s).To(gexec.Exit(1))
			Expect(ndjsonTypes(s.Out.Contents())).To(Equal([]string{"version", "diagnostic", "change_summary"}), "%v %v", c.args, c.env)
			lines := strings.Split(strings.TrimSpace(string(s.Out.Contents())), "\n")
			var d map[string]any
			Expect(json.Unmarshal([]byte(lines[1]), &d)).To(Succeed())
			Expect(d).To(HaveKeyWithValue("severity", "error"))
			Expect(d).To(HaveKeyWithValue("message", strings.TrimSuffix(strings.TrimPrefix(c.err, "Error: "), "\n")))
		}
		Expect(w.Slots()).To(BeEmpty())
	})

	It("3: rejects wrong input at parse time with one line, exit 64, and applies nothing", func() {
		cases := []struct {
			args []string
			env  []string
			line string
		}{
			{[]string{"--timeout", "-1s", "--once"}, nil, "hermes-reconcile: --timeout: want a duration of at least 1ms; got -1s\n"},
			{[]string{"--resync", "0"}, nil, "hermes-reconcile: --resync: want a duration of at least 1s; got 0\n"},
			{[]string{"--quiet", "-5ms"}, nil, "hermes-reconcile: --quiet: want a duration from 0 to 1m0s; got -5ms\n"},
			{[]string{"--max-services", "-5"}, nil, "hermes-reconcile: --max-services: want a whole number from 0 to 1048576; got \"-5\"\n"},
			{[]string{"--restart-sec", "-5"}, nil, "hermes-reconcile: --restart-sec: want a whole number from 0 to 86400; got \"-5\"\n"},
			{[]string{"--quiet", "5s", "--max-delay", "1s"}, nil, "hermes-reconcile: --quiet 5s is longer than --max-delay 1s: a burst would wait past its bound; make --quiet shorter or --max-delay longer\n"},
			{[]string{"--once"}, []string{"HERMES_RECONCILE_DRYRUN=true"}, "hermes-reconcile: HERMES_RECONCILE_DRYRUN is not a setting (did you mean HERMES_RECONCILE_DRY_RUN?); nothing was done\n"},
			{[]string{"--once"}, []string{"HERMES_RECONCILE_DRY_RUN=maybe"}, "hermes-reconcile: HERMES_RECONCILE_DRY_RUN=\"maybe\": want a boolean: 1, true, yes, on or 0, false, no, off; got \"maybe\"\n"},
			{[]string{"status", "--once"}, nil, "hermes-reconcile: --once and status are two modes: give one (status never changes anything; unpark is a pass of its own)\n"},
			{[]string{"--once", "--", "status"}, nil, "hermes-reconcile: --once and status are two modes: give one (status never changes anything; unpark is a pass of its own)\n"},
		}
		for _, c := range cases {
			s := w.runEnv(w.with(c.env...), c.args...)
			Expect(s).To(gexec.Exit(64), "%v %v", c.args, c.env)
			Expect(string(s.Err.Contents())).To(Equal(c.line), "%v %v", c.args, c.env)
			Expect(string(s.Out.Contents())).To(BeEmpty())
		}
		Expect(w.Slots()).To(BeEmpty(), "the typo'd dry-run twin applied nothing")

		By("yes is true everywhere: HERMES_RECONCILE_DRY_RUN=yes is a dry run")
		s := w.runEnv(w.with("HERMES_RECONCILE_DRY_RUN=yes"))
		Expect(s).To(gexec.Exit(0))
		Expect(string(s.Out.Contents())).To(ContainSubstring("+ gateway-alpha  create (up)  profile_added"))
		Expect(w.Slots()).To(BeEmpty())
	})

	It("4: status exits 0 when all that should run runs, 3 with a crash-looping gateway or s6-svscan down, 1 on error", func() {
		modes := GinkgoT().TempDir()
		w.Env = w.with("HERMES_RECONCILE_ENV=FAKE_GATEWAY_DIR=" + modes)
		converge()
		w.UpPID("default")
		w.UpPID("alpha")
		s := w.Run("status")
		Expect(s).To(gexec.Exit(0), "%s", s.Out.Contents())

		By("without the render flags, status shows no drift: it renders as the slots record")
		bare := []string{"PATH=" + os.Getenv("PATH"), "HERMES_HOME=" + w.Home, "HERMES_RECONCILE_SCANDIR=" + w.Scandir, "NO_COLOR=1",
			"HERMES_RECONCILE_HERMES_VERSION=0.21.3"} // not a render flag: the topology it decides is the world's
		s = w.runEnv(bare, "status", "--output", "wide")
		Expect(s).To(gexec.Exit(0), "%s", s.Out.Contents())
		Expect(string(s.Out.Contents())).NotTo(ContainSubstring("pending: update"))
		Expect(string(s.Out.Contents())).To(MatchRegexp(`alpha\s+gateway-alpha\s+running\s+up\s+up\s+\d+\s+\S+\s+-\s+yes\s+yes\s+-`))

		By("a crash-looping gateway")
		writeFile(filepath.Join(modes, "alpha.mode"), "exit1")
		Expect(exec.Command("s6-svc", "-k", w.Slot("alpha")).Run()).To(Succeed())
		Eventually(func() int { return w.Run("status").ExitCode() }, 20*time.Second).Should(Equal(3))
		s = w.Run("status", "alpha", "--output", "json")
		Expect(s).To(gexec.Exit(3))
		var row map[string]any
		Expect(json.Unmarshal([]byte(strings.Split(strings.TrimSpace(string(s.Out.Contents())), "\n")[1]), &row)).To(Succeed())
		Expect(row).To(HaveKeyWithValue("profile", "alpha"))
		Expect(row).To(HaveKeyWithValue("healthy", false))
		Expect(ndjsonTypes(s.Out.Contents())).To(Equal([]string{"version", "status", "topology"}), "status alpha: one row")
		Expect(w.Run("status", "beta").ExitCode()).To(Equal(0), "beta should not run, and does not")

		By("s6-svscan down: one line, exit 3")
		writeFile(filepath.Join(modes, "alpha.mode"), "")
		w.StopSvscan()
		s = w.Run("status")
		Expect(s).To(gexec.Exit(3))
		Expect(strings.Count(string(s.Err.Contents()), "s6-svscan is not running")).To(Equal(1), "%s", s.Err.Contents())
		Expect(string(s.Err.Contents())).To(ContainSubstring("Error: s6-svscan is not running on the scandir " + w.Scandir + ": every slot is unsupervised"))

		By("an error: exit 1")
		s = w.runEnv(w.with("HERMES_HOME="+filepath.Join(w.Home, "nope")), "status")
		Expect(s).To(gexec.Exit(1))
	})

	It("5: prints the plan and the capacity warning before applying, then the apply's progress", func() {
		// s6-svscan takes 2 and the operator says so: the slots past it are
		// refused (exit 1), after a plan that warned first. (With a larger
		// real limit the refusal would depend on whether the pass looks
		// before s6-svscan has taken every slot.)
		w.StopSvscan()
		w.StartSvscan("-c", "2")
		s := w.Run("--once", "--output", "json", "--max-services", "2")
		Expect(s).To(gexec.Exit(1), "%s", s.Err.Contents())
		types := ndjsonTypes(s.Out.Contents())
		start := indexOf(types, "apply_start")
		Expect(start).To(BeNumerically(">", 0), "%v", types)
		Expect(lastIndexOf(types, "planned_change")).To(BeNumerically("<", start), "%v", types)
		Expect(indexOf(types, "diagnostic")).To(BeNumerically("<", start), "%v: the capacity warning first", types)
		Expect(indexOf(types, "apply_progress")).To(BeNumerically(">", start))
		Expect(indexOf(types, "applied_change")).To(BeNumerically(">", start))
		Expect(indexOf(types, "apply_complete")).To(Equal(len(types) - 2))
		Expect(types[len(types)-1]).To(Equal("change_summary"))
		Expect(string(s.Out.Contents())).To(ContainSubstring("the scandir would hold 4 services, over s6-svscan's limit of 2"))
		var done map[string]any
		lines := strings.Split(strings.TrimSpace(string(s.Out.Contents())), "\n")
		Expect(json.Unmarshal([]byte(lines[len(lines)-2]), &done)).To(Succeed())
		Expect(done).To(HaveKeyWithValue("changes", BeNumerically("==", 4)))
	})

	It("6: says 'did you mean' in one line for a typo, and documents every flag with its twin and default", func() {
		s := w.Run("--dryrun")
		Expect(s).To(gexec.Exit(64))
		Expect(string(s.Err.Contents())).To(Equal("hermes-reconcile: unknown flag --dryrun (did you mean --dry-run?); see hermes-reconcile --help\n"))
		s = w.Run("stauts")
		Expect(s).To(gexec.Exit(64))
		Expect(string(s.Err.Contents())).To(Equal("hermes-reconcile: unknown command \"stauts\" (did you mean status?); the commands are status, unpark, explain, help, version or completion\n"))
		s = w.Run("--quiet", "abc")
		Expect(s).To(gexec.Exit(64))
		Expect(string(s.Err.Contents())).To(Equal("hermes-reconcile: --quiet: want a duration such as 500ms, 10s or 1m30s (from 0 to 1m0s); got \"abc\"\n"))

		for _, args := range [][]string{{"--help"}, {"help"}} {
			s = w.Run(args...)
			Expect(s).To(gexec.Exit(0))
			help := string(s.Out.Contents())
			for _, want := range []string{"Modes:", "Paths:", "Output:", "Watch tuning:", "Rendering (the s6 slots' scripts):", "Host backends (no s6):",
				"  --dry-run ", "[env: HERMES_RECONCILE_DRY_RUN]", "  --quiet DURATION ", "[default: 100ms; env: HERMES_RECONCILE_QUIET]", "64  usage"} {
				Expect(help).To(ContainSubstring(want), "%v", args)
			}
			Expect(help).NotTo(ContainSubstring("  -dry-run"))
		}
		for _, args := range [][]string{{"--version"}, {"version"}} {
			s = w.Run(args...)
			Expect(s).To(gexec.Exit(0))
			Expect(string(s.Out.Contents())).To(MatchRegexp(`^hermes-reconcile \S+ \(commit \S+, \S+\) go1\.\S+ linux/(amd64|arm64)\n$`))
		}
	})

	It("7: in watch mode, is ready only after a pass could run, logs the missing home once, and starts with one line of its settings", func() {
		missing := filepath.Join(filepath.Dir(w.Home), "later")
		r, wr, err := os.Pipe()
		Expect(err).NotTo(HaveOccurred())
		cmd := exec.Command(binary, "--notify-fd", "3", "--backoff-max", "1s")
		cmd.Env = w.with("HERMES_HOME=" + missing)
		cmd.ExtraFiles = []*os.File{wr}
		s, err := gexec.Start(cmd, GinkgoWriter, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		Expect(wr.Close()).To(Succeed())
		DeferCleanup(func() { s.Terminate().Wait(10 * time.Second) })
		ready := make(chan string, 1)
		go func() {
			line, _ := bufio.NewReader(r).ReadString('\n')
			ready <- line
		}()
		Eventually(s.Err).Should(gbytes.Say(`"msg":"hermes-reconcile starting".*"home":"` + regexpQuote(missing) + `".*"scandir":"` + regexpQuote(w.Scandir) + `".*"backend":"s6"`))
		Consistently(ready, 3*time.Second).ShouldNot(Receive())
		Expect(strings.Count(string(s.Err.Contents()), "does not exist (is the volume mounted?")).To(Equal(1), "one line while the state stays")

		Expect(os.Rename(w.Home, missing)).To(Succeed())
		Eventually(ready, 10*time.Second).Should(Receive(Equal("\n")))
		Eventually(func() []string { return w.Slots() }).Should(ContainElement("gateway-alpha"))

		By("the s6-overlay bundle entry is where 3.2.3.2 looks, and where older 3.x does")
		for _, dir := range []string{"user-bundles.d/user/contents.d", "s6-rc.d/user/contents.d"} {
			Expect(filepath.Join(repoRoot(), "deploy", "s6-overlay", "etc", "s6-overlay", dir, "hermes-reconcile-pipeline")).To(BeAnExistingFile())
		}
		Expect(readFile(filepath.Join(repoRoot(), "deploy", "s6-overlay", "etc", "s6-overlay", "s6-rc.d", "hermes-reconcile-log", "pipeline-name"))).To(Equal("hermes-reconcile-pipeline\n"))
	})

	It("8: shows what an update changes (secrets masked) and explains one profile", func() {
		converge()
		s := w.Run("--dry-run", "--diff", "--env", "TOKEN=s3cret")
		Expect(s).To(gexec.Exit(0))
		out := string(s.Out.Contents())
		Expect(out).To(ContainSubstring("~ gateway-alpha  update run (restart)  spec_changed"))
		Expect(out).To(ContainSubstring("--- gateway-alpha/run (now)\n+++ gateway-alpha/run (planned)\n@@ "))
		Expect(out).To(ContainSubstring("\n+export TOKEN=(masked)\n"))
		Expect(out).NotTo(ContainSubstring("s3cret"))

		s = w.Run("explain", "beta")
		Expect(s).To(gexec.Exit(0))
		out = string(s.Out.Contents())
		Expect(out).To(MatchRegexp(`Directory:\s+` + regexpQuote(w.ProfileDir("beta")) + ` \(exists\)`))
		Expect(out).To(MatchRegexp(`Files:\s+config.yaml, SOUL.md, gateway_state.json`))
		Expect(out).To(MatchRegexp(`Intent:\s+stopped \(desired_state in ` + regexpQuote(filepath.Join(w.ProfileDir("beta"), "gateway_state.json")) + `: enforced on every pass\)`))
		Expect(out).To(MatchRegexp(`Wants:\s+down \(intent_stopped\)`))
		Expect(out).To(MatchRegexp(`Service:\s+gateway-beta: down \(supervised; written by hermes-reconcile\)`))
		Expect(out).To(MatchRegexp(`Plan:\s+nothing: in step`))

		writeAtomic(filepath.Join(w.ProfileDir("beta"), "gateway_state.json"), `{"desired_state":"running"}`)
		s = w.Run("explain", "beta", "--settle", "0")
		Expect(s).To(gexec.Exit(0))
		Expect(string(s.Out.Contents())).To(MatchRegexp(`Plan:\s+> gateway-beta  start  intent_running`))
	})
})
