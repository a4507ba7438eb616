package main

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hermes-reconcile/hermes-reconcile/actual"
	"github.com/hermes-reconcile/hermes-reconcile/desired"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
)

// statusRow is one profile or slot in `hermes-reconcile status`.
type statusRow struct {
	Type     string `json:"type"`
	Profile  string `json:"profile"`
	Slot     string `json:"slot"`
	Intent   string `json:"intent"`
	Want     string `json:"want"`
	Actual   string `json:"actual"`
	PID      int    `json:"pid"`
	UptimeS  int64  `json:"uptime_s"`
	LastExit string `json:"last_exit"`
	Note     string `json:"note"`
}

// runStatus shows every profile and every slot: what the profile says, what
// s6 wants and has, and what the next pass would do.
func runStatus(src reconcile.Sources, p *printer) int {
	p.version("status", "s6")
	o := reconcile.Observe(src)
	if o.Err != nil {
		p.summary(nil, nil, 0, o.Err)
		return exitError
	}
	rows := statusRows(o, time.Now())
	p.diagnostics(o.Desired.Diagnostics)
	if p.json {
		for _, r := range rows {
			p.emit(r)
		}
		return exitOK
	}
	tw := tabwriter.NewWriter(p.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PROFILE\tSLOT\tINTENT\tWANT\tACTUAL\tPID\tUPTIME\tLAST EXIT\tNOTE")
	for _, r := range rows {
		pid, up := "-", "-"
		if r.PID > 0 {
			pid = strconv.Itoa(r.PID)
		}
		if r.Actual == "up" {
			up = (time.Duration(r.UptimeS) * time.Second).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Profile, r.Slot, r.Intent, r.Want, r.Actual, pid, up, r.LastExit, r.Note)
	}
	tw.Flush()
	if o.Desired.Multiplex {
		fmt.Fprintln(p.out, "Topology: multiplex (one root gateway serves every profile).")
	}
	return exitOK
}

func statusRows(o reconcile.Outcome, now time.Time) []statusRow {
	notes := map[string][]string{}
	for _, a := range o.Plan {
		n := "pending: " + a.Kind.String() + " (" + a.Reason + ")"
		notes[a.Slot] = append(notes[a.Slot], n)
	}
	for _, d := range o.Desired.Diagnostics {
		if d.Profile != "" {
			notes[desired.SlotName(d.Profile)] = append(notes[desired.SlotName(d.Profile)], d.String())
		}
	}
	byProfile := map[string]*statusRow{}
	var rows []*statusRow
	add := func(profile string) *statusRow {
		if r, ok := byProfile[profile]; ok {
			return r
		}
		r := &statusRow{Type: "status", Profile: profile, Slot: desired.SlotName(profile), Intent: "-", Want: "-", Actual: "missing", LastExit: "-"}
		byProfile[profile] = r
		rows = append(rows, r)
		return r
	}
	for _, svc := range o.Desired.Services {
		r := add(svc.Profile)
		r.Intent = intentWord(svc.Intent)
		if len(svc.Folded) > 0 {
			notes[svc.Slot] = append(notes[svc.Slot], "serves "+strings.Join(svc.Folded, ", "))
		}
	}
	for name := range o.Desired.Held {
		add(name).Intent = "?"
	}
	for i := range o.Actual.Slots {
		s := &o.Actual.Slots[i]
		r := add(s.Profile)
		fillActual(r, s, now)
		if s.Untouchable != "" {
			notes[s.Name] = append(notes[s.Name], s.Untouchable)
		}
	}
	sort.Slice(rows, func(i, j int) bool {
		a, b := rows[i].Profile, rows[j].Profile
		if (a == desired.DefaultProfile) != (b == desired.DefaultProfile) {
			return a == desired.DefaultProfile
		}
		return a < b
	})
	out := make([]statusRow, len(rows))
	for i, r := range rows {
		r.Note = strings.Join(notes[r.Slot], "; ")
		out[i] = *r
	}
	return out
}

func intentWord(rec desired.IntentRecord) string {
	switch {
	case rec.Explicit:
		return rec.Intent.String()
	case rec.Raw != "":
		return "legacy:" + rec.Raw
	}
	return "-"
}

func fillActual(r *statusRow, s *actual.Slot, now time.Time) {
	st := s.Status
	switch {
	case s.StatusErr != nil:
		r.Actual = "unknown"
	case !st.Supervised:
		r.Actual = "unsupervised"
	case st.Up:
		r.Actual = "up"
	default:
		r.Actual = "down"
	}
	if st.Supervised {
		r.Want = wantWord(st.WantUp)
	} else {
		r.Want = wantWord(!s.HasDown)
	}
	r.PID = st.PID
	if st.Up && !st.Since.IsZero() {
		r.UptimeS = int64(now.Sub(st.Since).Seconds())
	}
	switch {
	case st.Signal > 0:
		r.LastExit = "signal " + strconv.Itoa(st.Signal)
	case st.ExitCode >= 0 && st.Supervised && !st.Up:
		r.LastExit = "exit " + strconv.Itoa(st.ExitCode)
	}
	if st.PermanentFailure {
		r.Actual = "failed"
	}
}
