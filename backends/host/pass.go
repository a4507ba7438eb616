package host

import (
	"context"

	"github.com/hermes-reconcile/hermes-reconcile/desired"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
)

// Outcome is everything one host pass saw, decided and did.
type Outcome struct {
	Desired  Desired
	Def      Definition
	Observed Observed
	Plan     []reconcile.Action
	Results  []reconcile.Result
	// Err is a failure of the whole pass: nothing could be read (HERMES_HOME
	// missing, the manager unreachable) or rendered.
	Err error
}

// Observe reads the active profile under home and the installed service,
// and plans. It changes nothing: --dry-run and status use it.
func Observe(ctx context.Context, m Manager, home string, s Settings) Outcome {
	var o Outcome
	if o.Desired, o.Err = Active(home); o.Err != nil {
		return o
	}
	if o.Def, o.Err = m.Define(o.Desired.Service(s)); o.Err != nil {
		return o
	}
	if o.Observed, o.Err = m.Status(ctx, o.Def); o.Err != nil {
		return o
	}
	if f := o.Observed.Foreign; f != "" {
		o.Desired.Diagnostics = append(o.Desired.Diagnostics, desired.Diagnostic{Severity: desired.Warning,
			Profile: o.Desired.Profile, Path: o.Def.Name, Message: f})
	}
	o.Plan = Plan(o.Desired, o.Def, o.Observed)
	return o
}

// RunPass observes, plans and applies the plan.
func RunPass(ctx context.Context, m Manager, home string, s Settings) Outcome {
	o := Observe(ctx, m, home, s)
	if o.Err == nil && len(o.Plan) > 0 {
		o.Results = Apply(ctx, m, o.Def, o.Plan)
	}
	return o
}
