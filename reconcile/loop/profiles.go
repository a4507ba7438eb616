package loop

import (
	"context"

	"github.com/hermes-reconcile/hermes-reconcile/desired"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
)

// Profiles is the profile watcher as a source: every engine's.
type Profiles struct{ W *desired.Watcher }

var (
	_ Source      = Profiles{}
	_ PassWatcher = Profiles{}
)

// Start starts the watcher; its events become the loop's.
func (p Profiles) Start(ctx context.Context, send func(Event)) error {
	return p.W.Start(ctx, func(ev desired.Event) {
		switch {
		case ev.Degraded:
			send(Event{Kind: Degraded, On: ev.DegradedOn, Why: ev.Why})
		case ev.All:
			send(Event{Kind: All, Why: ev.Why})
		case ev.RootConfig:
			send(Event{Kind: RootConfig})
		case ev.Intent:
			send(Event{Kind: Intent, Key: ev.Key})
		default:
			send(Event{Kind: Input, Key: ev.Key})
		}
	})
}

// Passed has the watcher check what it watches after a full pass.
func (p Profiles) Passed(out reconcile.Outcome, keys []desired.Key) {
	if keys == nil {
		p.W.Resync()
	}
}
