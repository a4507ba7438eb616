package metrics_test

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/hermes-reconcile/hermes-reconcile/desired"
	"github.com/hermes-reconcile/hermes-reconcile/metrics"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile/loop"
)

// text is the exposition of m.
func text(m *metrics.Metrics) string {
	var b bytes.Buffer
	Expect(metrics.WriteText(&b, m.Gather())).To(Succeed())
	return b.String()
}

// series are the sample lines of m whose names start with prefix, without
// the histogram's buckets: "name{labels} value".
func series(m *metrics.Metrics, prefix string) []string {
	var out []string
	for _, l := range strings.Split(text(m), "\n") {
		if strings.HasPrefix(l, prefix) && !strings.Contains(l, "_bucket") {
			out = append(out, l)
		}
	}
	return out
}

// value is the value of one series, by its line up to the value.
func value(m *metrics.Metrics, name string) string {
	for _, l := range strings.Split(text(m), "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			return v
		}
	}
	Fail("no series " + name + " in:\n" + text(m))
	return ""
}

func svc(p string, up bool) desired.Service {
	return desired.Service{Profile: p, WantUp: up, Enforce: true}
}

func unit(p string, running bool) *reconcile.Unit {
	return &reconcile.Unit{Key: p, Name: "gateway-" + p, Ours: true, Hash: "h", Registered: true, Running: running, WantUp: running}
}

// outcome is a pass's outcome over services and units, every rendering
// hashed "h".
func outcome(keys []desired.Key, services []desired.Service, units ...*reconcile.Unit) reconcile.Outcome {
	o := reconcile.Outcome{Desired: desired.State{Keys: keys, Services: services, Held: map[desired.Key]bool{}},
		Want: map[desired.Key]reconcile.Spec{}, Observed: reconcile.Observed{Keys: keys, Units: map[desired.Key]*reconcile.Unit{}}}
	for _, s := range services {
		o.Want[s.Profile] = reconcile.Spec{Unit: "gateway-" + s.Profile, Hash: "h"}
	}
	for _, u := range units {
		o.Observed.Units[u.Key] = u
	}
	return o
}

func done(kind reconcile.Kind, p string, err error) reconcile.Result {
	return reconcile.Result{Action: reconcile.Action{Kind: kind, Key: p, Unit: "gateway-" + p, Write: kind == reconcile.Update || kind == reconcile.Adopt, WantUp: true}, Err: err}
}

