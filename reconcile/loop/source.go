package loop

import (
	"context"

	"github.com/hermes-reconcile/hermes-reconcile/desired"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
)

// Kind is what an event says changed.
type Kind uint8

const (
	// Input: a file a profile's service is read from changed, or the
	// profile came or went (a tombstone too).
	Input Kind = iota + 1
	// Intent: a profile's intent file was rewritten, perhaps with the intent
	// it had (a running gateway rewrites it at every turn).
	Intent
	// RootConfig: the root config.yaml changed, perhaps the topology.
	RootConfig
	// All: something every profile depends on (profiles/ replaced, an
	// event queue overflow, SIGHUP): a full pass.
	All
	// Unit: the engine's unit of a key appeared, went or changed.
	Unit
	// Deaths: a unit's deaths make a crash loop by the policy's count.
	Deaths
	// Degraded: a source cannot watch everything (inotify's limit), or can
	// again (Degraded false): the loop resyncs often meanwhile.
	Degraded
)

// UnitOp is what happened to a unit.
type UnitOp uint8

const (
	Appeared UnitOp = iota + 1
	Gone
	Changed
)

// Event is a trigger, never data: a pass reads everything again. Sources
// translate what they watch (fsnotify, an informer) into events; the loop
// alone decides what they ask for, by one set of rules.
type Event struct {
	Kind Kind
	// Key is the profile concerned; "" for All, RootConfig, Degraded.
	Key desired.Key
	// Unit and Op, for a Unit event.
	Unit string
	Op   UnitOp
	// Why says what the event was, for the log (All: overflow, sighup…).
	Why string
	// On is Degraded's value.
	On bool
}

// Source feeds the loop, as controller-runtime's source.Source feeds a
// controller: Start must not block; it sends events, from goroutines of its
// own, until ctx ends.
type Source interface {
	Start(ctx context.Context, send func(Event)) error
}

// PassWatcher is a source that looks at each pass's outcome: s6 watches the
// death records of the slots a pass saw or made, the profile watcher
// re-checks what it watches after a full pass.
type PassWatcher interface {
	Passed(out reconcile.Outcome, keys []desired.Key)
}

// SourceFunc is a Source that is a function.
type SourceFunc func(ctx context.Context, send func(Event)) error

func (f SourceFunc) Start(ctx context.Context, send func(Event)) error { return f(ctx, send) }

var _ Source = SourceFunc(nil)
