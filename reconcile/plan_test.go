package reconcile_test

import (
	"strings"

	. "github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/types"
	. "github.com/onsi/gomega"

	"github.com/hermes-reconcile/hermes-reconcile/actual"
	"github.com/hermes-reconcile/hermes-reconcile/desired"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
)

// olderRun is the run script an older Hermes wrote (it sourced the venv).
const olderRun = `#!/command/with-contenv sh
# shellcheck shell=sh
set -e
export HOME=/opt/data
cd /opt/data
. /opt/hermes/.venv/bin/activate
export HERMES_S6_SUPERVISED_CHILD=1
export HERMES_SUPERVISED_CHILD=1
exec s6-setuidgid hermes hermes -p a gateway run
`

func plan(lines ...string) string { return strings.Join(lines, "\n") }

type planRow struct {
	desired desired.State
	actual  actual.State
}

// rows keeps the inputs of planEntries for the coverage check.
var rows []planRow

func row(name string, d desired.State, a actual.State, expected string) TableEntry {
	rows = append(rows, planRow{d, a})
	return Entry(name, d, a, expected, types.NewCodeLocation(1)) // report the row, not this line
}

// planEntries are (desired, actual) → plan text, one line per action. Every
// entry must also converge: the property spec below applies each plan to the
// model and plans again.
var planEntries = []TableEntry{
	// Nothing to do.
	row("nothing at all", want(nil), have(), ""),
	row("in sync: every kind of intent, up and down",
		want(svcs(explicitUp("default"), explicitDown("a"), legacyUp("b"), legacyDown("c"), noIntent("d"))),
		have(slot("default", true), slot("a", false), slot("b", true), slot("c", false), slot("d", false)),
		""),
	row("in sync in multiplex topology",
		want(svcs(muxDefault("a"), muxNamed("a"), muxNamed("b"))),
		have(slot("default", true), slot("a", false), slot("b", false)),
		""),
	row("a mode difference other than the exec bit is not drift",
		want(svcs(explicitUp("a"))),
		have(slot("a", true, groupWritable("run"), groupWritable("type"))),
		""),

	// create / profile_added
	row("create: a new profile with no intent is registered down",
		want(svcs(noIntent("a"))), have(),
		"create gateway-a (down) profile_added"),
	row("create: boot semantics, a legacy running intent is registered up",
		want(svcs(legacyUp("a"))), have(),
		"create gateway-a (up) profile_added"),
	row("create: an explicit running intent is registered up",
		want(svcs(explicitUp("a"))), have(),
		"create gateway-a (up) profile_added"),
	row("create: a multiplexed default carries what it folds",
		want(svcs(muxDefault("a", "b"), muxNamed("a"), muxNamed("b"))), have(),
		plan(
			"create gateway-default (up) profile_added folds a,b",
			"create gateway-a (down) profile_added",
			"create gateway-b (down) profile_added")),

	// update / spec_changed
	row("update: run changed on an up slot restarts the gateway",
		want(svcs(explicitUp("a"))), have(slot("a", true, edited("run"))),
		"update gateway-a [run] restart spec_changed"),
	row("update: run changed on an up slot with no intent still restarts it",
		want(svcs(noIntent("b"))), have(slot("b", true, edited("run"))),
		"update gateway-b [run] restart spec_changed"),
	row("update: run changed on a down slot needs no restart",
		want(svcs(explicitDown("a"))), have(slot("a", false, edited("run"))),
		"update gateway-a [run] spec_changed"),
	row("update: run changed while s6 still wants up a crashed gateway needs no restart",
		want(svcs(explicitUp("a"))),
		have(slot("a", true, edited("run"), status(func(s *actual.Status) { s.Up, s.PID, s.ExitCode = false, 0, 1 }))),
		"update gateway-a [run] spec_changed"),
	row("update: log/run changed restarts only the logger",
		want(svcs(explicitUp("a"))), have(slot("a", true, edited("log/run"))),
		"update gateway-a [log/run] restart-log spec_changed"),
	row("update: log/run changed on a down slot still restarts its logger",
		want(svcs(explicitDown("a"))), have(slot("a", false, edited("log/run"))),
		"update gateway-a [log/run] restart-log spec_changed"),
	row("update: finish changed needs no restart",
		want(svcs(explicitUp("a"))), have(slot("a", true, edited("finish"))),
		"update gateway-a [finish] spec_changed"),
	row("update: type changed needs no restart",
		want(svcs(explicitUp("a"))), have(slot("a", true, replaced("type", "oneshot\n"))),
		"update gateway-a [type] spec_changed"),
	row("update: every file changed, in rendering order",
		want(svcs(explicitUp("a"))),
		have(slot("a", true, edited("log/run"), edited("finish"), edited("run"), edited("type"))),
		"update gateway-a [type, run, finish, log/run] restart restart-log spec_changed"),
	row("update: a hand-deleted run is put back",
		want(svcs(explicitUp("a"))), have(slot("a", true, missing("run"))),
		"update gateway-a [run] restart spec_changed"),
	row("update: run without its exec bit",
		want(svcs(explicitUp("a"))), have(slot("a", true, notExec("run"))),
		"update gateway-a [run] restart spec_changed"),
	row("update: a symlink in finish's place",
		want(svcs(explicitUp("a"))), have(slot("a", true, notRegular("finish"))),
		"update gateway-a [finish] spec_changed"),
	row("update: our hash from an older rendering, files already current",
		want(svcs(explicitUp("a"))), have(slot("a", true, oldHash)),
		"update gateway-a spec_changed"),

	// adopt / adopted
	row("adopt: a slot Hermes made with the same bytes, no hash",
		want(svcs(explicitUp("a"))), have(slot("a", true, noHash)),
		"adopt gateway-a adopted"),
	row("adopt: an older Hermes's run is rewritten without a restart",
		want(svcs(explicitUp("a"))), have(slot("a", true, noHash, replaced("run", olderRun))),
		"adopt gateway-a [run] adopted"),
	row("adopt: a hand-made slot missing log/run and finish",
		want(svcs(legacyUp("a"))), have(slot("a", true, noHash, missing("log/run"), missing("finish"))),
		"adopt gateway-a [finish, log/run] adopted"),
	row("adopt and stop: an adopted slot still follows an explicit intent",
		want(svcs(explicitDown("a"))), have(slot("a", true, noHash, replaced("run", olderRun))),
		plan(
			"stop gateway-a intent_stopped",
			"adopt gateway-a [run] adopted")),

	// start / intent_running, stop / intent_stopped
	row("start: explicit running, slot down",
		want(svcs(explicitUp("a"))), have(slot("a", false)),
		"start gateway-a intent_running"),
	row("stop: explicit stopped, slot up",
		want(svcs(explicitDown("a"))), have(slot("a", true)),
		"stop gateway-a intent_stopped"),
	row("start after a permanent failure: s6 wants down, the operator wants running",
		want(svcs(explicitUp("a"))),
		have(slot("a", true, status(func(s *actual.Status) {
			s.Up, s.WantUp, s.PID, s.ExitCode, s.PermanentFailure = false, false, 0, 78, true
		}))),
		"start gateway-a intent_running"),
	row("start: a down file left on an enforced running slot is removed",
		want(svcs(explicitUp("a"))), have(slot("a", true, downFile(true))),
		"start gateway-a intent_running"),
	row("restart: run changed on an up slot with a stray down file, started as well",
		want(svcs(explicitUp("a"))), have(slot("a", true, downFile(true), edited("run"))),
		plan(
			"update gateway-a [run] restart spec_changed",
			"start gateway-a intent_running")),
	row("stop: a missing down file on an enforced stopped slot is put back",
		want(svcs(explicitDown("a"))), have(slot("a", false, downFile(false))),
		"stop gateway-a intent_stopped"),
	row("update then start: the new run comes up with the start, no restart",
		want(svcs(explicitUp("a"))), have(slot("a", false, edited("run"))),
		plan(
			"update gateway-a [run] spec_changed",
			"start gateway-a intent_running")),
	row("stop then update: a gateway being stopped is not restarted",
		want(svcs(explicitDown("a"))), have(slot("a", true, edited("run"))),
		plan(
			"stop gateway-a intent_stopped",
			"update gateway-a [run] spec_changed")),

	// Non-enforced slots: boot semantics only.
	row("legacy running intent never starts an existing slot",
		want(svcs(legacyUp("a"))), have(slot("a", false)),
		""),
	row("legacy stopped intent never stops a running gateway",
		want(svcs(legacyDown("a"))), have(slot("a", true)),
		""),
	row("no intent never stops a running gateway",
		want(svcs(noIntent("a"))), have(slot("a", true)),
		""),
	row("unknown topology touches no run state",
		want(svcs(svc("a", false, false, "topology_unknown"))), have(slot("a", true)),
		""),
	row("a down-file mismatch on a non-enforced slot is left alone",
		want(svcs(legacyUp("a"), noIntent("b"))), have(slot("a", true, downFile(true)), slot("b", false, downFile(false))),
		""),

	// multiplex
	row("multiplex: a named gateway is stopped, default started for it",
		want(svcs(muxDefault("a"), muxNamed("a"))), have(slot("default", false), slot("a", true)),
		plan(
			"stop gateway-a multiplex",
			"start gateway-default multiplex folds a")),
	row("multiplex turned off: default stopped, named started on their own intent",
		want(svcs(explicitDown("default"), explicitUp("a"))), have(slot("default", true), slot("a", false)),
		plan(
			"stop gateway-default intent_stopped",
			"start gateway-a intent_running")),

	// remove / profile_removed, profile_tombstoned
	row("remove: a deleted profile",
		want(svcs(noIntent("default"))), have(slot("default", false), slot("c", true)),
		"remove gateway-c profile_removed"),
	row("remove: a tombstoned profile",
		want(svcs(noIntent("default")), tombstoned("c")), have(slot("default", false), slot("c", true)),
		"remove gateway-c profile_tombstoned"),
	row("remove: a slot we did not write, whose profile is gone",
		want(nil), have(slot("c", false, noHash, replaced("run", olderRun))),
		"remove gateway-c profile_removed"),

	// clean / stale_staging
	row("clean: interrupted staging and removal dirs",
		want(nil), withLeftovers(have(), ".gateway-x.tmp", ".gateway-y.del"),
		plan(
			"clean .gateway-x.tmp stale_staging",
			"clean .gateway-y.del stale_staging")),

	// update / not_supervised
	row("not supervised: an in-sync slot s6-svscan has not picked up",
		want(svcs(legacyUp("a"))), have(slot("a", true, unsupervised)),
		"update gateway-a register not_supervised"),
	row("not supervised and changed: written, then registered, no restart",
		want(svcs(explicitUp("a"))), have(slot("a", true, unsupervised, edited("run"))),
		"update gateway-a [run] register spec_changed"),
	row("not supervised, enforced running, down file present: registered and started",
		want(svcs(explicitUp("a"))), have(slot("a", false, unsupervised)),
		plan(
			"update gateway-a register not_supervised",
			"start gateway-a register intent_running")),
	row("not supervised, enforced stopped, no down file: stopped before it is registered",
		want(svcs(explicitDown("a"))), have(slot("a", true, unsupervised)),
		plan(
			"stop gateway-a register intent_stopped",
			"update gateway-a register not_supervised")),
	row("not supervised and adopted",
		want(svcs(noIntent("a"))), have(slot("a", false, unsupervised, noHash)),
		"adopt gateway-a register adopted"),

	// Held profiles and untouchable slots: no action whatever they look like.
	row("held: a profile with a bad config.yaml keeps its drifted slot",
		want(svcs(explicitUp("default")), held("a")),
		have(slot("default", true), slot("a", true, edited("run"), downFile(true))),
		""),
	row("held: a held profile without a slot gets none",
		want(svcs(explicitUp("default")), held("a")), have(slot("default", true)),
		""),
	row("held: the default profile, with a bad root config.yaml",
		want(svcs(svc("a", false, false, "topology_unknown")), held("default")),
		have(slot("default", true, edited("run")), slot("a", true)),
		""),
	row("untouchable: a symlinked slot of a live profile",
		want(svcs(explicitUp("a"))), have(slot("a", false, untouchable)),
		""),
	row("untouchable: a symlinked slot of a deleted profile",
		want(nil), have(slot("c", false, untouchable)),
		""),

	// Incomplete desired state: nothing is removed on its account.
	row("incomplete: no removal, other work goes on",
		want(svcs(noIntent("default"), explicitUp("b")), incomplete, tombstoned("d")),
		withLeftovers(have(slot("default", false), slot("c", true), slot("d", true)), ".gateway-x.tmp"),
		plan(
			"clean .gateway-x.tmp stale_staging",
			"create gateway-b (up) profile_added")),

	// Ordering: everything that takes gateways down first; default first,
	// then by name; within a slot, the rewrite before the start.
	row("ordering: downs before ups, default first, then by name",
		want(svcs(
			explicitUp("zeta"), explicitUp("mid"), explicitDown("default"), explicitUp("alpha"), explicitDown("beta"),
			noIntent("new"),
		), tombstoned("old2")),
		withLeftovers(have(
			slot("default", true, edited("run")),
			slot("alpha", false, edited("run")),
			slot("beta", true),
			slot("mid", true, edited("log/run")),
			slot("old1", true),
			slot("old2", true),
		), ".gateway-zz.tmp"),
		plan(
			"stop gateway-default intent_stopped",
			"clean .gateway-zz.tmp stale_staging",
			"stop gateway-beta intent_stopped",
			"remove gateway-old1 profile_removed",
			"remove gateway-old2 profile_tombstoned",
			"update gateway-default [run] spec_changed",
			"update gateway-alpha [run] spec_changed",
			"start gateway-alpha intent_running",
			"update gateway-mid [log/run] restart-log spec_changed",
			"create gateway-new (down) profile_added",
			"create gateway-zeta (up) profile_added")),
	row("ordering: a removal frees a port before a create takes it",
		want(svcs(explicitUp("a"))), have(slot("b", true)),
		plan(
			"remove gateway-b profile_removed",
			"create gateway-a (up) profile_added")),
}

var _ = Describe("Plan", func() {
	DescribeTable("plans the actions that converge actual to desired",
		func(d desired.State, a actual.State, expected string) {
			Expect(planText(reconcile.Plan(d, a))).To(Equal(expected))
		},
		planEntries,
	)

	DescribeTable("converges: once its plan is applied, the next plan is empty",
		func(d desired.State, a actual.State, _ string) {
			p := reconcile.Plan(d, a)
			w := newWorld(a)
			w.apply(p)
			Expect(planText(reconcile.Plan(d, w.actual))).To(BeEmpty(), "after applying:\n%s", planText(p))
			Expect(w.stale(p)).To(BeEmpty(), "gateways still running an old run after:\n%s", planText(p))
		},
		planEntries,
	)

	It("covers every kind and every reason in its table", func() {
		kinds := map[string]bool{}
		reasons := map[string]bool{}
		Expect(rows).To(HaveLen(len(planEntries)))
		for _, r := range rows {
			for _, x := range reconcile.Plan(r.desired, r.actual) {
				kinds[x.Kind.String()] = true
				reasons[x.Reason] = true
			}
		}
		Expect(kinds).To(HaveLen(7))
		for _, k := range []reconcile.Kind{reconcile.Create, reconcile.Update, reconcile.Adopt, reconcile.Start,
			reconcile.Stop, reconcile.Remove, reconcile.Clean} {
			Expect(kinds).To(HaveKey(k.String()))
		}
		for _, r := range []string{
			reconcile.ReasonProfileAdded, reconcile.ReasonSpecChanged, reconcile.ReasonAdopted,
			reconcile.ReasonIntentRunning, reconcile.ReasonIntentStopped, reconcile.ReasonMultiplex,
			reconcile.ReasonProfileRemoved, reconcile.ReasonProfileTombstoned, reconcile.ReasonStaleStaging,
			reconcile.ReasonNotSupervised,
		} {
			Expect(reasons).To(HaveKey(r))
		}
	})

	It("is deterministic: the same inputs give the same plan", func() {
		d := want(svcs(explicitUp("b"), explicitUp("a"), noIntent("default")))
		a := have(slot("c", true), slot("d", true))
		first := planText(reconcile.Plan(d, a))
		for range 20 {
			Expect(planText(reconcile.Plan(d, a))).To(Equal(first))
		}
	})

	It("hands each create, update and adopt the rendering to write", func() {
		d := want(svcs(explicitUp("a"), explicitUp("b"), explicitUp("c")))
		a := have(slot("b", true, edited("run")), slot("c", true, noHash))
		for _, x := range reconcile.Plan(d, a) {
			Expect(x.Spec).To(Equal(spec(x.Profile)), actionLine(x))
			Expect(x.Profile).To(Equal(strings.TrimPrefix(x.Slot, desired.SlotPrefix)))
		}
	})

	It("never restarts on adoption, even when run differs on a running gateway", func() {
		p := reconcile.Plan(want(svcs(explicitUp("a"))), have(slot("a", true, noHash, replaced("run", olderRun), edited("log/run"))))
		Expect(p).To(HaveLen(1))
		Expect(p[0].Kind).To(Equal(reconcile.Adopt))
		Expect(p[0].Restart).To(BeFalse())
		Expect(p[0].RestartLog).To(BeFalse())
	})
})

var _ = Describe("Kind", func() {
	It("has fixed values and names", func() {
		Expect([]int{int(reconcile.Create), int(reconcile.Update), int(reconcile.Adopt), int(reconcile.Start),
			int(reconcile.Stop), int(reconcile.Remove), int(reconcile.Clean)}).To(Equal([]int{1, 2, 3, 4, 5, 6, 7}))
		Expect(reconcile.Kind(0).String()).To(Equal("unknown"))
		Expect(reconcile.Kind(99).String()).To(Equal("unknown"))
	})
})

var _ = Describe("Services", func() {
	It("counts one service per slot (its logger included) after the plan, one per foreign service", func() {
		a := have(slot("a", true), slot("c", true))
		a.Others = 3
		p := reconcile.Plan(want(svcs(explicitUp("a"), explicitUp("b"), explicitUp("d"))), a)
		Expect(planText(p)).To(Equal(plan(
			"remove gateway-c profile_removed",
			"create gateway-b (up) profile_added",
			"create gateway-d (up) profile_added")))
		Expect(reconcile.Services(a, p)).To(Equal(3 + 2 + 2 - 1))
	})
})
