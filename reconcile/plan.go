package reconcile

import (
	"bytes"
	"slices"
	"sort"

	"github.com/hermes-reconcile/hermes-reconcile/actual"
	"github.com/hermes-reconcile/hermes-reconcile/desired"
)

// Kind is what an action does. The values are fixed: adding a kind must not
// renumber the others.
type Kind int

const (
	Create Kind = 1
	Update Kind = 2
	Adopt  Kind = 3
	Start  Kind = 4
	Stop   Kind = 5
	Remove Kind = 6
	Clean  Kind = 7
)

func (k Kind) String() string {
	switch k {
	case Create:
		return "create"
	case Update:
		return "update"
	case Adopt:
		return "adopt"
	case Start:
		return "start"
	case Stop:
		return "stop"
	case Remove:
		return "remove"
	case Clean:
		return "clean"
	}
	return "unknown"
}

// Reasons, a closed set: tests and operators match on them.
const (
	ReasonProfileAdded      = "profile_added"
	ReasonSpecChanged       = "spec_changed"
	ReasonAdopted           = "adopted"
	ReasonIntentRunning     = "intent_running"
	ReasonIntentStopped     = "intent_stopped"
	ReasonMultiplex         = "multiplex"
	ReasonProfileRemoved    = "profile_removed"
	ReasonProfileTombstoned = "profile_tombstoned"
	ReasonStaleStaging      = "stale_staging"
	ReasonNotSupervised     = "not_supervised"
)

// Action is one step of a plan.
type Action struct {
	Kind    Kind
	Slot    string
	Profile string
	Reason  string
	// Files are the slot files that differ (update, adopt).
	Files []string
	// WantUp is the run state a created slot is registered with.
	WantUp bool
	// Restart is set on an update whose new run must replace a running gateway.
	Restart bool
	// RestartLog is set on an update that changed log/run.
	RestartLog bool
	// Spec is the rendering to write (create, update, adopt).
	Spec desired.Spec
	// Register is set when the slot is not supervised yet: s6-svscan must
	// rescan before it can be controlled.
	Register bool
	// Folded names the profiles a multiplexed default slot serves.
	Folded []string
}

// phase orders a plan: what takes gateways down happens before what brings
// them up, since two profiles may share a port.
func (a Action) phase() int {
	switch a.Kind {
	case Clean, Remove, Stop:
		return 0
	}
	return 1
}

// Plan returns the actions that make actual match desired. Slots in sync get
// no action; held profiles and untouchable slots get none either.
func Plan(d desired.State, a actual.State) []Action {
	var plan []Action
	wanted := make(map[string]bool, len(d.Services))
	for i := range d.Services {
		svc := &d.Services[i]
		wanted[svc.Slot] = true
		slot := a.Slot(svc.Profile)
		if slot == nil {
			plan = append(plan, Action{Kind: Create, Slot: svc.Slot, Profile: svc.Profile, Reason: ReasonProfileAdded,
				WantUp: svc.WantUp, Spec: svc.Spec, Folded: svc.Folded})
			continue
		}
		if slot.Untouchable != "" {
			continue
		}
		plan = appendSlotActions(plan, svc, slot)
	}
	for i := range a.Slots {
		slot := &a.Slots[i]
		if wanted[slot.Name] || slot.Untouchable != "" || d.Held[slot.Profile] || d.Incomplete {
			continue
		}
		reason := ReasonProfileRemoved
		if d.Tombstoned[slot.Profile] {
			reason = ReasonProfileTombstoned
		}
		plan = append(plan, Action{Kind: Remove, Slot: slot.Name, Profile: slot.Profile, Reason: reason})
	}
	for _, name := range a.Leftovers {
		plan = append(plan, Action{Kind: Clean, Slot: name, Reason: ReasonStaleStaging})
	}
	sortPlan(plan)
	return plan
}

