package loop

import (
	"sort"
	"time"

	"github.com/go-logr/logr"

	"github.com/hermes-reconcile/hermes-reconcile/desired"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
)

// note records what an event asks of the next pass and reports whether it
// asks anything. The rules are the loop's, the same for every source: a
// unit event the last pass caused itself asks nothing; an intent rewrite is
// looked at when the pass is taken.
func (l *loop) note(ev Event) bool {
	switch ev.Kind {
	case All:
		l.all = true
		if ev.Why != "" {
			l.why = ev.Why
			l.log.Info("running a full pass", "why", ev.Why)
		}
	case RootConfig:
		// The root config.yaml may change the topology, which every
		// service follows; the pass reads it and says.
		l.rootConfig, l.dirty[desired.DefaultProfile] = true, true
	case Intent:
		if !l.serves(ev.Key) {
			return false
		}
		// Read now, not after the quiet period: a rewrite of the intent it
		// had (a running gateway's status, 20 a second across a fleet) is
		// then one read and nothing else, no timer and no second wake-up.
		// The file is whole: Hermes renames it into place. A gateway held
		// down after a failure is started again by an intent rewritten
		// after it, the same intent or not (`hermes gateway start`): such a
		// rewrite is news.
		if !l.dirty[ev.Key] && !l.held[ev.Key] && !l.p.Reader.IntentChanged(ev.Key) {
			return false
		}
		l.touch(ev.Key)
	case Input, Deaths:
		if !l.serves(ev.Key) {
			return false
		}
		l.touch(ev.Key)
	case Unit:
		if !l.serves(ev.Key) || l.ownUnitEvent(ev) {
			return false
		}
		l.touch(ev.Key)
	case Degraded:
		if ev.On != l.degraded {
			switch {
			case ev.On && ev.Why == desired.NoWatcher:
				// The source said why, with its error.
			case ev.On:
				l.log.Info("inotify watch limit reached (fs.inotify.max_user_watches); falling back to periodic passes", "period", degradedResync.String())
			default:
				l.log.Info("all directories watched again")
			}
			l.degraded = ev.On
		}
		return false
	default:
		return false
	}
	return true
}

// serves reports whether the loop acts for key: every profile, or those of
// its scope (a host serves one). In multiplex topology a named profile's
// change is default's too: take folds it in.
func (l *loop) serves(k desired.Key) bool {
	return len(l.scope) == 0 || l.scope[k] || (l.multiplex && l.scope[desired.DefaultProfile])
}

// touch asks for a pass over key: what it depends on changed, so a
// terminal failure of it is worth trying again.
func (l *loop) touch(key desired.Key) {
	l.dirty[key] = true
	l.retry.Touch(key)
}

// take is what the next pass covers, and clears it: every profile the loop
// serves (full), or keys. In multiplex topology a named profile's change is
// default's too (it folds them).
func (l *loop) take() (keys []desired.Key, full bool) {
	defer func() {
		l.all, l.rootConfig, l.why = false, false, ""
		clear(l.dirty)
	}()
	if l.all {
		return l.opt.Scope, true
	}
	rd := l.p.Reader
	if l.rootConfig {
		if t := rd.Topology(); !t.Known || t.Multiplex != l.multiplex {
			return l.opt.Scope, true
		}
	}
	if l.multiplex {
		for k := range l.dirty {
			if k != desired.DefaultProfile {
				l.dirty[desired.DefaultProfile] = true
				break
			}
		}
	}
	for k := range l.dirty {
		if len(l.scope) == 0 || l.scope[k] {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return desired.Less(keys[i], keys[j]) })
	return keys, false
}

// ownUnitEvent reports whether an event on key's unit is one the last pass
// over it caused itself: a unit appearing that it left in place (the rename
// that publishes it, the create of a Deployment) or one going that it
// retired. Anything else is someone else's doing, a unit deleted, moved or
// made by hand, and calls for a pass. Without this each pass would trigger
// another, and a profile created during that second pass would wait out a
// quiet period.
func (l *loop) ownUnitEvent(ev Event) bool {
	present, known := l.left[ev.Key]
	if !known {
		return false
	}
	return (present && ev.Op == Appeared) || (!present && ev.Op == Gone)
}

