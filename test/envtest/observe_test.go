//go:build linux

package envtest

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/hermes-reconcile/hermes-reconcile/test/testkit"
)

// freePort is a port nothing listens on now, on the loopback.
func freePort() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	defer l.Close()
	return l.Addr().String()
}

// httpGet is a GET of url: its status and body; status 0 while nothing
// answers.
func httpGet(u string) (int, string) {
	resp, err := http.Get(u)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// series are the samples of a scrape whose names start with prefix.
func series(body, prefix string) map[string]float64 {
	out := map[string]float64{}
	for _, l := range strings.Split(body, "\n") {
		if !strings.HasPrefix(l, prefix) {
			continue
		}
		i := strings.LastIndexByte(l, ' ')
		v, err := strconv.ParseFloat(l[i+1:], 64)
		Expect(err).NotTo(HaveOccurred(), l)
		out[l[:i]] = v
	}
	return out
}

// kubeWatch starts hermes-reconcile-kube in watch mode on namespace ns and
// home h through kubeconfig kc; the cleanup stops it.
func kubeWatch(kc, ns, h string, args ...string) *gexec.Session {
	cmd := exec.Command(kubeBinary(), append([]string{"--kubeconfig", kc, "--kube-namespace", ns,
		"--kube-image", "example.org/hermes:v0.21.3", "--home", h, "--rollout-batch", "100%", "-v", "1"}, args...)...)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "NO_COLOR=1"}
	s, err := gexec.Start(cmd, GinkgoWriter, GinkgoWriter)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() {
		s.Signal(syscall.SIGTERM)
		Eventually(s, time.Minute).Should(gexec.Exit())
	})
	return s
}

// eventsOf are the Events of namespace ns, by the Deployment they regard.
func eventsOf(ns string) map[string][]eventsv1.Event {
	var list eventsv1.EventList
	Expect(raw.List(context.Background(), &list, client.InNamespace(ns))).To(Succeed())
	out := map[string][]eventsv1.Event{}
	for _, e := range list.Items {
		if e.Regarding.Kind == "Deployment" {
			out[e.Regarding.Name] = append(out[e.Regarding.Name], e)
		}
	}
	return out
}

// told is what the Events on a Deployment say: "Type Reason: note".
func told(evs []eventsv1.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Type+" "+e.Reason+": "+e.Note)
	}
	return out
}

// eventState is every Event of ns with its series count: a repeat folded
// into a series changes the count, not the list.
func eventState(ns string) map[string]int32 {
	var list eventsv1.EventList
	Expect(raw.List(context.Background(), &list, client.InNamespace(ns))).To(Succeed())
	out := map[string]int32{}
	for _, e := range list.Items {
		n := int32(1)
		if e.Series != nil {
			n = e.Series.Count
		}
		out[e.Name] = n
	}
	return out
}

