package reconcile_test

import (
	"errors"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/types"
	. "github.com/onsi/gomega"

	"github.com/hermes-reconcile/hermes-reconcile/desired"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
)

func plan(lines ...string) string { return strings.Join(lines, "\n") }

type planRow struct {
	desired  desired.State
	observed reconcile.Observed
}

// rows keeps the inputs of planEntries for the coverage check.
var rows []planRow

func row(name string, d desired.State, o reconcile.Observed, expected string) TableEntry {
	rows = append(rows, planRow{d, o})
	return Entry(name, d, o, expected, types.NewCodeLocation(1)) // report the row, not this line
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
	// create / profile_added
	row("create: a new profile with no intent is registered down",
		want(svcs(noIntent("a"))), have(),
		"+ gateway-a  create (down)  profile_added"),
	row("create: boot semantics, a legacy running intent is registered up",
		want(svcs(legacyUp("a"))), have(),
		"+ gateway-a  create (up)  profile_added"),
	row("create: an explicit running intent is registered up",
		want(svcs(explicitUp("a"))), have(),
		"+ gateway-a  create (up)  profile_added"),
	row("create: a multiplexed default carries what it folds",
		want(svcs(muxDefault("a", "b"), muxNamed("a"), muxNamed("b"))), have(),
		plan(
			"+ gateway-default  create (up)  profile_added (serves a, b)",
			"+ gateway-a  create (down)  profile_added",
			"+ gateway-b  create (down)  profile_added")),

	// update / spec_changed
	row("update: run changed on an up slot restarts the gateway",
		want(svcs(explicitUp("a"))), have(slot("a", true, drift("run"))),
		"~ gateway-a  update run (restart)  spec_changed"),
	row("update: run changed on an up slot with no intent still restarts it",
		want(svcs(noIntent("b"))), have(slot("b", true, drift("run"))),
		"~ gateway-b  update run (restart)  spec_changed"),
	row("update: run changed on a down slot needs no restart",
		want(svcs(explicitDown("a"))), have(slot("a", false, drift("run"))),
		"~ gateway-a  update run  spec_changed"),
	row("update: run changed while s6 still wants up a crashed gateway needs no restart",
		want(svcs(explicitUp("a"))),
		have(slot("a", true, drift("run"), status(func(u *reconcile.Unit) { u.Running, u.PID, u.ExitCode = false, 0, 1 }))),
		"~ gateway-a  update run  spec_changed"),
	row("in sync: a supervisor that has not written its status yet follows what is persisted",
		want(svcs(explicitUp("a"))),
		have(slot("a", true, status(func(u *reconcile.Unit) {
			u.Running, u.WantUp, u.PID, u.StatusErr = false, false, 0, errors.New("supervise/status: file does not exist")
		}))),
		""),
	row("update: log/run changed restarts only the logger",
		want(svcs(explicitUp("a"))), have(slot("a", true, drift("log/run"))),
		"~ gateway-a  update log/run (restart logger)  spec_changed"),
	row("update: log/run changed on a down slot still restarts its logger",
		want(svcs(explicitDown("a"))), have(slot("a", false, drift("log/run"))),
		"~ gateway-a  update log/run (restart logger)  spec_changed"),
	row("update: finish changed needs no restart",
		want(svcs(explicitUp("a"))), have(slot("a", true, drift("finish"))),
		"~ gateway-a  update finish  spec_changed"),
	row("update: type changed needs no restart",
		want(svcs(explicitUp("a"))), have(slot("a", true, drift("type"))),
		"~ gateway-a  update type  spec_changed"),
	row("update: every file changed, in rendering order",
		want(svcs(explicitUp("a"))),
		have(slot("a", true, drift("log/run"), drift("finish"), drift("run"), drift("type"))),
		"~ gateway-a  update type, run, finish, log/run (restart, restart logger)  spec_changed"),
	row("update: a hand-deleted run is put back",
		want(svcs(explicitUp("a"))), have(slot("a", true, drift("run"))),
		"~ gateway-a  update run (restart)  spec_changed"),
	row("update: run without its exec bit",
		want(svcs(explicitUp("a"))), have(slot("a", true, drift("run"))),
		"~ gateway-a  update run (restart)  spec_changed"),
	row("update: a symlink in finish's place",
		want(svcs(explicitUp("a"))), have(slot("a", true, drift("finish"))),
		"~ gateway-a  update finish  spec_changed"),
	row("update: our hash from an older rendering, files already current",
		want(svcs(explicitUp("a"))), have(slot("a", true, oldHash)),
		"~ gateway-a  update  spec_changed"),

	// adopt / adopted
	row("adopt: a slot Hermes made with the same bytes, no hash",
		want(svcs(explicitUp("a"))), have(slot("a", true, noHash)),
		"~ gateway-a  adopt  adopted"),
	row("adopt: an older Hermes's run is rewritten without a restart",
		want(svcs(explicitUp("a"))), have(slot("a", true, noHash, drift("run"))),
		"~ gateway-a  adopt run  adopted"),
	row("adopt: a hand-made slot missing log/run and finish",
		want(svcs(legacyUp("a"))), have(slot("a", true, noHash, drift("log/run"), drift("finish"))),
		"~ gateway-a  adopt finish, log/run  adopted"),
	row("adopt and stop: an adopted slot still follows an explicit intent",
		want(svcs(explicitDown("a"))), have(slot("a", true, noHash, drift("run"))),
		plan(
			"< gateway-a  stop  intent_stopped",
			"~ gateway-a  adopt run  adopted")),

	// start / intent_running, stop / intent_stopped
	row("start: explicit running, slot down",
		want(svcs(explicitUp("a"))), have(slot("a", false)),
		"> gateway-a  start  intent_running"),
	row("stop: explicit stopped, slot up",
		want(svcs(explicitDown("a"))), have(slot("a", true)),
		"< gateway-a  stop  intent_stopped"),
	row("start after a permanent failure: s6 wants down, the operator wants running",
		want(svcs(explicitUp("a"))),
		have(slot("a", true, status(func(u *reconcile.Unit) {
			u.Running, u.WantUp, u.PID, u.ExitCode, u.PermanentFailure = false, false, 0, 78, true
		}))),
		"> gateway-a  start  intent_running"),
	row("start: a down file left on an enforced running slot is removed",
		want(svcs(explicitUp("a"))), have(slot("a", true, persisted(false))),
		"> gateway-a  start  intent_running"),
	row("restart: run changed on an up slot with a stray down file, started as well",
		want(svcs(explicitUp("a"))), have(slot("a", true, persisted(false), drift("run"))),
		plan(
			"~ gateway-a  update run (restart)  spec_changed",
			"> gateway-a  start  intent_running")),
	row("stop: a missing down file on an enforced stopped slot is put back",
		want(svcs(explicitDown("a"))), have(slot("a", false, persisted(true))),
		"< gateway-a  stop  intent_stopped"),
	row("update then start: the new run comes up with the start, no restart",
		want(svcs(explicitUp("a"))), have(slot("a", false, drift("run"))),
		plan(
			"~ gateway-a  update run  spec_changed",
			"> gateway-a  start  intent_running")),
	row("stop then update: a gateway being stopped is not restarted",
		want(svcs(explicitDown("a"))), have(slot("a", true, drift("run"))),
		plan(
			"< gateway-a  stop  intent_stopped",
			"~ gateway-a  update run  spec_changed")),

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
		want(svcs(legacyUp("a"), noIntent("b"))), have(slot("a", true, persisted(false)), slot("b", false, persisted(true))),
		""),

	// multiplex
	row("multiplex: a named gateway is stopped, default started for it",
		want(svcs(muxDefault("a"), muxNamed("a"))), have(slot("default", false), slot("a", true)),
		plan(
			"< gateway-a  stop  multiplex",
			"> gateway-default  start  multiplex (serves a)")),
	row("multiplex turned off: default stopped, named started on their own intent",
		want(svcs(explicitDown("default"), explicitUp("a"))), have(slot("default", true), slot("a", false)),
		plan(
			"< gateway-default  stop  intent_stopped",
			"> gateway-a  start  intent_running")),

	// remove / profile_removed, profile_tombstoned
	row("remove: a deleted profile",
		want(svcs(noIntent("default"))), have(slot("default", false), slot("c", true)),
		"- gateway-c  remove  profile_removed"),
	row("remove: a tombstoned profile",
		want(svcs(noIntent("default")), tombstoned("c")), have(slot("default", false), slot("c", true)),
		"- gateway-c  remove  profile_tombstoned"),
	row("remove: a slot we did not write, whose profile is gone",
		want(nil), have(slot("c", false, noHash, drift("run"))),
		"- gateway-c  remove  profile_removed"),

	// clean / stale_staging
	row("clean: interrupted staging and removal dirs",
		want(nil), withLeftovers(have(), ".gateway-x.tmp", ".gateway-y.del"),
		plan(
			"- .gateway-x.tmp  clean  stale_staging",
			"- .gateway-y.del  clean  stale_staging")),

	// update / not_supervised
	row("not supervised: an in-sync slot s6-svscan has not picked up",
		want(svcs(legacyUp("a"))), have(slot("a", true, unsupervised)),
		"~ gateway-a  update (register)  not_supervised"),
	row("not supervised and changed: written, then registered, no restart",
		want(svcs(explicitUp("a"))), have(slot("a", true, unsupervised, drift("run"))),
		"~ gateway-a  update run (register)  spec_changed"),
	row("not supervised, enforced running, down file present: registered and started",
		want(svcs(explicitUp("a"))), have(slot("a", false, unsupervised)),
		plan(
			"~ gateway-a  update (register)  not_supervised",
			"> gateway-a  start (register)  intent_running")),
	row("not supervised, enforced stopped, no down file: stopped before it is registered",
		want(svcs(explicitDown("a"))), have(slot("a", true, unsupervised)),
		plan(
			"< gateway-a  stop (register)  intent_stopped",
			"~ gateway-a  update (register)  not_supervised")),
	row("not supervised and adopted",
		want(svcs(noIntent("a"))), have(slot("a", false, unsupervised, noHash)),
		"~ gateway-a  adopt (register)  adopted"),

	// Held profiles and untouchable slots: no action whatever they look like.
	row("held: a profile with a bad config.yaml keeps its drifted slot",
		want(svcs(explicitUp("default")), held("a")),
		have(slot("default", true), slot("a", true, drift("run"), persisted(false))),
		""),
	row("held: a held profile without a slot gets none",
		want(svcs(explicitUp("default")), held("a")), have(slot("default", true)),
		""),
	row("held: the default profile, with a bad root config.yaml",
		want(svcs(svc("a", false, false, "topology_unknown")), held("default")),
		have(slot("default", true, drift("run")), slot("a", true)),
		""),
	row("untouchable: a symlinked slot of a live profile",
		want(svcs(explicitUp("a"))), have(slot("a", false, untouchable)),
		"= gateway-a  left as it is (untouchable)  slot is a symlink; left as it is"),
	row("untouchable: a symlinked slot of a deleted profile",
		want(nil), have(slot("c", false, untouchable)),
		"= gateway-c  left as it is (untouchable)  slot is a symlink; left as it is"),

	// Incomplete desired state: nothing is removed on its account.
	row("incomplete: no removal, other work goes on",
		want(svcs(noIntent("default"), explicitUp("b")), incomplete, tombstoned("d")),
		withLeftovers(have(slot("default", false), slot("c", true), slot("d", true)), ".gateway-x.tmp"),
		plan(
			"- .gateway-x.tmp  clean  stale_staging",
			"+ gateway-b  create (up)  profile_added")),

	// A host's single unit (systemd, launchd) through the same rule: WantUp
	// is "active", Persisted is "enabled".
	row("host: running intent, not installed",
		want(svcs(explicitUp("systemd-coder"))), have(),
		"+ hermes-gateway-systemd-coder  create (up)  profile_added"),
	row("host: stopped intent, not installed",
		want(svcs(explicitDown("systemd-coder"))), have(),
		"+ hermes-gateway-systemd-coder  create (down)  profile_added"),
	row("host: legacy running, not installed: boot semantics",
		want(svcs(legacyUp("systemd-coder"))), have(),
		"+ hermes-gateway-systemd-coder  create (up)  profile_added"),
	row("host: in sync, running and stopped",
		want(svcs(explicitUp("systemd-a"), explicitDown("systemd-b"))), have(slot("systemd-a", true), slot("systemd-b", false)),
		""),
	row("host: running intent, inactive and disabled",
		want(svcs(explicitUp("systemd-coder"))), have(slot("systemd-coder", false)),
		"> hermes-gateway-systemd-coder  start  intent_running"),
	row("host: running intent, failed but enabled",
		want(svcs(explicitUp("systemd-coder"))), have(slot("systemd-coder", false, persisted(true))),
		"> hermes-gateway-systemd-coder  start  intent_running"),
	row("host: running intent, active but not enabled",
		want(svcs(explicitUp("systemd-coder"))), have(slot("systemd-coder", true, persisted(false))),
		"> hermes-gateway-systemd-coder  start  intent_running"),
	row("host: stopped intent, active",
		want(svcs(explicitDown("systemd-coder"))), have(slot("systemd-coder", true)),
		"< hermes-gateway-systemd-coder  stop  intent_stopped"),
	row("host: stopped intent, inactive but enabled",
		want(svcs(explicitDown("systemd-coder"))), have(slot("systemd-coder", false, persisted(true))),
		"< hermes-gateway-systemd-coder  stop  intent_stopped"),
	row("host: legacy and no intent leave the run state be",
		want(svcs(legacyUp("systemd-a"), noIntent("systemd-b"))), have(slot("systemd-a", false), slot("systemd-b", true)),
		""),
	row("host: a stale unit of a running systemd service is rewritten, not restarted",
		want(svcs(explicitUp("systemd-coder"))), have(slot("systemd-coder", true, drift("hermes-gateway-systemd-coder.service"))),
		"~ hermes-gateway-systemd-coder  update hermes-gateway-systemd-coder.service  spec_changed"),
	row("host: stale and down with a running intent: rewritten, then started",
		want(svcs(explicitUp("systemd-coder"))), have(slot("systemd-coder", false, drift("hermes-gateway-systemd-coder.service"))),
		plan(
			"~ hermes-gateway-systemd-coder  update hermes-gateway-systemd-coder.service  spec_changed",
			"> hermes-gateway-systemd-coder  start  intent_running")),
	row("host: a stale launchd plist of a running job: reloading it restarts it",
		want(svcs(explicitUp("launchd-coder"))), have(slot("launchd-coder", true, drift("ai.hermes.gateway-launchd-coder.plist"))),
		"~ ai.hermes.gateway-launchd-coder  update ai.hermes.gateway-launchd-coder.plist (restart)  spec_changed"),
	row("host: stale and up with a stopped intent: stopped, then rewritten",
		want(svcs(explicitDown("launchd-coder"))), have(slot("launchd-coder", true, drift("ai.hermes.gateway-launchd-coder.plist"))),
		plan(
			"< ai.hermes.gateway-launchd-coder  stop  intent_stopped",
			"~ ai.hermes.gateway-launchd-coder  update ai.hermes.gateway-launchd-coder.plist  spec_changed")),
	row("host: the profile removed",
		want(nil, func(d *desired.State) { d.Keys = []string{"systemd-coder"} }), have(slot("systemd-coder", true)),
		"- hermes-gateway-systemd-coder  remove  profile_removed"),
	row("host: the profile tombstoned",
		want(nil, tombstoned("systemd-coder")), have(slot("systemd-coder", false)),
		"- hermes-gateway-systemd-coder  remove  profile_tombstoned"),
	row("host: the profile removed, nothing installed",
		want(nil), have(),
		""),
	row("host: a held profile's stale unit is left as it is",
		want(nil, held("systemd-coder")), have(slot("systemd-coder", true, drift("hermes-gateway-systemd-coder.service"))),
		""),
	row("host: a unit serving another HERMES_HOME is left as it is",
		want(svcs(explicitUp("systemd-coder"))), have(slot("systemd-coder", false, untouchable)),
		"= hermes-gateway-systemd-coder  left as it is (untouchable)  slot is a symlink; left as it is"),

	// A Deployment (kube-*): replicas above 1 are drift, brought back to
	// one by a start; replicas 0 where it should run is a plain start.
	row("kube: scaled to 3 by hand with a running intent: clamped to one",
		want(svcs(explicitUp("kube-a"))), have(slot("kube-a", true, instances(3))),
		"> hermes-gateway-kube-a  start  replicas_clamped"),
	row("kube: scaled to 2 with no intent: clamped all the same",
		want(svcs(noIntent("kube-a"))), have(slot("kube-a", true, instances(2))),
		"> hermes-gateway-kube-a  start  replicas_clamped"),
	row("kube: scaled to 3 with a stopped intent: stopped, not clamped",
		want(svcs(explicitDown("kube-a"))), have(slot("kube-a", true, instances(3))),
		"< hermes-gateway-kube-a  stop  intent_stopped"),
	row("kube: scaled to 0 with a running intent: a start, not a clamp",
		want(svcs(explicitUp("kube-a"))), have(slot("kube-a", false, instances(0))),
		"> hermes-gateway-kube-a  start  intent_running"),
	row("kube: scaled to 3 and its template edited: rolled, then clamped",
		want(svcs(explicitUp("kube-a"))), have(slot("kube-a", true, instances(3), drift("deployment.json"))),
		plan(
			"~ hermes-gateway-kube-a  update deployment.json (restart)  spec_changed",
			"> hermes-gateway-kube-a  start  replicas_clamped")),
	row("kube: one replica is in step",
		want(svcs(explicitUp("kube-a"))), have(slot("kube-a", true, instances(1))),
		""),
	row("kube: a paused Deployment, scaled to 3 and edited, is left as it is",
		want(svcs(explicitDown("kube-a"))), have(slot("kube-a", true, instances(3), drift("deployment.json"), paused)),
		"= hermes-gateway-kube-a  left as it is (paused)  paused by its annotation: not scaled, rewritten or removed until it is taken off"),
	row("kube: a paused Deployment whose profile is gone is not removed",
		want(nil), have(slot("kube-a", true, paused)),
		"= hermes-gateway-kube-a  left as it is (paused)  paused by its annotation: not scaled, rewritten or removed until it is taken off"),

	// Ordering: everything that takes gateways down first; default first,
	// then by name; within a slot, the rewrite before the start.
	row("ordering: downs before ups, default first, then by name",
		want(svcs(
			explicitUp("zeta"), explicitUp("mid"), explicitDown("default"), explicitUp("alpha"), explicitDown("beta"),
			noIntent("new"),
		), tombstoned("old2")),
		withLeftovers(have(
			slot("default", true, drift("run")),
			slot("alpha", false, drift("run")),
			slot("beta", true),
			slot("mid", true, drift("log/run")),
			slot("old1", true),
			slot("old2", true),
		), ".gateway-zz.tmp"),
		plan(
			"< gateway-default  stop  intent_stopped",
			"- .gateway-zz.tmp  clean  stale_staging",
			"< gateway-beta  stop  intent_stopped",
			"- gateway-old1  remove  profile_removed",
			"- gateway-old2  remove  profile_tombstoned",
			"~ gateway-default  update run  spec_changed",
			"~ gateway-alpha  update run  spec_changed",
			"> gateway-alpha  start  intent_running",
			"~ gateway-mid  update log/run (restart logger)  spec_changed",
			"+ gateway-new  create (down)  profile_added",
			"+ gateway-zeta  create (up)  profile_added")),
	row("ordering: a removal frees a port before a create takes it",
		want(svcs(explicitUp("a"))), have(slot("b", true)),
		plan(
			"- gateway-b  remove  profile_removed",
			"+ gateway-a  create (up)  profile_added")),
}

