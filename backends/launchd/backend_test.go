package launchd_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/hermes-reconcile/hermes-reconcile/backends/host"
	"github.com/hermes-reconcile/hermes-reconcile/backends/launchd"
	"github.com/hermes-reconcile/hermes-reconcile/test/host/standin"
)

// These specs drive the backend against the stand-in launchctl of
// test/host/standins, found first on Options.Path. The stand-in emulates a program
// that cannot run here (launchctl is macOS's): it records its argv and
// answers as launchctl does, including bootstrap failing once with exit 5
// (a stale registration) and a Background session without Aqua.
var _ = Describe("backend against a stand-in launchctl", func() {
	var (
		h        standin.Harness
		st       standin.State
		home     string
		agents   string
		opt      launchd.Options
		settings host.Settings
	)
	writeIntent := func(state string) { standin.WriteIntent(home, state) }
	pass := func() (string, []string) {
		m, err := launchd.New(opt)
		Expect(err).NotTo(HaveOccurred())
		return h.Pass(m, home, settings)
	}
	BeforeEach(func() {
		dir := GinkgoT().TempDir()
		h = standin.NewHarness(dir, "hermes")
		st, home = h.State, h.Home
		agents = filepath.Join(dir, "Library", "LaunchAgents")
		opt = launchd.Options{AgentsDir: agents, UID: 501, Path: h.Path, Env: h.Env, Timeout: 5 * time.Second}
		settings = host.Settings{GatewayCommand: "/opt/homebrew/bin/hermes"}
	})

	It("installs, starts, does nothing, reloads a stale plist and stops", func() {
		plistPath := filepath.Join(agents, "ai.hermes.gateway.plist")
		const target = "gui/501/ai.hermes.gateway"
		notLoaded := []string{"launchctl print gui/501/ai.hermes.gateway", "launchctl print user/501/ai.hermes.gateway", "launchctl managername"}

		By("install, down as the intent says: the plist only")
		writeIntent("stopped")
		plan, calls := pass()
		Expect(plan).To(Equal("+ ai.hermes.gateway  create (down)  profile_added\n"))
		Expect(calls).To(Equal(notLoaded))
		Expect(plistPath).To(BeARegularFile())
		Expect(filepath.Join(home, "logs")).To(BeADirectory())

		By("start: bootstrap, which exits 5 once (stale registration), then bootout and one retry")
		st.Set("bootstrap-eio", "")
		writeIntent("running")
		plan, calls = pass()
		Expect(plan).To(Equal("> ai.hermes.gateway  start  intent_running\n"))
		Expect(calls).To(Equal(append(notLoaded,
			"launchctl print "+target,
			"launchctl bootstrap gui/501 "+plistPath,
			"launchctl bootout "+target,
			"launchctl bootstrap gui/501 "+plistPath)))

		By("a second pass only reads")
		plan, calls = pass()
		Expect(plan).To(BeEmpty())
		Expect(calls).To(Equal([]string{"launchctl print " + target}))

		By("a stale plist is rewritten and reloaded: bootout, bootstrap")
		Expect(os.WriteFile(plistPath, []byte("<plist/>"), 0o644)).To(Succeed())
		plan, calls = pass()
		Expect(plan).To(Equal("~ ai.hermes.gateway  update ai.hermes.gateway.plist (restart)  spec_changed\n"))
		Expect(calls).To(Equal([]string{"launchctl print " + target, "launchctl print " + target,
			"launchctl bootout " + target, "launchctl bootstrap gui/501 " + plistPath}))
		Expect(os.ReadFile(plistPath)).To(ContainSubstring("<key>ThrottleInterval</key>"))
		plan, _ = pass()
		Expect(plan).To(BeEmpty())

		By("stop: bootout, so KeepAlive does not respawn it")
		writeIntent("stopped")
		plan, calls = pass()
		Expect(plan).To(Equal("< ai.hermes.gateway  stop  intent_stopped\n"))
		Expect(calls).To(Equal([]string{"launchctl print " + target, "launchctl print " + target, "launchctl bootout " + target}))
		plan, _ = pass()
		Expect(plan).To(BeEmpty())

	})

	It("removes a named profile's job when the profile is gone", func() {
		home = filepath.Join(home, "profiles", "coder")
		Expect(os.MkdirAll(home, 0o755)).To(Succeed())
		Expect(os.WriteFile(filepath.Join(home, "SOUL.md"), nil, 0o644)).To(Succeed())
		writeIntent("running")
		plan, _ := pass()
		Expect(plan).To(Equal("+ ai.hermes.gateway-coder  create (up)  profile_added\n"))
		plistPath := filepath.Join(agents, "ai.hermes.gateway-coder.plist")
		Expect(os.ReadFile(plistPath)).To(ContainSubstring(filepath.Join(home, "logs", "gateway.log")))

		Expect(os.MkdirAll(filepath.Join(filepath.Dir(home), ".deleted"), 0o755)).To(Succeed())
		Expect(os.WriteFile(filepath.Join(filepath.Dir(home), ".deleted", "coder"), nil, 0o644)).To(Succeed())
		plan, calls := pass()
		Expect(plan).To(Equal("- ai.hermes.gateway-coder  remove  profile_tombstoned\n"))
		Expect(calls).To(Equal([]string{
			"launchctl print gui/501/ai.hermes.gateway-coder",
			"launchctl print gui/501/ai.hermes.gateway-coder",
			"launchctl bootout gui/501/ai.hermes.gateway-coder"}))
		Expect(plistPath).NotTo(BeAnExistingFile())
		plan, _ = pass()
		Expect(plan).To(BeEmpty())
	})

	It("uses user/<uid> where there is no Aqua session", func() {
		st.Set("background", "")
		writeIntent("running")
		plan, calls := pass()
		Expect(plan).To(Equal("+ ai.hermes.gateway  create (up)  profile_added\n"))
		Expect(calls[len(calls)-1]).To(Equal("launchctl bootstrap user/501 " + filepath.Join(agents, "ai.hermes.gateway.plist")))
		_, calls = pass()
		Expect(calls).To(Equal([]string{"launchctl print gui/501/ai.hermes.gateway", "launchctl print user/501/ai.hermes.gateway"}))
	})

	It("reports a bootstrap that keeps exiting 5 after its one retry", func() {
		st.Set("bootstrap-eio-always", "")
		writeIntent("running")
		st.Reset()
		m, err := launchd.New(opt)
		Expect(err).NotTo(HaveOccurred())
		out := standin.Run(context.Background(), m, home, settings)
		Expect(out.Err).NotTo(HaveOccurred())
		Expect(out.Results).To(HaveLen(1))
		Expect(out.Results[0].Err).To(MatchError(ContainSubstring("bootstrap gui/501 " + filepath.Join(agents, "ai.hermes.gateway.plist") +
			": exit 5: Bootstrap failed: 5: Input/output error (retried once after bootout)")))
		bootstraps := 0
		for _, c := range st.Calls() {
			if strings.HasPrefix(c, "launchctl bootstrap ") {
				bootstraps++
			}
		}
		Expect(bootstraps).To(Equal(2), "one retry, not more")
	})

	It("does not hang on a launchctl that never answers", func() {
		st.Set("hang", "")
		opt.Timeout = 300 * time.Millisecond
		m, err := launchd.New(opt)
		Expect(err).NotTo(HaveOccurred())
		start := time.Now()
		out := standin.Run(context.Background(), m, home, settings)
		Expect(time.Since(start)).To(BeNumerically("<", 5*time.Second))
		Expect(out.Err).To(MatchError(ContainSubstring("launchctl print gui/501/ai.hermes.gateway: no answer in time")))
	})
})
