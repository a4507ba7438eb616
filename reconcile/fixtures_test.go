package reconcile_test

import (
	"slices"
	"strings"

	"github.com/hermes-reconcile/hermes-reconcile/backends/s6"
	"github.com/hermes-reconcile/hermes-reconcile/config"
	"github.com/hermes-reconcile/hermes-reconcile/desired"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
)

// Fixtures for the planner table: desired states and observed units as Go
// literals. The renderings are real engines': s6's default slot (the
// appendix bytes), and host units whose one file restarts the gateway when
// reloaded (launchd) or not (systemd).

var renderer = func() *s6.Renderer {
	rd, err := s6.NewRenderer(config.DefaultRender())
	if err != nil {
		panic(err)
	}
	return rd
}()

// spec is the rendering of a profile's rows: profiles named systemd-* and
// launchd-* are a host's single unit, kube-* a Deployment (whose one file
// rolls its pod when rewritten), every other one an s6 slot.
func spec(profile string) reconcile.Spec {
	switch {
	case strings.HasPrefix(profile, "kube-"):
		files := []reconcile.File{{Path: "deployment.json", Mode: 0o644, Data: []byte("{}\n"), Effect: reconcile.RestartsService}}
		return reconcile.Spec{Unit: "hermes-gateway-" + profile, Hash: "k8s-" + profile, Files: files}
	case strings.HasPrefix(profile, "systemd-"):
		files := []reconcile.File{{Path: "hermes-gateway-" + profile + ".service", Mode: 0o644, Data: []byte("[Unit]\n"), Effect: reconcile.NoEffect}}
		return reconcile.Spec{Unit: "hermes-gateway-" + profile, Hash: "sd-" + profile, Files: files}
	case strings.HasPrefix(profile, "launchd-"):
		files := []reconcile.File{{Path: "ai.hermes.gateway-" + profile + ".plist", Mode: 0o644, Data: []byte("<plist/>\n"), Effect: reconcile.RestartsService}}
		return reconcile.Spec{Unit: "ai.hermes.gateway-" + profile, Hash: "ld-" + profile, Files: files}
	}
	return renderer.Render(profile)
}

// svc is a desired service of profile.
func svc(profile string, wantUp, enforce bool, reason desired.Reason, folded ...string) desired.Service {
	return desired.Service{
		Profile: profile, Dir: "/opt/data/profiles/" + profile,
		WantUp: wantUp, Enforce: enforce, Reason: reason, Folded: folded,
	}
}

// Intents as the reader reports them: explicit desired_state is enforced
// on every pass, legacy gateway_state and no intent only seed a new unit.
func explicitUp(p string) desired.Service {
	return withIntent(svc(p, true, true, desired.ReasonIntentRunning), desired.IntentRunning, true, "running")
}

func explicitDown(p string) desired.Service {
	return withIntent(svc(p, false, true, desired.ReasonIntentStopped), desired.IntentStopped, true, "stopped")
}

func legacyUp(p string) desired.Service {
	return withIntent(svc(p, true, false, desired.ReasonIntentRunning), desired.IntentRunning, false, "running")
}

func legacyDown(p string) desired.Service {
	return withIntent(svc(p, false, false, desired.ReasonIntentStopped), desired.IntentStopped, false, "starting")
}

// withIntent is what the reader records of the intent file.
func withIntent(s desired.Service, i desired.Intent, explicit bool, raw string) desired.Service {
	s.Intent = desired.IntentRecord{Intent: i, Explicit: explicit, Raw: raw}
	return s
}

func noIntent(p string) desired.Service {
	return svc(p, false, false, desired.ReasonNoIntent)
}

// muxNamed is a named profile in multiplex topology: always enforced down.
func muxNamed(p string) desired.Service {
	return svc(p, false, true, desired.ReasonMultiplex)
}

// muxDefault is the root gateway serving the folded profiles.
func muxDefault(folded ...string) desired.Service {
	return svc(desired.DefaultProfile, true, true, desired.ReasonMultiplex, folded...)
}

type dOpt func(*desired.State)

func held(names ...string) dOpt {
	return func(d *desired.State) {
		for _, n := range names {
			d.Held[n] = true
		}
	}
}

func tombstoned(names ...string) dOpt {
	return func(d *desired.State) {
		for _, n := range names {
			d.Tombstoned[n] = true
		}
	}
}

func incomplete(d *desired.State) { d.Incomplete = true }

