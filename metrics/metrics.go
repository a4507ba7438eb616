package metrics

import (
	"errors"
	"sort"
	"sync"
	"time"

	"github.com/hermes-reconcile/hermes-reconcile/desired"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile/loop"
)

// Options describe the process the metrics are of.
type Options struct {
	// Engine, Version and Commit label hermes_reconcile_build_info.
	Engine, Version, Commit string
	// Stale is how long the loop may go without a pass that succeeds
	// before it is unhealthy; 0: never.
	Stale time.Duration
	// Now is the clock health is judged by; time.Now when nil.
	Now func() time.Time
}

// Metrics are the domain metrics of one process, fed by its loop. The
// gauges say what the last pass over each profile found and left: a
// keyed pass updates its profiles', a full pass every one's; a failed pass
// changes none (what it saw is not to be believed), and says so in the
// pass counters and the last success's time.
type Metrics struct {
	opt     Options
	started time.Time // deaths before it are not this process's to count

	mu           sync.Mutex
	running      bool
	runningSince time.Time
	lockErr      error // the last failure to take the lock; nil once taken
	lastSuccess  time.Time
	passes       map[[2]string]uint64 // kind, result
	durations    map[string]*histogram
	actions      map[[2]string]uint64 // kind, result
	deaths       map[string]uint64
	lastDeath    map[desired.Key]time.Time
	keys         map[desired.Key]keyState
	// rollout and clashes are what the last full pass judged: only a
	// full pass weighs the fleet.
	rollout map[string]int
	clashes int
}

var _ loop.Recorder = (*Metrics)(nil)

// New returns the metrics of a process, every series at zero.
func New(opt Options) *Metrics {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	m := &Metrics{opt: opt, started: opt.Now(), passes: map[[2]string]uint64{}, durations: map[string]*histogram{},
		actions: map[[2]string]uint64{}, deaths: map[string]uint64{}, lastDeath: map[desired.Key]time.Time{},
		keys: map[desired.Key]keyState{}, rollout: map[string]int{}}
	for _, k := range passKinds {
		m.durations[k] = newHistogram(passBuckets)
	}
	return m
}

// keyState is what the metrics keep of one key: its profile and its
// gateway as the last pass over it left them.
type keyState struct {
	profile bool // a profile: a service, or one held for bad input
	service bool // a service: its wanted run state is known
	wantUp  bool
	running bool
	unknown bool // its unit is left as it is: its state is not ours to know
	drifted bool
	held    map[string]bool
	removal string // the reason a removal of its unit is held, if one is
}

// Running is the loop starting or stopping.
func (m *Metrics) Running(on bool, at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.running = on
	if on {
		m.runningSince = at
		m.lockErr = nil
	}
}

// Passed counts a pass and, when it succeeded, takes its picture of the
// profiles it covered.
func (m *Metrics) Passed(r loop.Report) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := r.Outcome
	kind := "keyed"
	if r.Full {
		kind = "full"
	}
	bad := Failed(out)
	result := "ok"
	if bad {
		result = "failed"
	}
	m.passes[[2]string{kind, result}]++
	if r.Locked {
		m.lockErr = nil
		m.durations[kind].observe(r.Took.Seconds())
	} else {
		m.lockErr = out.Err
	}
	if !bad {
		m.lastSuccess = r.At
	}
	for _, res := range out.Results {
		m.actions[[2]string{res.Action.Kind.String(), actionResult(res.Err)}]++
	}
	if bad {
		return
	}
	m.countDeaths(out)
	m.picture(out)
}

// Failed reports whether a pass failed as a whole: nothing could be read
// or applied (out.Err: HERMES_HOME or the scandir missing, s6-svscan down,
// the lock not taken), or a permission error hid the profiles (HERMES_HOME
// or profiles/ refused: the state is incomplete). A failed action, or one
// profile that cannot be read, is no failure of the pass: the others
// converged.
func Failed(out reconcile.Outcome) bool {
	if out.Err != nil {
		return true
	}
	if !out.Desired.Incomplete {
		return false
	}
	for _, d := range out.Desired.Diagnostics {
		if d.Denied {
			return true
		}
	}
	return false
}

func actionResult(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, reconcile.ErrSuperseded):
		return "superseded"
	case errors.Is(err, reconcile.ErrSkipped):
		return "skipped"
	}
	return "failed"
}

// countDeaths counts the deaths the pass read that no pass counted
// before, since this process started.
func (m *Metrics) countDeaths(out reconcile.Outcome) {
	for k, u := range out.Observed.Units {
		last := m.lastDeath[k]
		for _, d := range u.Deaths {
			if d.At.Before(m.started) || !d.At.After(last) {
				continue
			}
			cause := "clean"
			if d.Crash() {
				cause = "crash"
			}
			m.deaths[cause]++
			last = d.At
		}
		if !last.IsZero() {
			m.lastDeath[k] = last
		}
	}
	for k := range m.lastDeath {
		if out.Observed.Units[k] == nil && out.Observed.Covers(k) {
			delete(m.lastDeath, k)
		}
	}
}

// picture takes what the pass found and left of the keys it covered: the
// observed units with the actions that succeeded applied to them, and
// what the plan held back.
func (m *Metrics) picture(out reconcile.Outcome) {
	st := map[desired.Key]*keyState{}
	get := func(k desired.Key) *keyState {
		s := st[k]
		if s == nil {
			s = &keyState{}
			st[k] = s
		}
		return s
	}
	hold := func(k desired.Key, reason string) {
		s := get(k)
		if s.held == nil {
			s.held = map[string]bool{}
		}
		s.held[reason] = true
	}
	for _, svc := range out.Desired.Services {
		s := get(svc.Profile)
		s.profile, s.service, s.wantUp = true, true, svc.WantUp
	}
	for k := range out.Desired.Held {
		get(k).profile = true
		hold(k, heldBadInput)
	}
	for k, u := range out.Observed.Units {
		s := get(k)
		s.running = u.Registered && u.Running
		s.unknown = u.Untouchable != ""
		if spec, ok := out.Want[k]; ok && !s.unknown {
			s.drifted = !u.Ours || u.Hash != spec.Hash || len(u.Drift) > 0
		}
	}
	for _, r := range out.Results {
		a := r.Action
		if r.Err != nil || a.Key == "" {
			continue
		}
		s := get(a.Key)
		switch a.Kind {
		case reconcile.Create:
			s.running, s.drifted = a.WantUp, false
		case reconcile.Update, reconcile.Adopt:
			if a.Write {
				s.drifted = false
			}
		case reconcile.Start:
			s.running = true
		case reconcile.Stop:
			s.running = false
		case reconcile.Remove:
			s.running, s.drifted = false, false
		}
	}
	rollout := map[string]int{}
	for _, d := range out.Plan.Deferred {
		hold(d.Key, string(d.Reason))
		if d.Kind == reconcile.Remove {
			get(d.Key).removal = string(d.Reason)
		}
		switch d.Reason {
		case desired.ReasonRollout:
			rollout["pending"]++
		case desired.ReasonRolloutHalted:
			rollout["halted"]++
		}
	}
	rollout["restarting"] = len(out.Plan.Rolling)
	for _, u := range out.Plan.Untouched {
		reason := heldUntouchable
		if u.State == heldPaused {
			reason = heldPaused
		}
		hold(u.Key, reason)
	}

	covered := out.Desired.Keys
	if covered == nil {
		m.keys = map[desired.Key]keyState{}
		for k, s := range st {
			m.keys[k] = *s
		}
		m.rollout, m.clashes = rollout, len(out.Plan.Clashes)
		return
	}
	for _, k := range covered {
		if s, ok := st[k]; ok {
			m.keys[k] = *s
		} else {
			delete(m.keys, k)
		}
	}
}

// Gather is every family, every series of a closed set of labels among
// them, sorted as a registry sorts them.
func (m *Metrics) Gather() []Family {
	m.mu.Lock()
	defer m.mu.Unlock()
	var fams []Family
	add := func(d *Def, samples ...Sample) {
		sort.SliceStable(samples, func(i, j int) bool { return less(d, samples[i].Labels, samples[j].Labels) })
		fams = append(fams, Family{Def: d, Samples: samples})
	}
	each := func(d *Def, value func(labels []string) float64) []Sample {
		var out []Sample
		for _, ls := range combinations(d.Values) {
			out = append(out, Sample{Labels: ls, Value: value(ls)})
		}
		return out
	}
	bit := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}

	add(defBuildInfo, Sample{Labels: []string{m.opt.Version, m.opt.Commit, m.opt.Engine}, Value: 1})
	add(defLeader, Sample{Value: bit(m.running && m.lockErr == nil)})
	add(defPasses, each(defPasses, func(l []string) float64 { return float64(m.passes[[2]string{l[0], l[1]}]) })...)
	var hs []Sample
	for _, k := range passKinds {
		hs = append(hs, Sample{Labels: []string{k}, Histogram: m.durations[k].value()})
	}
	add(defPassDuration, hs...)
	var last float64
	if !m.lastSuccess.IsZero() {
		last = float64(m.lastSuccess.UnixNano()) / 1e9
	}
	add(defLastSuccess, Sample{Value: last})
	add(defActions, each(defActions, func(l []string) float64 { return float64(m.actions[[2]string{l[0], l[1]}]) })...)

	states, held, removals := map[string]int{}, map[string]int{}, map[string]int{}
	wanted, drifted := 0, 0
	var down []Sample
	for k, s := range m.keys {
		if s.profile {
			switch {
			case s.unknown:
				states["unknown"]++
			case s.running:
				states["running"]++
			default:
				states["stopped"]++
			}
		}
		if s.service && s.wantUp {
			wanted++
			if !s.unknown {
				down = append(down, Sample{Labels: []string{k}, Value: bit(!s.running)})
			}
		}
		if s.drifted {
			drifted++
		}
		for r := range s.held {
			held[r]++
		}
		if s.removal != "" {
			removals[s.removal]++
		}
	}
	add(defProfiles, each(defProfiles, func(l []string) float64 { return float64(states[l[0]]) })...)
	add(defWantedRunning, Sample{Value: float64(wanted)})
	add(defDrifted, Sample{Value: float64(drifted)})
	add(defHeld, each(defHeld, func(l []string) float64 { return float64(held[l[0]]) })...)
	add(defGatewayDown, down...)
	add(defRollout, each(defRollout, func(l []string) float64 { return float64(m.rollout[l[0]]) })...)
	add(defRemovalsHeld, each(defRemovalsHeld, func(l []string) float64 { return float64(removals[l[0]]) })...)
	add(defClashes, Sample{Value: float64(m.clashes)})
	add(defDeaths, each(defDeaths, func(l []string) float64 { return float64(m.deaths[l[0]]) })...)
	return fams
}

// combinations is every combination of values, in order; one empty
// combination for no labels.
func combinations(values [][]string) [][]string {
	out := [][]string{nil}
	for _, vs := range values {
		var next [][]string
		for _, prefix := range out {
			for _, v := range vs {
				next = append(next, append(append([]string{}, prefix...), v))
			}
		}
		out = next
	}
	return out
}