var _ = Describe("Plan", func() {
	DescribeTable("plans the actions that converge actual to desired",
		func(d desired.State, o reconcile.Observed, expected string) {
			Expect(planText(decide(d, o))).To(Equal(expected))
		},
		planEntries,
	)

	DescribeTable("converges: once its plan is applied, the next plan is empty",
		func(d desired.State, o reconcile.Observed, _ string) {
			p := decide(d, o)
			w := newWorld(o)
			w.apply(p)
			Expect(decide(d, w.observed).String()).To(BeEmpty(), "after applying:\n%s", p)
			Expect(w.stale(p)).To(BeEmpty(), "gateways still running an old run after:\n%s", p)
		},
		planEntries,
	)

	It("covers every kind and every reason in its table", func() {
		kinds := map[string]bool{}
		reasons := map[string]bool{}
		Expect(rows).To(HaveLen(len(planEntries)))
		for _, r := range rows {
			for _, x := range decide(r.desired, r.observed).Actions {
				kinds[x.Kind.String()] = true
				reasons[string(x.Reason)] = true
			}
		}
		Expect(kinds).To(HaveLen(7))
		for _, k := range []reconcile.Kind{reconcile.Create, reconcile.Update, reconcile.Adopt, reconcile.Start,
			reconcile.Stop, reconcile.Remove, reconcile.Clean} {
			Expect(kinds).To(HaveKey(k.String()))
		}
		for _, r := range []desired.Reason{
			desired.ReasonProfileAdded, desired.ReasonSpecChanged, desired.ReasonAdopted,
			desired.ReasonIntentRunning, desired.ReasonIntentStopped, desired.ReasonMultiplex,
			desired.ReasonProfileRemoved, desired.ReasonProfileTombstoned, desired.ReasonStaleStaging,
			desired.ReasonNotSupervised, desired.ReasonReplicasClamped,
		} {
			Expect(reasons).To(HaveKey(string(r)))
		}
	})

	It("is deterministic: the same inputs give the same plan", func() {
		d := want(svcs(explicitUp("b"), explicitUp("a"), noIntent("default")))
		a := have(slot("c", true), slot("d", true))
		first := decide(d, a).String()
		for range 20 {
			Expect(decide(d, a).String()).To(Equal(first))
		}
	})

	It("hands each create, update and adopt the rendering to write", func() {
		d := want(svcs(explicitUp("a"), explicitUp("b"), explicitUp("c")))
		a := have(slot("b", true, drift("run")), slot("c", true, noHash))
		for _, x := range decide(d, a).Actions {
			Expect(x.Spec).To(Equal(spec(x.Key)), x.String())
			Expect(x.Unit).To(Equal(spec(x.Key).Unit))
		}
	})

	It("never restarts on adoption, even when run differs on a running gateway", func() {
		p := decide(want(svcs(explicitUp("a"))), have(slot("a", true, noHash, drift("run"), drift("log/run")))).Actions
		Expect(p).To(HaveLen(1))
		Expect(p[0].Kind).To(Equal(reconcile.Adopt))
		Expect(p[0].Restart).To(BeFalse())
		Expect(p[0].RestartCompanion).To(BeFalse())
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
		p := decide(want(svcs(explicitUp("a"), explicitUp("b"), explicitUp("d"))), a)
		Expect(p.String()).To(Equal(plan(
			"- gateway-c  remove  profile_removed",
			"+ gateway-b  create (up)  profile_added",
			"+ gateway-d  create (up)  profile_added")))
		Expect(reconcile.Services(a, p)).To(Equal(3 + 2 + 2 - 1))
	})
})
