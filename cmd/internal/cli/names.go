package cli

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/hermes-reconcile/hermes-reconcile/desired"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
)

// exitNoSuch: status, explain or unpark named no profile and no unit
// (systemctl's "no such unit").
const exitNoSuch = 4

// known reports whether name is something a pass knows of: a profile (even
// one held, tombstoned or not one yet), a unit, or an entry of profiles/
// the loader reports on.
func known(o reconcile.Outcome, name string) bool {
	switch {
	case name == desired.DefaultProfile,
		o.Desired.Service(name) != nil,
		o.Desired.Held[name],
		o.Desired.Tombstoned[name],
		o.Observed.Units[name] != nil:
		return true
	}
	for _, d := range o.Desired.Diagnostics {
		if d.Profile == name {
			return true
		}
	}
	return entryExists(o.Desired.Root, name)
}

// entryExists: profiles/<name> is there, whatever it is. A name that is a
// path is no entry, so nothing outside profiles/ is looked at.
func entryExists(root, name string) bool {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, `/\`) || root == "" {
		return false
	}
	_, err := os.Lstat(desired.Layout{Root: root}.Dir(name))
	return err == nil
}

// unknown are the names of names nothing knows of, in their order.
func unknown(o reconcile.Outcome, names []string) []string {
	var out []string
	for _, n := range names {
		if !known(o, n) {
			out = append(out, n)
		}
	}
	return out
}

// noSuch says, in one line each, that names are no profile and no unit,
// with the nearest profile a full pass knows of, and returns exit 4.
func (r runner) noSuch(ctx context.Context, names []string) int {
	all := r.pass.Observe(ctx, nil)
	profiles := []string{desired.DefaultProfile}
	for _, svc := range all.Desired.Services {
		profiles = append(profiles, svc.Profile)
	}
	units := map[string]desired.Key{} // unit name -> its profile
	for k, u := range all.Observed.Units {
		profiles = append(profiles, k)
		units[u.Name] = k
	}
	for k := range all.Desired.Held {
		profiles = append(profiles, k)
	}
	sort.Strings(profiles)
	profiles = slices.Compact(profiles)
	for _, n := range names {
		msg := fmt.Sprintf("no such profile or unit: %q", n)
		if k, ok := units[n]; ok {
			msg = fmt.Sprintf("%q is the unit of profile %s: name the profile", n, k)
		} else if near := nearest(n, profiles); near != "" {
			msg += fmt.Sprintf(" (did you mean %s?)", near)
		}
		if r.p.json {
			r.p.event(levelError, "no_such_profile", msg, map[string]any{"profile": n})
			continue
		}
		fmt.Fprintln(r.p.errw, r.p.paint(red, "Error: "+msg, true))
	}
	return exitNoSuch
}

// unpark is `unpark PROFILE`: one pass over the profile, as --once, with
// the operator's word that its parked (or failed) gateway starts again. A
// profile with nothing to unpark is said so, and nothing is done.
func (r runner) unpark(ctx context.Context) int {
	name := r.o.Unpark
	o := r.pass.Observe(ctx, r.keys)
	if o.Err == nil && !known(o, name) {
		r.p.version(r.o.modeName(), r.backend)
		return r.noSuch(ctx, []string{name})
	}
	if o.Err == nil && !unparks(o.Plan, name) {
		r.p.version(r.o.modeName(), r.backend)
		msg := name + " is not parked and has not failed for good: nothing to unpark"
		if u := o.Observed.Units[name]; u != nil {
			msg += " (" + u.State + ")"
		}
		if r.p.json {
			r.p.event(levelInfo, "unpark", msg, map[string]any{"profile": name, "unparked": false})
		} else {
			fmt.Fprintln(r.p.out, msg)
		}
		return exitOK
	}
	return r.once(ctx)
}

// unparks: the plan starts name because the operator unparked it.
func unparks(plan reconcile.Plan, name string) bool {
	for _, a := range plan.Actions {
		if a.Key == name && a.Reason == desired.ReasonUnparked {
			return true
		}
	}
	return false
}
