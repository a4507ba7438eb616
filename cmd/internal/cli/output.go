package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/hermes-reconcile/hermes-reconcile/desired"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
)

// SchemaVersion is the NDJSON schema; it changes only incompatibly.
const SchemaVersion = 1

// printer writes plans, results and diagnostics as text or NDJSON.
type printer struct {
	out, errw io.Writer
	json      bool
	color     bool
}

type jsonChange struct {
	Action     string   `json:"action"`
	Slot       string   `json:"slot"`
	Profile    string   `json:"profile,omitempty"`
	Reason     string   `json:"reason"`
	Files      []string `json:"files,omitempty"`
	Want       string   `json:"want,omitempty"`
	Restart    bool     `json:"restart,omitempty"`
	RestartLog bool     `json:"restart_log,omitempty"` // the companion: s6's logger
	Folded     []string `json:"folded,omitempty"`
}

func changeOf(a reconcile.Action) jsonChange {
	c := jsonChange{Action: a.Kind.String(), Slot: a.Unit, Profile: a.Key, Reason: string(a.Reason),
		Files: a.Files, Restart: a.Restart, RestartLog: a.RestartCompanion, Folded: a.Folded}
	if a.Kind == reconcile.Create {
		c.Want = wantWord(a.WantUp)
	}
	return c
}

func wantWord(up bool) string {
	if up {
		return "up"
	}
	return "down"
}

func (p *printer) emit(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only our own plain structs are marshalled
	}
	p.out.Write(append(b, '\n'))
}

func (p *printer) version(mode, backend string) {
	if p.json {
		b := readBuildInfo()
		p.emit(map[string]any{"type": "version", "schema": SchemaVersion, "version": b.Version, "commit": b.Commit,
			"go": b.Go, "platform": b.Platform, "mode": mode, "backend": backend})
	}
}

// topology says which topology a run decided, from what and why: first
// thing of a plan, last of a status.
func (p *printer) topology(t desired.Topology) {
	if t.From == "" {
		return // nothing was read
	}
	if p.json {
		p.emit(map[string]any{"type": "topology", "topology": t.Word(), "from": t.From, "rule": t.Rule})
		return
	}
	fmt.Fprintf(p.out, "Topology: %s\n", t)
}

func (p *printer) diagnostics(ds []desired.Diagnostic) {
	for _, d := range ds {
		if p.json {
			p.emit(map[string]any{"type": "diagnostic", "severity": d.Severity.String(), "profile": d.Profile,
				"path": d.Path, "line": d.Line, "message": d.Message, "summary": d.String()})
			continue
		}
		word := "Warning"
		if d.Severity == desired.Error {
			word = "Error"
		}
		fmt.Fprintf(p.errw, "%s: %s\n", word, d)
	}
}

var colors = map[string]string{"+": "\x1b[32m", "~": "\x1b[33m", "-": "\x1b[31m", ">": "\x1b[32m", "<": "\x1b[33m"}

func (p *printer) plan(plan reconcile.Plan) {
	for _, a := range plan.Actions {
		if p.json {
			p.emit(map[string]any{"type": "planned_change", "change": changeOf(a)})
			continue
		}
		line := a.String()
		if p.color {
			line = colors[a.Kind.Symbol()] + line + "\x1b[0m"
		}
		fmt.Fprintln(p.out, line)
	}
	for _, d := range plan.Deferred {
		if p.json {
			ev := map[string]any{"type": "deferred_change", "action": d.Kind.String(), "slot": d.Unit, "profile": d.Key,
				"reason": string(d.Reason), "why": d.Why}
			if !d.Until.IsZero() {
				ev["until"] = d.Until.Format(time.RFC3339Nano)
			}
			p.emit(ev)
			continue
		}
		fmt.Fprintln(p.out, d.Line(plan.Now))
	}
	if !p.json {
		fmt.Fprintln(p.out, plan.Summary())
	}
}

func (p *printer) results(results []reconcile.Result) {
	failed := 0
	for _, r := range results {
		if p.json {
			ev := map[string]any{"type": "applied_change", "change": changeOf(r.Action), "result": "ok",
				"duration_ms": float64(r.Duration.Microseconds()) / 1000}
			switch {
			case errors.Is(r.Err, reconcile.ErrSuperseded):
				ev["result"], ev["error"] = "superseded", r.Err.Error()
			case r.Err != nil:
				ev["result"], ev["error"] = "failed", r.Err.Error()
			case r.Caveat != "":
				ev["caveat"] = r.Caveat
			}
			p.emit(ev)
			continue
		}
		switch {
		case errors.Is(r.Err, reconcile.ErrSuperseded):
			fmt.Fprintf(p.out, "= %s  %s  %v; the next pass adopts it\n", r.Action.Unit, r.Action.Kind, r.Err)
		case r.Err != nil:
			failed++
			fmt.Fprintf(p.out, "! %s  %s  failed: %v\n", r.Action.Unit, r.Action.Kind, r.Err)
		case r.Caveat != "":
			fmt.Fprintf(p.out, "~ %s  %s  done, but %s\n", r.Action.Unit, r.Action.Kind, r.Caveat)
		}
	}
	if !p.json && len(results) > 0 {
		superseded := reconcile.Superseded(results)
		line := fmt.Sprintf("Apply: %d done, %d failed", len(results)-failed-superseded, failed)
		if superseded > 0 {
			line += fmt.Sprintf(", %d superseded by another writer", superseded)
		}
		fmt.Fprintln(p.out, line+".")
	}
}

func (p *printer) summary(plan reconcile.Plan, results []reconcile.Result, diags int, err error) {
	if !p.json {
		if err != nil {
			fmt.Fprintf(p.errw, "Error: %v\n", err)
		}
		return
	}
	if err != nil {
		// A fatal error is a diagnostic too, so a consumer that reads only
		// those sees it.
		p.emit(map[string]any{"type": "diagnostic", "severity": desired.Error.String(), "message": err.Error(), "summary": err.Error(), "fatal": true})
	}
	c := plan.Count()
	ev := map[string]any{"type": "change_summary", "changes": len(plan.Actions),
		"create": c[reconcile.Create], "update": c[reconcile.Update], "adopt": c[reconcile.Adopt],
		"remove": c[reconcile.Remove], "clean": c[reconcile.Clean], "start": c[reconcile.Start], "stop": c[reconcile.Stop],
		"applied": len(results) - reconcile.Failed(results), "failed": reconcile.Failed(results), "diagnostics": diags}
	if err != nil {
		ev["error"] = err.Error()
	}
	p.emit(ev)
}
