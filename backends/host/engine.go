package host

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/hermes-reconcile/hermes-reconcile/desired"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
)

// op is a step of a host engine: one Manager verb.
type op uint8

const (
	opInstall op = iota + 1
	opStart
	opStop
	opUninstall
)

var opNames = [...]string{
	opInstall:   "install",
	opStart:     "start",
	opStop:      "stop",
	opUninstall: "uninstall",
}

func (o op) String() string { return opNames[o] }

// Engine drives one host service manager for the active profile: a host
// runs one gateway, the one HERMES_HOME names.
type Engine struct {
	m        Manager
	active   desired.Key
	layout   desired.Layout
	settings Settings
}

var _ reconcile.Engine = (*Engine)(nil)

// NewEngine returns the engine of m for profile active under layout.
func NewEngine(m Manager, layout desired.Layout, active desired.Key, s Settings) *Engine {
	return &Engine{m: m, active: active, layout: layout, settings: s}
}

// Render is the definition of svc as the manager would install it. A file
// whose reload restarts a running gateway (a launchd plist) is marked so.
func (e *Engine) Render(svc desired.Service) (reconcile.Spec, error) {
	def, err := e.m.Define(e.settings.Service(svc))
	if err != nil {
		return reconcile.Spec{}, err
	}
	return specOf(def), nil
}

func specOf(def Definition) reconcile.Spec {
	spec := reconcile.Spec{Unit: def.Name, Payload: def}
	h := sha256.New()
	for i, f := range def.Files {
		eff := reconcile.NoEffect
		if i == 0 && def.ReloadRestarts {
			eff = reconcile.RestartsService
		}
		spec.Files = append(spec.Files, reconcile.File{Path: baseName(f.Path), Mode: f.Mode, Data: f.Data, Effect: eff})
		fmt.Fprintf(h, "%s\x00%d\x00", f.Path, len(f.Data))
		h.Write(f.Data)
	}
	spec.Hash = hex.EncodeToString(h.Sum(nil)[:16])
	return spec
}

// Observe reads the active profile's service, whichever keys are asked
// for: a host manages no other. A service that is not installed has no
// unit.
func (e *Engine) Observe(ctx context.Context, keys []desired.Key, want map[desired.Key]reconcile.Spec) (reconcile.Observed, error) {
	o := reconcile.Observed{Keys: keys, Units: map[desired.Key]*reconcile.Unit{}}
	if keys != nil && !contains(keys, e.active) {
		return o, nil
	}
	def, ok := want[e.active].Payload.(Definition)
	if !ok {
		// The profile is gone or held: its service is still found by name.
		d, err := e.m.Define(e.settings.Service(desired.Service{Profile: e.active, Dir: e.layout.Dir(e.active)}))
		if err != nil {
			return o, err
		}
		def = d
	}
	st, err := e.m.Status(ctx, def)
	if err != nil {
		return o, err
	}
	if !st.Installed {
		return o, nil
	}
	u := &reconcile.Unit{Key: e.active, Name: def.Name, Ours: true, Drift: st.Stale, Untouchable: st.Foreign,
		Registered: true, Running: st.Up, WantUp: st.Up, Persisted: st.Enabled,
		State: st.Word(), PID: st.PID, Detail: st.Detail, ExitCode: -1, Payload: def, Absent: e.absentSince(def.Name)}
	if spec, ok := want[e.active]; ok && len(st.Stale) == 0 {
		u.Hash = spec.Hash // the files on disk are the rendering
	}
	if kind, n, ok := strings.Cut(st.LastExit, " "); ok {
		if v, err := strconv.Atoi(n); err == nil {
			if kind == "signal" {
				u.Signal = v
			} else {
				u.ExitCode = v
			}
		}
	}
	o.Units[e.active] = u
	return o, nil
}

// Schedule maps each action to the manager's verbs, in the plan's order
// (stop and remove before writing, writing before start).
func (e *Engine) Schedule(p reconcile.Plan) []reconcile.Step {
	var steps []reconcile.Step
	one := func(op op, i int, a reconcile.Action) reconcile.Step {
		return reconcile.Step{Op: op, For: []int{i}, Acts: []reconcile.Action{a}}
	}
	for i, a := range p.Actions {
		if a.Blocked != "" {
			continue // reported by the executor, never tried
		}
		switch a.Kind {
		case reconcile.Create:
			steps = append(steps, one(opInstall, i, a))
			if a.WantUp {
				steps = append(steps, one(opStart, i, a))
			}
		case reconcile.Update, reconcile.Adopt:
			if a.Write {
				steps = append(steps, one(opInstall, i, a))
			}
		case reconcile.Start:
			steps = append(steps, one(opStart, i, a))
		case reconcile.Stop:
			steps = append(steps, one(opStop, i, a))
		case reconcile.Remove:
			steps = append(steps, one(opUninstall, i, a))
		}
	}
	return steps
}

// Do carries out one verb on the definition of the action's profile.
func (e *Engine) Do(ctx context.Context, s reconcile.Step) error {
	a := s.Acts[0]
	def, ok := a.Spec.Payload.(Definition)
	if !ok {
		return fmt.Errorf("%s %s: no definition for profile %s", s.Op, a.Unit, a.Key)
	}
	switch s.Op {
	case opInstall:
		// A running gateway keeps running unless its new definition only
		// takes effect by restarting it (launchd).
		return e.m.Install(ctx, def, a.Restart)
	case opStart:
		return e.m.Control(ctx, def, true)
	case opStop:
		return e.m.Control(ctx, def, false)
	case opUninstall:
		return e.m.Uninstall(ctx, def)
	}
	return fmt.Errorf("host: no step %q", s.Op)
}

func contains(keys []desired.Key, k desired.Key) bool {
	for _, x := range keys {
		if x == k {
			return true
		}
	}
	return false
}
