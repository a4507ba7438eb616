package s6

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/hermes-reconcile/hermes-reconcile/desired"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
)

// op is a step of the s6 engine.
type op uint8

const (
	opStop    op = iota + 1 // the park, if any; down marker; s6-svc -wd -d
	opRetire                // rename a slot to its retired dot name
	opDelete                // remove a staging leftover nothing ever supervised
	opPublish               // a new slot: staged under a dot name, renamed into place
	opWrite                 // the listed files of a live slot, then its hash
	opRescan                // once per pass: pick up new slots, prune retired ones
	opPurge                 // wait for a retired slot's supervisors to go, delete it
	opWait                  // until every new slot is supervised, in one wait
	opRestart               // down (finish done), then up, for a new run or log/run
	opStart                 // a park lifted, if any; remove the down marker; s6-svc -u
)

var opNames = [...]string{
	opStop:    "stop",
	opRetire:  "retire",
	opDelete:  "delete",
	opPublish: "publish",
	opWrite:   "write",
	opRescan:  "rescan",
	opPurge:   "purge",
	opWait:    "wait",
	opRestart: "restart",
	opStart:   "start",
}

func (o op) String() string { return opNames[o] }

// Render is the slot of svc, byte for byte what Hermes writes with the
// default settings.
func (b *Backend) Render(svc desired.Service) (reconcile.Spec, error) {
	return b.render.Render(svc.Profile), nil
}

// Schedule orders a plan the way s6 needs it: everything that takes
// gateways down first (two profiles may share a port), then every write,
// then one rescan for all new and retired slots, then the purges of retired
// slots and one wait until every new slot is supervised (s6-svc fails on a
// slot no supervisor holds yet), then what brings gateways up.
//
// Over s6-svscan's capacity, default's new slot gets a rescan and a wait
// of its own before any other is written: s6-svscan takes slots as its
// rescans find them, and the root gateway must be the last it refuses.
func (b *Backend) Schedule(p reconcile.Plan) []reconcile.Step {
	var first, down, writes, purges, up []reconcile.Step
	rescan := reconcile.Step{Op: opRescan}
	wait := reconcile.Step{Op: opWait}
	firstRescan, firstWait := reconcile.Step{Op: opRescan}, reconcile.Step{Op: opWait}
	waited := map[string]bool{}
	one := func(op op, i int, a reconcile.Action) reconcile.Step {
		return reconcile.Step{Op: op, For: []int{i}, Acts: []reconcile.Action{a}}
	}
	needs := func(st *reconcile.Step, i int, a reconcile.Action) {
		st.For, st.Acts = append(st.For, i), append(st.Acts, a)
	}
	for i, a := range p.Actions {
		if a.Blocked != "" {
			continue // reported by the executor, never tried
		}
		switch a.Kind {
		case reconcile.Stop:
			down = append(down, one(opStop, i, a))
		case reconcile.Remove:
			retired := retiredName(a.Unit, p.Now)
			r := one(opRetire, i, a)
			r.Name = retired
			down = append(down, one(opStop, i, a), r)
			needs(&rescan, i, a)
			pg := one(opPurge, i, a)
			pg.Name = retired
			purges = append(purges, pg)
		case reconcile.Clean:
			if !a.Live {
				down = append(down, one(opDelete, i, a))
				continue
			}
			needs(&rescan, i, a)
			pg := one(opPurge, i, a)
			pg.Name = a.Unit
			purges = append(purges, pg)
		case reconcile.Create:
			if p.OverCapacity && a.Key == desired.DefaultProfile {
				first = append(first, one(opPublish, i, a))
				needs(&firstRescan, i, a)
				needs(&firstWait, i, a)
				waited[a.Unit] = true
				continue
			}
			writes = append(writes, one(opPublish, i, a))
		case reconcile.Update, reconcile.Adopt:
			if a.Write {
				writes = append(writes, one(opWrite, i, a))
			}
			if a.Restart || a.RestartCompanion {
				up = append(up, one(opRestart, i, a))
			}
		case reconcile.Start:
			up = append(up, one(opStart, i, a))
		}
		if a.Kind == reconcile.Create || a.Register {
			needs(&rescan, i, a)
			if !waited[a.Unit] {
				waited[a.Unit] = true
				needs(&wait, i, a)
			}
		}
	}
	steps := down
	if len(first) > 0 {
		steps = append(append(steps, first...), firstRescan, firstWait)
	}
	steps = append(steps, writes...)
	if len(rescan.For) > 0 {
		steps = append(steps, rescan)
	}
	steps = append(steps, purges...)
	if len(wait.For) > 0 {
		steps = append(steps, wait)
	}
	return append(steps, up...)
}

// Do carries out one step.
func (b *Backend) Do(ctx context.Context, s reconcile.Step) error {
	a := s.Acts[0]
	switch s.Op {
	case opStop, opStart:
		return b.control(ctx, a.Unit, s.Op == opStart, stateRecord(a))
	case opRetire:
		b.files.forgetSlot(b.slotDir(a.Unit))
		return b.retire(a.Unit, s.Name)
	case opDelete:
		return b.removeAll(a.Unit)
	case opPublish:
		return b.publish(a.Unit, a.Spec, a.WantUp)
	case opWrite:
		return b.write(a.Unit, a.Spec, a.Files, a.Kind == reconcile.Adopt)
	case opRescan:
		return b.rescan(ctx)
	case opPurge:
		return b.purge(ctx, s.Name)
	case opWait:
		slots := make([]string, len(s.Acts))
		for i, x := range s.Acts {
			slots[i] = x.Unit
		}
		errs := b.waitSupervised(ctx, slots)
		per := reconcile.StepErrors{}
		for i, err := range errs {
			if err != nil {
				per[i] = err
			}
		}
		if len(per) == 0 {
			return nil
		}
		return per
	case opRestart:
		if a.Restart {
			if err := b.restart(ctx, a.Unit, false); err != nil {
				return err
			}
		}
		if a.RestartCompanion {
			return b.restart(ctx, a.Unit, true)
		}
		return nil
	}
	return fmt.Errorf("s6: no step %q", s.Op)
}

// stateRecord is what a start or stop must leave in the slot's state: a
// park or its lift. Nil when there is nothing to record.
func stateRecord(a reconcile.Action) func(*slotState) {
	if a.Park == nil {
		return nil
	}
	return func(st *slotState) {
		p := *a.Park
		st.Park = &p
	}
}

// DeathDir is where s6-supervise keeps the slot's death tally.
func (b *Backend) DeathDir(slot string) string { return filepath.Join(b.slotDir(slot), "supervise") }

// Deaths reads the death tally an event names.
func (b *Backend) Deaths(path string) ([]reconcile.Death, bool) {
	if filepath.Base(path) != filepath.Base(DeathTally) {
		return nil, false
	}
	data, err := readSmall(path, MaxSlotFile)
	if err != nil {
		return nil, false
	}
	deaths, err := ParseDeathTally(data)
	return deaths, err == nil
}

// Scandir is the directory the engine manages.
func (b *Backend) Scandir() string { return b.scandir }

// CapacityWarning words a plan that needs more services than s6-svscan
// will supervise.
func (b *Backend) CapacityWarning(n, limit int) desired.Diagnostic {
	return desired.Diagnostic{Severity: desired.Warning, Path: b.scandir,
		Message: fmt.Sprintf("the scandir would hold %d services, over s6-svscan's limit of %d: start s6-svscan with -c %d or more", n, limit, n)}
}
