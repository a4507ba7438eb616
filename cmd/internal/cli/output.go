package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/hermes-reconcile/hermes-reconcile/desired"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
)

// SchemaVersion is the NDJSON schema; it changes only incompatibly. 2: one
// envelope (@level, @message, @timestamp, type) on every line, null for
// what is not known, deferred_change nested as planned_change is.
const SchemaVersion = 2

// printer writes plans, results and diagnostics as text or NDJSON.
type printer struct {
	out, errw io.Writer
	json      bool
	color     bool
	// now is the clock of @timestamp; time.Now when nil.
	now func() time.Time
}

// Levels of NDJSON events, as terraform's -json has them.
const (
	levelInfo  = "info"
	levelWarn  = "warn"
	levelError = "error"
)

// event writes one NDJSON line: the envelope, then the event's own fields
// (a struct or a map, marshalled to its JSON object).
func (p *printer) event(level, typ, message string, fields any) {
	obj := map[string]any{}
	if fields != nil {
		b, err := json.Marshal(fields)
		if err != nil {
			panic(err) // only our own plain values are marshalled
		}
		if err := json.Unmarshal(b, &obj); err != nil {
			panic(err)
		}
	}
	now := time.Now
	if p.now != nil {
		now = p.now
	}
	obj["@level"], obj["@message"], obj["@timestamp"], obj["type"] = level, message, now().UTC().Format(time.RFC3339Nano), typ
	b, err := json.Marshal(obj)
	if err != nil {
		panic(err)
	}
	p.out.Write(append(b, '\n'))
}

// change is an action, planned, applied or held, as NDJSON nests it.
type change struct {
	Action     string   `json:"action"`
	Slot       string   `json:"slot"`
	Profile    *string  `json:"profile"`
	Reason     string   `json:"reason"`
	Files      []string `json:"files,omitempty"`
	Want       *string  `json:"want"`
	Restart    bool     `json:"restart,omitempty"`
	RestartLog bool     `json:"restart_log,omitempty"` // the companion: s6's logger
	Folded     []string `json:"folded,omitempty"`
}

func changeOf(a reconcile.Action) change {
	c := change{Action: a.Kind.String(), Slot: a.Unit, Profile: orNull(a.Key), Reason: string(a.Reason),
		Files: a.Files, Restart: a.Restart, RestartLog: a.RestartCompanion, Folded: a.Folded}
	if a.Kind == reconcile.Create {
		w := wantWord(a.WantUp)
		c.Want = &w
	}
	return c
}

// orNull is s, or null when there is none.
func orNull(s string) *string {
	if s == "" || s == "-" {
		return nil
	}
	return &s
}

func wantWord(up bool) string {
	if up {
		return "up"
	}
	return "down"
}

func (p *printer) version(mode, backend string) {
	if p.json {
		b := readBuildInfo()
		p.event(levelInfo, "version", fmt.Sprintf("hermes-reconcile %s, %s on %s", b.Version, mode, backend), map[string]any{
			"schema": SchemaVersion, "version": b.Version, "commit": orNull(b.Commit), "go": b.Go, "platform": b.Platform,
			"mode": mode, "backend": backend})
	}
}

// topology says which topology a run decided, from what and why: first
// thing of a plan, last of a status.
func (p *printer) topology(t desired.Topology) {
	if t.From == "" {
		return // nothing was read
	}
	if p.json {
		p.event(levelInfo, "topology", "Topology: "+t.String(), map[string]any{"topology": t.Word(), "from": t.From, "rule": t.Rule})
		return
	}
	fmt.Fprintf(p.out, "Topology: %s\n", t)
}

func (p *printer) diagnostics(ds []desired.Diagnostic) {
	for _, d := range ds {
		if p.json {
			level := levelWarn
			if d.Severity == desired.Error {
				level = levelError
			}
			var line *int
			if d.Line > 0 {
				line = &d.Line
			}
			p.event(level, "diagnostic", d.String(), map[string]any{"severity": d.Severity.String(), "profile": orNull(d.Profile),
				"path": orNull(d.Path), "line": line, "message": d.Message, "summary": d.String()})
			continue
		}
		word := "Warning"
		if d.Severity == desired.Error {
			word = "Error"
		}
		fmt.Fprintf(p.errw, "%s\n", p.paint(red, word+": "+d.String(), d.Severity == desired.Error))
	}
}

// Colours of a terminal's text.
const (
	red    = "\x1b[31m"
	green  = "\x1b[32m"
	yellow = "\x1b[33m"
	reset  = "\x1b[0m"
)

var colors = map[string]string{"+": green, "~": yellow, "-": red, ">": green, "<": yellow, "=": yellow, "!": red}

// paint colours s on a terminal that takes colour, when on.
func (p *printer) paint(color, s string, on bool) string {
	if !p.color || !on {
		return s
	}
	return color + s + reset
}

