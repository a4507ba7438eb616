package windows_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/hermes-reconcile/hermes-reconcile/backends/host"
	"github.com/hermes-reconcile/hermes-reconcile/backends/windows"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
	"github.com/hermes-reconcile/hermes-reconcile/test/host/standin"
)

// These specs drive the backend against the stand-in schtasks of
// test/host/standins, placed first on PATH. The stand-in emulates a program
// that cannot run here (schtasks is Windows's): it records its argv and
// answers as schtasks does (English messages and status words), refusing
// /Create of an existing task without /F.
var _ = Describe("backend against a stand-in schtasks", func() {
	var (
		st       standin.State
		home     string
		opt      windows.Options
		settings host.Settings
	)
	writeIntent := func(state string) {
		Expect(os.WriteFile(filepath.Join(home, "gateway_state.json"), []byte(`{"desired_state": "`+state+`"}`), 0o644)).To(Succeed())
	}
	pass := func() (string, []string) {
		st.Reset()
		m, err := windows.New(opt)
		Expect(err).NotTo(HaveOccurred())
		out := standin.Run(context.Background(), m, home, settings)
		Expect(out.Err).NotTo(HaveOccurred())
		for _, r := range out.Results {
			Expect(r.Err).NotTo(HaveOccurred())
		}
		return planLines(out.Plan), st.Calls()
	}
	BeforeEach(func() {
		dir := GinkgoT().TempDir()
		st = standin.New(dir)
		home = filepath.Join(dir, "hermes", "profiles", "coder")
		Expect(os.MkdirAll(home, 0o755)).To(Succeed())
		Expect(os.WriteFile(filepath.Join(home, "SOUL.md"), nil, 0o644)).To(Succeed())
		path := os.Getenv("PATH")
		DeferCleanup(os.Setenv, "PATH", path)
		os.Setenv("PATH", standin.Dir()+string(os.PathListSeparator)+path)
		opt = windows.Options{UserID: `HOST\ada`, Env: st.Env(os.Environ()), Timeout: 5 * time.Second}
		settings = host.Settings{GatewayCommand: `C:\hermes\hermes.exe`}
	})

	It("installs, starts, does nothing, re-registers a stale task, stops and removes", func() {
		const task = "Hermes_Gateway_coder"
		xmlPath := filepath.Join(home, "gateway-service", task+".task.xml")
		cmdPath := filepath.Join(home, "gateway-service", task+".cmd")
		reads := []string{"schtasks /Query /TN " + task + " /XML", "schtasks /Query /TN " + task + " /FO CSV /NH"}
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

func must[T any](v T, err error) T {
	Expect(err).NotTo(HaveOccurred())
	return v
}

// planLines is the plan as the binary prints it, a line each.
func planLines(p reconcile.Plan) string {
	if len(p.Actions) == 0 {
		return ""
	}
	return p.String() + "\n"
}
