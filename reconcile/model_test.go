package reconcile_test

import (
	"fmt"
	"slices"

	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
)

// world is a model of what an engine manages, plus which version of its
// run script each running gateway was started from, so a test can tell a
// missing restart from a needless one.
type world struct {
	observed reconcile.Observed
	// runs counts the rewrites of each unit's run; started is the count a
	// running gateway was spawned at.
	runs, started map[string]int
}

// newWorld assumes each running gateway runs the run script now in place.
func newWorld(o reconcile.Observed) *world {
	w := &world{observed: reconcile.Observed{Units: map[string]*reconcile.Unit{}, Others: o.Others},
		runs: map[string]int{}, started: map[string]int{}}
	w.observed.Strays = slices.Clone(o.Strays)
	for k, u := range o.Units {
		c := *u
		c.Drift = slices.Clone(u.Drift)
		w.observed.Units[k] = &c
	}
	return w
}

func (w *world) unit(a reconcile.Action) *reconcile.Unit {
	u := w.observed.Units[a.Key]
	if u == nil {
		panic(fmt.Sprintf("%s on a unit that does not exist", a))
	}
	if u.Untouchable != "" {
		panic(fmt.Sprintf("%s on an untouchable unit", a))
	}
	return u
}

func (w *world) spawn(u *reconcile.Unit) {
	u.Running = true
	w.started[u.Name] = w.runs[u.Name]
}

// apply does to the model what a successful pass does to a manager, in the
// order every engine schedules it: down, write, register, up.
func (w *world) apply(p reconcile.Plan) {
	for _, a := range p.Actions {
		switch a.Kind {
		case reconcile.Stop:
			u := w.unit(a)
			u.Persisted, u.Instances = false, 0
			if u.Registered {
				u.WantUp, u.Running = false, false
				delete(w.started, u.Name)
			}
		case reconcile.Remove:
			w.unit(a)
			delete(w.observed.Units, a.Key)
		case reconcile.Clean:
			i := slices.IndexFunc(w.observed.Strays, func(l reconcile.Stray) bool { return l.Name == a.Unit })
			if i < 0 {
				panic("clean of an unknown leftover " + a.Unit)
			}
			w.observed.Strays = slices.Delete(w.observed.Strays, i, i+1)
		}
	}
	for _, a := range p.Actions {
		switch a.Kind {
		case reconcile.Create:
			if w.observed.Units[a.Key] != nil {
				panic("create over an existing unit " + a.Unit)
			}
			w.observed.Units[a.Key] = &reconcile.Unit{Key: a.Key, Name: a.Unit, Ours: true, Hash: a.Spec.Hash,
				Persisted: a.WantUp, ExitCode: -1}
		case reconcile.Update, reconcile.Adopt:
			u := w.unit(a)
			if !a.Write {
				continue // nothing to write
			}
			for _, f := range a.Files {
				if i := slices.Index(u.Drift, f); i >= 0 {
					u.Drift = slices.Delete(u.Drift, i, i+1)
				}
				if spec := a.Spec.File(f); spec != nil && spec.Effect == reconcile.RestartsService {
					w.runs[u.Name]++
				}
			}
			u.Ours, u.Hash = true, a.Spec.Hash
		}
	}
	// Registering: every new or unregistered unit gets its supervisor, which
	// starts the gateway unless the unit persists down.
	for _, a := range p.Actions {
		if a.Kind != reconcile.Create && !a.Register {
			continue
		}
		u := w.unit(a)
		if u.Registered {
			continue
		}
		u.Registered, u.Companion.Registered, u.Companion.Running, u.WantUp = true, true, true, u.Persisted
		if u.Persisted {
			w.spawn(u)
		}
	}
	for _, a := range p.Actions {
		if a.Kind == reconcile.Update && a.RestartCompanion {
			w.unit(a).Companion.Running = true
		}
		switch {
		case a.Kind == reconcile.Update && a.Restart:
			u := w.unit(a)
			if !u.Running {
				panic("restart of a gateway that is not up: " + a.Unit)
			}
			w.spawn(u)
		case a.Kind == reconcile.Start:
			u := w.unit(a)
			u.Persisted = true
			if u.Instances > 1 {
				u.Instances = 1 // a start runs exactly one
			}
			if u.Registered {
				u.WantUp = true
				if !u.Running { // a start does not restart a running gateway
					w.spawn(u)
				}
			}
		}
	}
}

// stale lists the running gateways still on a run script older than the
// one in place, leaving out those the plan adopted (adoption never restarts).
func (w *world) stale(p reconcile.Plan) []string {
	adopted := map[string]bool{}
	for _, a := range p.Actions {
		if a.Kind == reconcile.Adopt {
			adopted[a.Unit] = true
		}
	}
	out := []string{}
	for _, u := range w.observed.Units {
		if u.Running && !adopted[u.Name] && w.started[u.Name] != w.runs[u.Name] {
			out = append(out, u.Name)
		}
	}
	slices.Sort(out)
	return out
}
