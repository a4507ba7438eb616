package s6

import "github.com/hermes-reconcile/hermes-reconcile/desired"

// SlotPrefix starts the name of every service directory this project owns.
const SlotPrefix = "gateway-"

// SlotName is the service directory name of a profile.
func SlotName(profile desired.Key) string { return SlotPrefix + profile }

// ProfileOfSlot returns the profile a slot name belongs to, or false when the
// entry is not one of ours (a foreign service, or a name no profile can have).
func ProfileOfSlot(slot string) (desired.Key, bool) {
	if len(slot) <= len(SlotPrefix) || slot[:len(SlotPrefix)] != SlotPrefix {
		return "", false
	}
	p := slot[len(SlotPrefix):]
	if desired.ValidName(p) != nil {
		return "", false
	}
	return p, true
}
