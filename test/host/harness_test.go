package host_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"

	"github.com/hermes-reconcile/hermes-reconcile/test/host/standin"
	"github.com/hermes-reconcile/hermes-reconcile/test/testkit"
)

// world is one spec's user: a HOME, a profile root with a named profile
// coder, and a stand-in state directory. It shares nothing with
// testkit.World but the binary and the stand-in gateway: no s6, no
// scandir, and an environment scrubbed of the host's instead of the
// s6 rendering's.
type world struct {
	dir, userHome, root, home string
	st                        standin.State
	env                       []string
}

var writeFile = testkit.WriteFile

func newWorld() *world {
	w := &world{dir: GinkgoT().TempDir()}
	w.userHome = filepath.Join(w.dir, "user")
	w.root = filepath.Join(w.dir, "hermes")
	w.home = filepath.Join(w.root, "profiles", "coder")
	Expect(os.MkdirAll(w.home, 0o755)).To(Succeed())
	Expect(os.MkdirAll(w.userHome, 0o755)).To(Succeed())
	writeFile(filepath.Join(w.root, "SOUL.md"), "root\n")
	writeFile(filepath.Join(w.home, "SOUL.md"), "coder\n")
	w.st = standin.New(w.dir)
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "HERMES_") || strings.HasPrefix(k, "S6_") || k == "HOME" || k == "NO_COLOR" || k == "GORACE" ||
			k == "XDG_RUNTIME_DIR" || k == "DBUS_SESSION_BUS_ADDRESS" {
			continue
		}
		env = append(env, kv)
	}
	// GORACE: the race runtime otherwise sleeps 1s at every exit.
	env = append(env, "GORACE=atexit_sleep_ms=0 halt_on_error=1", "HOME="+w.userHome, "HERMES_HOME="+w.home, "NO_COLOR=1",
		// An executable, so the units the binary writes pass systemd-analyze verify.
		"HERMES_RECONCILE_GATEWAY_COMMAND="+testkit.FakeGateway(), "STANDIN_UNIT_DIR="+w.unitDir(),
		"HERMES_RECONCILE_HERMES_VERSION="+testkit.HermesVersion, // a Hermes before #112854: the config decides
		"HERMES_RECONCILE_REMOVE_AFTER=0")                        // the specs delete the profile and expect its unit gone at once
	w.env = w.st.Env(env)
	return w
}

// topology is the first line of every plan: the worlds run beside a Hermes
// before #112854.
const topology = "Topology: per-profile. Hermes 0.21.3 (--hermes-version): before 0.21.4, " +
	"multiplex_profiles in the root config.yaml (or GATEWAY_MULTIPLEX_PROFILES) decides; absent: per-profile.\n"

func (w *world) unitDir() string { return filepath.Join(w.userHome, ".config", "systemd", "user") }

func (w *world) intent(state string) {
	writeFile(filepath.Join(w.home, "gateway_state.json"), `{"desired_state": "`+state+`", "updated_at": "2026-01-01"}`)
}

// run starts the binary, waits for it and returns its session; the
// stand-ins' calls are reset first.
func (w *world) run(args ...string) *gexec.Session {
	w.st.Reset()
	cmd := exec.Command(binary, args...)
	cmd.Env = w.env
	s, err := gexec.Start(cmd, GinkgoWriter, GinkgoWriter)
	Expect(err).NotTo(HaveOccurred())
	Eventually(s).Should(gexec.Exit())
	return s
}

// ndjson parses every line of out as a JSON object.
func ndjson(out []byte) []map[string]any {
	var evs []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var ev map[string]any
		Expect(json.Unmarshal([]byte(l), &ev)).To(Succeed(), l)
		evs = append(evs, ev)
	}
	return evs
}

func keys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

// statusKeys are the fields of a status row, the same for every backend.
var statusKeys = []string{"@level", "@message", "@timestamp", "type", "profile", "slot", "intent", "want", "actual", "pid", "uptime_s", "last_exit", "note", "supervised", "persisted", "drift", "healthy"}
