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

// Removals that wait: a profile directory gone without a tombstone keeps
// its unit for --remove-after from the first pass that found it gone (as
// the unit records it), a tombstone removes at once, and the default
// mass-removal guard lets one named unit go, or a quarter of them.
var _ = Describe("removals that wait", func() {
	now := time.Unix(1_800_000_000, 0)
	const after = time.Minute
	absent := func(t time.Time) unitOpt { return func(u *reconcile.Unit) { u.Absent = t } }
	text := func(p reconcile.Plan) string {
		var lines []string
		if s := p.String(); s != "" {
			lines = append(lines, s)
		}
		for _, d := range p.Deferred {
			line := fmt.Sprintf("= %s %s %s", d.Unit, d.Kind, d.Reason)
			if !d.Until.IsZero() {
				line += fmt.Sprintf(" until +%s", d.Until.Sub(now))
			}
			lines = append(lines, line)
		}
		for _, n := range p.Notes {
			if n.Absent.IsZero() {
				lines = append(lines, "note "+n.Unit+" back")
			} else {
				lines = append(lines, fmt.Sprintf("note %s absent since %+ds", n.Unit, int(n.Absent.Sub(now).Seconds())))
			}
		}
		for _, w := range p.Warnings {
			lines = append(lines, "warning: "+w.Message)
		}
		return strings.Join(lines, "\n")
	}
	limit := reconcile.RemoveLimit{Flag: "--max-remove", Allow: "--allow-mass-remove"}

	DescribeTable("plans",
		func(d desired.State, o reconcile.Observed, expected string) {
			pol := reconcile.Policy{Now: now, RemoveAfter: after, MaxRemove: &limit}
			Expect(text(reconcile.Decide(d, renderings(d), o, pol))).To(Equal(expected))
		},
		Entry("a profile just found gone: held, and the first absence noted",
			want(svcs(noIntent("default"), explicitUp("a"))), have(slot("default", false), slot("a", true), slot("c", true)),
			"= gateway-c remove profile_absent until +1m0s\nnote gateway-c absent since +0s"),
		Entry("gone for less than the window, as the unit records: held to the end of it, nothing noted again",
			want(svcs(noIntent("default"), explicitUp("a"))), have(slot("default", false), slot("a", true), slot("c", true, absent(now.Add(-20*time.Second)))),
			"= gateway-c remove profile_absent until +40s"),
		Entry("gone for the whole window: removed",
			want(svcs(noIntent("default"), explicitUp("a"))), have(slot("default", false), slot("a", true), slot("c", true, absent(now.Add(-after)))),
			"- gateway-c  remove  profile_removed"),
		Entry("back within the window: left as it is, the absence cleared",
			want(svcs(noIntent("default"), explicitUp("c"))), have(slot("default", false), slot("c", true, absent(now.Add(-10*time.Second)))),
			"note gateway-c back"),
		Entry("tombstoned: removed at once",
			want(svcs(noIntent("default")), tombstoned("c")), have(slot("default", false), slot("c", true)),
			"- gateway-c  remove  profile_tombstoned"),
		Entry("held input (an unreadable profile) is not absent: nothing noted",
			want(svcs(noIntent("default")), held("c")), have(slot("default", false), slot("c", true)),
			""),
		Entry("an incomplete listing (profiles/ unreadable): nothing noted, nothing removed",
			want(svcs(noIntent("default")), incomplete), have(slot("default", false), slot("c", true)),
			""),
		Entry("9 of 10 gone for the window at once: the guard lets 2 (a quarter) go, so none go",
			want(svcs(noIntent("default"), explicitUp("p0"))),
			have(append([]*reconcile.Unit{slot("default", false), slot("p0", true)}, gone(now.Add(-after), "p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8", "p9")...)...),
			strings.Join([]string{
				"= gateway-p1 remove mass_removal", "= gateway-p2 remove mass_removal", "= gateway-p3 remove mass_removal",
				"= gateway-p4 remove mass_removal", "= gateway-p5 remove mass_removal", "= gateway-p6 remove mass_removal",
				"= gateway-p7 remove mass_removal", "= gateway-p8 remove mass_removal", "= gateway-p9 remove mass_removal",
				"warning: the pass would remove 9 of 10 named services at once, more than --max-remove one or a quarter allows: none removed; if those profiles really are gone, run once with --allow-mass-remove",
			}, "\n")),
		Entry("2 of 8 gone: a quarter, removed",
			want(svcs(noIntent("default"), explicitUp("p0"), explicitUp("p1"), explicitUp("p2"), explicitUp("p3"), explicitUp("p4"), explicitUp("p5"))),
			have(append([]*reconcile.Unit{slot("default", false), slot("p0", true), slot("p1", true), slot("p2", true), slot("p3", true), slot("p4", true), slot("p5", true)},
				gone(now.Add(-after), "p6", "p7")...)...),
			"- gateway-p6  remove  profile_removed\n- gateway-p7  remove  profile_removed"),
		Entry("one of two gone: one is always allowed",
			want(svcs(noIntent("default"), explicitUp("a"))), have(slot("default", false), slot("a", true), slot("b", true, absent(now.Add(-after)))),
			"- gateway-b  remove  profile_removed"),
	)

	It("waits as long as it is told: 0 removes at once", func() {
		d := want(svcs(noIntent("default")))
		o := have(slot("default", false), slot("c", true))
		p := reconcile.Decide(d, renderings(d), o, reconcile.Policy{Now: now})
		Expect(text(p)).To(Equal("- gateway-c  remove  profile_removed"))
	})
})

// gone are running units whose profiles have been absent since t.
func gone(t time.Time, profiles ...string) []*reconcile.Unit {
	var out []*reconcile.Unit
	for _, p := range profiles {
		u := slot(p, true)
		u.Absent = t
		out = append(out, u)
	}
	return out
}
