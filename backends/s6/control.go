package s6

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/hermes-reconcile/hermes-reconcile/backends/command"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
)

// control sets the run state: the down marker first (so a restart of
// s6-svscan keeps it), then the supervisor, if there is one yet. Down waits
// until the gateway is down. What the slot's state must record (a park, its
// lift, the end of a restart) is written before a stop and after a start:
// a kill in between then leaves a gateway that runs, or a record that says
// why it does not, never a gateway down for no recorded reason.
func (b *Backend) control(ctx context.Context, slot string, up bool, record func(*slotState)) error {
	root, err := os.OpenRoot(b.scandir)
	if err != nil {
		return err
	}
	defer root.Close()
	// A start or stop of ours ends any restart mark too: the run state is
	// now what a pass asked for.
	if st, _ := b.readState(slot); st.Restarting {
		inner := record
		record = func(st *slotState) {
			st.Restarting = false
			if inner != nil {
				inner(st)
			}
		}
	}
	if record != nil && !up {
		if err := b.updateState(root, slot, record); err != nil {
			return err
		}
	}
	if err := b.setRunState(ctx, root, slot, up); err != nil {
		return err
	}
	if record != nil && up {
		return b.updateState(root, slot, record)
	}
	return nil
}

func (b *Backend) setRunState(ctx context.Context, root *os.Root, slot string, up bool) error {
	down := slot + "/" + DownFile
	if up {
		if err := mutated(root.Remove(down)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	} else if _, err := root.Lstat(down); errors.Is(err, fs.ErrNotExist) {
		if err := b.createFile(root, down, nil, 0o644); err != nil {
			return err
		}
	}
	dir := b.slotDir(slot)
	held, err := lockHeld(filepath.Join(dir, "supervise", "lock"))
	if err != nil || !held {
		return nil // not supervised: the down marker decides when it is
	}
	if err := controllable(dir); err != nil {
		return err
	}
	if up {
		_, err = b.run.run(ctx, "s6-svc", "-u", dir)
		return err
	}
	_, err = b.run.run(ctx, "s6-svc", "-wd", "-T", ms(b.timeout), "-d", dir)
	return err
}

// controllable fails at once when we may not write the supervisor's
// control FIFO: s6-svc -wd would otherwise report it only after waiting
// out its whole bound, and the rest of the pass with it.
func controllable(dir string) error {
	_, err := fifoListening(filepath.Join(dir, "supervise", "control"))
	return err
}

// restart takes the gateway (or its logger) down and up again so s6 spawns
// the new script. Down-then-up rather than a signal: a gateway that exits 0
// on SIGTERM would make finish exit 125 and stay down. The wait is -wD
// (down and finish done), not -wd (process dead): a -u sent while finish
// still runs is overridden by its exit 125, which left 14 in 40 gateways
// down when measured by hand; with -wD, none.
//
// A gateway restart is marked in the slot's state while the gateway is
// down for it, so a pass killed before the -u leaves a mark the next pass
// finishes. A stop that outlasts the timeout is escalated as s6's own
// timeout-kill would: SIGKILL, a second bounded wait, then the start; the
// restart then ends with a Caveat that says so.
func (b *Backend) restart(ctx context.Context, slot string, logger bool) error {
	dir := b.slotDir(slot)
	if logger {
		dir = filepath.Join(dir, "log")
	}
	if err := controllable(dir); err != nil {
		return err
	}
	var root *os.Root
	if !logger {
		var err error
		if root, err = os.OpenRoot(b.scandir); err != nil {
			return err
		}
		defer root.Close()
		if err := b.updateState(root, slot, func(st *slotState) { st.Restarting = true }); err != nil {
			return err
		}
	}
	var caveat error
	if _, err := b.run.run(ctx, "s6-svc", "-wD", "-T", ms(b.timeout), "-d", dir); err != nil {
		if !timedOut(err) {
			return err
		}
		// The whole process group, as s6's timeout-kill with
		// flag-timeout-killpg would; else s6-svc -k, the process alone.
		if st, serr := b.ReadStatus(dir); serr != nil || killGroup(st.PID) != nil {
			if _, err := b.run.run(ctx, "s6-svc", "-k", dir); err != nil {
				return fmt.Errorf("stop outlasted %s; SIGKILL: %w", b.timeout, err)
			}
		}
		if _, err := b.run.run(ctx, "s6-svwait", "-D", "-t", ms(b.timeout), dir); err != nil {
			return fmt.Errorf("stop outlasted %s; still not down %s after SIGKILL: %w", b.timeout, b.timeout, err)
		}
		caveat = &reconcile.Caveat{Msg: fmt.Sprintf("its stop outlasted %s and it was killed (SIGKILL) before the start", b.timeout)}
	}
	// After the stop: a death of ours (SIGKILL past the timeout) is no
	// failure of the new run.
	upAt := time.Now()
	if _, err := b.run.run(ctx, "s6-svc", "-u", dir); err != nil {
		return err
	}
	if !logger {
		if err := b.updateState(root, slot, func(st *slotState) { st.Restarting, st.Rolled = false, upAt }); err != nil {
			return err
		}
	}
	return caveat
}

// timedOut reports whether s6-svc or s6-svwait gave up waiting (exit 99).
func timedOut(err error) bool {
	var ce *command.Error
	return errors.As(err, &ce) && ce.Code == 99
}

// retire moves a slot out of s6-svscan's sight under the dot name retired;
// the next pruning rescan stops its supervisors.
func (b *Backend) retire(slot, retired string) error {
	if err := mutated(os.Rename(b.slotDir(slot), b.slotDir(retired))); err != nil {
		return fmt.Errorf("retire %s: %w", slot, err)
	}
	return nil
}

// rescan asks s6-svscan once to rescan and prune: -a picks up new slots,
// -n stops the supervisors of slots that are gone (retired by us, or
// deleted by hand and now being recreated under a new inode). It writes
// "an" to .s6-svscan/control itself, byte for byte what `s6-svscanctl -an`
// writes and with the same failure when nobody listens (its exit 100):
// spawning the program cost 1 ms on an idle machine and 10-25 ms on a
// loaded one, in the path of every new slot.
func (b *Backend) rescan(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	control := filepath.Join(b.scandir, ".s6-svscan", "control")
	listening, err := writeFIFO(control, []byte("an"))
	switch {
	case errors.Is(err, fs.ErrNotExist), err == nil && !listening:
		return svscanDown(b.scandir)
	case err != nil:
		return fmt.Errorf("rescan: %w", err)
	}
	b.rescans.Add(1)
	return nil
}
