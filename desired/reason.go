package desired

// Reason says why a service wants its run state, or why the plan does what
// it does. It is one closed set, defined here: operators, logs and tests
// match on these words.
type Reason string

// Why a service wants its run state.
const (
	ReasonIntentRunning   Reason = "intent_running"
	ReasonIntentStopped   Reason = "intent_stopped"
	ReasonNoIntent        Reason = "no_intent"
	ReasonMultiplex       Reason = "multiplex"
	ReasonTopologyUnknown Reason = "topology_unknown"
)

// Why the plan acts.
const (
	ReasonProfileAdded      Reason = "profile_added"
	ReasonSpecChanged       Reason = "spec_changed"
	ReasonAdopted           Reason = "adopted"
	ReasonNotSupervised     Reason = "not_supervised"
	ReasonProfileRemoved    Reason = "profile_removed"
	ReasonProfileTombstoned Reason = "profile_tombstoned"
	ReasonStaleStaging      Reason = "stale_staging"
	// A running gateway started before we last rewrote its run (a pass was
	// killed between the rewrite and the restart).
	ReasonRestartPending Reason = "restart_pending"
	// A gateway a killed restart left down.
	ReasonRestartIncomplete Reason = "restart_incomplete"
	// A slot's logger is not running: its gateway would block on a full pipe.
	ReasonLoggerDown Reason = "logger_down"
	// Deaths in a row: the slot is parked down.
	ReasonCrashLoop Reason = "crash_loop"
	// A parked or permanently failed gateway started again (its inputs or
	// intent changed, or an operator said so).
	ReasonUnparked Reason = "unparked"
	// Why a gateway is not started: finish asked s6 not to restart it, or
	// it was parked.
	ReasonPermanentFailure Reason = "permanent_failure"
	// Why an action waits: another writer acts.
	ReasonSettling Reason = "settling"
	// Why removals are held: the pass would remove more named services
	// than --max-remove allows (an unmounted or swapped HERMES_HOME).
	ReasonMassRemoval Reason = "mass_removal"
	// Why a removal waits: the profile directory is gone without a
	// tombstone, for less than --remove-after (a restore, a rename by hand,
	// a volume half there).
	ReasonProfileAbsent Reason = "profile_absent"
	// Why a gateway is held, not started: another profile's gateway
	// claims the same credential or port.
	ReasonConflict Reason = "conflict"
	// Why a restart waits: the rollout budget's batch before it is not
	// healthy yet, or the rollout halted on a failed batch.
	ReasonRollout       Reason = "rollout"
	ReasonRolloutHalted Reason = "rollout_halted"
	// A unit the manager runs more than one gateway of (a Deployment
	// scaled above 1 by hand) brought back to one: several gateways on one
	// bot token fight over it.
	ReasonReplicasClamped Reason = "replicas_clamped"
)

// Reasons is the whole set, in a fixed order.
func Reasons() []Reason {
	return []Reason{
		ReasonIntentRunning, ReasonIntentStopped, ReasonNoIntent, ReasonMultiplex, ReasonTopologyUnknown,
		ReasonProfileAdded, ReasonSpecChanged, ReasonAdopted, ReasonNotSupervised,
		ReasonProfileRemoved, ReasonProfileTombstoned, ReasonStaleStaging,
		ReasonRestartPending, ReasonRestartIncomplete, ReasonLoggerDown, ReasonCrashLoop, ReasonUnparked,
		ReasonPermanentFailure, ReasonSettling, ReasonMassRemoval, ReasonProfileAbsent, ReasonConflict,
		ReasonRollout, ReasonRolloutHalted, ReasonReplicasClamped,
	}
}
