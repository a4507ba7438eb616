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
)

// Reasons is the whole set, in a fixed order.
func Reasons() []Reason {
	return []Reason{
		ReasonIntentRunning, ReasonIntentStopped, ReasonNoIntent, ReasonMultiplex, ReasonTopologyUnknown,
		ReasonProfileAdded, ReasonSpecChanged, ReasonAdopted, ReasonNotSupervised,
		ReasonProfileRemoved, ReasonProfileTombstoned, ReasonStaleStaging,
	}
}
