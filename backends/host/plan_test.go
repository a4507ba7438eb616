package host_test

import (
	"context"
	"errors"
	"fmt"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/hermes-reconcile/hermes-reconcile/backends/host"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
)

// planText is one line per action: kind slot reason, then details.
func planText(plan []reconcile.Action) string {
	var b strings.Builder
	for _, a := range plan {
		fmt.Fprintf(&b, "%s %s %s", a.Kind, a.Slot, a.Reason)
		if a.Kind == reconcile.Create {
			fmt.Fprintf(&b, " up=%v", a.WantUp)
		}
		if len(a.Files) > 0 {
			fmt.Fprintf(&b, " files=%s", strings.Join(a.Files, ","))
		}
		if a.Restart {
			b.WriteString(" restart")
		}
		b.WriteString("\n")
	}
	return b.String()
}

var def = host.Definition{Name: "hermes-gateway-coder", Home: "/h/profiles/coder",
	Files: []host.File{{Path: "/u/hermes-gateway-coder.service"}}}

var (
	running    = host.Desired{Profile: "coder", WantUp: true, Enforce: true, Reason: "intent_running"}
	stopped    = host.Desired{Profile: "coder", Enforce: true, Reason: "intent_stopped"}
	legacyUp   = host.Desired{Profile: "coder", WantUp: true, Reason: "intent_running"}
	noIntent   = host.Desired{Profile: "coder", Reason: "no_intent"}
	removed    = host.Desired{Profile: "coder", Gone: true, Reason: "profile_removed"}
	tombstoned = host.Desired{Profile: "coder", Gone: true, Reason: "profile_tombstoned"}
	held       = host.Desired{Profile: "coder", Held: true}

	missing   = host.Observed{}
	upOK      = host.Observed{Installed: true, Up: true, Enabled: true, State: "active"}
	downOK    = host.Observed{Installed: true, State: "inactive"}
	upOff     = host.Observed{Installed: true, Up: true, State: "active"}
	downOn    = host.Observed{Installed: true, Enabled: true, State: "inactive"}
	starting  = host.Observed{Installed: true, Up: true, Enabled: true, State: "activating", Detail: "auto-restart"}
	failed    = host.Observed{Installed: true, Enabled: true, State: "failed"}
	staleUp   = host.Observed{Installed: true, Up: true, Enabled: true, Stale: []string{"hermes-gateway-coder.service"}}
	staleDown = host.Observed{Installed: true, Stale: []string{"hermes-gateway-coder.service"}}
	foreign   = host.Observed{Installed: true, Foreign: "serves another HERMES_HOME", Stale: []string{"x"}}
)

