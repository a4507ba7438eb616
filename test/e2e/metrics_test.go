//go:build linux

package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"

	"github.com/hermes-reconcile/hermes-reconcile/test/testkit"
)

// metricsAddr is where the watcher serves its metrics, as it logged it
// (it listens on port 0: the kernel's choice, no race for a free port).
func (wt watcher) metricsAddr() string {
	var addr string
	Eventually(func() []map[string]any { return wt.logLines("serving metrics") }).ShouldNot(BeEmpty())
	addr, _ = wt.logLines("serving metrics")[0]["addr"].(string)
	Expect(addr).To(HavePrefix("127.0.0.1:"))
	return addr
}

// get is an HTTP GET of path on addr: its status and body.
func get(addr, path string) (int, string) {
	resp, err := http.Get("http://" + addr + path)
	Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	Expect(err).NotTo(HaveOccurred())
	return resp.StatusCode, string(body)
}

// scrape is /metrics of addr: every series ("name{labels}") whose name
// starts with one of prefixes, with its value.
func scrape(addr string, prefixes ...string) map[string]float64 {
	code, body := get(addr, "/metrics")
	Expect(code).To(Equal(200))
	out := map[string]float64{}
	for _, l := range strings.Split(body, "\n") {
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		i := strings.LastIndexByte(l, ' ')
		series := l[:i]
		if !hasAnyPrefix(series, prefixes) {
			continue
		}
		v, err := strconv.ParseFloat(l[i+1:], 64)
		Expect(err).NotTo(HaveOccurred(), l)
		out[series] = v
	}
	return out
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// profileGauges are the series that say what the profiles are.
var profileGauges = []string{"hermes_reconcile_profiles", "hermes_reconcile_gateway_down"}

// expectedGauges are profileGauges as they should read: running and
// stopped counts, wanted running, held by conflict, and each gateway
// that should run, down (1) or not (0). Every other held reason and the
// unknown state are 0.
func expectedGauges(running, stopped, wanted, conflict int, down map[string]int) map[string]float64 {
	out := map[string]float64{
		`hermes_reconcile_profiles{state="running"}`:        float64(running),
		`hermes_reconcile_profiles{state="stopped"}`:        float64(stopped),
		`hermes_reconcile_profiles{state="unknown"}`:        0,
		`hermes_reconcile_profiles_wanted_running`:          float64(wanted),
		`hermes_reconcile_profiles_drifted`:                 0,
		`hermes_reconcile_profiles_held{reason="conflict"}`: float64(conflict),
	}
	for _, r := range []string{"mass_removal", "settling", "permanent_failure", "crash_loop", "rollout", "rollout_halted",
		"profile_absent", "paused", "untouchable", "bad_input"} {
		out[`hermes_reconcile_profiles_held{reason="`+r+`"}`] = 0
	}
	for p, v := range down {
		out[`hermes_reconcile_gateway_down{profile="`+p+`"}`] = float64(v)
	}
	return out
}

// unhealthy waits until /healthz at addr answers 503, and is its body.
func unhealthy(addr string) string {
	GinkgoHelper()
	var body string
	Eventually(func() int {
		var code int
		code, body = get(addr, "/healthz")
		return code
	}, 15*time.Second, 100*time.Millisecond).Should(Equal(503))
	return body
}

var _ = Describe("metrics and health of watch mode", func() {
	const token = "7001234567:AAHsecret-e2e-metrics-token"

	It("24: scrapes exactly what the profiles are (two running, one stopped, one held by a conflict), follows a create and a stop, and promtool accepts the scrape", func() {
		w := newWorld("")
		writeFile(filepath.Join(w.Home, "SOUL.md"), "default\n")
		writeFile(filepath.Join(w.Home, "gateway_state.json"), `{"desired_state":"stopped"}`)
		for _, p := range []string{"one", "two"} {
			w.createProfile(p, `{"desired_state":"running"}`)
			writeFile(filepath.Join(w.ProfileDir(p), ".env"), "TELEGRAM_BOT_TOKEN="+token+"\n")
		}
		w.createProfile("three", `{"desired_state":"running"}`)
		wt := w.watch("--metrics-addr", "127.0.0.1:0", "--settle", "0")
		addr := wt.metricsAddr()

		Eventually(func() map[string]float64 { return scrape(addr, profileGauges...) }).Should(Equal(
			expectedGauges(2, 2, 3, 1, map[string]int{"one": 0, "two": 1, "three": 0})))
		w.UpPID("one")
		w.UpPID("three")
		Expect(w.State("two").Up).To(BeFalse(), "held by the conflict")
		code, body := get(addr, "/healthz")
		Expect(code).To(Equal(200))
		Expect(body).To(Equal("ok\n"))
		m := scrape(addr, "hermes_reconcile_")
		Expect(m).To(HaveKeyWithValue(`hermes_reconcile_leader`, 1.0))
		Expect(m).To(HaveKeyWithValue(`hermes_reconcile_actions_total{kind="create",result="ok"}`, 4.0))
		Expect(m[`hermes_reconcile_passes_total{kind="full",result="ok"}`]).To(BeNumerically(">=", 1))
		Expect(m[`hermes_reconcile_pass_duration_seconds_count{kind="full"}`]).To(BeNumerically(">=", 1))
		Expect(m[`hermes_reconcile_last_successful_pass_timestamp_seconds`]).To(BeNumerically("~", float64(time.Now().Unix()), 60))
		var builds []string
		for s := range m {
			if strings.HasPrefix(s, "hermes_reconcile_build_info{") {
				builds = append(builds, s)
			}
		}
		Expect(builds).To(ConsistOf(MatchRegexp(`^hermes_reconcile_build_info\{commit="[0-9a-f]*",engine="s6",version="[^"]+"\}$`)))

		By("a profile created and one stopped: the gauges follow, without waiting for the resync")
		w.createProfile("four", `{"desired_state":"running"}`)
		writeAtomic(filepath.Join(w.ProfileDir("three"), "gateway_state.json"), `{"desired_state":"stopped"}`)
		Eventually(func() map[string]float64 { return scrape(addr, profileGauges...) }).Should(Equal(
			expectedGauges(2, 3, 3, 1, map[string]int{"one": 0, "two": 1, "four": 0})))
		Expect(wt.logLines("pass done")).NotTo(ContainElement(HaveKeyWithValue("why", "resync")))
		Eventually(func() bool { return w.State("three").Up }).Should(BeFalse())
		w.UpPID("four")

		By("promtool check metrics accepts the scrape")
		_, scraped := get(addr, "/metrics")
		check := exec.Command("promtool", "check", "metrics")
		check.Stdin = strings.NewReader(scraped)
		out, err := check.CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "promtool check metrics:\n%s", out)
		Expect(string(bytes.TrimSpace(out))).To(BeEmpty(), "no lint problem")
		Expect(scraped).NotTo(ContainSubstring(token))
	})

	It("24: /healthz fails while HERMES_HOME is unreadable for longer than 3x --resync, and recovers once it is readable", Label("root"), func() {
		acct := testkit.HermesUser()
		w := newWorld("home")
		w.handOver(acct)
		wt := w.watch("--metrics-addr", "127.0.0.1:0", "--resync", "2s") // unhealthy past 6s without a pass that succeeds
		addr := wt.metricsAddr()
		Eventually(func() int { code, _ := get(addr, "/healthz"); return code }).Should(Equal(200))

		By("HERMES_HOME refused to the reconciler's user")
		Expect(os.Lchown(w.Home, 0, 0)).To(Succeed())
		Expect(os.Chmod(w.Home, 0o700)).To(Succeed())
		DeferCleanup(func() { _ = os.Chmod(w.Home, 0o755) })
		refused := time.Now()
		Consistently(func() int { code, _ := get(addr, "/healthz"); return code }, 2500*time.Millisecond, 100*time.Millisecond).Should(Equal(200),
			"passes fail, but not yet for longer than the threshold")
		body := unhealthy(addr)
		// The last success was at most one jittered resync (2.1s) before.
		Expect(time.Since(refused)).To(BeNumerically(">=", 3500*time.Millisecond), "not before the threshold")
		Expect(body).To(MatchRegexp(`^unhealthy: no pass has succeeded for \d+s \(the limit is 6s\)\n$`))
		m := scrape(addr, "hermes_reconcile_passes_total")
		Expect(m[`hermes_reconcile_passes_total{kind="full",result="failed"}`]).To(BeNumerically(">=", 2))

		By("readable again: healthy within a pass")
		Expect(os.Lchown(w.Home, acct.UID, acct.GID)).To(Succeed())
		Expect(os.Chmod(w.Home, 0o755)).To(Succeed())
		Eventually(func() string { _, b := get(addr, "/healthz"); return b }, 10*time.Second, 100*time.Millisecond).Should(Equal("ok\n"))
	})

	It("24: /healthz fails at once while another writer holds the lock, and the leader gauge says so", func() {
		w := newWorld("home")
		wt := w.watch("--metrics-addr", "127.0.0.1:0", "--lock-timeout", "1s", "--resync", "2s")
		addr := wt.metricsAddr()
		Eventually(func() int { code, _ := get(addr, "/healthz"); return code }).Should(Equal(200))

		holder, err := gexec.Start(exec.Command("flock", "--exclusive", "--no-fork", w.Scandir, "sleep", "60"), GinkgoWriter, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() { holder.Kill().Wait() })
		body := unhealthy(addr)
		Expect(body).To(HavePrefix("unhealthy: the single-writer lock is not ours: lock: "))
		Expect(scrape(addr, "hermes_reconcile_leader")).To(Equal(map[string]float64{"hermes_reconcile_leader": 0}))

		holder.Kill().Wait()
		Eventually(func() string { _, b := get(addr, "/healthz"); return b }, 10*time.Second, 100*time.Millisecond).Should(Equal("ok\n"))
		Expect(scrape(addr, "hermes_reconcile_leader")).To(Equal(map[string]float64{"hermes_reconcile_leader": 1}))
	})

	It("24: --once serves nothing, and a --metrics-addr that cannot be listened on stops watch mode at once", func() {
		w := newWorld("home")
		s := w.Run("--once", "--metrics-addr", "127.0.0.1:0")
		Expect(s).To(gexec.Exit(0))
		Expect(testkit.LogLines(s.Err.Contents(), "serving metrics")).To(BeEmpty())

		wt := w.watch("--metrics-addr", "127.0.0.1:0")
		taken := wt.metricsAddr()
		second := w.Start("--metrics-addr", taken)
		Eventually(second, 15*time.Second).Should(gexec.Exit(1))
		Expect(string(second.Err.Contents())).To(ContainSubstring(fmt.Sprintf("--metrics-addr %s: listen tcp %s: bind: address already in use", taken, taken)))
	})
})
