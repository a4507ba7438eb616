package reconcile_test

import (
	"fmt"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/hermes-reconcile/hermes-reconcile/desired"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
)

// The rollout budget: restarts of running gateways past the batch wait
// for the batch before them to be healthy, and a failed batch halts the
// rest. Progress is what the units record (Rolled), so any pass agrees.
var _ = Describe("the rollout budget", func() {
	now := time.Unix(1_800_000_000, 0)
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	r := &reconcile.Rollout{HealthyAfter: 10 * time.Second, Timeout: time.Minute}

	// fleet is n running gateways p00..; the first `rolled` already run the
	// new rendering after a restart of ours (opts describe how they
	// fared), the rest still run the old one.
	fleet := func(n, rolled int, opts ...unitOpt) (desired.State, reconcile.Observed) {
		var ss []desired.Service
		o := have()
		for i := range n {
			p := fmt.Sprintf("p%02d", i)
			ss = append(ss, explicitUp(p))
			u := slot(p, true, drift("run"))
			if i < rolled {
				u = slot(p, true, opts...)
			}
			o.Units[p] = u
		}
		return want(ss), o
	}
	rolledAt := func(t time.Time) unitOpt {
		return func(u *reconcile.Unit) { u.Rolled, u.Since = t, t }
	}
	died := func(t time.Time, exit int) unitOpt {
		return func(u *reconcile.Unit) { u.Deaths = append(u.Deaths, reconcile.Death{At: t, Exit: exit}) }
	}
	failingAs := func(why string) unitOpt {
		return func(u *reconcile.Unit) { u.Failing = why }
	}
	downSince := func(t time.Time) unitOpt {
		return func(u *reconcile.Unit) { u.Running, u.PID, u.Since = false, 0, t }
	}
	// cutShort is a restart of ours that a killed pass began and did not
	// finish: the gateway stopped (exit 0 on SIGTERM), s6 wants it down,
	// and its finish left it as a permanent failure would be.
	cutShort := func(t time.Time) unitOpt {
		return func(u *reconcile.Unit) {
			u.Running, u.WantUp, u.PID, u.Since, u.ExitCode = false, false, 0, t, 0
			u.Restarting, u.PermanentFailure = true, true
		}
	}
	text := func(p reconcile.Plan) string {
		restarts, held := 0, map[string]int{}
		var until []string
		for _, a := range p.Actions {
			if a.Kind == reconcile.Update && a.Restart {
				restarts++
			}
		}
		for _, d := range p.Deferred {
			held[string(d.Reason)]++
			if !d.Until.IsZero() && len(until) == 0 {
				until = append(until, fmt.Sprintf(" until +%s", d.Until.Sub(now)))
			}
		}
		out := fmt.Sprintf("%d restarts; held %v%s", restarts, held, strings.Join(until, ""))
		if len(p.Rolling) > 0 {
			out += fmt.Sprintf("; in flight %v", p.Rolling)
		}
		for _, w := range p.Warnings {
			out += "\nwarning: " + w.Message
		}
		return out
	}
	decideAt := func(d desired.State, o reconcile.Observed) reconcile.Plan {
		return reconcile.Decide(d, renderings(d), o, reconcile.Policy{Now: now, Rollout: r})
	}

	DescribeTable("paces restarts",
		func(d desired.State, o reconcile.Observed, expected string) {
			Expect(text(decideAt(d, o))).To(Equal(expected))
		},
		Entry("30 to restart, none yet: the first batch (a tenth), the rest wait",
			func() desired.State { d, _ := fleet(30, 0); return d }(), func() reconcile.Observed { _, o := fleet(30, 0); return o }(),
			"3 restarts; held map[rollout:27] until +10s"),
		Entry("the first batch restarted 4 s ago and up since: the rest wait until it has been up 10 s",
			func() desired.State { d, _ := fleet(30, 3, rolledAt(ago(4*time.Second))); return d }(),
			func() reconcile.Observed { _, o := fleet(30, 3, rolledAt(ago(4*time.Second))); return o }(),
			"0 restarts; held map[rollout:27] until +6s; in flight [p00 p01 p02]"),
		Entry("the first batch healthy: the next batch",
			func() desired.State { d, _ := fleet(30, 3, rolledAt(ago(11*time.Second))); return d }(),
			func() reconcile.Observed { _, o := fleet(30, 3, rolledAt(ago(11*time.Second))); return o }(),
			"3 restarts; held map[rollout:24] until +10s"),
		Entry("one of the batch died after its restart: halted, one error",
			func() desired.State {
				d, _ := fleet(30, 3, rolledAt(ago(5*time.Second)), died(ago(3*time.Second), 1))
				return d
			}(),
			func() reconcile.Observed {
				_, o := fleet(30, 3, rolledAt(ago(5*time.Second)), died(ago(3*time.Second), 1))
				return o
			}(),
			"0 restarts; held map[rollout_halted:27]\nwarning: rollout halted with 27 restarts to go: gateway-p00 died after its restart (exit 1); gateway-p01 died after its restart (exit 1); gateway-p02 died after its restart (exit 1)"),
		Entry("one of the batch failing after its restart (a crash loop, as Kubernetes says it): halted at once, not at the timeout",
			func() desired.State {
				d, _ := fleet(30, 1, rolledAt(ago(2*time.Second)), failingAs("container gateway CrashLoopBackOff"))
				return d
			}(),
			func() reconcile.Observed {
				_, o := fleet(30, 1, rolledAt(ago(2*time.Second)), failingAs("container gateway CrashLoopBackOff"))
				return o
			}(),
			"0 restarts; held map[rollout_halted:29]\nwarning: rollout halted with 29 restarts to go: gateway-p00 failing after its restart: container gateway CrashLoopBackOff"),
		Entry("a batch never up within the timeout: halted",
			func() desired.State {
				d, _ := fleet(30, 1, rolledAt(ago(2*time.Minute)), downSince(ago(2*time.Minute)))
				return d
			}(),
			func() reconcile.Observed {
				_, o := fleet(30, 1, rolledAt(ago(2*time.Minute)), downSince(ago(2*time.Minute)))
				return o
			}(),
			"0 restarts; held map[rollout_halted:29]\nwarning: rollout halted with 29 restarts to go: gateway-p00 not up for 10s within 1m0s of its restart"),
		Entry("a restart of ours cut short by a kill (down with exit 0, s6 wanting it down) is in flight, not failed, and still one of the fleet the batch is a share of",
			func() desired.State {
				d, _ := fleet(30, 1, rolledAt(ago(2*time.Second)), cutShort(ago(time.Second)))
				return d
			}(),
			func() reconcile.Observed {
				_, o := fleet(30, 1, rolledAt(ago(2*time.Second)), cutShort(ago(time.Second)))
				return o
			}(),
			"2 restarts; held map[rollout:27] until +10s; in flight [p00]"),
		Entry("a restart of ours cut short before its progress was recorded: in flight too, so the batch does not grow by its start",
			func() desired.State {
				d, _ := fleet(30, 0)
				return d
			}(),
			func() reconcile.Observed {
				_, o := fleet(30, 0)
				cutShort(ago(time.Second))(o.Units["p00"])
				return o
			}(),
			"2 restarts; held map[rollout:27] until +10s; in flight [p00]"),
		Entry("a death long after a healthy restart is no failure of the rollout",
			func() desired.State {
				d, _ := fleet(30, 3, rolledAt(ago(10*time.Minute)), died(ago(time.Second), 1))
				return d
			}(),
			func() reconcile.Observed {
				_, o := fleet(30, 3, rolledAt(ago(10*time.Minute)), died(ago(time.Second), 1))
				return o
			}(),
			"3 restarts; held map[rollout:24] until +10s"),
		Entry("within the budget: no rollout",
			func() desired.State { d, _ := fleet(30, 28, rolledAt(ago(time.Hour))); return d }(),
			func() reconcile.Observed { _, o := fleet(30, 28, rolledAt(ago(time.Hour))); return o }(),
			"2 restarts; held map[]"),
	)

	It("starts again a gateway whose restart a killed pass cut short, and holds nothing for it", func() {
		d, o := fleet(30, 1, rolledAt(ago(2*time.Second)), cutShort(ago(time.Second)))
		p := decideAt(d, o)
		var starts []reconcile.Action
		for _, a := range p.Actions {
			if a.Kind == reconcile.Start {
				starts = append(starts, a)
			}
		}
		Expect(starts).To(HaveLen(1))
		Expect(starts[0].Key).To(Equal("p00"))
		Expect(starts[0].Reason).To(Equal(desired.ReasonRestartIncomplete))
		Expect(p.Warnings).To(BeEmpty())
	})

	It("is no rollout for gateways that do not run: their files are rewritten at once", func() {
		var ss []desired.Service
		o := have()
		for i := range 30 {
			p := fmt.Sprintf("p%02d", i)
			ss = append(ss, explicitDown(p))
			o.Units[p] = slot(p, false, drift("run"))
		}
		p := decideAt(want(ss), o)
		Expect(p.Actions).To(HaveLen(30))
		Expect(p.Deferred).To(BeEmpty())
	})

	It("takes the batch as a share of the running gateways", func() {
		d, o := fleet(30, 0)
		pol := reconcile.Policy{Now: now, Rollout: &reconcile.Rollout{Batch: reconcile.RemoveLimit{Max: 50, Percent: true, Set: true},
			HealthyAfter: time.Second, Timeout: time.Minute}}
		Expect(text(reconcile.Decide(d, renderings(d), o, pol))).To(Equal("15 restarts; held map[rollout:15] until +1s"))
	})
})