var _ = Describe("Plan", func() {
	DescribeTable("one host service",
		func(d host.Desired, o host.Observed, want string) {
			Expect(planText(host.Plan(d, def, o))).To(Equal(want))
		},
		Entry("running intent, not installed", running, missing, "create hermes-gateway-coder profile_added up=true files=hermes-gateway-coder.service\n"),
		Entry("stopped intent, not installed", stopped, missing, "create hermes-gateway-coder profile_added up=false files=hermes-gateway-coder.service\n"),
		Entry("legacy running, not installed: boot semantics", legacyUp, missing, "create hermes-gateway-coder profile_added up=true files=hermes-gateway-coder.service\n"),
		Entry("in sync, running", running, upOK, ""),
		Entry("in sync, stopped", stopped, downOK, ""),
		Entry("activating counts as up", running, starting, ""),
		Entry("running intent, down", running, downOK, "start hermes-gateway-coder intent_running\n"),
		Entry("running intent, failed", running, failed, "start hermes-gateway-coder intent_running\n"),
		Entry("running intent, up but not enabled", running, upOff, "start hermes-gateway-coder intent_running\n"),
		Entry("stopped intent, up", stopped, upOK, "stop hermes-gateway-coder intent_stopped\n"),
		Entry("stopped intent, activating", stopped, starting, "stop hermes-gateway-coder intent_stopped\n"),
		Entry("stopped intent, down but enabled", stopped, downOn, "stop hermes-gateway-coder intent_stopped\n"),
		Entry("legacy intent leaves a stopped service be", legacyUp, downOK, ""),
		Entry("no intent leaves a running service be", noIntent, upOK, ""),
		Entry("stale, running: rewrite (no restart here)", running, staleUp, "update hermes-gateway-coder spec_changed files=hermes-gateway-coder.service\n"),
		Entry("stale, down, running intent: rewrite then start", running, staleDown, "update hermes-gateway-coder spec_changed files=hermes-gateway-coder.service\nstart hermes-gateway-coder intent_running\n"),
		Entry("stale, up, stopped intent: stop then rewrite", stopped, staleUp, "stop hermes-gateway-coder intent_stopped\nupdate hermes-gateway-coder spec_changed files=hermes-gateway-coder.service\n"),
		Entry("profile removed", removed, upOK, "remove hermes-gateway-coder profile_removed\n"),
		Entry("profile tombstoned", tombstoned, downOK, "remove hermes-gateway-coder profile_tombstoned\n"),
		Entry("profile removed, nothing installed", removed, missing, ""),
		Entry("held profile", held, staleUp, ""),
		Entry("foreign service", running, foreign, ""),
	)

	It("marks the rewrite of a running launchd job as a restart: reloading it restarts it", func() {
		d := def
		d.ReloadRestarts = true
		Expect(planText(host.Plan(running, d, staleUp))).To(Equal("update hermes-gateway-coder spec_changed files=hermes-gateway-coder.service restart\n"))
		Expect(planText(host.Plan(stopped, d, staleUp))).To(Equal("stop hermes-gateway-coder intent_stopped\nupdate hermes-gateway-coder spec_changed files=hermes-gateway-coder.service\n"))
	})
})

// fakeManager records the verbs Apply calls.
type fakeManager struct {
	calls []string
	fail  string
}

func (f *fakeManager) Define(host.Service) (host.Definition, error) { return def, nil }
func (f *fakeManager) Status(context.Context, host.Definition) (host.Observed, error) {
	return host.Observed{}, nil
}
func (f *fakeManager) do(s string) error {
	f.calls = append(f.calls, s)
	if s == f.fail {
		return errors.New("boom")
	}
	return nil
}
func (f *fakeManager) Install(_ context.Context, _ host.Definition, live bool) error {
	return f.do(fmt.Sprintf("install live=%v", live))
}
func (f *fakeManager) Control(_ context.Context, _ host.Definition, up bool) error {
	return f.do(fmt.Sprintf("control up=%v", up))
}
func (f *fakeManager) Uninstall(context.Context, host.Definition) error { return f.do("uninstall") }

var _ = Describe("Apply", func() {
	It("maps each action to one verb", func() {
		m := &fakeManager{}
		plan := append(host.Plan(running, def, missing), host.Plan(stopped, def, staleUp)...)
		plan = append(plan, host.Plan(removed, def, upOK)...)
		res := host.Apply(context.Background(), m, def, plan)
		Expect(reconcile.Failed(res)).To(BeZero())
		Expect(m.calls).To(Equal([]string{"install live=false", "control up=true", "control up=false", "install live=false", "uninstall"}))
	})

	It("does not try what follows a failed action, and says so", func() {
		m := &fakeManager{fail: "install live=false"}
		res := host.Apply(context.Background(), m, def, host.Plan(running, def, staleDown))
		Expect(res).To(HaveLen(2))
		Expect(res[0].Err).To(MatchError("boom"))
		Expect(res[1].Err).To(MatchError(ContainSubstring("not tried: update hermes-gateway-coder failed")))
		Expect(m.calls).To(Equal([]string{"install live=false"}))
	})
})