// leave records what a pass left of the units it covered (keys; nil:
// all): the units it found, plus those it created, minus those it retired.
// A unit whose action failed is unknown; a failed pass knows nothing of
// what it covered.
func (l *loop) leave(out reconcile.Outcome, keys []desired.Key) {
	if keys == nil || l.left == nil {
		l.left = map[desired.Key]bool{}
	} else {
		for _, k := range keys {
			delete(l.left, k)
		}
	}
	if out.Err != nil {
		if keys == nil {
			l.left = nil
		}
		return
	}
	for k := range out.Observed.Units {
		l.left[k] = true
	}
	for _, r := range out.Results {
		k := r.Action.Key
		switch {
		case k == "":
		case r.Err != nil:
			delete(l.left, k)
		case r.Action.Kind == reconcile.Create:
			l.left[k] = true
		case r.Action.Kind == reconcile.Remove:
			l.left[k] = false
		}
	}
}

// remember updates what the loop saw of each key a pass covered (keys; nil:
// every one) for the settle window: a profile it had not seen appeared, a
// unit a pass had left in place and that is gone was removed by someone
// else, a run state deferred is a conflict; and until when held keys wait.
func (l *loop) remember(log logr.Logger, out reconcile.Outcome, keys []desired.Key) {
	if out.Err != nil {
		return
	}
	now := out.Plan.Now
	covered := keys
	if keys == nil {
		all := map[desired.Key]bool{}
		for _, s := range out.Desired.Services {
			all[s.Profile] = true
		}
		for k := range out.Desired.Held {
			all[k] = true
		}
		for k := range out.Observed.Units {
			all[k] = true
		}
		for k := range l.seen {
			all[k] = true
		}
		for k := range l.deferred {
			all[k] = true
		}
		covered = nil
		for k := range all {
			covered = append(covered, k)
		}
	}
	conflict := map[desired.Key]bool{}
	for _, k := range covered {
		delete(l.deferred, k)
		delete(l.held, k)
	}
	for _, d := range out.Plan.Deferred {
		if d.Until.IsZero() {
			// Held until its inputs or intent change: an intent file
			// rewritten with the same intent is then news (see take).
			l.held[d.Key] = true
			log.V(1).Info("held", "profile", d.Key, "slot", d.Unit, "action", d.Kind.String(), "reason", string(d.Reason), "why", d.Why)
			continue
		}
		l.deferred[d.Key] = d.Until
		conflict[d.Key] = d.Reason == desired.ReasonSettling && (d.Kind == reconcile.Start || d.Kind == reconcile.Stop)
		log.V(1).Info("deferred", "profile", d.Key, "slot", d.Unit, "action", d.Kind.String(), "reason", string(d.Reason), "why", d.Why,
			"until", d.Until.Format(time.RFC3339Nano))
	}
	for _, k := range covered {
		if out.Desired.Service(k) == nil && !out.Desired.Held[k] {
			delete(l.seen, k)
			continue
		}
		s, known := l.seen[k]
		if !known && l.ready {
			s.Appeared = now
		}
		if settle := l.p.Policy.Settle; settle <= 0 || !now.Before(s.Appeared.Add(settle)) {
			s.Appeared = time.Time{} // its window is over
		}
		switch {
		case out.Observed.Units[k] != nil || l.left[k]:
			s.Vanished = time.Time{}
		case s.Present && s.Vanished.IsZero():
			s.Vanished = now
		}
		s.Present = l.left[k]
		switch {
		case !conflict[k]:
			s.Conflict = time.Time{}
		case s.Conflict.IsZero():
			s.Conflict = now
		}
		l.seen[k] = s
	}
}
