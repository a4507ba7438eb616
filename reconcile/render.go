package reconcile

import (
	"fmt"
	"strings"
	"time"

	"github.com/hermes-reconcile/hermes-reconcile/desired"
)

// Symbol is an action's mark, terraform's: + create, ~ change, - destroy,
// and > and < for the run state.
func (k Kind) Symbol() string {
	switch k {
	case Create:
		return "+"
	case Update, Adopt:
		return "~"
	case Start:
		return ">"
	case Stop:
		return "<"
	case Remove, Clean:
		return "-"
	}
	return "?"
}

// String is the action on one line, as plans print it:
//
//   - gateway-a  create (down)  profile_added
//     ~ gateway-b  update run (restart)  spec_changed
//     > gateway-default  start  multiplex (serves a, b)
func (a Action) String() string {
	var flags []string
	if a.Kind == Create {
		flags = append(flags, upDown(a.WantUp))
	}
	if a.Restart {
		flags = append(flags, "restart")
	}
	if a.RestartCompanion {
		flags = append(flags, "restart logger")
	}
	if a.Register {
		flags = append(flags, "register")
	}
	if a.Blocked != "" {
		flags = append(flags, "blocked")
	}
	if a.Park != nil && a.Kind == Stop {
		flags = append(flags, "park")
	}
	what := a.Kind.String()
	if len(a.Files) > 0 {
		what += " " + strings.Join(a.Files, ", ")
	}
	if len(flags) > 0 {
		what += " (" + strings.Join(flags, ", ") + ")"
	}
	line := fmt.Sprintf("%s %s  %s  %s", a.Kind.Symbol(), a.Unit, what, a.Reason)
	if len(a.Folded) > 0 {
		line += " (serves " + strings.Join(a.Folded, ", ") + ")"
	}
	return line
}

// Line is the deferral as the plan prints it: held until its inputs
// change, or deferred for a while.
func (d Deferral) Line(now time.Time) string {
	if d.Until.IsZero() {
		return fmt.Sprintf("= %s  %s held  %s: %s", d.Unit, d.Kind, d.Reason, d.Why)
	}
	return fmt.Sprintf("= %s  %s deferred %s  %s: %s", d.Unit, d.Kind, d.Until.Sub(now).Round(time.Millisecond), d.Reason, d.Why)
}

// Line is the untouched unit as the plan prints it, with the state the
// engine gave it:
//
//	= hermes-gateway-coder  left as it is (paused)  <why>
func (u Untouched) Line() string {
	what := "left as it is"
	if u.State != "" {
		what += " (" + u.State + ")"
	}
	return fmt.Sprintf("= %s  %s  %s", u.Unit, what, u.Why)
}

// String is the plan, one action per line.
func (p Plan) String() string {
	lines := make([]string, len(p.Actions))
	for i, a := range p.Actions {
		lines[i] = a.String()
	}
	return strings.Join(lines, "\n")
}

// holdWords say what holds a deferral, by its reason, for the summary.
var holdWords = map[desired.Reason]string{
	desired.ReasonSettling:         "deferred while another writer acts",
	desired.ReasonMassRemoval:      "removals held by the mass-removal guard",
	desired.ReasonPermanentFailure: "held until their inputs or intent change",
	desired.ReasonCrashLoop:        "held by the crash-loop hold-off",
	desired.ReasonProfileAbsent:    "removals waiting for their profiles to come back (--remove-after)",
	desired.ReasonConflict:         "held by a conflict over a credential or port",
	desired.ReasonRollout:          "restarts waiting for the rollout's batch before them",
	desired.ReasonRolloutHalted:    "restarts held by a halted rollout",
}

// holds is the summary's word on what the plan holds back, each cause
// with its count: "2 deferred while another writer acts. 3 removals held
// by the mass-removal guard."
func (p Plan) holds() string {
	count := map[desired.Reason]int{}
	var order []desired.Reason
	for _, d := range p.Deferred {
		if count[d.Reason] == 0 {
			order = append(order, d.Reason)
		}
		count[d.Reason]++
	}
	var out strings.Builder
	for _, r := range order {
		words, ok := holdWords[r]
		if !ok {
			words = "held: " + string(r)
		}
		fmt.Fprintf(&out, " %d %s.", count[r], words)
	}
	return out.String()
}

// untouched is the summary's word on the units left as they are: "1
// service left as it is."
func (p Plan) untouched() string {
	switch n := len(p.Untouched); n {
	case 0:
		return ""
	case 1:
		return " 1 service left as it is."
	default:
		return fmt.Sprintf(" %d services left as they are.", n)
	}
}

// Summary is the plan's closing line. With units left as they are it does
// not claim that the services match the profiles: nobody checked those.
func (p Plan) Summary() string {
	deferred := p.holds() + p.untouched()
	if len(p.Actions) == 0 {
		switch {
		case len(p.Deferred) > 0:
			return "No changes now." + deferred
		case len(p.Untouched) > 0:
			return "No changes." + deferred
		}
		return "No changes. Services match the profiles."
	}
	c := p.Count()
	return fmt.Sprintf("Plan: %d to create, %d to update, %d to remove, %d to start, %d to stop.",
		c[Create], c[Update]+c[Adopt], c[Remove]+c[Clean], c[Start], c[Stop]) + deferred
}

// Count is how many actions of each kind the plan holds.
func (p Plan) Count() map[Kind]int {
	c := map[Kind]int{}
	for _, a := range p.Actions {
		c[a.Kind]++
	}
	return c
}

func upDown(up bool) string {
	if up {
		return "up"
	}
	return "down"
}
