package desired

import (
	"path/filepath"
	"strings"
)

// Key names one profile, the unit of all work: "default" for the root,
// else the profile's name. Loading, observing, planning and retrying all
// run per key.
type Key = string

// DefaultProfile is the profile root itself.
const DefaultProfile Key = "default"

// The files a profile is read from, and the marker of a real profile.
const (
	ConfigFile = "config.yaml"
	StateFile  = "gateway_state.json"
	SoulFile   = "SOUL.md"
	EnvFile    = ".env"
)

const (
	profilesDir   = "profiles"
	tombstonesDir = ".deleted"
)

// Layout is where Hermes keeps its profiles under one root. It is the only
// code that knows the shape of HERMES_HOME: the reader, the host engines
// and the watch loop all ask it.
type Layout struct {
	// Root is the profile root, the default profile's directory.
	Root string
}

// NewLayout returns the layout of a HERMES_HOME, which may point at the
// root or at a named profile under it.
func NewLayout(home string) Layout { return Layout{Root: Root(home)} }

// Root returns the profile root for a HERMES_HOME: when HERMES_HOME points
// at a named profile (its parent is "profiles"), the root is two levels up.
func Root(home string) string {
	home = filepath.Clean(home)
	if filepath.Base(filepath.Dir(home)) == profilesDir {
		return filepath.Dir(filepath.Dir(home))
	}
	return home
}

// Active is the profile a HERMES_HOME names itself: default for the root,
// <name> for <root>/profiles/<name>. A host reconciles only it. A HERMES_HOME
// that names no profile (profiles/default/, an invalid name) gives a
// diagnostic instead: its service is left as it is.
func Active(home string) (Key, *Diagnostic) {
	home = filepath.Clean(home)
	if Root(home) == home {
		return DefaultProfile, nil
	}
	name := filepath.Base(home)
	if name == DefaultProfile {
		return "", &Diagnostic{Severity: Warning, Profile: name, Path: home,
			Message: "profiles/default/ is not a profile: it would collide with the root profile; its service is left as it is"}
	}
	if err := ValidName(name); err != nil {
		return "", &Diagnostic{Severity: Error, Path: home, Message: err.Error() + "; its service is left as it is"}
	}
	return name, nil
}

// ProfilesDir is <root>/profiles.
func (l Layout) ProfilesDir() string { return filepath.Join(l.Root, profilesDir) }

// TombstonesDir is <root>/profiles/.deleted, where `hermes profile delete`
// marks a profile deleted.
func (l Layout) TombstonesDir() string { return filepath.Join(l.Root, profilesDir, tombstonesDir) }

// Dir is a profile's directory: the root for default.
func (l Layout) Dir(k Key) string {
	if k == DefaultProfile {
		return l.Root
	}
	return filepath.Join(l.Root, profilesDir, k)
}

// Tombstone is the file that marks profile k deleted.
func (l Layout) Tombstone(k Key) string { return filepath.Join(l.TombstonesDir(), k) }

// Change is what a changed path means to the reconciler: one profile's
// input (Key), or something every profile depends on (All).
type Change struct {
	Key Key
	All bool
}

// Classify maps a changed path under the root to what it changes. ok is
// false for paths that change no plan: a gateway's pid and log files, temp
// files of atomic writes, staging dirs of `hermes profile create` (their
// rename into place is the event that counts).
func (l Layout) Classify(path string) (c Change, ok bool) {
	rel, err := filepath.Rel(l.Root, filepath.Clean(path))
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return Change{}, false
	}
	parts := strings.Split(filepath.ToSlash(rel), "/")
	switch {
	case rel == ".":
		return Change{All: true}, true // the root itself replaced
	case len(parts) == 1:
		switch parts[0] {
		case profilesDir:
			return Change{All: true}, true
		case ConfigFile:
			// The root config.yaml holds the topology: every slot may follow it.
			return Change{All: true}, true
		}
		if inputFile(parts[0]) {
			return Change{Key: DefaultProfile}, true
		}
		return Change{}, false
	case parts[0] != profilesDir:
		return Change{}, false
	case parts[1] == tombstonesDir:
		if len(parts) == 2 {
			return Change{All: true}, true // .deleted/ itself made or removed
		}
		if len(parts) == 3 && ValidName(parts[2]) == nil && parts[2] != DefaultProfile {
			return Change{Key: parts[2]}, true
		}
		return Change{}, false
	case strings.HasPrefix(parts[1], "."), parts[1] == DefaultProfile, ValidName(parts[1]) != nil:
		return Change{}, false
	case len(parts) == 2:
		return Change{Key: parts[1]}, true
	case len(parts) == 3 && inputFile(parts[2]):
		return Change{Key: parts[1]}, true
	}
	return Change{}, false
}

// inputFile reports whether a profile's file bears on its gateway service.
func inputFile(base string) bool {
	switch base {
	case ConfigFile, StateFile, SoulFile, EnvFile:
		return true
	}
	return false
}
