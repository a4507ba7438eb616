package desired

import (
	"errors"
	"slices"
	"time"
)

// ErrHomeMissing is returned when HERMES_HOME does not exist or is not a
// directory: nothing can be known, so nothing may change.
var ErrHomeMissing = errors.New("HERMES_HOME missing")

// Service is one gateway service that should exist, in no engine's terms:
// which profile, where it lives, and the run state it should have. Engines
// render it into slots, units, plists, tasks or Deployments.
type Service struct {
	Profile Key
	// Dir is the profile directory.
	Dir string
	// WantUp is the run state the service should have.
	WantUp bool
	// Enforce is true when the reconciler owns the run state on every pass
	// (explicit desired_state, or multiplex). Otherwise WantUp is applied
	// only when the service is created, and a gateway someone started is left be.
	Enforce bool
	// Reason explains WantUp.
	Reason Reason
	// Folded names the profiles whose running intent the default service
	// serves in multiplex topology.
	Folded []Key
	Intent IntentRecord
	// IntentAt is when the intent file first said what it says (a rewrite
	// with the same intent keeps it); Touched is when it was last written.
	// Zero without an intent file.
	IntentAt, Touched time.Time
	// InputsAt is when the profile's config.yaml or .env was last written,
	// the later of the two: a gateway that failed for good is started again
	// when they change after the failure.
	InputsAt time.Time
	// Claims are what the service's gateway would hold once it runs: the
	// credentials Hermes locks and the ports its listeners bind, as its
	// environment, .env files and config.yaml make them. Empty unless
	// Options.Claims. Every service gets its own profile's claims, whatever
	// the topology: in multiplex topology the default service's gateway also
	// serves the folded profiles, and whether their claims count is the
	// planner's decision.
	Claims Claims
}

// GatewayArgs are the arguments of the gateway command of the service, as
// Hermes's own services run it: [-p <name>] gateway run --replace, never
// -p default. Every engine renders its command line from them.
func (s Service) GatewayArgs() []string {
	var args []string
	if s.Profile != DefaultProfile {
		args = append(args, "-p", s.Profile)
	}
	return append(args, "gateway", "run", "--replace")
}

// State is the desired state of the profiles a load covered.
type State struct {
	// Root is the profile root (the default profile's directory).
	Root string
	// Keys are the profiles this state covers, sorted; nil when it covers
	// every profile (a full load).
	Keys []Key
	// Multiplex is true when one root gateway serves every profile;
	// Topology says so, from what and why.
	Multiplex bool
	Topology  Topology
	// Services is sorted: default first, then by profile name.
	Services []Service
	// Held names profiles whose input is bad: their service is left exactly
	// as it is, whatever it looks like.
	Held map[Key]bool
	// Tombstoned names profiles marked deleted in profiles/.deleted/.
	Tombstoned map[Key]bool
	// Incomplete is true when some profiles could not be listed: no service
	// may be removed on the strength of this state.
	Incomplete  bool
	Diagnostics []Diagnostic
}

// Covers reports whether the state speaks for profile k.
func (s *State) Covers(k Key) bool {
	if s.Keys == nil {
		return true
	}
	_, ok := slices.BinarySearch(s.Keys, k)
	return ok
}

// Service returns the service of profile k, or nil.
func (s *State) Service(k Key) *Service {
	for i := range s.Services {
		if s.Services[i].Profile == k {
			return &s.Services[i]
		}
	}
	return nil
}

// Less orders keys as plans and tables show them: default first, then by
// name.
func Less(a, b Key) bool {
	if (a == DefaultProfile) != (b == DefaultProfile) {
		return a == DefaultProfile
	}
	return a < b
}
