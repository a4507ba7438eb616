package host

import (
	"context"
	"fmt"
	"time"

	"github.com/go-logr/logr"

	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
)

// Apply carries out a plan on one service: one Manager verb per action.
// It decides nothing. Once an action fails, the later ones are not tried
// (they act on the same service) and say so.
func Apply(ctx context.Context, m Manager, def Definition, plan []reconcile.Action) []reconcile.Result {
	log := logr.FromContextOrDiscard(ctx)
	results := make([]reconcile.Result, len(plan))
	var failed error
	for i, a := range plan {
		results[i].Action = a
		if failed != nil {
			results[i].Err = fmt.Errorf("not tried: %s %s failed", plan[i-1].Kind, a.Slot)
			continue
		}
		if err := ctx.Err(); err != nil {
			results[i].Err, failed = err, err
			continue
		}
		start := time.Now()
		var err error
		switch a.Kind {
		case reconcile.Create:
			err = m.Install(ctx, def, false)
			if err == nil && a.WantUp {
				err = m.Control(ctx, def, true)
			}
		case reconcile.Update:
			err = m.Install(ctx, def, a.Restart)
		case reconcile.Start:
			err = m.Control(ctx, def, true)
		case reconcile.Stop:
			err = m.Control(ctx, def, false)
		case reconcile.Remove:
			err = m.Uninstall(ctx, def)
		default:
			err = fmt.Errorf("%s is not a host action", a.Kind)
		}
		results[i].Duration = time.Since(start)
		results[i].Err = err
		l := log.WithValues("profile", a.Profile, "slot", a.Slot, "action", a.Kind.String(), "reason", a.Reason,
			"duration_ms", results[i].Duration.Milliseconds())
		if err != nil {
			failed = err
			l.Error(err, "action failed")
			continue
		}
		l.Info("action done")
	}
	return results
}
