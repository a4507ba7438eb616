package desired

import (
	"fmt"
	"regexp"
)

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
