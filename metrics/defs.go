package metrics

import (
	"github.com/hermes-reconcile/hermes-reconcile/desired"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
)

// Type is a metric's Prometheus type.
type Type uint8

const (
	Counter Type = iota + 1
	Gauge
	Histogram
)

func (t Type) String() string {
	switch t {
	case Counter:
		return "counter"
	case Gauge:
		return "gauge"
	case Histogram:
		return "histogram"
	}
	return "untyped"
}

// Def is one metric: its name, type, meaning and labels. Every combination
// of Values exists from the start; a label without values (a profile's
// name) has a series only where one is known.
type Def struct {
	Name string
	Type Type
	Help string
	// Labels name the labels; Values are each one's values, nil when open.
	Labels []string
	Values [][]string
	// Buckets are a histogram's upper bounds, in seconds.
	Buckets []float64
}

// The label values: closed sets, so no series ever appears late.
var (
	passKinds     = []string{"full", "keyed"}
	passResults   = []string{"ok", "failed"}
	actionResults = []string{"ok", "failed", "superseded", "skipped"}
	profileStates = []string{"running", "stopped", "unknown"}
	// heldReasons are the plan's reasons for holding an action back, and
	// what leaves a unit as it is: paused (a Deployment's annotation),
	// untouchable (a slot we must not change), bad_input (its profile's
	// files cannot be read or parsed).
	heldReasons = []string{
		string(desired.ReasonConflict), string(desired.ReasonMassRemoval), string(desired.ReasonSettling),
		string(desired.ReasonPermanentFailure), string(desired.ReasonCrashLoop), string(desired.ReasonRollout),
		string(desired.ReasonRolloutHalted), string(desired.ReasonProfileAbsent), heldPaused, heldUntouchable, heldBadInput,
	}
	rolloutStates  = []string{"restarting", "pending", "halted"}
	removalReasons = []string{string(desired.ReasonMassRemoval), string(desired.ReasonProfileAbsent)}
	deathCauses    = []string{"crash", "clean"}
)

const (
	heldPaused      = "paused"
	heldUntouchable = "untouchable"
	heldBadInput    = "bad_input"
)

func actionKinds() []string {
	var out []string
	for _, k := range reconcile.Kinds() {
		out = append(out, k.String())
	}
	return out
}

// passBuckets span a keyed pass over one profile (milliseconds) to a cold
// converge that waits for supervisors (tens of seconds).
var passBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120}

// The metrics, in the order they are written.
var (
	defBuildInfo = &Def{Name: "hermes_reconcile_build_info", Type: Gauge,
		Help:   "Always 1: the build (version, commit) and the engine it drives (s6, systemd, launchd, windows, kube).",
		Labels: []string{"version", "commit", "engine"}}
	defLeader = &Def{Name: "hermes_reconcile_leader", Type: Gauge,
		Help: "1 while this process is the single writer: its loop runs (on Kubernetes, it holds the Lease) and its last try of the lock succeeded; 0 otherwise (a standby replica, a lock held by another)."}
	defPasses = &Def{Name: "hermes_reconcile_passes_total", Type: Counter,
		Help:   "Passes run, by kind (full: every profile; keyed: the profiles events named) and result (failed: nothing could be read or applied, the lock was not taken, or a permission error hid the profiles).",
		Labels: []string{"kind", "result"}, Values: [][]string{passKinds, passResults}}
	defPassDuration = &Def{Name: "hermes_reconcile_pass_duration_seconds", Type: Histogram,
		Help:   "How long each pass held the lock (read, plan, apply), by kind.",
		Labels: []string{"kind"}, Values: [][]string{passKinds}, Buckets: passBuckets}
	defLastSuccess = &Def{Name: "hermes_reconcile_last_successful_pass_timestamp_seconds", Type: Gauge,
		Help: "When the last pass that succeeded ended, in seconds since the epoch; 0 until one has."}
	defActions = &Def{Name: "hermes_reconcile_actions_total", Type: Counter,
		Help:   "Actions carried out, by kind and result (superseded: another writer did it meanwhile; skipped: an earlier action on its unit failed).",
		Labels: []string{"kind", "result"}, Values: [][]string{actionKinds(), actionResults}}
	defProfiles = &Def{Name: "hermes_reconcile_profiles", Type: Gauge,
		Help:   "Profiles by their gateway's state as the last pass over each left it: running, stopped (or no unit yet), unknown (a unit left as it is).",
		Labels: []string{"state"}, Values: [][]string{profileStates}}
	defWantedRunning = &Def{Name: "hermes_reconcile_profiles_wanted_running", Type: Gauge,
		Help: "Profiles whose intent (or the topology) wants their gateway running."}
	defDrifted = &Def{Name: "hermes_reconcile_profiles_drifted", Type: Gauge,
		Help: "Profiles whose unit still differs from what they render after the last pass over them (an update or adoption held back, or failed)."}
	defHeld = &Def{Name: "hermes_reconcile_profiles_held", Type: Gauge,
		Help:   "Profiles with an action held back or a unit left as it is, by reason (the plan's reasons; paused, untouchable, bad_input).",
		Labels: []string{"reason"}, Values: [][]string{heldReasons}}
	defGatewayDown = &Def{Name: "hermes_reconcile_gateway_down", Type: Gauge,
		Help:   "For each profile whose gateway should run: 1 while it does not (as status counts it unhealthy), 0 while it runs.",
		Labels: []string{"profile"}, Values: [][]string{nil}}
	defRollout = &Def{Name: "hermes_reconcile_rollout_restarts", Type: Gauge,
		Help:   "The rollout as the last full pass judged it: gateways restarted for a new rendering and not healthy yet (restarting), restarts waiting for that batch (pending), restarts held by a halted rollout (halted).",
		Labels: []string{"state"}, Values: [][]string{rolloutStates}}
	defRemovalsHeld = &Def{Name: "hermes_reconcile_removals_held", Type: Gauge,
		Help:   "Unit removals held back, by reason: the mass-removal guard, or a profile gone for less than --remove-after.",
		Labels: []string{"reason"}, Values: [][]string{removalReasons}}
	defClashes = &Def{Name: "hermes_reconcile_conflict_clashes", Type: Gauge,
		Help: "Pairs of gateways that both run and claim one credential or port, as the last full pass found them (neither is stopped)."}
	defDeaths = &Def{Name: "hermes_reconcile_gateway_deaths_total", Type: Counter,
		Help:   "Gateway deaths the passes read from the engine (s6's death records; on Kubernetes each container's last termination, as a pass finds it), by cause: crash (a non-zero exit or a signal other than a stop's), clean.",
		Labels: []string{"cause"}, Values: [][]string{deathCauses}}
)

// Defs are every metric, in the order they are written.
var Defs = []*Def{
	defBuildInfo, defLeader, defPasses, defPassDuration, defLastSuccess, defActions,
	defProfiles, defWantedRunning, defDrifted, defHeld, defGatewayDown,
	defRollout, defRemovalsHeld, defClashes, defDeaths,
}
