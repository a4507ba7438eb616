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

// The conflict guard: of two gateways that would claim one bot token or
// port, the one running keeps it (else default, else the first by name);
// the other is held, not started; two already running are reported and
// neither is stopped.
var _ = Describe("the conflict guard", func() {
	now := time.Unix(1_800_000_000, 0)
	token := func(s string) desired.Claim {
		return desired.CredentialClaim("telegram-bot-token", "Telegram bot token", s, "TELEGRAM_BOT_TOKEN (.env)")
	}
	api := desired.PortClaim("API server", 8642, "default")
	webhook := desired.PortClaim("webhook", 8642, "WEBHOOK_PORT (.env)")
	claims := func(s desired.Service, c ...desired.Claim) desired.Service { s.Claims = c; return s }
	text := func(p reconcile.Plan) string {
		var lines []string
		if s := p.String(); s != "" {
			lines = append(lines, s)
		}
		for _, d := range p.Deferred {
			lines = append(lines, fmt.Sprintf("= %s %s %s: %s", d.Unit, d.Kind, d.Reason, d.Why))
		}
		for _, c := range p.Clashes {
			lines = append(lines, fmt.Sprintf("clash %s %s: %s", c.Keys[0], c.Keys[1], c.Kind))
		}
		for _, w := range p.Warnings {
			lines = append(lines, "warning: "+w.Message)
		}
		return strings.Join(lines, "\n")
	}
	hold := reconcile.Policy{Now: now, Conflicts: reconcile.ConflictsHold}
	pods := reconcile.Policy{Now: now, Conflicts: reconcile.ConflictsHold, OwnNetworks: true}
	warn := reconcile.Policy{Now: now, Conflicts: reconcile.ConflictsWarn}
	off := reconcile.Policy{Now: now}
	const why = ": held, not started, until it has its own (a credential or port of its .env or config.yaml)"

	DescribeTable("holds",
		func(pol reconcile.Policy, d desired.State, o reconcile.Observed, expected string) {
			Expect(text(reconcile.Decide(d, renderings(d), o, pol))).To(Equal(expected))
		},
		Entry("two new profiles with one token: the first by name starts, the other is made down and held",
			hold, want(svcs(claims(explicitUp("a"), token("t1")), claims(explicitUp("b"), token("t1")))), have(),
			"+ gateway-a  create (up)  profile_added\n+ gateway-b  create (down)  profile_added\n= gateway-b start conflict: a already claims the Telegram bot token"+why),
		Entry("the one running keeps it, whatever its name",
			hold, want(svcs(claims(explicitUp("a"), token("t1")), claims(explicitUp("b"), token("t1")))), have(slot("a", false), slot("b", true)),
			"= gateway-a start conflict: b already claims the Telegram bot token"+why),
		Entry("default before named",
			hold, want(svcs(claims(explicitUp("default"), token("t1")), claims(explicitUp("a"), token("t1")))), have(slot("default", false), slot("a", false)),
			"> gateway-default  start  intent_running\n= gateway-a start conflict: default already claims the Telegram bot token"+why),
		Entry("a port, whatever the listeners",
			hold, want(svcs(claims(explicitUp("a"), api), claims(explicitUp("b"), webhook))), have(slot("a", true), slot("b", false)),
			"= gateway-b start conflict: a already listens on port 8642"+why),
		Entry("pods (a network each): ports never clash, credentials still do",
			pods, want(svcs(claims(explicitUp("a"), api, token("t1")), claims(explicitUp("b"), webhook))), have(slot("a", true), slot("b", false)),
			"> gateway-b  start  intent_running"),
		Entry("both running: reported, neither stopped",
			hold, want(svcs(claims(explicitUp("a"), token("t1")), claims(explicitUp("b"), token("t1")))), have(slot("a", true), slot("b", true)),
			"clash a b: Telegram bot token\nwarning: the gateways of a and b both run and claim the same Telegram bot token: they fight over it; give each profile its own (neither is stopped)"),
		Entry("--conflicts warn: said, and started",
			warn, want(svcs(claims(explicitUp("a"), token("t1")), claims(explicitUp("b"), token("t1")))), have(slot("a", true), slot("b", false)),
			"> gateway-b  start  intent_running\nwarning: started despite a conflict (--conflicts warn): a already claims the Telegram bot token"),
		Entry("two tokens: no conflict",
			hold, want(svcs(claims(explicitUp("a"), token("t1")), claims(explicitUp("b"), token("t2")))), have(slot("a", false), slot("b", false)),
			"> gateway-a  start  intent_running\n> gateway-b  start  intent_running"),
		Entry("one that should not run claims nothing",
			hold, want(svcs(claims(explicitUp("a"), token("t1")), claims(explicitDown("b"), token("t1")))), have(slot("a", false), slot("b", false)),
			"> gateway-a  start  intent_running"),
		Entry("multiplex: only default runs, so nothing to guard",
			hold, want(svcs(claims(muxDefault("a"), token("t1")), claims(muxNamed("a"), token("t1")))), have(slot("default", false), slot("a", false)),
			"> gateway-default  start  multiplex (serves a)"),
		Entry("the guard off",
			off, want(svcs(claims(explicitUp("a"), token("t1")), claims(explicitUp("b"), token("t1")))), have(slot("a", false), slot("b", false)),
			"> gateway-a  start  intent_running\n> gateway-b  start  intent_running"),
	)

	It("never says a secret: the token is nowhere in the plan", func() {
		secret := "123456:AAH-very-secret-token"
		d := want(svcs(claims(explicitUp("a"), token(secret)), claims(explicitUp("b"), token(secret))))
		p := reconcile.Decide(d, renderings(d), have(slot("a", true), slot("b", true)), reconcile.Policy{Now: now, Conflicts: reconcile.ConflictsHold})
		Expect(fmt.Sprintf("%v %+v %#v", p, p, p)).NotTo(ContainSubstring(secret))
	})
})
