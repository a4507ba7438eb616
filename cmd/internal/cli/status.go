package cli

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hermes-reconcile/hermes-reconcile/desired"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
)

// statusRow is one profile or unit in `hermes-reconcile status`, the same
// for every backend.
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
	// Supervised, Persisted and Drift are the wide columns.
	Supervised bool     `json:"supervised"`
	Persisted  bool     `json:"persisted"`
	Drift      []string `json:"drift"`
	// Healthy is false for a gateway that should run and is not up and
	// supervised: status then exits 3.
	Healthy bool `json:"healthy"`
	// sinceKnown: the manager said when the gateway came up.
	sinceKnown bool
}

// status shows every profile and every unit: what the profile says, what
// the manager wants and has, and what the next pass would do.
func (r runner) status(ctx context.Context) int {
	p := r.p
	p.version("status", r.backend)
	if r.held != nil {
		p.diagnostics([]desired.Diagnostic{*r.held})
		return exitOK
	}
	o := r.pass.Observe(ctx, r.keys)
	if o.Err != nil && (o.Desired.Root == "" || r.keys == nil) {
		p.summary(reconcile.Plan{}, nil, 0, o.Err)
		return exitError
	}
	var down error
	if sd, ok := r.pass.Engine.(interface{ SupervisorDown() error }); ok && o.Err == nil {
		down = sd.SupervisorDown()
	}
	rows := statusRows(o, r.pass.Engine, time.Now())
	if ps, ok := r.pass.Engine.(interface {
		PodStates(context.Context) (map[desired.Key]string, error)
	}); ok && o.Err == nil {
		// Kubernetes: what the pods say (restarts, CrashLoopBackOff).
		if states, err := ps.PodStates(ctx); err == nil {
			for i := range rows {
				if st := states[rows[i].Profile]; st != "" {
					rows[i].Note = strings.TrimPrefix(rows[i].Note+"; pods: "+st, "; ")
				}
			}
		}
	}
	if o.Err != nil {
		// The profiles asked for by name still get their rows: what they
		// want is known, what the manager has is not.
		for i := range rows {
			rows[i].Actual, rows[i].Note = "unknown", strings.TrimPrefix(rows[i].Note+"; "+o.Err.Error(), "; ")
		}
	}
	p.diagnostics(o.Desired.Diagnostics)
	if down != nil {
		p.diagnostics([]desired.Diagnostic{{Severity: desired.Error, Message: down.Error()}})
	}
	if p.json {
		for _, row := range rows {
			p.emit(row)
		}
		p.topology(o.Desired.Topology)
		return r.statusEnd(o, rows)
	}
	wide := r.o.Cfg.Output == outputWide
	tw := tabwriter.NewWriter(p.out, 0, 0, 2, ' ', 0)
	head := "PROFILE\tSLOT\tINTENT\tWANT\tACTUAL\tPID\tUPTIME\tLAST EXIT"
	if wide {
		head += "\tSUPERVISED\tPERSISTED\tDRIFT"
	}
	fmt.Fprintln(tw, head+"\tNOTE")
	for _, r := range rows {
		pid, up := "-", "-"
		if r.PID > 0 {
			pid = strconv.Itoa(r.PID)
		}
		if r.Actual == "up" && r.sinceKnown {
			up = (time.Duration(r.UptimeS) * time.Second).String()
		}
		line := fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s", r.Profile, r.Slot, r.Intent, r.Want, r.Actual, pid, up, r.LastExit)
		if wide {
			drift := strings.Join(r.Drift, ",")
			if drift == "" {
				drift = "-"
			}
			line += fmt.Sprintf("\t%s\t%s\t%s", yesNo(r.Supervised), yesNo(r.Persisted), drift)
		}
		fmt.Fprintln(tw, line+"\t"+r.Note)
	}
	tw.Flush()
	p.topology(o.Desired.Topology)
	return r.statusEnd(o, rows)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// statusEnd closes a status: an observation that failed is said after the
// rows it left unknown, and fails the command; a gateway that should run
// and is not up and supervised makes it exit 3 (LSB's "not running").
func (r runner) statusEnd(o reconcile.Outcome, rows []statusRow) int {
	if o.Err != nil {
		r.p.summary(reconcile.Plan{}, nil, 0, o.Err)
		return exitError
	}
	for _, row := range rows {
		if !row.Healthy {
			return exitHeld
		}
	}
	return exitOK
}

func statusRows(o reconcile.Outcome, e reconcile.Engine, now time.Time) []statusRow {
	notes := map[string][]string{}
	note := func(k, n string) { notes[k] = append(notes[k], n) }
	byProfile := map[string]*statusRow{}
	var rows []*statusRow
	add := func(profile string) *statusRow {
		if r, ok := byProfile[profile]; ok {
			return r
		}
		r := &statusRow{Type: "status", Profile: profile, Slot: unitName(o, e, profile), Intent: "-", Want: "-", Actual: "missing", LastExit: "-"}
		byProfile[profile] = r
		rows = append(rows, r)
		return r
	}
	// A unit's own words first, then what the next pass would do and why.
	for k, u := range o.Observed.Units {
		r := add(k)
		fillActual(r, u, now)
		if u.Detail != "" {
			note(k, u.Detail)
		}
		if u.Running && !u.Adopted.IsZero() && u.Since.Before(u.Adopted) {
			note(k, "adopted as it runs: what we wrote takes effect at its next start")
		}
		if u.Untouchable != "" {
			note(k, u.Untouchable)
		}
	}
	for _, svc := range o.Desired.Services {
		r := add(svc.Profile)
		r.Intent = intentWord(svc.Intent)
		if len(svc.Folded) > 0 {
			note(svc.Profile, "serves "+strings.Join(svc.Folded, ", "))
		}
	}
	for name := range o.Desired.Held {
		add(name).Intent = "?"
	}
	// A profile the pass was asked about by name (a host's active profile)
	// has its row even when it is gone.
	for _, k := range o.Desired.Keys {
		if o.Desired.Service(k) != nil || o.Desired.Held[k] {
			continue
		}
		add(k)
		if o.Observed.Units[k] == nil {
			if o.Desired.Tombstoned[k] {
				note(k, string(desired.ReasonProfileTombstoned))
			} else {
				note(k, string(desired.ReasonProfileRemoved))
			}
		}
	}
	for _, a := range o.Plan.Actions {
		if a.Key != "" {
			note(a.Key, "pending: "+a.Kind.String()+" ("+string(a.Reason)+")")
		}
	}
	for _, d := range o.Plan.Deferred {
		if d.Reason == desired.ReasonPermanentFailure && o.Observed.Units[d.Key] != nil && o.Observed.Units[d.Key].Detail != "" {
			note(d.Key, "held: started again when its config.yaml, .env or intent changes, or by `hermes-reconcile unpark "+d.Key+"`")
			continue // its Detail said why
		}
		note(d.Key, "held: "+d.Kind.String()+" ("+string(d.Reason)+"): "+d.Why)
	}
	for _, d := range o.Desired.Diagnostics {
		if u := o.Observed.Units[d.Profile]; u != nil && (d.Message == u.Untouchable || d.Message == u.Blocked) {
			continue // the unit's own note says it
		}
		if d.Profile != "" && byProfile[d.Profile] != nil {
			note(d.Profile, d.String())
		}
	}
	for _, r := range rows {
		r.Healthy = true
	}
	for _, svc := range o.Desired.Services {
		if !svc.WantUp {
			continue
		}
		u := o.Observed.Units[svc.Profile]
		if u != nil && u.Untouchable != "" {
			continue // left as it is: its note says why, its state is not known
		}
		if u == nil || !u.Registered || !u.Running {
			byProfile[svc.Profile].Healthy = false
		}
	}
	sort.Slice(rows, func(i, j int) bool { return desired.Less(rows[i].Profile, rows[j].Profile) })
	out := make([]statusRow, len(rows))
	for i, r := range rows {
		r.Note = strings.Join(notes[r.Profile], "; ")
		out[i] = *r
	}
	return out
}

// unitName is the name a profile's unit has or would have.
func unitName(o reconcile.Outcome, e reconcile.Engine, k desired.Key) string {
	if u := o.Observed.Units[k]; u != nil {
		return u.Name
	}
	if spec, ok := o.Want[k]; ok {
		return spec.Unit
	}
	// Held or gone: the engine still names it.
	spec, err := e.Render(desired.Service{Profile: k, Dir: desired.Layout{Root: o.Desired.Root}.Dir(k)})
	if err != nil || spec.Unit == "" {
		return "-"
	}
	return spec.Unit
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

func fillActual(r *statusRow, u *reconcile.Unit, now time.Time) {
	r.Actual = u.State
	if u.Untouchable != "" {
		return
	}
	if u.Registered {
		r.Want = wantWord(u.WantUp)
	} else {
		r.Want = wantWord(u.Persisted)
	}
	r.Supervised, r.Persisted, r.Drift = u.Registered, u.Persisted, u.Drift
	r.PID = u.PID
	if u.Running && !u.Since.IsZero() {
		r.UptimeS, r.sinceKnown = int64(now.Sub(u.Since).Seconds()), true
	}
	switch {
	case u.Signal > 0:
		r.LastExit = "signal " + strconv.Itoa(u.Signal)
	case u.ExitCode >= 0:
		r.LastExit = "exit " + strconv.Itoa(u.ExitCode)
	}
}
