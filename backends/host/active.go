package host

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/hermes-reconcile/hermes-reconcile/desired"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
)

// Desired is what the active profile asks of its host service.
type Desired struct {
	// Profile is "default" or the named profile HERMES_HOME points at.
	Profile string
	// Root is the profile root, Home the profile's directory.
	Root, Home string
	// Gone is set when the profile was deleted or tombstoned: its service
	// is removed. Reason then says which (profile_removed, profile_tombstoned).
	Gone bool
	// Held is set when the profile's input is bad or cannot be read: its
	// service is left exactly as it is. Diagnostics say why.
	Held bool
	// WantUp is the run state the service should have; Enforce says the
	// reconciler owns it on every pass (explicit desired_state). Otherwise
	// WantUp applies only when the service is created.
	WantUp, Enforce bool
	// Reason explains WantUp (intent_running, intent_stopped, no_intent) or
	// Gone.
	Reason      string
	Intent      desired.IntentRecord
	Diagnostics []desired.Diagnostic
}

// Active reads the profile HERMES_HOME points at: a HERMES_HOME whose parent
// is named "profiles" is profile <name> under the root two levels up, any
// other is the default profile (the root itself). Its intent comes from its
// gateway_state.json. A missing root is desired.ErrHomeMissing: nothing can
// be known, so nothing may change.
func Active(home string) (Desired, error) {
	home = filepath.Clean(home)
	root := desired.Root(home)
	d := Desired{Profile: desired.DefaultProfile, Root: root, Home: root}
	fi, err := os.Stat(root)
	if err != nil {
		return d, fmt.Errorf("%w: %s: %w", desired.ErrHomeMissing, root, err)
	}
	if !fi.IsDir() {
		return d, fmt.Errorf("%w: %s is not a directory", desired.ErrHomeMissing, root)
	}
	hold := func(sev desired.Severity, path, msg string) (Desired, error) {
		d.Held = true
		d.Diagnostics = append(d.Diagnostics, desired.Diagnostic{Severity: sev, Profile: d.Profile, Path: path, Message: msg})
		return d, nil
	}
	if root != home {
		d.Profile, d.Home = filepath.Base(home), home
		if d.Profile == desired.DefaultProfile {
			return hold(desired.Warning, home, "profiles/default/ is not a profile: it would collide with the root profile; its service is left as it is")
		}
		if err := desired.ValidName(d.Profile); err != nil {
			return hold(desired.Error, home, err.Error()+"; its service is left as it is")
		}
		gone, err := d.named(root)
		if err != nil {
			return hold(desired.Error, home, fmt.Sprintf("cannot read profile: %v; its service is left as it is", err))
		}
		if gone != "" {
			if entries, err := os.ReadDir(root); err == nil && len(entries) == 0 {
				// An empty root is what an unmounted volume looks like: it
				// must not read as "the profile was deleted".
				return hold(desired.Warning, root, "HERMES_HOME's root is empty (not mounted?): the service is not removed")
			}
			d.Gone, d.Reason = true, gone
			return d, nil
		}
		if d.Held {
			return d, nil
		}
	}
	if ok := d.readConfig(); !ok {
		return d, nil
	}
	d.readIntent()
	return d, nil
}

// named decides whether the named profile still exists. gone is a removal
// reason, or "" when the profile is there.
func (d *Desired) named(root string) (gone string, err error) {
	if _, err := os.Lstat(filepath.Join(root, "profiles", ".deleted", d.Profile)); err == nil {
		return reconcile.ReasonProfileTombstoned, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	fi, err := os.Lstat(d.Home)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return reconcile.ReasonProfileRemoved, nil
	case err != nil:
		return "", err
	case fi.Mode()&fs.ModeSymlink != 0:
		d.Held = true
		d.Diagnostics = append(d.Diagnostics, desired.Diagnostic{Severity: desired.Error, Profile: d.Profile, Path: d.Home,
			Message: "symlinked profile not followed; its service is left as it is"})
		return "", nil
	case !fi.IsDir():
		return reconcile.ReasonProfileRemoved, nil
	}
	for _, f := range []string{"SOUL.md", desired.ConfigFile} {
		_, err := os.Lstat(filepath.Join(d.Home, f))
		if err == nil {
			return "", nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
	}
	// A directory without SOUL.md or config.yaml is not a profile.
	return reconcile.ReasonProfileRemoved, nil
}

// readConfig checks the profile's config.yaml; a bad one holds the service.
func (d *Desired) readConfig() bool {
	path := filepath.Join(d.Home, desired.ConfigFile)
	data, err := desired.ReadInput(path)
	if errors.Is(err, fs.ErrNotExist) {
		return true
	}
	if err == nil {
		_, err = desired.ParseConfig(data)
	}
	if err != nil {
		diag := desired.Diagnostic{Severity: desired.Error, Profile: d.Profile, Path: path, Message: err.Error() + "; its service is left as it is"}
		var ce *desired.ConfigError
		if errors.As(err, &ce) {
			diag.Line = ce.Line
		}
		d.Held = true
		d.Diagnostics = append(d.Diagnostics, diag)
		return false
	}
	return true
}

// readIntent reads gateway_state.json: missing is no intent, corrupt is no
// intent and a warning.
func (d *Desired) readIntent() {
	path := filepath.Join(d.Home, desired.StateFile)
	data, err := desired.ReadInput(path)
	var line int
	if err == nil {
		d.Intent, line, err = desired.ParseIntent(data)
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		d.Intent = desired.IntentRecord{}
		d.Diagnostics = append(d.Diagnostics, desired.Diagnostic{Severity: desired.Warning, Profile: d.Profile, Path: path,
			Line: line, Message: err.Error() + "; treated as no intent"})
	}
	d.WantUp = d.Intent.Intent == desired.IntentRunning
	d.Enforce = d.Intent.Explicit
	switch d.Intent.Intent {
	case desired.IntentRunning:
		d.Reason = reconcile.ReasonIntentRunning
	case desired.IntentStopped:
		d.Reason = reconcile.ReasonIntentStopped
	default:
		d.Reason = "no_intent"
	}
}
