package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/hermes-reconcile/hermes-reconcile/desired"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
)

// explanation is `explain PROFILE`: what the loader saw of one profile and
// what a pass would do with it, and why.
type explanation struct {
	Profile    string   `json:"profile"`
	Dir        string   `json:"dir"`
	Exists     bool     `json:"exists"`
	Files      []string `json:"files"`
	Intent     string   `json:"intent"`
	IntentFrom string   `json:"intent_source"`
	Topology   string   `json:"topology"`
	Want       string   `json:"want"`
	WantReason string   `json:"want_reason"`
	Enforced   bool     `json:"enforced"`
	// Claims are the kinds of what its gateway would hold (a bot token, a
	// port) and where each comes from: never a value.
	Claims      []string `json:"claims"`
	Unit        string   `json:"unit"`
	Actual      string   `json:"actual"`
	Planned     []string `json:"planned"`
	Held        []string `json:"held"`
	Diagnostics []string `json:"diagnostics"`
}

// explain plans one profile, changing nothing, and says why.
func (r runner) explain(ctx context.Context, name string) int {
	p := r.p
	p.version("explain", r.backend)
	o := r.pass.Observe(ctx, []desired.Key{name})
	if o.Err != nil {
		p.summary(reconcile.Plan{}, nil, 0, o.Err)
		return exitError
	}
	if !known(o, name) {
		return r.noSuch(ctx, []string{name})
	}
	dir := desired.Layout{Root: o.Desired.Root}.Dir(name)
	e := explanation{Profile: name, Dir: dir, Intent: "-", IntentFrom: "none", Want: "-", Unit: unitName(o, r.pass.Engine, name), Actual: "missing"}
	if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
		e.Exists = true
	}
	for _, f := range []string{desired.ConfigFile, desired.SoulFile, desired.EnvFile, desired.StateFile} {
		if _, err := os.Lstat(filepath.Join(dir, f)); err == nil {
			e.Files = append(e.Files, f)
		}
	}
	e.Topology = o.Desired.Topology.String()
	if svc := o.Desired.Service(name); svc != nil {
		e.Intent = intentWord(svc.Intent)
		switch {
		case svc.Intent.Explicit:
			e.IntentFrom = "desired_state in " + filepath.Join(dir, desired.StateFile) + ": enforced on every pass"
		case svc.Intent.Raw != "":
			e.IntentFrom = "gateway_state (legacy) in " + filepath.Join(dir, desired.StateFile) + ": only seeds a new slot"
		default:
			e.IntentFrom = "no intent file: only seeds a new slot"
		}
		e.Want, e.WantReason, e.Enforced = wantWord(svc.WantUp), string(svc.Reason), svc.Enforce
		for _, c := range svc.Claims {
			e.Claims = append(e.Claims, c.String())
		}
		if len(svc.Folded) > 0 {
			e.WantReason += "; serves " + strings.Join(svc.Folded, ", ")
		}
	} else if o.Desired.Held[name] {
		e.Intent, e.Want, e.WantReason = "?", "?", "left as it is: its input cannot be read (see the diagnostics)"
	} else {
		switch err := desired.ValidName(name); {
		case err != nil && name != desired.DefaultProfile:
			e.WantReason, e.Unit = "no service: "+err.Error(), "-"
			e.Diagnostics = append(e.Diagnostics, desired.Diagnostic{Severity: desired.Error, Path: dir,
				Message: err.Error() + "; no slot (rename the directory to a valid name)"}.String())
		case o.Desired.Tombstoned[name]:
			e.WantReason = "no service: the profile is marked deleted (profiles/.deleted)"
		case e.Exists && name != desired.DefaultProfile:
			e.WantReason = "no service: not a profile yet (a profile has config.yaml or SOUL.md)"
		default:
			e.WantReason = "no service: the profile does not exist"
		}
	}
	if u := o.Observed.Units[name]; u != nil {
		e.Actual = u.State
		var bits []string
		if u.Registered {
			bits = append(bits, "supervised")
		} else {
			bits = append(bits, "unsupervised")
		}
		if u.Ours {
			bits = append(bits, "written by hermes-reconcile")
		} else {
			bits = append(bits, "made by Hermes or by hand (adopted: rewritten without a restart; the old run goes on until the gateway's next restart)")
		}
		if len(u.Drift) > 0 {
			bits = append(bits, "differs in "+strings.Join(u.Drift, ", "))
		}
		if u.Detail != "" {
			bits = append(bits, u.Detail)
		}
		e.Actual += " (" + strings.Join(bits, "; ") + ")"
	}
	for _, a := range o.Plan.Actions {
		if a.Key == name {
			e.Planned = append(e.Planned, a.String())
		}
	}
	for _, u := range o.Plan.Untouched {
		if u.Key == name {
			e.Planned = append(e.Planned, u.Line()) // nothing, and why
		}
	}
	for _, d := range o.Plan.Deferred {
		if d.Key == name {
			e.Held = append(e.Held, d.Line(o.Plan.Now))
		}
	}
	for _, d := range o.Desired.Diagnostics {
		if d.Profile == name || d.Profile == "" {
			e.Diagnostics = append(e.Diagnostics, d.String())
		}
	}
	if p.json {
		p.event(levelInfo, "explain", name+": "+e.Actual, e)
		return exitOK
	}
	tw := tabwriter.NewWriter(p.out, 0, 0, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	row("Profile:", name)
	exists := "missing"
	if e.Exists {
		exists = "exists"
	}
	row("Directory:", dir+" ("+exists+")")
	files := strings.Join(e.Files, ", ")
	if files == "" {
		files = "none"
	}
	row("Files:", files)
	row("Intent:", e.Intent+" ("+e.IntentFrom+")")
	row("Topology:", e.Topology)
	want := e.Want
	if e.WantReason != "" {
		want += " (" + e.WantReason + ")"
	}
	row("Wants:", want)
	claims := strings.Join(e.Claims, ", ")
	if claims == "" {
		claims = "none (no bot token, account or listening port of its own)"
	}
	row("Claims:", claims)
	if e.Unit == "-" {
		row("Service:", "none")
	} else {
		row("Service:", e.Unit+": "+e.Actual)
	}
	plan := "nothing: in step"
	if len(e.Planned) > 0 {
		plan = strings.Join(e.Planned, "\n\t")
	}
	row("Plan:", plan)
	for _, h := range e.Held {
		row("Held:", h)
	}
	for _, d := range e.Diagnostics {
		row("Diagnostic:", d)
	}
	tw.Flush()
	return exitOK
}
