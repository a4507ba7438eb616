package metrics

import (
	"errors"
	"fmt"
	"time"
)

// Healthy says why the loop is not doing its job, or nil: its lock is
// lost (taken by another writer), or no pass has succeeded for longer than
// Options.Stale (since the last that did, or since the loop started). A
// pass that hangs (a read that never returns) is caught by the second. A
// loop that does not run (a standby waiting for the Lease) is healthy.
func (m *Metrics) Healthy() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.healthy(m.opt.Now())
}

func (m *Metrics) healthy(now time.Time) error {
	if !m.running {
		return nil
	}
	if m.lockErr != nil {
		return fmt.Errorf("the single-writer lock is not ours: %w", m.lockErr)
	}
	since, what := m.lastSuccess, "no pass has succeeded for"
	if since.Before(m.runningSince) {
		since, what = m.runningSince, "no pass has succeeded since the loop started,"
	}
	if age := now.Sub(since); m.opt.Stale > 0 && age > m.opt.Stale {
		return fmt.Errorf("%s %s (the limit is %s)", what, age.Round(time.Second), m.opt.Stale)
	}
	return nil
}

// Ready is Healthy, and for a loop that runs, a pass has succeeded since it
// started: a standby is ready to take over.
func (m *Metrics) Ready() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.running && m.lastSuccess.Before(m.runningSince) {
		return errors.New("no pass has succeeded yet")
	}
	return m.healthy(m.opt.Now())
}