func want(svcs []desired.Service, opts ...dOpt) desired.State {
	d := desired.State{Root: "/opt/data", Services: svcs, Held: map[string]bool{}, Tombstoned: map[string]bool{}}
	for _, o := range opts {
		o(&d)
	}
	return d
}

func svcs(s ...desired.Service) []desired.Service { return s }

// renderings is what the pass hands the planner: each service rendered.
func renderings(d desired.State) map[string]reconcile.Spec {
	out := map[string]reconcile.Spec{}
	for _, s := range d.Services {
		out[s.Profile] = spec(s.Profile)
	}
	return out
}

type unitOpt func(*reconcile.Unit)

// slot is a unit of profile written from the current rendering, registered,
// up or down and persisting that state (an s6 down file to match).
func slot(profile string, up bool, opts ...unitOpt) *reconcile.Unit {
	sp := spec(profile)
	u := &reconcile.Unit{
		Key: profile, Name: sp.Unit, Ours: true, Hash: sp.Hash,
		Registered: true, Running: up, WantUp: up, Persisted: up, Companion: reconcile.Companion{Registered: true, Running: true}, ExitCode: -1,
	}
	if up {
		u.PID = 4242
	}
	for _, o := range opts {
		o(u)
	}
	return u
}

// drift: the engine found path different from the rendering (edited,
// missing, not executable, not a regular file); kept in rendering order.
func drift(path string) unitOpt {
	return func(u *reconcile.Unit) {
		sp := spec(u.Key)
		if sp.File(path) == nil {
			panic("no file " + path + " in the rendering of " + u.Key)
		}
		if slices.Contains(u.Drift, path) {
			return
		}
		u.Drift = append(u.Drift, path)
		var ordered []string
		for _, f := range sp.Files {
			if slices.Contains(u.Drift, f.Path) {
				ordered = append(ordered, f.Path)
			}
		}
		u.Drift = ordered
	}
}

// noHash: a unit Hermes or an operator made.
func noHash(u *reconcile.Unit) { u.Ours, u.Hash = false, "" }

// oldHash: our hash from an older rendering, files in place.
func oldHash(u *reconcile.Unit) { u.Hash = "0123456789abcdef0123456789abcdef" }

func unsupervised(u *reconcile.Unit) {
	u.Registered, u.Running, u.WantUp, u.Companion, u.PID = false, false, false, reconcile.Companion{}, 0
}

// persisted sets what the unit comes back as when its manager restarts
// (for s6: a down file when false).
func persisted(up bool) unitOpt { return func(u *reconcile.Unit) { u.Persisted = up } }

func status(f func(*reconcile.Unit)) unitOpt { return f }

func untouchable(u *reconcile.Unit) {
	*u = reconcile.Unit{Key: u.Key, Name: u.Name, State: "untouchable", Untouchable: "slot is a symlink; left as it is"}
}

// paused: a Deployment an operator paused by its annotation, as the kube
// engine reports it: whatever else it looks like, it is left alone.
func paused(u *reconcile.Unit) {
	u.State, u.Untouchable = "paused", "paused by its annotation: not scaled, rewritten or removed until it is taken off"
}

// instances: the manager is asked to run n gateways of the unit at once
// (a Deployment's replicas); 0 stopped.
func instances(n int) unitOpt {
	return func(u *reconcile.Unit) {
		u.Instances = n
		u.Running, u.WantUp, u.Persisted = n > 0, n > 0, n > 0
	}
}

func have(units ...*reconcile.Unit) reconcile.Observed {
	o := reconcile.Observed{Units: map[string]*reconcile.Unit{}}
	for _, u := range units {
		o.Units[u.Key] = u
	}
	return o
}

func withLeftovers(o reconcile.Observed, names ...string) reconcile.Observed {
	for _, n := range names {
		o.Strays = append(o.Strays, reconcile.Stray{Name: n, Ours: true, Live: strings.HasSuffix(n, ".del")})
	}
	return o
}

// planText is the plan as the table writes it: its actions, then the
// units it leaves as they are.
func planText(p reconcile.Plan) string {
	lines := []string{}
	if len(p.Actions) > 0 {
		lines = append(lines, p.String())
	}
	for _, u := range p.Untouched {
		lines = append(lines, u.Line())
	}
	return strings.Join(lines, "\n")
}

func decide(d desired.State, o reconcile.Observed) reconcile.Plan {
	return reconcile.Decide(d, renderings(d), o, reconcile.Policy{})
}
