package s6

import (
	"fmt"
	"strings"
	"time"

	"github.com/hermes-reconcile/hermes-reconcile/desired"
)

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

// ownPrefix starts the dot names we stage and retire slots under. The
// Hermes CLI stages its own slots as .gateway-<p>.tmp: each writer keeps to
// its own names, so neither deletes, renames or fills the other's.
const ownPrefix = ".hermes-reconcile."

// stagingName is where a new slot is built before it is renamed into place.
func stagingName(slot string) string { return ownPrefix + slot + ".tmp" }

// retiredName is where a removed slot waits for its supervisors to exit;
// stamped, so a slot retired twice (its first purge failed) never collides.
func retiredName(slot string, at time.Time) string {
	return fmt.Sprintf("%s%s.%d.del", ownPrefix, slot, at.UnixNano())
}

// leftover reports whether a scandir entry is one of our interrupted
// staging or retired dirs, and which.
func leftover(name string) (retired, ok bool) {
	rest, ok := strings.CutPrefix(name, ownPrefix+SlotPrefix)
	switch {
	case !ok:
		return false, false
	case strings.HasSuffix(rest, ".tmp"):
		return false, true
	case strings.HasSuffix(rest, ".del"):
		return true, true
	}
	return false, false
}

// foreignStaging reports whether a dot entry is another writer's slot in
// the making: Hermes's .gateway-<p>.tmp (and what older releases of ours
// left under .gateway- names). Never touched; reported when it lingers.
func foreignStaging(name string) bool {
	return strings.HasPrefix(name, "."+SlotPrefix) && (strings.HasSuffix(name, ".tmp") || strings.HasSuffix(name, ".del"))
}
