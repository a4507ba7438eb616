package reconcile

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hermes-reconcile/hermes-reconcile/desired"
)

// Conflicts is what the conflict guard does with a gateway that would
// claim what another holds: a bot token, an account, a port.
type Conflicts uint8

const (
	// ConflictsOff: no guard (the claims are not even read).
	ConflictsOff Conflicts = iota
	// ConflictsHold: the gateway is held, not started, until the conflict
	// is gone.
	ConflictsHold
	// ConflictsWarn: it is said, and the gateway started anyway.
	ConflictsWarn
)

// Clash is two gateways that both run and claim one thing: neither is
// stopped (which one is right is the operator's call), both are unhealthy.
type Clash struct {
	Keys [2]Key
	Kind string
}

// guard decides, over the services that would run, who keeps each claim:
// a gateway already running, else default, else the first by name. The
// others are held (ConflictsHold) with a deferral naming the holder and
// the claim's kind, never its value. It needs every service (a full pass).
func guard(d desired.State, o Observed, mode Conflicts, ownNetworks bool) (held map[Key]Deferral, clashes []Clash, warnings []desired.Diagnostic) {
	if mode == ConflictsOff || d.Keys != nil {
		return nil, nil, nil
	}
	type cand struct {
		svc     *desired.Service
		running bool
	}
	var cands []cand
	for i := range d.Services {
		svc := &d.Services[i]
		if len(svc.Claims) == 0 {
			continue
		}
		u := o.Units[svc.Profile]
		running := u != nil && u.Running && u.Untouchable == ""
		// A gateway that will run after this pass: one that should, or one
		// running whose run state is not ours to enforce.
		if svc.WantUp || (running && !svc.Enforce) {
			cands = append(cands, cand{svc, running})
		}
	}
	sort.SliceStable(cands, func(i, j int) bool {
		if cands[i].running != cands[j].running {
			return cands[i].running
		}
		return desired.Less(cands[i].svc.Profile, cands[j].svc.Profile)
	})
	owner := map[desired.ClaimKey]Key{}
	ownerRunning := map[Key]bool{}
	for _, c := range cands {
		var taken []string
		var clashWith []Clash
		for _, cl := range c.svc.Claims {
			if ownNetworks && cl.Scope == desired.ScopePort {
				continue
			}
			k, ok := owner[cl.Key()]
			if !ok || k == c.svc.Profile {
				continue
			}
			taken = append(taken, takenBy(k, cl))
			if c.running && ownerRunning[k] {
				clashWith = append(clashWith, Clash{Keys: [2]Key{k, c.svc.Profile}, Kind: cl.Kind})
			}
		}
		switch {
		case len(taken) == 0:
			for _, cl := range c.svc.Claims {
				owner[cl.Key()] = c.svc.Profile
			}
			ownerRunning[c.svc.Profile] = c.running
		case c.running:
			// Both run: say it, stop neither.
			clashes = append(clashes, clashWith...)
			for _, x := range clashWith {
				warnings = append(warnings, desired.Diagnostic{Severity: desired.Error, Profile: c.svc.Profile,
					Message: fmt.Sprintf("the gateways of %s and %s both run and claim the same %s: they fight over it; give each profile its own (neither is stopped)",
						x.Keys[0], x.Keys[1], x.Kind)})
			}
		case mode == ConflictsWarn:
			warnings = append(warnings, desired.Diagnostic{Severity: desired.Warning, Profile: c.svc.Profile,
				Message: "started despite a conflict (--conflicts warn): " + strings.Join(taken, "; ")})
		default:
			if held == nil {
				held = map[Key]Deferral{}
			}
			held[c.svc.Profile] = Deferral{Key: c.svc.Profile, Kind: Start, Reason: desired.ReasonConflict,
				Why: strings.Join(taken, "; ") + ": held, not started, until it has its own (a credential or port of its .env or config.yaml)"}
		}
	}
	return held, clashes, warnings
}

// takenBy says that k holds what cl claims, in the words of its kind.
func takenBy(k Key, cl desired.Claim) string {
	if cl.Scope == desired.ScopePort {
		return fmt.Sprintf("%s already listens on port %d", k, cl.Port)
	}
	return fmt.Sprintf("%s already claims the %s", k, cl.Kind)
}