var _ = Describe("metrics, health and Events of the controller", func() {
	const token = "7001234567:AAHsecret-envtest-metrics-token"
	// fleet writes a home: default running, one and two running on one
	// token (two is held), three stopped.
	fleet := func() string {
		h := GinkgoT().TempDir()
		w := func(rel, data string) { testkit.WriteFile(filepath.Join(h, rel), data) }
		w("config.yaml", "model: x\n")
		w("gateway_state.json", `{"desired_state":"running"}`)
		for _, p := range []string{"one", "two"} {
			w("profiles/"+p+"/SOUL.md", "soul\n")
			w("profiles/"+p+"/gateway_state.json", `{"desired_state":"running"}`)
			w("profiles/"+p+"/.env", "TELEGRAM_BOT_TOKEN="+token+"\n")
		}
		w("profiles/three/SOUL.md", "soul\n")
		w("profiles/three/gateway_state.json", `{"desired_state":"stopped"}`)
		return h
	}

	It("24: serves the domain metrics from controller-runtime's registry, and tells created, scaled, held and removed as Events, and nothing for a no-op pass", func() {
		ns, h, kc := newNamespace(), fleet(), kubeconfig()
		maddr, haddr := freePort(), freePort()
		s := kubeWatch(kc, ns, h, "--metrics-addr", maddr, "--health-addr", haddr, "--settle", "0", "--remove-after", "0")
		scrape := func(prefix string) map[string]float64 {
			code, body := httpGet("http://" + maddr + "/metrics")
			Expect(code).To(Equal(200), body)
			return series(body, prefix)
		}
		Eventually(func() int { code, _ := httpGet("http://" + maddr + "/metrics"); return code }, time.Minute).Should(Equal(200))

		By("what the profiles are, scraped from the manager's /metrics")
		Eventually(func() map[string]float64 { return scrape("hermes_reconcile_profiles") }, 30*time.Second).Should(Equal(map[string]float64{
			`hermes_reconcile_profiles{state="running"}`: 2, `hermes_reconcile_profiles{state="stopped"}`: 2, `hermes_reconcile_profiles{state="unknown"}`: 0,
			`hermes_reconcile_profiles_wanted_running`: 3, `hermes_reconcile_profiles_drifted`: 0,
			`hermes_reconcile_profiles_held{reason="bad_input"}`: 0, `hermes_reconcile_profiles_held{reason="conflict"}`: 1,
			`hermes_reconcile_profiles_held{reason="crash_loop"}`: 0, `hermes_reconcile_profiles_held{reason="mass_removal"}`: 0,
			`hermes_reconcile_profiles_held{reason="paused"}`: 0, `hermes_reconcile_profiles_held{reason="permanent_failure"}`: 0,
			`hermes_reconcile_profiles_held{reason="profile_absent"}`: 0, `hermes_reconcile_profiles_held{reason="rollout"}`: 0,
			`hermes_reconcile_profiles_held{reason="rollout_halted"}`: 0, `hermes_reconcile_profiles_held{reason="settling"}`: 0,
			`hermes_reconcile_profiles_held{reason="untouchable"}`: 0,
		}))
		Expect(scrape("hermes_reconcile_gateway_down")).To(Equal(map[string]float64{
			`hermes_reconcile_gateway_down{profile="default"}`: 0, `hermes_reconcile_gateway_down{profile="one"}`: 0, `hermes_reconcile_gateway_down{profile="two"}`: 1}))
		Expect(scrape("hermes_reconcile_leader")).To(Equal(map[string]float64{"hermes_reconcile_leader": 1}))
		Expect(scrape("hermes_reconcile_actions_total")).To(HaveKeyWithValue(`hermes_reconcile_actions_total{kind="create",result="ok"}`, 4.0))
		Expect(scrape("hermes_reconcile_build_info")).To(HaveKey(MatchRegexp(`engine="kube"`)))
		Expect(scrape("process_start_time_seconds")).To(HaveLen(1), "controller-runtime's own beside ours")
		Expect(scrape("controller_runtime_")).NotTo(BeEmpty())

		By("/healthz and /readyz backed by the passes")
		code, body := httpGet("http://" + haddr + "/readyz?verbose")
		Expect(code).To(Equal(200), body)
		Expect(body).To(ContainSubstring("[+]pass ok"))
		code, body = httpGet("http://" + haddr + "/healthz?verbose")
		Expect(code).To(Equal(200), body)
		Expect(body).To(ContainSubstring("[+]pass ok"))
		Expect(body).NotTo(ContainSubstring("ping"))

		By("created: Normal on each Deployment; held by the conflict: Warning on two")
		Eventually(func() []string { return told(eventsOf(ns)["hermes-gateway-two"]) }, 30*time.Second).Should(ConsistOf(
			"Normal Created: created with replicas 0: profile_added",
			"Warning Conflict: start held: conflict: one already claims the Telegram bot token: held, not started, until it has its own (a credential or port of its .env or config.yaml)"))
		Eventually(func() []string { return told(eventsOf(ns)["hermes-gateway-one"]) }).Should(ConsistOf("Normal Created: created with replicas 1: profile_added"))
		Eventually(func() []string { return told(eventsOf(ns)["hermes-gateway-three"]) }).Should(ConsistOf("Normal Created: created with replicas 0: profile_added"))
		ds := deployments(ns)
		for name, evs := range eventsOf(ns) {
			for _, e := range evs {
				Expect(e.Regarding.UID).To(Equal(ds[name].UID), "%s: kubectl describe finds it", name)
				Expect(e.ReportingController).To(Equal("hermes-reconcile"))
				Expect(e.Note).NotTo(ContainSubstring(token))
			}
		}

		By("a no-op pass (SIGHUP: every profile looked at) tells nothing")
		passes := func() float64 {
			m := scrape("hermes_reconcile_passes_total")
			return m[`hermes_reconcile_passes_total{kind="full",result="ok"}`] + m[`hermes_reconcile_passes_total{kind="keyed",result="ok"}`]
		}
		before, n := eventState(ns), passes()
		s.Signal(syscall.SIGHUP)
		Eventually(passes, 10*time.Second).Should(BeNumerically(">", n))
		Expect(scrape("hermes_reconcile_actions_total")).To(HaveKeyWithValue(`hermes_reconcile_actions_total{kind="create",result="ok"}`, 4.0))
		Consistently(func() map[string]int32 { return eventState(ns) }, 2*time.Second).Should(Equal(before), "no Event, no series count")

		By("scaled: three's intent flips to running")
		testkit.WriteFile(filepath.Join(h, "profiles", "three", "gateway_state.json"), `{"desired_state":"running"}`)
		Eventually(func() []string { return told(eventsOf(ns)["hermes-gateway-three"]) }, 15*time.Second).Should(ContainElement(
			"Normal Scaled: scaled to 1: intent_running"))
		Eventually(func() float64 {
			return scrape("hermes_reconcile_profiles")[`hermes_reconcile_profiles{state="running"}`]
		}).Should(Equal(3.0))

		By("removed: three's profile deleted by hermes (a tombstone)")
		testkit.WriteFile(filepath.Join(h, "profiles", ".deleted", "three"), "")
		Expect(os.RemoveAll(filepath.Join(h, "profiles", "three"))).To(Succeed())
		Eventually(func() []string { return told(eventsOf(ns)["hermes-gateway-three"]) }, 15*time.Second).Should(ContainElement(
			"Normal Removed: deleted: profile_tombstoned"))
		for _, e := range eventsOf(ns)["hermes-gateway-three"] {
			if e.Reason == "Removed" {
				Expect(e.Regarding.UID).NotTo(BeEmpty(), "the UID the Deployment had")
			}
		}
		Eventually(func() map[string]float64 { return scrape("hermes_reconcile_gateway_down") }).Should(Equal(map[string]float64{
			`hermes_reconcile_gateway_down{profile="default"}`: 0, `hermes_reconcile_gateway_down{profile="one"}`: 0, `hermes_reconcile_gateway_down{profile="two"}`: 1}))
	})

	It("24: turns unhealthy when a write to the API server hangs and blocks the loop, where a ping would answer", func() {
		ns, h := newNamespace(), GinkgoT().TempDir()
		testkit.WriteFile(filepath.Join(h, "config.yaml"), "model: x\n")
		p := newFreezer(cfg.Host)
		kc := p.kubeconfig(kubeconfig())
		haddr := freePort()
		s := kubeWatch(kc, ns, h, "--metrics-addr", "0", "--health-addr", haddr, "--settle", "0", "--resync", "1s")
		Eventually(func() int { code, _ := httpGet("http://" + haddr + "/readyz"); return code }, time.Minute).Should(Equal(200))
		Eventually(deployments).WithArguments(ns).Should(HaveKey("hermes-gateway-default"))

		By("the API server stops answering, and a profile is created: its pass hangs on the create")
		p.freeze()
		DeferCleanup(p.thaw)
		testkit.WriteFile(filepath.Join(h, "profiles", "fresh", "SOUL.md"), "soul\n")
		var body string
		Eventually(func() int {
			var code int
			code, body = httpGet("http://" + haddr + "/healthz?verbose")
			return code
		}, 10*time.Second, 100*time.Millisecond).Should(Equal(500), "unhealthy past 3x --resync (3s), before the Lease's term (15s) runs out")
		Expect(body).To(ContainSubstring("[-]pass failed"))
		Expect(s.ExitCode()).To(Equal(-1), "still running: the hang, not the Lease, made it unhealthy")
	})
})

