package loop

import (
	"errors"
	"slices"
	"time"

	"github.com/go-logr/logr"

	"github.com/hermes-reconcile/hermes-reconcile/desired"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
)

// account handles the outcome of a pass over keys (nil: all), per key, in
// one place: a key whose actions failed backs off once, however many of its
// actions failed; a key the pass covered that did not fail is forgotten,
// whether it succeeded or needed nothing (its profile deleted, a leftover
// vanished). A whole-pass failure backs off the pass, logged once per
// change of state rather than once per retry.
func (l *loop) account(log logr.Logger, out reconcile.Outcome, keys []desired.Key) {
	if out.Err != nil {
		l.passDelay = nextDelay(l.passDelay, l.opt.BackoffMin, l.opt.BackoffMax)
		if msg := out.Err.Error(); msg != l.lastErr {
			log.Error(out.Err, "pass failed; backing off", "retry_in", l.passDelay.String())
			l.lastErr = msg
		}
		return
	}
	if l.lastErr != "" {
		log.Info("pass recovered")
		l.lastErr = ""
	}
	l.passDelay = 0
	failed := map[string]reconcile.Result{}
	for _, r := range out.Results {
		if errors.Is(r.Err, reconcile.ErrSuperseded) {
			// Another writer did it meanwhile: look again, no backoff.
			l.dirty[r.Action.Key], l.followUp = true, true
			continue
		}
		if _, seen := failed[r.Action.Target()]; r.Err != nil && !seen {
			failed[r.Action.Target()] = r
		}
	}
	covered := func(target string) bool {
		return keys == nil || slices.Contains(keys, target)
	}
	recovered := func(target string) {
		if l.retry.Forget(target) {
			log.Info("slot recovered", "target", target)
		}
	}
	for _, k := range l.retry.Due() {
		if _, ok := failed[k]; !ok && covered(k) {
			recovered(k)
		}
	}
	for _, r := range out.Results {
		if _, ok := failed[r.Action.Target()]; !ok {
			recovered(r.Action.Target())
		}
	}
	for target, r := range failed {
		// Said when the failure is new or says something else; a retry
		// that fails as before is no news.
		lg := log
		if l.retry.Same(target, r.Err) {
			lg = log.V(1)
		}
		if d, ok := l.retry.Failed(target, r.Err); ok {
			lg.Info("slot backing off", "slot", r.Action.Unit, "profile", r.Action.Key, "retry_in", d.String())
		} else {
			lg.Info("slot not retried until its profile changes", "slot", r.Action.Unit, "profile", r.Action.Key)
		}
	}
}

func nextDelay(d, lo, hi time.Duration) time.Duration {
	if d <= 0 {
		return lo
	}
	return min(d*2, hi)
}

// logDiagnostics says each new diagnostic once, not on every pass, and
// forgets the ones that went away so they are said again if they return.
// A pass over some keys only speaks for their profiles.
func (l *loop) logDiagnostics(log logr.Logger, out reconcile.Outcome, keys []desired.Key) {
	if out.Err != nil {
		return
	}
	seen := map[desired.Key]map[string]bool{}
	say := func(profile desired.Key, severity desired.Severity, msg, s string) {
		if seen[profile] == nil {
			seen[profile] = map[string]bool{}
		}
		seen[profile][s] = true
		if !l.diags[profile][s] {
			// The severity is the log line's level (cmd's logger maps it).
			log.Info(msg, "severity", severity.String(), "profile", profile, "diagnostic", s)
		}
	}
	for _, d := range out.Desired.Diagnostics {
		say(d.Profile, d.Severity, "profile diagnostic", d.String())
	}
	// A gateway that failed for good (exit 78: its config; exit 0 where a
	// restart is not wanted), or was parked as a crash loop, is an
	// operator's business: said at error level, once.
	for _, a := range out.Plan.Actions {
		if a.Kind == reconcile.Stop && a.Park != nil {
			say(a.Key, desired.Error, "gateway parked", a.Unit+": parked: "+a.Park.Why)
		}
	}
	for _, d := range out.Plan.Deferred {
		switch d.Reason {
		case desired.ReasonPermanentFailure:
			say(d.Key, desired.Error, "gateway held down", d.Unit+": "+d.Why)
		case desired.ReasonCrashLoop:
			say(d.Key, desired.Warning, "gateway held down", d.Unit+": "+d.Why)
		}
	}
	if keys == nil {
		l.diags = seen
		return
	}
	// What is no profile's (a listing, the capacity) only full passes know.
	for _, k := range keys {
		if seen[k] == nil {
			delete(l.diags, k)
		} else {
			l.diags[k] = seen[k]
		}
	}
}
