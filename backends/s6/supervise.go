package s6

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"time"
)

// waitSupervised waits for many slots in one poll loop, so a pass that
// registered N slots waits about as long as s6 takes for the slowest. The
// timeout bounds a stall, not the whole set: the wait ends when no slot has
// come up for that long, as when every slot had its own bound counted from
// the previous one, but slots s6-svscan will never take (past its -c limit)
// cost one bound together instead of one each. A round checks the slots in
// order and stops at the first one not supervised yet, so it costs one check
// plus one per slot that came up since. errs[i] is nil once slots[i] is
// supervised.
//
// s6-svscan refuses slots past its capacity (it logs "too many services"
// and never supervises them): the wait ends as soon as every place left
// is taken, and the slots still pending then are refused at once, so a
// scandir over capacity costs no pass a timeout.
func (b *Backend) waitSupervised(ctx context.Context, slots []string) []error {
	errs := make([]error, len(slots))
	locks := make([]string, len(slots))
	pending := make([]int, len(slots))
	waiting := map[string]bool{}
	for i, slot := range slots {
		locks[i] = filepath.Join(b.slotDir(slot), "supervise", "lock")
		pending[i] = i
		waiting[slot] = true
	}
	limit := b.capacity()
	free := limit - b.supervisedServices(waiting)
	taken := 0
	refuse := func() bool {
		if taken < free {
			return false
		}
		// Every place is taken: what is still pending, s6-svscan refused.
		// A slot that came up meanwhile anyway (another service went) is
		// not refused.
		for _, i := range pending {
			if held, err := lockHeld(locks[i]); err == nil && held {
				continue
			}
			errs[i] = refused(slots[i], limit)
		}
		return true
	}
	// settled: supervised, or its lock cannot be checked (errs says why).
	settled := func(i int) bool {
		held, err := lockHeld(locks[i])
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return false
		case err != nil:
			errs[i] = err
			return true
		}
		if held {
			taken++
		}
		return held
	}
	if refuse() {
		return errs
	}
	stall := time.NewTimer(b.timeout)
	defer stall.Stop()
	start := time.Now()
	t := time.NewTimer(0)
	defer t.Stop()
	for len(pending) > 0 {
		select {
		case <-ctx.Done():
			for _, i := range pending {
				errs[i] = ctx.Err()
			}
			return errs
		case <-stall.C:
			// Nothing at the head came up for a whole bound: look at every
			// pending slot before giving up on them.
			n := len(pending)
			pending = slices.DeleteFunc(pending, settled)
			if len(pending) == n {
				for _, i := range pending {
					errs[i] = fmt.Errorf("timed out after %s waiting for supervised %s", b.timeout, slots[i])
				}
				return errs
			}
			stall.Reset(b.timeout)
		case <-t.C:
			n := len(pending)
			if over := len(pending) > free-taken; over {
				// More slots than places: which ones s6-svscan takes is
				// its order, so look at every one.
				pending = slices.DeleteFunc(pending, settled)
			} else {
				for len(pending) > 0 && settled(pending[0]) {
					pending = pending[1:]
				}
			}
			if len(pending) > 0 && refuse() {
				return errs
			}
			if len(pending) < n {
				stall.Reset(b.timeout)
			}
		}
		t.Reset(pollInterval(time.Since(start)))
	}
	return errs
}

// purge waits until no supervisor holds a retired slot (nor its logger),
// then deletes it.
//
// The pruning rescan reaches only the supervisors the running s6-svscan
// started: after s6-svscan was killed and replaced, the old supervisors
// live on, orphaned, and no prune ever stops them. So each supervisor
// still holding the slot is told itself, as `s6-svc -dx` would: down (the
// logger is still up), then exit once down. For a supervisor the prune
// reached anyway this changes nothing.
func (b *Backend) purge(ctx context.Context, retired string) error {
	dir := b.slotDir(retired)
	for _, d := range []string{dir, filepath.Join(dir, "log")} {
		if held, err := lockHeld(filepath.Join(d, "supervise", "lock")); err == nil && held {
			_, _ = writeFIFO(filepath.Join(d, "supervise", "control"), []byte("dx"))
		}
	}
	err := b.poll(ctx, "supervisor of "+retired+" to exit", func() (bool, error) {
		for _, l := range []string{filepath.Join(dir, "supervise", "lock"), filepath.Join(dir, "log", "supervise", "lock")} {
			held, err := lockHeld(l)
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return false, err
			}
			if held {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	return b.removeAll(retired)
}

// poll checks cond until it holds, bounded by the backend timeout and ctx.
// It checks at once, then as pollInterval says: what s6 does in a few
// milliseconds is seen within about one, and a long wait costs few checks.
func (b *Backend) poll(ctx context.Context, what string, cond func() (bool, error)) error {
	deadline := time.NewTimer(b.timeout)
	defer deadline.Stop()
	start := time.Now()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return fmt.Errorf("timed out after %s waiting for %s", b.timeout, what)
		case <-t.C:
		}
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		t.Reset(pollInterval(time.Since(start)))
	}
}

// pollInterval is the pause between checks after waiting for waited: a
// millisecond, then a sixteenth of the time waited, at most 25 ms.
func pollInterval(waited time.Duration) time.Duration {
	return min(max(waited/16, time.Millisecond), 25*time.Millisecond)
}

func ms(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }
