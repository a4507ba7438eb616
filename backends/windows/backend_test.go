package windows_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/hermes-reconcile/hermes-reconcile/backends/host"
	"github.com/hermes-reconcile/hermes-reconcile/backends/windows"
	"github.com/hermes-reconcile/hermes-reconcile/desired"
	"github.com/hermes-reconcile/hermes-reconcile/test/host/standin"
)

// These specs drive the backend against the stand-in schtasks and
// powershell of test/host/standins, found first on Options.Path. The stand-ins
// emulate programs that cannot run here (they are Windows's): they record
// their argv and answer as schtasks (English messages and status words
// unless the locale knob says otherwise) and PowerShell's Get-ScheduledTask
// (the TASK_STATE number) do, from one state, schtasks refusing /Create of
// an existing task without /F.
var _ = Describe("backend against a stand-in schtasks", func() {
	var (
		h        standin.Harness
		st       standin.State
		home     string
		opt      windows.Options
		settings host.Settings
	)
	writeIntent := func(state string) { standin.WriteIntent(home, state) }
	pass := func() (string, []string) { return h.Pass(must(windows.New(opt)), home, settings) }
	BeforeEach(func() {
		h = standin.NewHarness(GinkgoT().TempDir(), filepath.Join("hermes", "profiles", "coder"))
		st, home = h.State, h.Home
		opt = windows.Options{UserID: `HOST\ada`, Path: h.Path, Env: h.Env, Timeout: 5 * time.Second}
		settings = host.Settings{GatewayCommand: `C:\hermes\hermes.exe`}
	})

	It("installs, starts, does nothing, re-registers a stale task, stops and removes", func() {
		const task = "Hermes_Gateway_coder"
		xmlPath := filepath.Join(home, "gateway-service", task+".task.xml")
		cmdPath := filepath.Join(home, "gateway-service", task+".cmd")
		reads := []string{"schtasks /Query /TN " + task + " /XML", stateRead(task)}
		create := "schtasks /Create /TN " + task + " /XML " + xmlPath + " /F"

		By("install, down as the intent says")
		writeIntent("stopped")
		plan, calls := pass()
		Expect(plan).To(Equal("+ Hermes_Gateway_coder  create (down)  profile_added\n"))
		Expect(calls).To(Equal([]string{reads[0], create}))
		Expect(cmdPath).To(BeARegularFile())

		By("start when the intent turns to running")
		writeIntent("running")
		plan, calls = pass()
		Expect(plan).To(Equal("> Hermes_Gateway_coder  start  intent_running\n"))
		Expect(calls).To(Equal(append(reads, "schtasks /Run /TN "+task)))

		By("a second pass only reads")
		plan, calls = pass()
		Expect(plan).To(BeEmpty())
		Expect(calls).To(Equal(reads))

		By("a stale launcher is rewritten and the task re-registered with /F")
		Expect(os.WriteFile(cmdPath, []byte("@echo off\r\nold\r\n"), 0o644)).To(Succeed())
		plan, calls = pass()
		Expect(plan).To(Equal("~ Hermes_Gateway_coder  update Hermes_Gateway_coder.cmd  spec_changed\n"))
		Expect(calls).To(Equal(append(reads, create)))
		plan, _ = pass()
		Expect(plan).To(BeEmpty())

		By("a registered task that differs (disabled by hand) is re-registered")
		registered := filepath.Join(st.Dir, "tasks", task+".xml")
		x := windows.DecodeText(must(os.ReadFile(registered)))
		x = strings.Replace(x, "<Enabled>true</Enabled>\r\n    <Hidden>", "<Enabled>false</Enabled>\r\n    <Hidden>", 1)
		Expect(os.WriteFile(registered, []byte(x), 0o644)).To(Succeed())
		plan, calls = pass()
		Expect(plan).To(Equal("~ Hermes_Gateway_coder  update Hermes_Gateway_coder.task.xml  spec_changed\n"))
		Expect(calls).To(Equal(append(reads, create)))

		By("stop")
		writeIntent("stopped")
		plan, calls = pass()
		Expect(plan).To(Equal("< Hermes_Gateway_coder  stop  intent_stopped\n"))
		Expect(calls).To(Equal(append(reads, "schtasks /End /TN "+task)))
		plan, _ = pass()
		Expect(plan).To(BeEmpty())

		By("remove when the profile is gone")
		Expect(os.RemoveAll(home)).To(Succeed())
		plan, calls = pass()
		Expect(plan).To(Equal("- Hermes_Gateway_coder  remove  profile_removed\n"))
		Expect(calls).To(Equal(append(reads, "schtasks /End /TN "+task, "schtasks /Delete /TN "+task+" /F")))
		plan, calls = pass()
		Expect(plan).To(BeEmpty())
		Expect(calls).To(Equal(reads[:1]))
	})

	It("leaves alone a task that runs another HERMES_HOME's gateway", func() {
		writeIntent("running")
		pass()
		registered := filepath.Join(st.Dir, "tasks", "Hermes_Gateway_coder.xml")
		x := strings.ReplaceAll(windows.DecodeText(must(os.ReadFile(registered))), home, `D:\other\profiles\coder`)
		Expect(os.WriteFile(registered, []byte(x), 0o644)).To(Succeed())
		writeIntent("stopped")
		m, err := windows.New(opt)
		Expect(err).NotTo(HaveOccurred())
		out := standin.Run(context.Background(), m, home, settings)
		Expect(out.Err).NotTo(HaveOccurred())
		Expect(out.Plan.Actions).To(BeEmpty())
		Expect(out.Desired.Diagnostics).To(HaveLen(1))
		Expect(out.Desired.Diagnostics[0].Message).To(ContainSubstring("does not run a gateway of HERMES_HOME=" + home))
	})

	Describe("the run state", func() {
		const task = "Hermes_Gateway_coder"
		reads := []string{"schtasks /Query /TN " + task + " /XML", stateRead(task)}
		observe := func() (host.Observed, error) {
			m, err := windows.New(opt)
			Expect(err).NotTo(HaveOccurred())
			def, err := m.Define(settings.Service(desired.Service{Profile: "coder", Dir: home}))
			Expect(err).NotTo(HaveOccurred())
			return m.Status(context.Background(), def)
		}

		It("is the Task Scheduler's enumeration, not schtasks's localised word", func() {
			st.Set("locale", "de")
			writeIntent("running")
			plan, _ := pass()
			Expect(plan).To(Equal("+ Hermes_Gateway_coder  create (up)  profile_added\n"))
			q := exec.Command(filepath.Join(standin.Dir(), "schtasks"), "/Query", "/TN", task, "/FO", "CSV", "/NH")
			q.Env = opt.Env
			Expect(string(must(q.Output()))).To(ContainSubstring("Wird ausgef\x81hrt"), "the stand-in answers as a German Windows does")

			By("running: up, no start planned")
			plan, calls := pass()
			Expect(plan).To(BeEmpty())
			Expect(calls).To(Equal(reads))
			o := must(observe())
			Expect(o.State).To(Equal("Running"))
			Expect(o.Up).To(BeTrue())
			Expect(o.Detail).To(BeEmpty())

			By("stopped: down, a stop planned once, then nothing")
			writeIntent("stopped")
			plan, calls = pass()
			Expect(plan).To(Equal("< Hermes_Gateway_coder  stop  intent_stopped\n"))
			Expect(calls).To(Equal(append(reads, "schtasks /End /TN "+task)))
			plan, calls = pass()
			Expect(plan).To(BeEmpty())
			Expect(calls).To(Equal(reads))
			o = must(observe())
			Expect(o.State).To(Equal("Ready"))
			Expect(o.Up).To(BeFalse())
		})

		It("names every state by the enumeration", func() {
			writeIntent("stopped")
			pass()
			status := filepath.Join(st.Dir, "tasks", task+".status")
			for word, up := range map[string]bool{"Ready": false, "Running": true, "Queued": true, "Disabled": false, "Unknown": false} {
				Expect(os.WriteFile(status, []byte(word+"\n"), 0o644)).To(Succeed())
				o := must(observe())
				Expect(o.State).To(Equal(word))
				Expect(o.Up).To(Equal(up), word)
			}
		})

		It("falls back to schtasks's status word when PowerShell cannot run, trusting only English", func() {
			opt.PowerShell = "no-such-powershell"
			writeIntent("running")
			pass()
			plan, calls := pass()
			Expect(plan).To(BeEmpty())
			Expect(calls).To(Equal([]string{reads[0], "schtasks /Query /TN " + task + " /FO CSV /NH"}))
			o := must(observe())
			Expect(o.State).To(Equal("Running"))
			Expect(o.Up).To(BeTrue())
			Expect(o.Detail).To(ContainSubstring("no task state from PowerShell"))

			By("a German word is not taken for down: the state is an error, nothing is planned")
			st.Set("locale", "de")
			m, err := windows.New(opt)
			Expect(err).NotTo(HaveOccurred())
			out := standin.Run(context.Background(), m, home, settings)
			Expect(out.Err).To(MatchError(And(ContainSubstring("cannot tell whether it runs"),
				ContainSubstring(`status "Wird ausgef\x81hrt" is not an English word`), ContainSubstring("no-such-powershell"))))
			Expect(out.Plan.Actions).To(BeEmpty())
		})

		It("falls back when Get-ScheduledTask fails", func() {
			st.Set("powershell-broken", "")
			writeIntent("running")
			pass()
			st.Reset()
			o := must(observe())
			Expect(o.State).To(Equal("Running"))
			Expect(o.Up).To(BeTrue())
			Expect(st.Calls()).To(Equal([]string{reads[0], reads[1], "schtasks /Query /TN " + task + " /FO CSV /NH"}))
		})

		It("is an error, not a fallback, when PowerShell never answers", func() {
			writeIntent("running")
			pass()
			st.Set("powershell-hang", "")
			opt.Timeout = 300 * time.Millisecond
			st.Reset()
			start := time.Now()
			_, err := observe()
			Expect(time.Since(start)).To(BeNumerically("<", 5*time.Second))
			Expect(err).To(MatchError(ContainSubstring("powershell -NoProfile -NonInteractive -Command")))
			Expect(err).To(MatchError(ContainSubstring("no answer in time")))
			Expect(st.Calls()).To(Equal(reads))
		})
	})

	It("does not hang on a schtasks that never answers", func() {
		st.Set("hang", "")
		opt.Timeout = 300 * time.Millisecond
		m, err := windows.New(opt)
		Expect(err).NotTo(HaveOccurred())
		start := time.Now()
		out := standin.Run(context.Background(), m, home, settings)
		Expect(time.Since(start)).To(BeNumerically("<", 5*time.Second))
		Expect(out.Err).To(MatchError(ContainSubstring("schtasks /Query /TN Hermes_Gateway_coder /XML: no answer in time")))
	})
})

// stateRead is the call that reads the task's run state.
func stateRead(task string) string {
	return "powershell -NoProfile -NonInteractive -Command $ErrorActionPreference='Stop'; " +
		"[int](Get-ScheduledTask -TaskName '" + task + "' -TaskPath '\\').State"
}

func must[T any](v T, err error) T {
	Expect(err).NotTo(HaveOccurred())
	return v
}