// freezer is a TCP proxy to the API server that can stop passing bytes,
// as a server that hangs does.
type freezer struct {
	l    net.Listener
	to   string
	gate sync.RWMutex
	once sync.Once
}

func newFreezer(host string) *freezer {
	u, err := url.Parse(host)
	Expect(err).NotTo(HaveOccurred())
	l, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	f := &freezer{l: l, to: u.Host}
	go f.serve()
	DeferCleanup(func() { _ = l.Close() })
	return f
}

func (f *freezer) serve() {
	for {
		c, err := f.l.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", f.to)
		if err != nil {
			_ = c.Close()
			continue
		}
		go f.pipe(c, up)
		go f.pipe(up, c)
	}
}

// pipe copies from src to dst while the gate is open.
func (f *freezer) pipe(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			f.gate.RLock()
			_, werr := dst.Write(buf[:n])
			f.gate.RUnlock()
			if werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (f *freezer) freeze() { f.gate.Lock() }
func (f *freezer) thaw()   { f.once.Do(f.gate.Unlock) }

// kubeconfig is kc pointed at the proxy.
func (f *freezer) kubeconfig(kc string) string {
	c, err := clientcmd.LoadFromFile(kc)
	Expect(err).NotTo(HaveOccurred())
	for _, cl := range c.Clusters {
		u, err := url.Parse(cl.Server)
		Expect(err).NotTo(HaveOccurred())
		u.Host = f.l.Addr().String()
		cl.Server = u.String()
	}
	path := filepath.Join(GinkgoT().TempDir(), "kubeconfig-proxied")
	Expect(clientcmd.WriteToFile(*c, path)).To(Succeed())
	return path
}