func appendSlotActions(plan []Action, svc *desired.Service, slot *actual.Slot) []Action {
	// What s6 wants now; an unsupervised slot will follow its down file.
	wantUp := !slot.HasDown
	if slot.Status.Supervised {
		wantUp = slot.Status.WantUp
	}
	stopping := svc.Enforce && !svc.WantUp && (wantUp || !slot.HasDown)
	starting := svc.Enforce && svc.WantUp && (!wantUp || slot.HasDown)

	changed := diffFiles(svc.Spec, slot)
	register := !slot.Status.Supervised
	n := len(plan)
	switch {
	case slot.Hash == "":
		// A slot we did not write: Hermes made it, or an operator. Take it
		// over without a restart; a new run is picked up at the next spawn.
		plan = append(plan, Action{Kind: Adopt, Slot: svc.Slot, Profile: svc.Profile, Reason: ReasonAdopted,
			Files: changed, Spec: svc.Spec})
	case slot.Hash != svc.Spec.Hash || len(changed) > 0:
		runChanged, logChanged := slices.Contains(changed, desired.FileRun), slices.Contains(changed, desired.FileLogRun)
		plan = append(plan, Action{Kind: Update, Slot: svc.Slot, Profile: svc.Profile, Reason: ReasonSpecChanged,
			Files: changed, Spec: svc.Spec,
			// A start does not restart a gateway that is already up (a
			// stray down file), so the restart must happen here.
			Restart:    runChanged && slot.Status.Up && !stopping,
			RestartLog: logChanged && slot.Status.Supervised})
	case register:
		// In sync, but s6-svscan has not picked it up (made while it was
		// not running, or without a rescan): it needs one.
		plan = append(plan, Action{Kind: Update, Slot: svc.Slot, Profile: svc.Profile, Reason: ReasonNotSupervised, Spec: svc.Spec})
	}
	switch {
	case starting:
		plan = append(plan, Action{Kind: Start, Slot: svc.Slot, Profile: svc.Profile, Reason: svc.Reason, Folded: svc.Folded})
	case stopping:
		plan = append(plan, Action{Kind: Stop, Slot: svc.Slot, Profile: svc.Profile, Reason: svc.Reason, Folded: svc.Folded})
	}
	for i := n; i < len(plan); i++ {
		plan[i].Register = register
	}
	return plan
}

// diffFiles lists the spec files the slot lacks or holds differently. A
// file that should be executable and is not counts as different; other mode
// bits do not (Hermes and umasks vary).
func diffFiles(spec desired.Spec, slot *actual.Slot) []string {
	var changed []string
	for _, want := range spec.Files {
		got := slot.File(want.Path)
		exec := want.Mode&0o111 != 0
		if got.Missing || got.NotRegular || !bytes.Equal(got.Data, want.Data) || (exec && got.Mode&0o111 == 0) {
			changed = append(changed, want.Path)
		}
	}
	return changed
}

// sortPlan orders by phase, then default first, then slot name, then kind
// (so a slot's rewrite comes before its start).
func sortPlan(plan []Action) {
	sort.SliceStable(plan, func(i, j int) bool {
		a, b := plan[i], plan[j]
		if a.phase() != b.phase() {
			return a.phase() < b.phase()
		}
		ad, bd := a.Profile == desired.DefaultProfile, b.Profile == desired.DefaultProfile
		if ad != bd {
			return ad
		}
		if a.Slot != b.Slot {
			return a.Slot < b.Slot
		}
		return a.Kind < b.Kind
	})
}

// Services is how many services the scandir holds once the plan is
// applied, as s6-svscan counts them against its -c limit: a slot with its
// logger is one service (checked with s6 2.11: -c 3 took three slots and
// their three loggers).
func Services(a actual.State, plan []Action) int {
	n := a.Others + len(a.Slots)
	for _, x := range plan {
		switch x.Kind {
		case Create:
			n++
		case Remove:
			n--
		}
	}
	return n
}
