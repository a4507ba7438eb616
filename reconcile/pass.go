package reconcile

import (
	"context"
	"fmt"

	"github.com/hermes-reconcile/hermes-reconcile/actual"
	"github.com/hermes-reconcile/hermes-reconcile/desired"
)

// Sources say where a pass reads its two states from.
type Sources struct {
	Home    string
	Scandir string
	Load    desired.Options
	Status  actual.StatusReader
	// MaxServices is s6-svscan's limit (-c); a plan needing more services
	// gets a warning. 0: no check.
	MaxServices int
}

// Outcome is everything one pass saw, decided and did.
type Outcome struct {
	Desired desired.State
	Actual  actual.State
	Plan    []Action
	Results []Result
	// Err is a failure of the whole pass (nothing could be read, or nothing
	// could be applied); per-slot failures are in Results.
	Err error
}

// Observe reads both states and plans, changing nothing. The two reads
// are independent, so they run side by side: a pass is mostly reading, and
// every event in watch mode costs one.
func Observe(src Sources) Outcome {
	var o Outcome
	var actualErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		o.Actual, actualErr = actual.Read(src.Scandir, src.Status)
	}()
	o.Desired, o.Err = desired.Load(src.Home, src.Load)
	<-done
	if o.Err == nil {
		o.Err = actualErr
	}
	if o.Err != nil {
		return o
	}
	o.Plan = Plan(o.Desired, o.Actual)
	if src.MaxServices <= 0 {
		return o
	}
	if n := Services(o.Actual, o.Plan); n > src.MaxServices {
		o.Desired.Diagnostics = append(o.Desired.Diagnostics, desired.Diagnostic{Severity: desired.Warning, Path: src.Scandir,
			Message: fmt.Sprintf("the scandir would hold %d services, over s6-svscan's limit of %d: start s6-svscan with -c %d or more", n, src.MaxServices, n)})
	}
	return o
}

// RunPass observes, plans and, unless the plan is empty, applies it. skip
// drops actions on the given slots (the watch loop's backoff).
func RunPass(ctx context.Context, src Sources, b Backend, skip func(Action) bool) Outcome {
	o := Observe(src)
	if o.Err != nil {
		return o
	}
	if skip != nil {
		kept := o.Plan[:0:0]
		for _, a := range o.Plan {
			if !skip(a) {
				kept = append(kept, a)
			}
		}
		o.Plan = kept
	}
	if len(o.Plan) == 0 {
		return o
	}
	if err := b.Probe(); err != nil {
		o.Err = fmt.Errorf("nothing applied: %w", err)
		return o
	}
	o.Results = Apply(ctx, b, o.Plan)
	return o
}
