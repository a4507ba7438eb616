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

// The settle window, with a fake clock: another writer (the Hermes CLI)
// gets it to finish what it started before the plan acts against it.
var _ = Describe("the settle window", func() {
	now := time.Unix(1_800_000_000, 0)
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	const settle = 2 * time.Second

	type row struct {
		d        desired.State
		o        reconcile.Observed
		seen     map[string]reconcile.Seen
		watching bool
		settle   time.Duration
	}
	// intentAt stamps a service's intent file as written at t.
	intentAt := func(s desired.Service, t time.Time) desired.Service { s.IntentAt = t; return s }
	// changed says the unit's manager last changed its run state at t.
	changed := func(t time.Time) unitOpt { return func(u *reconcile.Unit) { u.Since = t } }
	// known: keys the loop has seen before, their units left in place.
	known := func(keys ...string) map[string]reconcile.Seen {
		m := map[string]reconcile.Seen{}
		for _, k := range keys {
			m[k] = reconcile.Seen{Present: true}
		}
		return m
	}
	text := func(p reconcile.Plan) string {
		lines := []string{}
		if s := p.String(); s != "" {
			lines = append(lines, s)
		}
		for _, d := range p.Deferred {
			lines = append(lines, fmt.Sprintf("= %s %s until +%s", d.Unit, d.Kind, d.Until.Sub(now)))
		}
		return strings.Join(lines, "\n")
	}

	DescribeTable("defers, and then acts",
		func(r row, expected string) {
			pol := reconcile.Policy{Now: now, Settle: r.settle, Seen: r.seen, Watching: r.watching}
			Expect(text(reconcile.Decide(r.d, renderings(r.d), r.o, pol))).To(Equal(expected))
		},
		// (a) a profile just created: its creator registers its slot.
		Entry("a profile the loop has not seen: its slot waits for its creator",
			row{d: want(svcs(noIntent("new"))), o: have(), watching: true, settle: settle},
			"= gateway-new create until +2s"),
		Entry("the creator's slot appears within the window: not adopted yet",
			row{d: want(svcs(noIntent("new"))), o: have(slot("new", false, noHash)),
				seen: map[string]reconcile.Seen{"new": {Appeared: ago(time.Second)}}, watching: true, settle: settle},
			"= gateway-new create until +1s"),
		Entry("after the window: the creator's slot is adopted",
			row{d: want(svcs(noIntent("new"))), o: have(slot("new", false, noHash)),
				seen: map[string]reconcile.Seen{"new": {Appeared: ago(3 * time.Second)}}, watching: true, settle: settle},
			"~ gateway-new  adopt  adopted"),
		Entry("after the window, no slot: created",
			row{d: want(svcs(noIntent("new"))), o: have(),
				seen: map[string]reconcile.Seen{"new": {Appeared: ago(3 * time.Second)}}, watching: true, settle: settle},
			"+ gateway-new  create (down)  profile_added"),
		Entry("not watching (--once at boot): created at once",
			row{d: want(svcs(noIntent("new"))), o: have(), settle: settle},
			"+ gateway-new  create (down)  profile_added"),

		// (b) a slot removed by someone else while its profile exists.
		Entry("a slot the last pass left in place is gone: recreated only after the window",
			row{d: want(svcs(explicitUp("a"))), o: have(),
				seen: map[string]reconcile.Seen{"a": {Present: true}}, watching: true, settle: settle},
			"= gateway-a create until +2s"),
		Entry("still gone a second later: the window runs from when it went",
			row{d: want(svcs(explicitUp("a"))), o: have(),
				seen: map[string]reconcile.Seen{"a": {Present: true, Vanished: ago(time.Second)}}, watching: true, settle: settle},
			"= gateway-a create until +1s"),
		Entry("still gone after the window, the profile still there: recreated",
			row{d: want(svcs(explicitUp("a"))), o: have(),
				seen: map[string]reconcile.Seen{"a": {Present: true, Vanished: ago(3 * time.Second)}}, watching: true, settle: settle},
			"+ gateway-a  create (up)  profile_added"),
		Entry("gone, and its profile tombstoned meanwhile: nothing to recreate",
			row{d: want(nil, tombstoned("a")), o: have(),
				seen: map[string]reconcile.Seen{"a": {Present: true, Vanished: ago(3 * time.Second)}}, watching: true, settle: settle},
			""),

		// (c) a run state changed after the intent was written.
		Entry("hermes gateway start: s6-svc -u first, the intent after: not stopped in between",
			row{d: want(svcs(intentAt(explicitDown("a"), ago(time.Hour)))), o: have(slot("a", true, changed(ago(500*time.Millisecond)))),
				seen: known("a"), watching: true, settle: settle},
			"= gateway-a stop until +1.5s"),
		Entry("hermes gateway stop: s6-svc -d first: not started in between",
			row{d: want(svcs(intentAt(explicitUp("a"), ago(time.Hour)))), o: have(slot("a", false, changed(ago(500*time.Millisecond)))),
				seen: known("a"), watching: true, settle: settle},
			"= gateway-a start until +1.5s"),
		Entry("the same, in --once: the status record's time alone decides",
			row{d: want(svcs(intentAt(explicitUp("a"), ago(time.Hour)))), o: have(slot("a", false, changed(ago(500*time.Millisecond)))),
				settle: settle},
			"= gateway-a start until +1.5s"),
		Entry("the writer never recorded an intent: enforced after the window",
			row{d: want(svcs(intentAt(explicitUp("a"), ago(time.Hour)))), o: have(slot("a", false, changed(ago(3*time.Second)))),
				seen: known("a"), watching: true, settle: settle},
			"> gateway-a  start  intent_running"),
		Entry("the intent was written after the change: enforced at once",
			row{d: want(svcs(intentAt(explicitUp("a"), ago(100*time.Millisecond)))), o: have(slot("a", false, changed(ago(500*time.Millisecond)))),
				seen: known("a"), watching: true, settle: settle},
			"> gateway-a  start  intent_running"),
		Entry("a run state that keeps changing gets one window, from when it was first seen",
			row{d: want(svcs(intentAt(explicitDown("a"), ago(time.Hour)))), o: have(slot("a", true, changed(ago(100*time.Millisecond)))),
				seen: map[string]reconcile.Seen{"a": {Present: true, Conflict: ago(3 * time.Second)}}, watching: true, settle: settle},
			"< gateway-a  stop  intent_stopped"),

		Entry("a run state the topology enforces (multiplex) does not wait",
			row{d: want(svcs(muxDefault("a"), intentAt(muxNamed("a"), ago(time.Hour)))),
				o:    have(slot("default", true), slot("a", true, changed(ago(100*time.Millisecond)))),
				seen: known("default", "a"), watching: true, settle: settle},
			"< gateway-a  stop  multiplex"),
		Entry("no intent file at all: nothing to wait for",
			row{d: want(svcs(explicitUp("a"))), o: have(slot("a", false, changed(ago(100*time.Millisecond)))),
				seen: known("a"), watching: true, settle: settle},
			"> gateway-a  start  intent_running"),

		// No window: everything at once.
		Entry("--settle 0",
			row{d: want(svcs(noIntent("new"), intentAt(explicitUp("a"), ago(time.Hour)), explicitUp("b"))),
				o:    have(slot("a", false, changed(ago(100*time.Millisecond)))),
				seen: map[string]reconcile.Seen{"a": {Present: true}, "b": {Present: true}}, watching: true},
			"> gateway-a  start  intent_running\n+ gateway-b  create (up)  profile_added\n+ gateway-new  create (down)  profile_added"),
	)
})
