package systemd_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/hermes-reconcile/hermes-reconcile/backends/host"
	"github.com/hermes-reconcile/hermes-reconcile/backends/systemd"
	"github.com/hermes-reconcile/hermes-reconcile/test/host/standin"
)

// These specs drive the backend against the stand-in systemctl of
// test/host/standins, found first on Options.Path. The stand-in emulates a program
// that cannot run here (systemd is not PID 1 on the test machines): it
// records its argv and answers as systemctl does, including `show` printing
// activating, a user manager that cannot be reached, and a call that hangs.
var _ = Describe("backend against a stand-in systemctl", func() {
	var (
		h        standin.Harness
		st       standin.State
		home     string
		unitDir  string
		opt      systemd.Options
		settings host.Settings
	)
	writeIntent := func(state string) { standin.WriteIntent(home, state) }
	pass := func() (string, []string) { return h.Pass(must(systemd.New(opt)), home, settings) }
	BeforeEach(func() {
		dir := GinkgoT().TempDir()
		unitDir = filepath.Join(dir, "config", "systemd", "user")
		h = standin.NewHarness(dir, filepath.Join("hermes", "profiles", "coder"), "STANDIN_UNIT_DIR="+unitDir)
		st, home = h.State, h.Home
		opt = systemd.Options{UnitDir: unitDir, Path: h.Path, Env: h.Env, LoginUser: "ada", Timeout: 5 * time.Second}
		settings = host.Settings{GatewayCommand: "/usr/bin/hermes"}
	})

	It("installs, starts, does nothing, rewrites a stale unit, stops and removes", func() {
		unit := filepath.Join(unitDir, "hermes-gateway-coder.service")
		const svc = "hermes-gateway-coder.service"
		show := "systemctl --user show -p LoadState,ActiveState,SubState,UnitFileState,MainPID,ExecMainCode,ExecMainStatus " + svc

		By("install, down as the intent says")
		writeIntent("stopped")
		plan, calls := pass()
		Expect(plan).To(Equal("+ hermes-gateway-coder  create (down)  profile_added\n"))
		Expect(calls).To(Equal([]string{show, "systemctl --user daemon-reload"}))
		Expect(unit).To(BeARegularFile())

		By("start when the intent turns to running")
		writeIntent("running")
		plan, calls = pass()
		Expect(plan).To(Equal("> hermes-gateway-coder  start  intent_running\n"))
		Expect(calls).To(Equal([]string{show, "systemctl --user enable " + svc, "systemctl --user start " + svc}))

		By("a second pass only reads")
		plan, calls = pass()
		Expect(plan).To(BeEmpty())
		Expect(calls).To(Equal([]string{show}))

		By("a stale unit is rewritten and reloaded, never 'already exists'")
		Expect(os.WriteFile(unit, []byte("[Service]\nExecStart=/bin/old\n"), 0o644)).To(Succeed())
		plan, calls = pass()
		Expect(plan).To(Equal("~ hermes-gateway-coder  update hermes-gateway-coder.service  spec_changed\n"))
		Expect(calls).To(Equal([]string{show, "systemctl --user daemon-reload"}))
		Expect(os.ReadFile(unit)).To(ContainSubstring("RestartPreventExitStatus=78"))
		plan, _ = pass()
		Expect(plan).To(BeEmpty())

		By("stop (and disable, so a reboot keeps it down)")
		writeIntent("stopped")
		plan, calls = pass()
		Expect(plan).To(Equal("< hermes-gateway-coder  stop  intent_stopped\n"))
		Expect(calls).To(Equal([]string{show, "systemctl --user disable " + svc, "systemctl --user stop " + svc}))
		plan, _ = pass()
		Expect(plan).To(BeEmpty())

		By("remove when the profile is gone")
		Expect(os.RemoveAll(home)).To(Succeed())
		plan, calls = pass()
		Expect(plan).To(Equal("- hermes-gateway-coder  remove  profile_removed\n"))
		Expect(calls).To(Equal([]string{show, "systemctl --user stop " + svc, "systemctl --user disable " + svc, "systemctl --user daemon-reload"}))
		Expect(unit).NotTo(BeAnExistingFile())
		plan, calls = pass()
		Expect(plan).To(BeEmpty())
		Expect(calls).To(Equal([]string{show}))
	})

	It("maps activating faithfully: up for the plan, its own word in status", func() {
		writeIntent("running")
		pass()
		st.Set("hermes-gateway-coder.service.state", "activating auto-restart\n")
		m, err := systemd.New(opt)
		Expect(err).NotTo(HaveOccurred())
		out := standin.Observe(context.Background(), m, home, settings)
		Expect(out.Err).NotTo(HaveOccurred())
		u := out.Observed.Units["coder"]
		Expect(u).NotTo(BeNil())
		Expect(u.State).To(Equal("activating"))
		Expect(u.Detail).To(Equal("auto-restart, unit file enabled"))
		Expect(u.Running).To(BeTrue())
		Expect(out.Plan.Actions).To(BeEmpty())

		writeIntent("stopped")
		plan, _ := pass()
		Expect(plan).To(Equal("< hermes-gateway-coder  stop  intent_stopped\n"))
	})

	It("says how to fix a user manager it cannot reach, at once", func() {
		writeIntent("running")
		st.Set("no-user-manager", "")
		m, err := systemd.New(opt)
		Expect(err).NotTo(HaveOccurred())
		start := time.Now()
		out := standin.Run(context.Background(), m, home, settings)
		Expect(time.Since(start)).To(BeNumerically("<", 2*time.Second))
		Expect(out.Err).To(MatchError(systemd.ErrUserManager))
		Expect(out.Err.Error()).To(ContainSubstring("sudo loginctl enable-linger ada"))
		Expect(out.Err.Error()).To(ContainSubstring("Failed to connect to bus"))
		Expect(filepath.Join(unitDir, "hermes-gateway-coder.service")).NotTo(BeAnExistingFile(), "nothing is written before the manager answers")
	})

	It("does not hang on a manager that never answers", func() {
		writeIntent("running")
		st.Set("hang", "")
		opt.Timeout = 300 * time.Millisecond
		m, err := systemd.New(opt)
		Expect(err).NotTo(HaveOccurred())
		start := time.Now()
		out := standin.Run(context.Background(), m, home, settings)
		Expect(time.Since(start)).To(BeNumerically("<", 5*time.Second))
		Expect(out.Err).To(MatchError(systemd.ErrUserManager))
		Expect(out.Err.Error()).To(ContainSubstring("no answer in time"))
		Expect(out.Err.Error()).To(ContainSubstring("loginctl enable-linger ada"))
	})

	It("drives the system manager with --system", func() {
		opt.System, opt.RunAs = true, "hermes"
		writeIntent("running")
		plan, calls := pass()
		Expect(plan).To(Equal("+ hermes-gateway-coder  create (up)  profile_added\n"))
		Expect(calls).To(HaveLen(4))
		for _, c := range calls {
			Expect(c).To(HavePrefix("systemctl --system "))
		}
		Expect(os.ReadFile(filepath.Join(unitDir, "hermes-gateway-coder.service"))).To(ContainSubstring("User=hermes\n"))
	})

	It("leaves alone a unit that serves another HERMES_HOME", func() {
		writeIntent("running")
		pass()
		unit := filepath.Join(unitDir, "hermes-gateway-coder.service")
		other := strings.ReplaceAll(string(must(os.ReadFile(unit))), home, "/elsewhere/profiles/coder")
		Expect(os.WriteFile(unit, []byte(other), 0o644)).To(Succeed())
		m, err := systemd.New(opt)
		Expect(err).NotTo(HaveOccurred())
		out := standin.Run(context.Background(), m, home, settings)
		Expect(out.Err).NotTo(HaveOccurred())
		Expect(out.Plan.Actions).To(BeEmpty())
		Expect(out.Desired.Diagnostics).To(HaveLen(1))
		Expect(out.Desired.Diagnostics[0].String()).To(ContainSubstring("serves HERMES_HOME=/elsewhere/profiles/coder"))
		Expect(os.ReadFile(unit)).To(Equal([]byte(other)))
	})

	It("detects a manager that answers, and says why not otherwise", func() {
		Expect(systemd.Detect(context.Background(), systemd.Options{Path: opt.Path, Env: opt.Env})).To(Succeed())
		err := systemd.Detect(context.Background(), systemd.Options{Systemctl: "no-such-systemctl"})
		Expect(err).To(MatchError(ContainSubstring("no-such-systemctl not found")))
	})
})

func must[T any](v T, err error) T {
	Expect(err).NotTo(HaveOccurred())
	return v
}