var _ = Describe("the domain metrics", func() {
	now := time.Unix(1_800_000_000, 0)
	var (
		m     *metrics.Metrics
		clock time.Time
	)
	BeforeEach(func() {
		clock = now
		m = metrics.New(metrics.Options{Engine: "s6", Version: "v1.2.3", Commit: "abc", Stale: time.Minute, Now: func() time.Time { return clock }})
	})
	pass := func(out reconcile.Outcome) {
		m.Passed(loop.Report{Outcome: out, Full: out.Desired.Keys == nil, Locked: true, Took: 30 * time.Millisecond, At: clock})
	}

	It("has every series of a closed set of labels from the start, at zero, in the text format", func() {
		t := text(m)
		counts := map[string]int{}
		for _, l := range strings.Split(strings.TrimSpace(t), "\n") {
			if !strings.HasPrefix(l, "#") {
				counts[regexp.MustCompile(`^[a-z_]+`).FindString(l)]++
			}
		}
		Expect(counts).To(Equal(map[string]int{
			"hermes_reconcile_build_info":                             1,
			"hermes_reconcile_leader":                                 1,
			"hermes_reconcile_passes_total":                           4,  // full, keyed × ok, failed
			"hermes_reconcile_pass_duration_seconds_bucket":           30, // 2 kinds × 15 buckets
			"hermes_reconcile_pass_duration_seconds_sum":              2,
			"hermes_reconcile_pass_duration_seconds_count":            2,
			"hermes_reconcile_last_successful_pass_timestamp_seconds": 1,
			"hermes_reconcile_actions_total":                          28, // 7 kinds × 4 results
			"hermes_reconcile_profiles":                               3,
			"hermes_reconcile_profiles_wanted_running":                1,
			"hermes_reconcile_profiles_drifted":                       1,
			"hermes_reconcile_profiles_held":                          11,
			"hermes_reconcile_rollout_restarts":                       3,
			"hermes_reconcile_removals_held":                          2,
			"hermes_reconcile_conflict_clashes":                       1,
			"hermes_reconcile_gateway_deaths_total":                   2,
		}))
		Expect(t).To(ContainSubstring("# TYPE hermes_reconcile_pass_duration_seconds histogram\n"))
		Expect(t).To(ContainSubstring(`hermes_reconcile_build_info{commit="abc",engine="s6",version="v1.2.3"} 1` + "\n"))
		Expect(t).To(ContainSubstring(`hermes_reconcile_pass_duration_seconds_bucket{kind="full",le="0.005"} 0` + "\n"))
		Expect(t).To(ContainSubstring(`hermes_reconcile_pass_duration_seconds_bucket{kind="full",le="+Inf"} 0` + "\n"))
		Expect(t).NotTo(ContainSubstring(`hermes_reconcile_gateway_down`), "no series yet: left out, as a registry leaves it")
	})

	It("says what a pass left: running, stopped, wanted, held, down by profile", func() {
		out := outcome(nil, []desired.Service{svc("default", false), svc("one", true), svc("two", true), svc("three", true)},
			unit("default", false), unit("one", false), unit("two", false))
		out.Results = []reconcile.Result{done(reconcile.Start, "one", nil), done(reconcile.Create, "three", nil)}
		out.Plan.Deferred = []reconcile.Deferral{{Key: "two", Unit: "gateway-two", Kind: reconcile.Start, Reason: desired.ReasonConflict}}
		pass(out)
		Expect(series(m, "hermes_reconcile_profiles")).To(Equal([]string{
			`hermes_reconcile_profiles{state="running"} 2`,
			`hermes_reconcile_profiles{state="stopped"} 2`,
			`hermes_reconcile_profiles{state="unknown"} 0`,
			`hermes_reconcile_profiles_wanted_running 3`,
			`hermes_reconcile_profiles_drifted 0`,
			`hermes_reconcile_profiles_held{reason="bad_input"} 0`,
			`hermes_reconcile_profiles_held{reason="conflict"} 1`,
			`hermes_reconcile_profiles_held{reason="crash_loop"} 0`,
			`hermes_reconcile_profiles_held{reason="mass_removal"} 0`,
			`hermes_reconcile_profiles_held{reason="paused"} 0`,
			`hermes_reconcile_profiles_held{reason="permanent_failure"} 0`,
			`hermes_reconcile_profiles_held{reason="profile_absent"} 0`,
			`hermes_reconcile_profiles_held{reason="rollout"} 0`,
			`hermes_reconcile_profiles_held{reason="rollout_halted"} 0`,
			`hermes_reconcile_profiles_held{reason="settling"} 0`,
			`hermes_reconcile_profiles_held{reason="untouchable"} 0`,
		}))
		Expect(series(m, "hermes_reconcile_gateway_down")).To(Equal([]string{
			`hermes_reconcile_gateway_down{profile="one"} 0`,
			`hermes_reconcile_gateway_down{profile="three"} 0`,
			`hermes_reconcile_gateway_down{profile="two"} 1`,
		}))
		Expect(series(m, "hermes_reconcile_actions_total{kind=\"create\"")).To(ContainElement(`hermes_reconcile_actions_total{kind="create",result="ok"} 1`))
		Expect(series(m, "hermes_reconcile_actions_total{kind=\"start\"")).To(ContainElement(`hermes_reconcile_actions_total{kind="start",result="ok"} 1`))
		Expect(value(m, `hermes_reconcile_passes_total{kind="full",result="ok"}`)).To(Equal("1"))
		Expect(value(m, `hermes_reconcile_pass_duration_seconds_bucket{kind="full",le="0.05"}`)).To(Equal("1"))
		Expect(value(m, `hermes_reconcile_pass_duration_seconds_bucket{kind="full",le="0.025"}`)).To(Equal("0"))
		Expect(value(m, `hermes_reconcile_last_successful_pass_timestamp_seconds`)).To(Equal("1.8e+09"))
		Expect(value(m, `hermes_reconcile_leader`)).To(Equal("0"), "the loop was never said to run")
	})

	It("counts results by kind and result, and a failed action as no failed pass", func() {
		out := outcome(nil, []desired.Service{svc("a", true), svc("b", true)}, unit("a", false))
		out.Results = []reconcile.Result{
			done(reconcile.Update, "a", errors.New("disk full")), done(reconcile.Start, "a", reconcile.ErrSkipped),
			done(reconcile.Create, "b", fmt.Errorf("%w: published by hermes", reconcile.ErrSuperseded)),
			done(reconcile.Start, "b", reconcile.Terminal(errors.New("blocked"))),
		}
		pass(out)
		Expect(value(m, `hermes_reconcile_actions_total{kind="update",result="failed"}`)).To(Equal("1"))
		Expect(value(m, `hermes_reconcile_actions_total{kind="start",result="skipped"}`)).To(Equal("1"))
		Expect(value(m, `hermes_reconcile_actions_total{kind="create",result="superseded"}`)).To(Equal("1"))
		Expect(value(m, `hermes_reconcile_actions_total{kind="start",result="failed"}`)).To(Equal("1"))
		Expect(value(m, `hermes_reconcile_passes_total{kind="full",result="ok"}`)).To(Equal("1"))
		Expect(value(m, `hermes_reconcile_gateway_down{profile="a"}`)).To(Equal("1"))
	})

	It("takes a keyed pass's word for its profiles only, and a full pass's for every one", func() {
		pass(outcome(nil, []desired.Service{svc("a", true), svc("b", true)}, unit("a", true), unit("b", true)))
		Expect(value(m, `hermes_reconcile_profiles{state="running"}`)).To(Equal("2"))

		By("a keyed pass stops b: a is as it was")
		keyed := outcome([]desired.Key{"b"}, []desired.Service{svc("b", false)}, unit("b", true))
		keyed.Results = []reconcile.Result{done(reconcile.Stop, "b", nil)}
		pass(keyed)
		Expect(value(m, `hermes_reconcile_profiles{state="running"}`)).To(Equal("1"))
		Expect(value(m, `hermes_reconcile_profiles{state="stopped"}`)).To(Equal("1"))
		Expect(series(m, "hermes_reconcile_gateway_down")).To(Equal([]string{`hermes_reconcile_gateway_down{profile="a"} 0`}))
		Expect(value(m, `hermes_reconcile_passes_total{kind="keyed",result="ok"}`)).To(Equal("1"))

		By("a keyed pass over a profile that is gone, unit and all: forgotten")
		pass(outcome([]desired.Key{"b"}, nil))
		Expect(value(m, `hermes_reconcile_profiles{state="stopped"}`)).To(Equal("0"))

		By("a full pass replaces the picture")
		pass(outcome(nil, []desired.Service{svc("c", true)}))
		Expect(series(m, "hermes_reconcile_gateway_down")).To(Equal([]string{`hermes_reconcile_gateway_down{profile="c"} 1`}))
		Expect(value(m, `hermes_reconcile_profiles{state="stopped"}`)).To(Equal("1"))
		Expect(value(m, `hermes_reconcile_profiles{state="running"}`)).To(Equal("0"))
	})

	It("counts drift the pass left, holds by reason, removals held, untouched units and the rollout", func() {
		drifted := unit("d", true)
		drifted.Drift = []string{"run"}
		fixed := unit("f", true)
		fixed.Drift = []string{"run"}
		adopted := unit("adopted", true)
		adopted.Ours, adopted.Hash = false, ""
		paused := &reconcile.Unit{Key: "p", Name: "hermes-gateway-p", Untouchable: "paused by its annotation", State: "paused"}
		out := outcome(nil, []desired.Service{svc("d", true), svc("f", true), svc("adopted", true), svc("p", true)},
			drifted, fixed, adopted, paused, unit("gone", true), unit("away", true))
		out.Desired.Held["bad"] = true
		out.Results = []reconcile.Result{done(reconcile.Update, "f", nil)}
		out.Plan.Deferred = []reconcile.Deferral{
			{Key: "d", Kind: reconcile.Update, Reason: desired.ReasonRolloutHalted},
			{Key: "gone", Kind: reconcile.Remove, Reason: desired.ReasonMassRemoval},
			{Key: "away", Kind: reconcile.Remove, Reason: desired.ReasonProfileAbsent},
		}
		out.Plan.Untouched = []reconcile.Untouched{{Key: "p", Unit: "hermes-gateway-p", State: "paused"}}
		out.Plan.Rolling = []desired.Key{"f"}
		out.Plan.Clashes = []reconcile.Clash{{Keys: [2]desired.Key{"x", "y"}, Kind: "Telegram bot token"}}
		pass(out)
		Expect(value(m, `hermes_reconcile_profiles_drifted`)).To(Equal("2"), "d (held) and adopted; f was rewritten")
		Expect(value(m, `hermes_reconcile_profiles_held{reason="rollout_halted"}`)).To(Equal("1"))
		Expect(value(m, `hermes_reconcile_profiles_held{reason="paused"}`)).To(Equal("1"))
		Expect(value(m, `hermes_reconcile_profiles_held{reason="bad_input"}`)).To(Equal("1"))
		Expect(value(m, `hermes_reconcile_profiles{state="unknown"}`)).To(Equal("1"))
		Expect(value(m, `hermes_reconcile_profiles{state="running"}`)).To(Equal("3"))
		Expect(value(m, `hermes_reconcile_profiles{state="stopped"}`)).To(Equal("1"), "bad, whose unit is not known")
		Expect(value(m, `hermes_reconcile_removals_held{reason="mass_removal"}`)).To(Equal("1"))
		Expect(value(m, `hermes_reconcile_removals_held{reason="profile_absent"}`)).To(Equal("1"))
		Expect(value(m, `hermes_reconcile_rollout_restarts{state="halted"}`)).To(Equal("1"))
		Expect(value(m, `hermes_reconcile_rollout_restarts{state="restarting"}`)).To(Equal("1"))
		Expect(value(m, `hermes_reconcile_conflict_clashes`)).To(Equal("1"))
		Expect(series(m, "hermes_reconcile_gateway_down")).NotTo(ContainElement(ContainSubstring(`profile="p"`)), "a paused gateway's state is not ours to know")
	})

	It("changes no gauge on a failed pass, and counts it failed: an error, or HERMES_HOME refused", func() {
		pass(outcome(nil, []desired.Service{svc("a", true)}, unit("a", true)))
		last := value(m, `hermes_reconcile_last_successful_pass_timestamp_seconds`)
		clock = clock.Add(time.Minute)
		pass(reconcile.Outcome{Err: errors.New("HERMES_HOME missing")})
		refused := outcome(nil, nil)
		refused.Desired.Incomplete = true
		refused.Desired.Diagnostics = []desired.Diagnostic{{Severity: desired.Error, Denied: true, Path: "/opt/data", Message: "cannot read HERMES_HOME"}}
		pass(refused)
		Expect(value(m, `hermes_reconcile_passes_total{kind="full",result="failed"}`)).To(Equal("2"))
		Expect(value(m, `hermes_reconcile_profiles{state="running"}`)).To(Equal("1"))
		Expect(value(m, `hermes_reconcile_last_successful_pass_timestamp_seconds`)).To(Equal(last))

		By("one profile refused is that profile's business: the pass succeeded")
		one := outcome(nil, []desired.Service{svc("a", true)}, unit("a", true))
		one.Desired.Diagnostics = []desired.Diagnostic{{Severity: desired.Error, Denied: true, Profile: "b", Message: "cannot read its .env"}}
		pass(one)
		Expect(value(m, `hermes_reconcile_passes_total{kind="full",result="ok"}`)).To(Equal("2"))
	})

	It("counts each death once, and none from before it started", func() {
		u := unit("a", true)
		u.Deaths = []reconcile.Death{{At: now.Add(-time.Minute), Exit: 1}, {At: now.Add(time.Second), Exit: 1}, {At: now.Add(2 * time.Second), Signal: 15}}
		pass(outcome(nil, []desired.Service{svc("a", true)}, u))
		pass(outcome(nil, []desired.Service{svc("a", true)}, u))
		Expect(value(m, `hermes_reconcile_gateway_deaths_total{cause="crash"}`)).To(Equal("1"))
		Expect(value(m, `hermes_reconcile_gateway_deaths_total{cause="clean"}`)).To(Equal("1"))
		u.Deaths = append(u.Deaths, reconcile.Death{At: now.Add(3 * time.Second), Signal: 9})
		pass(outcome([]desired.Key{"a"}, []desired.Service{svc("a", true)}, u))
		Expect(value(m, `hermes_reconcile_gateway_deaths_total{cause="crash"}`)).To(Equal("2"))
	})

	Describe("health", func() {
		It("is healthy while the loop does not run (a standby), and while passes succeed", func() {
			Expect(m.Healthy()).To(Succeed())
			Expect(m.Ready()).To(Succeed())
			m.Running(true, clock)
			Expect(m.Healthy()).To(Succeed())
			Expect(m.Ready()).To(MatchError("no pass has succeeded yet"))
			Expect(value(m, `hermes_reconcile_leader`)).To(Equal("1"))
			pass(outcome(nil, nil))
			Expect(m.Ready()).To(Succeed())
		})

		It("fails once no pass has succeeded for longer than Stale, and recovers with the next that does", func() {
			m.Running(true, clock)
			clock = clock.Add(61 * time.Second)
			Expect(m.Healthy()).To(MatchError("no pass has succeeded since the loop started, 1m1s (the limit is 1m0s)"))
			pass(outcome(nil, nil))
			Expect(m.Healthy()).To(Succeed())
			clock = clock.Add(30 * time.Second)
			pass(reconcile.Outcome{Err: errors.New("scandir missing")})
			clock = clock.Add(31 * time.Second)
			Expect(m.Healthy()).To(MatchError("no pass has succeeded for 1m1s (the limit is 1m0s)"))
			pass(outcome(nil, nil))
			Expect(m.Healthy()).To(Succeed())
		})

		It("fails at once while the lock is another's, and says it is not the leader", func() {
			m.Running(true, clock)
			m.Passed(loop.Report{Outcome: reconcile.Outcome{Err: errors.New("lock: held by pid 7 (hermes-reconcile --once)")}, Full: true, At: clock})
			Expect(m.Healthy()).To(MatchError(ContainSubstring("the single-writer lock is not ours: lock: held by pid 7")))
			Expect(value(m, `hermes_reconcile_leader`)).To(Equal("0"))
			Expect(value(m, `hermes_reconcile_pass_duration_seconds_count{kind="full"}`)).To(Equal("0"), "a pass that did not run took no time")
			pass(outcome(nil, nil))
			Expect(m.Healthy()).To(Succeed())
			Expect(value(m, `hermes_reconcile_leader`)).To(Equal("1"))
		})
	})
})
