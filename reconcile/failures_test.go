package reconcile_test

import (
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/hermes-reconcile/hermes-reconcile/desired"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
)

// Gateways that fail or restart, with a fake clock: restarts a killed pass
// left half done are finished, a permanent failure is not started again
// until something changed, and a crash loop is parked.
var _ = Describe("failing and restarting gateways", func() {
	now := time.Unix(1_800_000_000, 0)
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	guard := reconcile.CrashLoop{Deaths: 5, Window: time.Minute}

	type row struct {
		d      desired.State
		o      reconcile.Observed
		unpark string
	}
	text := func(p reconcile.Plan) string {
		lines := []string{}
		if s := p.String(); s != "" {
			lines = append(lines, s)
		}
		for _, d := range p.Deferred {
			lines = append(lines, d.Line(now))
		}
		return strings.Join(lines, "\n")
	}
	decideAt := func(r row) reconcile.Plan {
		pol := reconcile.Policy{Now: now, CrashLoop: guard}
		if r.unpark != "" {
			pol.Unpark = map[string]bool{r.unpark: true}
		}
		return reconcile.Decide(r.d, renderings(r.d), r.o, pol)
	}
	// Unit states.
	since := func(t time.Time) unitOpt { return func(u *reconcile.Unit) { u.Since = t } }
	// stale: it runs something older than we last wrote (the engine says).
	stale := func(u *reconcile.Unit) { u.Stale = true }
	companionStale := func(u *reconcile.Unit) { u.Companion.Stale = true }
	restarting := func(u *reconcile.Unit) { u.Restarting = true }
	// downForRestart: s6 wants it down and it is, with no down file: what
	// our -d left (a restart's stop), or finish's 125.
	downForRestart := func(u *reconcile.Unit) {
		u.Running, u.WantUp, u.Persisted, u.PID, u.ExitCode = false, false, true, 0, 0
	}
	failed := func(exit int, at time.Time) unitOpt {
		return func(u *reconcile.Unit) {
			u.Running, u.WantUp, u.Persisted, u.PID = false, false, true, 0
			u.ExitCode, u.PermanentFailure, u.Since = exit, true, at
			u.State = "failed"
		}
	}
	loggerDown := func(u *reconcile.Unit) { u.Companion.Running, u.Companion.WantUp = false, false }
	loggerRespawning := func(u *reconcile.Unit) { u.Companion.Running, u.Companion.WantUp = false, true }
	// crashing: s6 wants it up and respawns it; it died n times, 2 s apart,
	// the last one at last.
	crashing := func(n int, last time.Time, exit int) unitOpt {
		return func(u *reconcile.Unit) {
			u.Running, u.WantUp, u.PID, u.ExitCode = false, true, 0, exit
			for i := n - 1; i >= 0; i-- {
				u.Deaths = append(u.Deaths, reconcile.Death{At: last.Add(-time.Duration(i) * 2 * time.Second), Exit: exit})
			}
		}
	}
	stopsOf := func(n int) unitOpt {
		return func(u *reconcile.Unit) {
			for i := range n {
				u.Deaths = append(u.Deaths, reconcile.Death{At: ago(time.Duration(n-i) * time.Second), Signal: 15})
			}
		}
	}
	parkedAt := func(t time.Time, count int) unitOpt {
		return func(u *reconcile.Unit) {
			u.Running, u.WantUp, u.Persisted, u.PID, u.ExitCode = false, false, false, 0, 1
			u.Park = &reconcile.Park{At: t, Count: count, Why: "crash loop, 5 deaths in 8s, last exit 1", LastExits: []string{"exit 1"}}
		}
	}
	// lifted: started again at t, its down file gone.
	lifted := func(t time.Time) unitOpt { return func(u *reconcile.Unit) { u.Park.Lifted, u.Persisted = t, true } }
	touched := func(s desired.Service, t time.Time) desired.Service { s.Touched, s.IntentAt = t, t; return s }
	inputsAt := func(s desired.Service, t time.Time) desired.Service { s.InputsAt = t; return s }

	DescribeTable("plans",
		func(r row, expected string) {
			Expect(text(decideAt(r))).To(Equal(expected))
		},
		// Restarts that finish.
		Entry("a gateway that started before its run was rewritten is restarted",
			row{d: want(svcs(explicitUp("a"))), o: have(slot("a", true, since(ago(time.Hour)), stale))},
			"~ gateway-a  update (restart)  restart_pending"),
		Entry("... and so is one with a legacy intent: a killed pass left it on the old run",
			row{d: want(svcs(legacyUp("a"))), o: have(slot("a", true, since(ago(time.Hour)), stale))},
			"~ gateway-a  update (restart)  restart_pending"),
		Entry("one that runs what we wrote is left alone",
			row{d: want(svcs(explicitUp("a"))), o: have(slot("a", true, since(ago(time.Second))))},
			""),
		Entry("a logger that started before log/run was rewritten is restarted",
			row{d: want(svcs(explicitUp("a"))), o: have(slot("a", true, since(ago(time.Hour)), companionStale))},
			"~ gateway-a  update (restart logger)  restart_pending"),
		Entry("a gateway a killed restart left down is started, legacy intent too",
			row{d: want(svcs(legacyUp("a"), noIntent("b"))), o: have(
				slot("a", false, downForRestart, restarting, since(ago(time.Second))),
				slot("b", false, downForRestart, restarting, since(ago(time.Hour))))},
			"> gateway-a  start  restart_incomplete\n> gateway-b  start  restart_incomplete"),
		Entry("... but not against an intent written since: stopped",
			row{d: want(svcs(explicitDown("a"))), o: have(slot("a", false, downForRestart, restarting, persisted(true)))},
			"< gateway-a  stop  intent_stopped"),
		Entry("a logger left down is started: a gateway blocks on a full pipe without it",
			row{d: want(svcs(explicitUp("a"))), o: have(slot("a", true, loggerDown))},
			"~ gateway-a  update (restart logger)  logger_down"),
		Entry("a logger s6 is respawning is s6's business",
			row{d: want(svcs(explicitUp("a"))), o: have(slot("a", true, loggerRespawning))},
			""),

		// No restart storms: finish asked s6 to leave it down.
		Entry("explicit running, exit 78: not started again merely because a pass ran",
			row{d: want(svcs(touched(explicitUp("a"), ago(time.Hour)))), o: have(slot("a", false, persisted(true), failed(78, ago(time.Minute))))},
			"= gateway-a  start held  permanent_failure: finish asked s6 not to restart it (exit 78): started again when its config.yaml, .env or intent changes"),
		Entry("explicit running, exit 0, intent rewritten after the failure (hermes gateway start): started once",
			row{d: want(svcs(touched(explicitUp("a"), ago(time.Second)))), o: have(slot("a", false, persisted(true), failed(0, ago(time.Minute))))},
			"> gateway-a  start  unparked"),
		Entry("config.yaml or .env written after the failure: started once",
			row{d: want(svcs(inputsAt(touched(explicitUp("a"), ago(time.Hour)), ago(time.Second)))), o: have(slot("a", false, persisted(true), failed(78, ago(time.Minute))))},
			"> gateway-a  start  unparked"),
		Entry("unpark starts a gateway that failed for good",
			row{d: want(svcs(touched(explicitUp("a"), ago(time.Hour)))), o: have(slot("a", false, persisted(true), failed(78, ago(time.Minute)))), unpark: "a"},
			"> gateway-a  start  unparked"),
		Entry("a legacy intent never started it: it stays down, nothing held",
			row{d: want(svcs(legacyUp("a"))), o: have(slot("a", false, persisted(true), failed(78, ago(time.Minute))))},
			""),

		// The crash-loop guard.
		Entry("K deaths within W: parked down",
			row{d: want(svcs(explicitUp("a"))), o: have(slot("a", true, crashing(5, ago(time.Second), 1)))},
			"< gateway-a  stop (park)  crash_loop"),
		Entry("a legacy slot crash-looping is parked too",
			row{d: want(svcs(legacyUp("a"))), o: have(slot("a", true, crashing(6, ago(time.Second), 2)))},
			"< gateway-a  stop (park)  crash_loop"),
		Entry("fewer than K deaths within W: s6 goes on respawning it",
			row{d: want(svcs(explicitUp("a"))), o: have(slot("a", true, crashing(4, ago(time.Second), 1)))},
			""),
		Entry("K deaths, but spread wider than W: no loop",
			row{d: want(svcs(explicitUp("a"))), o: have(slot("a", true, crashing(5, ago(55*time.Second), 1)))},
			""),
		Entry("stops (SIGTERM) and clean exits are no crashes",
			row{d: want(svcs(explicitUp("a"))), o: have(slot("a", true, stopsOf(8)))},
			""),
		Entry("parked, nothing changed since: held, and says how to start it",
			row{d: want(svcs(touched(explicitUp("a"), ago(time.Hour)))), o: have(slot("a", false, parkedAt(ago(time.Minute), 1)))},
			"= gateway-a  start held  permanent_failure: parked: crash loop, 5 deaths in 8s, last exit 1; started again when its config.yaml, .env or intent changes, or by `hermes-reconcile unpark a`"),
		Entry("parked, config.yaml edited since: started once, the park lifted",
			row{d: want(svcs(inputsAt(explicitUp("a"), ago(time.Second)))), o: have(slot("a", false, parkedAt(ago(time.Minute), 1)))},
			"> gateway-a  start  unparked"),
		Entry("parked, a legacy intent: the lift starts it too",
			row{d: want(svcs(inputsAt(legacyUp("a"), ago(time.Second)))), o: have(slot("a", false, parkedAt(ago(time.Minute), 1)))},
			"> gateway-a  start  unparked"),
		Entry("parked, the operator unparks it",
			row{d: want(svcs(legacyUp("a"))), o: have(slot("a", false, parkedAt(ago(time.Minute), 1))), unpark: "a"},
			"> gateway-a  start  unparked"),
		Entry("parked, intent stopped meanwhile: it stays down, nothing held",
			row{d: want(svcs(touched(explicitDown("a"), ago(time.Second)))), o: have(slot("a", false, parkedAt(ago(time.Minute), 1)))},
			""),
		Entry("parked a third time, inputs changed: waits out its hold-off (2 min)",
			row{d: want(svcs(inputsAt(explicitUp("a"), ago(time.Second)))), o: have(slot("a", false, parkedAt(ago(time.Minute), 3)))},
			"= gateway-a  start deferred 1m0s  crash_loop: parked 3 times: its changed inputs start it at the end of a hold-off of 2m0s"),
		Entry("lifted, crashing again: deaths before the lift do not count",
			row{d: want(svcs(explicitUp("a"))), o: have(slot("a", true, parkedAt(ago(time.Minute), 1), lifted(ago(3*time.Second)), crashing(5, ago(time.Second), 1)))},
			""),
		Entry("lifted, K deaths since: parked again, a repeat",
			row{d: want(svcs(explicitUp("a"))), o: have(slot("a", true, parkedAt(ago(time.Minute), 1), lifted(ago(20*time.Second)), crashing(5, ago(time.Second), 1)))},
			"< gateway-a  stop (park)  crash_loop"),
	)

	It("records the park: when, how often, why, and the last exits", func() {
		d := want(svcs(explicitUp("a")))
		p := decideAt(row{d: d, o: have(slot("a", true, crashing(6, ago(time.Second), 1)))})
		Expect(p.Actions).To(HaveLen(1))
		park := p.Actions[0].Park
		Expect(park).NotTo(BeNil())
		Expect(*park).To(Equal(reconcile.Park{At: now, Count: 1, Why: "crash loop, 6 deaths in 10s, last exit 1",
			LastExits: []string{"exit 1", "exit 1", "exit 1"}}))

		again := decideAt(row{d: d, o: have(slot("a", true, parkedAt(ago(time.Minute), 2), lifted(ago(30*time.Second)), crashing(5, ago(time.Second), 1)))})
		Expect(again.Actions[0].Park.Count).To(Equal(3))
	})

	It("lifts a park on the start, keeping its count unless the operator unparks", func() {
		auto := decideAt(row{d: want(svcs(inputsAt(explicitUp("a"), ago(time.Second)))), o: have(slot("a", false, parkedAt(ago(30*time.Second), 2)))})
		Expect(auto.Actions).To(HaveLen(0), "the second park waits a minute")
		auto = decideAt(row{d: want(svcs(inputsAt(explicitUp("a"), ago(time.Second)))), o: have(slot("a", false, parkedAt(ago(2*time.Minute), 2)))})
		Expect(auto.Actions).To(HaveLen(1))
		Expect(auto.Actions[0].Park.Lifted).To(Equal(now))
		Expect(auto.Actions[0].Park.Count).To(Equal(2))

		op := decideAt(row{d: want(svcs(explicitUp("a"))), o: have(slot("a", false, parkedAt(ago(time.Minute), 4))), unpark: "a"})
		Expect(op.Actions[0].Park.Lifted).To(Equal(now))
		Expect(op.Actions[0].Park.Count).To(BeZero())
	})

	It("gives up the guard with zero deaths", func() {
		d := want(svcs(explicitUp("a")))
		o := have(slot("a", true, crashing(50, ago(time.Second), 1)))
		Expect(reconcile.Decide(d, renderings(d), o, reconcile.Policy{Now: now}).Actions).To(BeEmpty())
	})
})
