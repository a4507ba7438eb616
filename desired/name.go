package desired

import (
	"fmt"
	"regexp"
)

// DefaultProfile is the profile root itself.
const DefaultProfile = "default"

// SlotPrefix starts the name of every service directory this project owns.
const SlotPrefix = "gateway-"

var profileNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// ValidName reports whether name can be a named profile (or "default").
// It is the rule Hermes's own `hermes profile create` enforces.
func ValidName(name string) error {
	if profileNameRE.MatchString(name) {
		return nil
	}
	if len(name) > 64 {
		return fmt.Errorf("invalid profile name (%d bytes): longer than 64", len(name))
	}
	return fmt.Errorf("invalid profile name %q: must match %s", name, profileNameRE)
}

// SlotName is the service directory name of a profile.
func SlotName(profile string) string { return SlotPrefix + profile }

// ProfileOfSlot returns the profile a slot name belongs to, or false when the
// entry is not one of ours (a foreign service, or a name no profile can have).
func ProfileOfSlot(slot string) (string, bool) {
	if len(slot) <= len(SlotPrefix) || slot[:len(SlotPrefix)] != SlotPrefix {
		return "", false
	}
	p := slot[len(SlotPrefix):]
	if ValidName(p) != nil {
		return "", false
	}
	return p, true
}