func (p *printer) plan(plan reconcile.Plan, diags []desired.Diagnostic) {
	for _, a := range plan.Actions {
		if p.json {
			p.event(levelInfo, "planned_change", a.Unit+": plan to "+a.Kind.String(), map[string]any{"change": changeOf(a)})
			continue
		}
		line := a.String()
		fmt.Fprintln(p.out, p.paint(colors[a.Kind.Symbol()], line, true))
	}
	for _, d := range plan.Deferred {
		if p.json {
			fields := map[string]any{"change": change{Action: d.Kind.String(), Slot: d.Unit, Profile: orNull(d.Key), Reason: string(d.Reason)},
				"why": d.Why, "until": nil}
			if !d.Until.IsZero() {
				fields["until"] = d.Until.Format(time.RFC3339Nano)
			}
			p.event(levelWarn, "deferred_change", d.Unit+": "+d.Kind.String()+" held: "+string(d.Reason), fields)
			continue
		}
		fmt.Fprintln(p.out, p.paint(colors["="], d.Line(plan.Now), true))
	}
	for _, u := range plan.Untouched {
		if p.json {
			p.event(levelInfo, "untouched", u.Unit+": left as it is ("+u.State+")", map[string]any{
				"slot": u.Unit, "profile": orNull(u.Key), "state": orNull(u.State), "why": u.Why})
			continue
		}
		fmt.Fprintln(p.out, p.paint(colors["="], u.Line(), true))
	}
	switch {
	case p.json:
	case unread(plan, diags):
		fmt.Fprintln(p.out, "No changes made: what could not be read is left as it is (see the errors).")
	default:
		fmt.Fprintln(p.out, plan.Summary())
	}
}

// unread replaces the plan's closing line when profiles could not be read:
// "Services match the profiles" would claim what nobody could check.
func unread(plan reconcile.Plan, diags []desired.Diagnostic) bool {
	if len(plan.Actions)+len(plan.Deferred) > 0 {
		return false
	}
	for _, d := range diags {
		if d.Denied {
			return true
		}
	}
	return false
}

func (p *printer) results(results []reconcile.Result) {
	failed := 0
	for _, r := range results {
		if p.json {
			level, fields := levelInfo, map[string]any{"change": changeOf(r.Action), "result": "ok", "error": nil, "caveat": nil,
				"duration_ms": float64(r.Duration.Microseconds()) / 1000}
			msg := r.Action.Unit + ": " + r.Action.Kind.String() + " done"
			switch {
			case errors.Is(r.Err, reconcile.ErrSuperseded):
				fields["result"], fields["error"] = "superseded", r.Err.Error()
				msg = r.Action.Unit + ": " + r.Action.Kind.String() + " superseded by another writer"
			case r.Err != nil:
				level, fields["result"], fields["error"] = levelError, "failed", r.Err.Error()
				msg = r.Action.Unit + ": " + r.Action.Kind.String() + " failed: " + r.Err.Error()
			case r.Caveat != "":
				level, fields["caveat"] = levelWarn, r.Caveat
			}
			p.event(level, "applied_change", msg, fields)
			continue
		}
		switch {
		case errors.Is(r.Err, reconcile.ErrSuperseded):
			fmt.Fprintf(p.out, "= %s  %s  %v; the next pass adopts it\n", r.Action.Unit, r.Action.Kind, r.Err)
		case r.Err != nil:
			failed++
			fmt.Fprintln(p.out, p.paint(red, fmt.Sprintf("! %s  %s  failed: %v", r.Action.Unit, r.Action.Kind, r.Err), true))
		case r.Caveat != "":
			fmt.Fprintln(p.out, p.paint(yellow, fmt.Sprintf("~ %s  %s  done, but %s", r.Action.Unit, r.Action.Kind, r.Caveat), true))
		}
	}
	if !p.json && len(results) > 0 {
		superseded := reconcile.Superseded(results)
		line := fmt.Sprintf("Apply: %d done, %d failed", len(results)-failed-superseded, failed)
		if superseded > 0 {
			line += fmt.Sprintf(", %d superseded by another writer", superseded)
		}
		fmt.Fprintln(p.out, p.paint(red, line+".", failed > 0))
	}
}

func (p *printer) summary(plan reconcile.Plan, results []reconcile.Result, diags int, err error) {
	if !p.json {
		if err != nil {
			fmt.Fprintf(p.errw, "%s\n", p.paint(red, "Error: "+err.Error(), true))
		}
		return
	}
	if err != nil {
		// A fatal error is a diagnostic too, so a consumer that reads only
		// those sees it.
		p.event(levelError, "diagnostic", err.Error(), map[string]any{"severity": desired.Error.String(), "profile": nil, "path": nil,
			"line": nil, "message": err.Error(), "summary": err.Error(), "fatal": true})
	}
	c := plan.Count()
	fields := map[string]any{"changes": len(plan.Actions),
		"create": c[reconcile.Create], "update": c[reconcile.Update], "adopt": c[reconcile.Adopt],
		"remove": c[reconcile.Remove], "clean": c[reconcile.Clean], "start": c[reconcile.Start], "stop": c[reconcile.Stop],
		"held": len(plan.Deferred), "untouched": len(plan.Untouched),
		"applied": len(results) - reconcile.Failed(results), "failed": reconcile.Failed(results),
		"diagnostics": diags, "error": nil}
	level, msg := levelInfo, plan.Summary()
	if err != nil {
		level, fields["error"], msg = levelError, err.Error(), "Error: "+err.Error()
	}
	p.event(level, "change_summary", strings.TrimSpace(msg), fields)
}
