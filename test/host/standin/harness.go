package standin

import (
	"context"
	"os"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/hermes-reconcile/hermes-reconcile/backends/host"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
)

// Harness is what the backend specs of systemd, launchd and Windows start
// from: a stand-in state directory, a profile home, and where the manager
// finds the stand-ins. It asserts with Gomega, so it is for Ginkgo specs.
type Harness struct {
	State
	// Home is the profile's HERMES_HOME, made with an empty SOUL.md.
	Home string
	// Path is the stand-ins' directory, then the process's $PATH: the
	// manager's Options.Path, so no spec changes the process's PATH.
	Path string
	// Env is the process's environment plus the extra lines, with Path as
	// PATH and STANDIN_STATE set: the manager's Options.Env.
	Env []string
}

// NewHarness makes the state directory in dir and the profile home at
// dir/home; extraEnv goes into Env.
func NewHarness(dir, home string, extraEnv ...string) Harness {
	GinkgoHelper()
	h := Harness{State: New(dir), Home: filepath.Join(dir, home),
		Path: Dir() + string(os.PathListSeparator) + os.Getenv("PATH")}
	Expect(os.MkdirAll(h.Home, 0o755)).To(Succeed())
	Expect(os.WriteFile(filepath.Join(h.Home, "SOUL.md"), nil, 0o644)).To(Succeed())
	h.Env = h.State.Env(append(os.Environ(), extraEnv...))
	return h
}

// WriteIntent writes the desired_state of the profile at home, as
// `hermes gateway start|stop` does.
func WriteIntent(home, state string) {
	GinkgoHelper()
	Expect(os.WriteFile(filepath.Join(home, "gateway_state.json"), []byte(`{"desired_state": "`+state+`"}`), 0o644)).To(Succeed())
}

// Pass forgets the recorded calls, runs one pass of m over home and
// expects it and each of its actions to succeed. It returns the plan as
// the binary prints it and the calls the manager made.
func (h Harness) Pass(m host.Manager, home string, s host.Settings) (plan string, calls []string) {
	GinkgoHelper()
	h.Reset()
	out := Run(context.Background(), m, home, s)
	Expect(out.Err).NotTo(HaveOccurred())
	for _, r := range out.Results {
		Expect(r.Err).NotTo(HaveOccurred())
	}
	return PlanLines(out.Plan), h.Calls()
}

// PlanLines is the plan as the binary prints it, a line each.
func PlanLines(p reconcile.Plan) string {
	if len(p.Actions) == 0 {
		return ""
	}
	return p.String() + "\n"
}
