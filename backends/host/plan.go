package host

import (
	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
)

// Plan returns the actions that bring the installed service in line with
// the active profile, in the order Apply runs them: stop and remove before
// writing, writing before start. It is pure. A held profile and a foreign
// service get no action; an installed, current service in the wanted run
// state gets none either.
//
// Run state follows the s6 rules: an explicit desired_state is enforced on
// every pass (running: up and enabled; stopped: down and disabled); legacy
// or no intent sets the run state only when the service is created.
func Plan(d Desired, def Definition, o Observed) []reconcile.Action {
	if d.Held || o.Foreign != "" {
		return nil
	}
	act := func(k reconcile.Kind, reason string) reconcile.Action {
		return reconcile.Action{Kind: k, Slot: def.Name, Profile: d.Profile, Reason: reason}
	}
	if d.Gone {
		if !o.Installed {
			return nil
		}
		return []reconcile.Action{act(reconcile.Remove, d.Reason)}
	}
	if !o.Installed {
		a := act(reconcile.Create, reconcile.ReasonProfileAdded)
		a.WantUp, a.Files = d.WantUp, def.FileNames()
		return []reconcile.Action{a}
	}
	stopping := d.Enforce && !d.WantUp && (o.Up || o.Enabled)
	starting := d.Enforce && d.WantUp && (!o.Up || !o.Enabled)
	var plan []reconcile.Action
	if stopping {
		plan = append(plan, act(reconcile.Stop, d.Reason))
	}
	if len(o.Stale) > 0 {
		a := act(reconcile.Update, reconcile.ReasonSpecChanged)
		a.Files = o.Stale
		a.Restart = def.ReloadRestarts && o.Up && !stopping
		plan = append(plan, a)
	}
	if starting {
		plan = append(plan, act(reconcile.Start, d.Reason))
	}
	return plan
}
