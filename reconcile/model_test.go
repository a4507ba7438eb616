package reconcile_test

import (
	"bytes"
	"fmt"
	"slices"
	"sort"

	"github.com/hermes-reconcile/hermes-reconcile/actual"
	"github.com/hermes-reconcile/hermes-reconcile/desired"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
)

// world is the scandir model plus what each running gateway was started
// from, so a test can tell a missing restart from a needless one.
type world struct {
	actual actual.State
	// started is the run script each up gateway was spawned from.
	started map[string][]byte
}

// newWorld assumes each up gateway runs the run file now on disk.
func newWorld(a actual.State) *world {
	w := &world{actual: actual.State{Scandir: a.Scandir, Others: a.Others}, started: map[string][]byte{}}
	w.actual.Leftovers = append([]string(nil), a.Leftovers...)
	for _, s := range a.Slots {
		c := s
		c.Files = append([]actual.File(nil), s.Files...)
		w.actual.Slots = append(w.actual.Slots, c)
		if s.Status.Up {
			w.started[s.Name] = s.File(desired.FileRun).Data
		}
	}
	return w
}

func (w *world) slot(name string) *actual.Slot {
	for i := range w.actual.Slots {
		if w.actual.Slots[i].Name == name {
			return &w.actual.Slots[i]
		}
	}
	return nil
}

func (w *world) mustSlot(a reconcile.Action) *actual.Slot {
	s := w.slot(a.Slot)
	if s == nil {
		panic(fmt.Sprintf("%s on a slot that does not exist", actionLine(a)))
	}
	if s.Untouchable != "" {
		panic(fmt.Sprintf("%s on an untouchable slot", actionLine(a)))
	}
	return s
}

func (w *world) spawn(s *actual.Slot) {
	s.Status.Up = true
	w.started[s.Name] = s.File(desired.FileRun).Data
}

// apply does to the model what a successful reconcile.Apply through the s6
// backend does to a scandir, in Apply's order: down, write, rescan, up.
func (w *world) apply(plan []reconcile.Action) {
	for _, a := range plan {
		switch a.Kind {
		case reconcile.Stop:
			s := w.mustSlot(a)
			s.HasDown = true
			if s.Status.Supervised {
				s.Status.WantUp, s.Status.Up = false, false
				delete(w.started, s.Name)
			}
		case reconcile.Remove:
			w.mustSlot(a)
			kept := w.actual.Slots[:0]
			for _, s := range w.actual.Slots {
				if s.Name != a.Slot {
					kept = append(kept, s)
				}
			}
			w.actual.Slots = kept
			delete(w.started, a.Slot)
		case reconcile.Clean:
			kept := []string{}
			found := false
			for _, l := range w.actual.Leftovers {
				if l == a.Slot {
					found = true
					continue
				}
				kept = append(kept, l)
			}
			if !found {
				panic("clean of an unknown leftover " + a.Slot)
			}
			w.actual.Leftovers = kept
		}
	}
	for _, a := range plan {
		switch a.Kind {
		case reconcile.Create:
			if w.slot(a.Slot) != nil {
				panic("create over an existing slot " + a.Slot)
			}
			s := actual.Slot{Name: a.Slot, Profile: a.Profile, Dir: "/run/service/" + a.Slot,
				Hash: a.Spec.Hash, HasDown: !a.WantUp, Status: actual.Status{ExitCode: -1}}
			for _, f := range a.Spec.Files {
				s.Files = append(s.Files, actual.File{Path: f.Path, Mode: f.Mode.Perm(), Data: f.Data})
			}
			w.actual.Slots = append(w.actual.Slots, s)
		case reconcile.Update, reconcile.Adopt:
			s := w.mustSlot(a)
			if a.Kind == reconcile.Update && len(a.Files) == 0 && a.Reason == reconcile.ReasonNotSupervised {
				continue // Apply writes nothing for it
			}
			for _, f := range a.Spec.Files {
				if !slices.Contains(a.Files, f.Path) {
					continue
				}
				nf := actual.File{Path: f.Path, Mode: f.Mode.Perm(), Data: f.Data}
				replacedFile := false
				for i := range s.Files {
					if s.Files[i].Path == f.Path {
						s.Files[i], replacedFile = nf, true
					}
				}
				if !replacedFile {
					s.Files = append(s.Files, nf)
				}
			}
			s.Hash = a.Spec.Hash
		}
	}
	sort.Slice(w.actual.Slots, func(i, j int) bool { return w.actual.Slots[i].Name < w.actual.Slots[j].Name })
	// One rescan: every new or unsupervised slot gets its supervisor, which
	// starts the gateway unless a down file says otherwise.
	for _, a := range plan {
		if a.Kind != reconcile.Create && !a.Register {
			continue
		}
		s := w.mustSlot(a)
		if s.Status.Supervised {
			continue
		}
		s.Status.Supervised = true
		s.Status.WantUp, s.Status.NormallyUp = !s.HasDown, !s.HasDown
		if !s.HasDown {
			w.spawn(s)
		}
	}
	for _, a := range plan {
		switch {
		case a.Kind == reconcile.Update && a.Restart:
			s := w.mustSlot(a)
			if !s.Status.Up {
				panic("restart of a gateway that is not up: " + a.Slot)
			}
			w.spawn(s)
		case a.Kind == reconcile.Start:
			s := w.mustSlot(a)
			s.HasDown = false
			if s.Status.Supervised {
				s.Status.WantUp = true
				if !s.Status.Up { // s6-svc -u does not restart a running gateway
					w.spawn(s)
				}
			}
		}
	}
}

// stale lists the up gateways still running a run script other than the one
// on disk, leaving out those the plan adopted (adoption never restarts).
func (w *world) stale(plan []reconcile.Action) []string {
	adopted := map[string]bool{}
	for _, a := range plan {
		if a.Kind == reconcile.Adopt {
			adopted[a.Slot] = true
		}
	}
	out := []string{}
	for _, s := range w.actual.Slots {
		if s.Status.Up && !adopted[s.Name] && !bytes.Equal(w.started[s.Name], s.File(desired.FileRun).Data) {
			out = append(out, s.Name)
		}
	}
	return out
}
