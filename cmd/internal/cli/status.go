package cli

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hermes-reconcile/hermes-reconcile/desired"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
)

// supervisorDown is an engine that can say its supervisor is down and what
// that means for the units it found (s6: s6-svscan).
type supervisorDown interface {
	SupervisorDown(reconcile.Observed) error
}

// json is the row as NDJSON has it: null for what is not known.
func (r statusRow) json() map[string]any {
	var pid, uptime any
	if r.PID > 0 {
		pid = r.PID
	}
	if r.sinceKnown {
		uptime = r.UptimeS
	}
	drift := r.Drift
	if drift == nil {
		drift = []string{}
	}
	return map[string]any{"profile": r.Profile, "slot": orNull(r.Slot), "intent": orNull(r.Intent), "want": orNull(r.Want),
		"actual": r.Actual, "pid": pid, "uptime_s": uptime, "last_exit": orNull(r.LastExit), "note": orNull(r.Note),
		"supervised": r.Supervised, "persisted": r.Persisted, "drift": drift, "healthy": r.Healthy}
}

// statusRow is one profile or unit in `hermes-reconcile status`, the same
// for every backend.
type statusRow struct {
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
	var missing []string
	if o.Err == nil && len(r.o.Profiles) > 0 {
		// Rows for the names that are something; one line each for those
		// that are nothing, and exit 4, as systemctl status does.
		missing = unknown(o, r.o.Profiles)
		if len(missing) == len(r.o.Profiles) {
			return r.noSuch(ctx, missing)
		}
	}
	var down error
	if sd, ok := r.pass.Engine.(supervisorDown); ok && o.Err == nil {
		down = sd.SupervisorDown(o.Observed)
	}
	rows := statusRows(o, r.pass.Engine, time.Now())
	rows = slices.DeleteFunc(rows, func(row statusRow) bool { return slices.Contains(missing, row.Profile) })
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
		// Supervisors that outlived s6-svscan keep their gateways: a
		// warning beside rows that say up; with none, every row says why.
		sev := desired.Error
		for _, u := range o.Observed.Units {
			if u.Registered {
				sev = desired.Warning
				break
			}
		}
		p.diagnostics([]desired.Diagnostic{{Severity: sev, Message: down.Error()}})
	}
	if p.json {
		for _, row := range rows {
			level := levelInfo
			if !row.Healthy {
				level = levelWarn
			}
			p.event(level, "status", fmt.Sprintf("%s: %s", row.Profile, row.Actual), row.json())
		}
		p.topology(o.Desired.Topology)
		return r.statusEnd(ctx, o, rows, missing)
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
	return r.statusEnd(ctx, o, rows, missing)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// statusEnd closes a status: an observation that failed is said after the
// rows it left unknown, and fails the command; a gateway that should run
// and is not up and supervised makes it exit 3 (LSB's "not running"); a
// name that is nothing, 4.
func (r runner) statusEnd(ctx context.Context, o reconcile.Outcome, rows []statusRow, missing []string) int {
	if o.Err != nil {
		r.p.summary(reconcile.Plan{}, nil, 0, o.Err)
		return exitError
	}
	if len(missing) > 0 {
		return r.noSuch(ctx, missing)
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
		r := &statusRow{Profile: profile, Slot: unitName(o, e, profile), Intent: "-", Want: "-", Actual: "missing", LastExit: "-"}
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
		if u.Failing != "" {
			note(k, u.Failing)
		}
	}
	for _, svc := range o.Desired.Services {
		r := add(svc.Profile)
		r.Intent = intentWord(svc.Intent)
		// WANT is what the profiles want, as in explain; what the manager
		// has is ACTUAL (and, wide, SUPERVISED and PERSISTED).
		r.Want = wantWord(svc.WantUp)
		if len(svc.Folded) > 0 {
			note(svc.Profile, "serves "+strings.Join(svc.Folded, ", "))
		}
	}
	for name := range o.Desired.Held {
		r := add(name)
		r.Intent, r.Want = "?", "?"
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
		if u := o.Observed.Units[d.Profile]; u != nil && (d.Message == u.Untouchable || d.Message == u.Blocked || d.Message == u.Failing) {
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
		if u == nil || !u.Registered || !u.Running || u.Failing != "" {
			byProfile[svc.Profile].Healthy = false
		}
	}
	for _, c := range o.Plan.Clashes {
		for _, k := range c.Keys {
			if r := byProfile[k]; r != nil {
				r.Healthy = false // two gateways fighting over one thing
			}
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
