package loop

import (
	"time"

	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
)

// Recorder hears what the loop does, for metrics and health: when it runs,
// and each pass with its outcome. Its methods are called from the loop's
// goroutine and must not block.
type Recorder interface {
	// Running says the loop started (on Kubernetes: it holds the Lease)
	// or stopped, at a time.
	Running(on bool, at time.Time)
	// Passed reports one pass.
	Passed(r Report)
}

// Report is one pass as the loop saw it.
type Report struct {
	Outcome reconcile.Outcome
	// Full is set for a pass over every profile: asked for, or widened by
	// a guard that weighs every unit.
	Full bool
	// Locked is false when the single-writer lock could not be taken
	// (Outcome.Err says why): the pass did nothing.
	Locked bool
	// Took is how long the pass held the lock.
	Took time.Duration
	// At is when the pass ended.
	At time.Time
}
