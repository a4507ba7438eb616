package collector_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/hermes-reconcile/hermes-reconcile/desired"
	"github.com/hermes-reconcile/hermes-reconcile/metrics"
	"github.com/hermes-reconcile/hermes-reconcile/metrics/collector"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile/loop"
)

// TestSameAsTheTextFormat: the controller's registry exposes the very
// series, byte for byte, that the s6 binary writes itself, and a pedantic
// registry finds nothing wrong with them.
func TestSameAsTheTextFormat(t *testing.T) {
	now := time.Unix(1_800_000_000, 123_000_000)
	fresh := metrics.New(metrics.Options{Engine: "kube", Now: func() time.Time { return now }})
	same(t, fresh, len(metrics.Defs)-1) // no gateway_down series yet
	m := metrics.New(metrics.Options{Engine: "kube", Version: "v0.1.0 \"dev\"\\\n", Commit: "abc", Now: func() time.Time { return now }})
	m.Running(true, now)
	out := reconcile.Outcome{
		Desired: desired.State{Services: []desired.Service{{Profile: "default", WantUp: true}, {Profile: "zed", WantUp: true}, {Profile: "alpha", WantUp: true}}},
		Observed: reconcile.Observed{Units: map[desired.Key]*reconcile.Unit{
			"zed": {Key: "zed", Name: "hermes-gateway-zed", Registered: true, Running: true, Ours: true},
		}},
		Results: []reconcile.Result{{Action: reconcile.Action{Kind: reconcile.Create, Key: "alpha", WantUp: true}}},
		Plan:    reconcile.Plan{Deferred: []reconcile.Deferral{{Key: "default", Kind: reconcile.Start, Reason: desired.ReasonConflict}}},
	}
	for _, d := range []time.Duration{3 * time.Millisecond, 70 * time.Millisecond, 3 * time.Minute} {
		m.Passed(loop.Report{Outcome: out, Full: true, Locked: true, Took: d, At: now})
	}
	m.Passed(loop.Report{Outcome: reconcile.Outcome{Desired: desired.State{Keys: []string{"zed"}}}, Locked: true, Took: time.Second, At: now})
	same(t, m, len(metrics.Defs))
}

// same compares what client_golang and the text writer make of m, which
// has families families with series.
func same(t *testing.T, m *metrics.Metrics, families int) {
	t.Helper()

	var want bytes.Buffer
	if err := metrics.WriteText(&want, m.Gather()); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(collector.New(m))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	enc := expfmt.NewEncoder(&got, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	// The registry sorts families by name; the text writer keeps their
	// definition order. Compare family by family.
	split := func(s string) map[string]string {
		out := map[string]string{}
		var name string
		for _, l := range bytes.SplitAfter([]byte(s), []byte("\n")) {
			if n, ok := bytes.CutPrefix(l, []byte("# HELP ")); ok {
				name = string(bytes.Fields(n)[0])
			}
			out[name] += string(l)
		}
		return out
	}
	g, w := split(got.String()), split(want.String())
	if len(g) != families || len(w) != families {
		t.Errorf("the registry has %d families, the text writer %d, want %d", len(g), len(w), families)
	}
	for name, text := range w {
		if g[name] != text {
			t.Errorf("%s:\nclient_golang writes\n%s\nthe text writer\n%s", name, g[name], text)
		}
	}
}
