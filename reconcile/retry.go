package reconcile

import (
	"time"
)

// Retry is the backoff of failed keys: exponential from Min to Max,
// forgotten on success or when the key needs nothing any more, and no
// retry at all for a terminal error until the key succeeds or changes.
type Retry struct {
	Min, Max time.Duration
	// Now is the clock; time.Now when nil.
	Now     func() time.Time
	entries map[string]retryEntry
}

type retryEntry struct {
	delay     time.Duration
	notBefore time.Time
	terminal  bool
	// lastErr is what the last failure said: the same again is no news.
	lastErr string
}

func (r *Retry) now() time.Time {
	if r.Now == nil {
		return time.Now()
	}
	return r.Now()
}

// Failed records a failure of key and returns how long it now waits; ok
// is false for a terminal error, which is not retried at all.
func (r *Retry) Failed(key string, err error) (delay time.Duration, ok bool) {
	if r.entries == nil {
		r.entries = map[string]retryEntry{}
	}
	e := r.entries[key]
	if IsTerminal(err) {
		r.entries[key] = retryEntry{terminal: true, lastErr: err.Error()}
		return 0, false
	}
	e.lastErr = err.Error()
	if e.delay <= 0 || e.terminal {
		e.delay = r.Min
	} else {
		e.delay = min(e.delay*2, r.Max)
	}
	e.terminal = false
	e.notBefore = r.now().Add(e.delay)
	r.entries[key] = e
	return e.delay, true
}

// Same reports whether key is backing off after a failure that said what
// err says: a retry that fails the same way is logged as no news.
func (r *Retry) Same(key string, err error) bool {
	e, ok := r.entries[key]
	return ok && err != nil && e.lastErr == err.Error()
}

// Forget drops key's backoff: it succeeded, or needs nothing now. It
// reports whether the key was backing off.
func (r *Retry) Forget(key string) bool {
	_, ok := r.entries[key]
	delete(r.entries, key)
	return ok
}

// Touch drops a terminal failure of key: what it depends on changed, so
// trying again may succeed. A key that is only backing off keeps waiting.
func (r *Retry) Touch(key string) {
	if e, ok := r.entries[key]; ok && e.terminal {
		delete(r.entries, key)
	}
}

// Terminal reports whether key failed terminally.
func (r *Retry) Terminal(key string) bool { return r.entries[key].terminal }

// Waiting reports whether key is backing off now (or failed terminally).
func (r *Retry) Waiting(key string) bool {
	e, ok := r.entries[key]
	return ok && (e.terminal || r.now().Before(e.notBefore))
}

// Due lists the keys whose backoff ended by now: a pass should look at
// them again.
func (r *Retry) Due() []string {
	now := r.now()
	var out []string
	for k, e := range r.entries {
		if !e.terminal && !now.Before(e.notBefore) {
			out = append(out, k)
		}
	}
	return out
}

// Next is how long until the earliest backoff ends; ok is false when no key
// waits. It is never shorter than Min: a key due now was looked at by the
// pass that just ran.
func (r *Retry) Next() (d time.Duration, ok bool) {
	var first time.Time
	for _, e := range r.entries {
		if e.terminal {
			continue
		}
		if first.IsZero() || e.notBefore.Before(first) {
			first = e.notBefore
		}
	}
	if first.IsZero() {
		return 0, false
	}
	return max(first.Sub(r.now()), r.Min), true
}

// Len is how many keys are backing off or failed terminally.
func (r *Retry) Len() int { return len(r.entries) }
