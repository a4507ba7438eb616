package reconcile_test

import (
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"github.com/hermes-reconcile/hermes-reconcile/actual"
	"github.com/hermes-reconcile/hermes-reconcile/config"
	"github.com/hermes-reconcile/hermes-reconcile/desired"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
)

// Fixtures for the planner table: desired and actual states as Go literals,
// built from the default rendering so the bytes are the appendix's.

var renderer = func() *desired.Renderer {
	rd, err := desired.NewRenderer(config.DefaultRender())
	if err != nil {
		panic(err)
	}
	return rd
}()

func spec(profile string) desired.Spec { return renderer.Render(profile) }

// svc is a desired service of profile.
func svc(profile string, wantUp, enforce bool, reason string, folded ...string) desired.Service {
	return desired.Service{
		Profile: profile, Slot: desired.SlotName(profile), Dir: "/opt/data/profiles/" + profile,
		Spec: spec(profile), WantUp: wantUp, Enforce: enforce, Reason: reason, Folded: folded,
	}
}

// Intents as Load reports them: explicit desired_state is enforced on
// every pass, legacy gateway_state and no intent only seed a new slot.
func explicitUp(p string) desired.Service {
	return svc(p, true, true, reconcile.ReasonIntentRunning)
}

func explicitDown(p string) desired.Service {
	return svc(p, false, true, reconcile.ReasonIntentStopped)
}

func legacyUp(p string) desired.Service {
	return svc(p, true, false, reconcile.ReasonIntentRunning)
}

func legacyDown(p string) desired.Service {
	return svc(p, false, false, reconcile.ReasonIntentStopped)
}

func noIntent(p string) desired.Service {
	return svc(p, false, false, "no_intent")
}

// muxNamed is a named profile in multiplex topology: always enforced down.
func muxNamed(p string) desired.Service {
	return svc(p, false, true, reconcile.ReasonMultiplex)
}

// muxDefault is the root gateway serving the folded profiles.
func muxDefault(folded ...string) desired.Service {
	return svc(desired.DefaultProfile, true, true, reconcile.ReasonMultiplex, folded...)
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

type slotOpt func(*actual.Slot)

// slot is a slot of profile written from the current rendering, supervised,
// up or down with a down file to match.
func slot(profile string, up bool, opts ...slotOpt) actual.Slot {
	sp := spec(profile)
	s := actual.Slot{
		Name: desired.SlotName(profile), Profile: profile, Dir: "/run/service/" + desired.SlotName(profile),
		Hash: sp.Hash, HasDown: !up,
		Status: actual.Status{Supervised: true, Up: up, WantUp: up, NormallyUp: up, ExitCode: -1},
	}
	if up {
		s.Status.PID = 4242
	}
	for _, f := range sp.Files {
		s.Files = append(s.Files, actual.File{Path: f.Path, Mode: f.Mode, Data: f.Data})
	}
	for _, o := range opts {
		o(&s)
	}
	return s
}

func fileOpt(path string, f func(*actual.File)) slotOpt {
	return func(s *actual.Slot) {
		for i := range s.Files {
			if s.Files[i].Path == path {
				f(&s.Files[i])
				return
			}
		}
		panic("no file " + path)
	}
}

// edited: someone changed path (the hash we recorded no longer matches).
func edited(path string) slotOpt {
	return fileOpt(path, func(f *actual.File) { f.Data = append(append([]byte{}, f.Data...), "# edited\n"...) })
}

func replaced(path, data string) slotOpt {
	return fileOpt(path, func(f *actual.File) { f.Data = []byte(data) })
}

func missing(path string) slotOpt {
	return fileOpt(path, func(f *actual.File) { *f = actual.File{Path: path, Missing: true} })
}

func notExec(path string) slotOpt {
	return fileOpt(path, func(f *actual.File) { f.Mode = 0o644 })
}

func notRegular(path string) slotOpt {
	return fileOpt(path, func(f *actual.File) { *f = actual.File{Path: path, Mode: fs.ModeSymlink | 0o777, NotRegular: true} })
}

// groupWritable: a mode difference that is not the exec bit does not count.
func groupWritable(path string) slotOpt {
	return fileOpt(path, func(f *actual.File) { f.Mode |= 0o020 })
}

// noHash: a slot Hermes or an operator made.
func noHash(s *actual.Slot) { s.Hash = "" }

// oldHash: our hash from an older rendering, files in place.
func oldHash(s *actual.Slot) { s.Hash = "0123456789abcdef0123456789abcdef" }

func unsupervised(s *actual.Slot) { s.Status = actual.Status{ExitCode: -1} }

func downFile(present bool) slotOpt { return func(s *actual.Slot) { s.HasDown = present } }

func status(f func(*actual.Status)) slotOpt { return func(s *actual.Slot) { f(&s.Status) } }

func untouchable(s *actual.Slot) {
	*s = actual.Slot{Name: s.Name, Profile: s.Profile, Dir: s.Dir, Untouchable: "slot is a symlink; left as it is"}
}

func have(slots ...actual.Slot) actual.State {
	st := actual.State{Scandir: "/run/service", Slots: slots}
	sort.Slice(st.Slots, func(i, j int) bool { return st.Slots[i].Name < st.Slots[j].Name })
	return st
}

func withLeftovers(a actual.State, names ...string) actual.State {
	a.Leftovers = append(a.Leftovers, names...)
	return a
}

// actionLine prints an action on one line:
// "create gateway-a (down) profile_added", "update gateway-b [run] restart spec_changed".
func actionLine(a reconcile.Action) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", a.Kind, a.Slot)
	if a.Kind == reconcile.Create {
		if a.WantUp {
			b.WriteString(" (up)")
		} else {
			b.WriteString(" (down)")
		}
	}
	if len(a.Files) > 0 {
		fmt.Fprintf(&b, " [%s]", strings.Join(a.Files, ", "))
	}
	if a.Restart {
		b.WriteString(" restart")
	}
	if a.RestartLog {
		b.WriteString(" restart-log")
	}
	if a.Register {
		b.WriteString(" register")
	}
	b.WriteString(" " + a.Reason)
	if len(a.Folded) > 0 {
		b.WriteString(" folds " + strings.Join(a.Folded, ","))
	}
	return b.String()
}

func planText(plan []reconcile.Action) string {
	lines := make([]string, len(plan))
	for i, a := range plan {
		lines[i] = actionLine(a)
	}
	return strings.Join(lines, "\n")
}
