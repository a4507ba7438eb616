package desired

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
)

// ErrHomeMissing is returned when HERMES_HOME does not exist or is not a
// directory: nothing can be known, so nothing may change.
var ErrHomeMissing = errors.New("HERMES_HOME missing")

// Service is one slot that should exist.
type Service struct {
	Profile string
	Slot    string
	// Dir is the profile directory.
	Dir  string
	Spec Spec
	// WantUp is the run state the slot should have.
	WantUp bool
	// Enforce is true when the reconciler owns the run state on every pass
	// (explicit desired_state, or multiplex). Otherwise WantUp is applied
	// only when the slot is created, and a gateway someone started is left be.
	Enforce bool
	// Reason explains WantUp: intent_running, intent_stopped, no_intent,
	// multiplex, topology_unknown.
	Reason string
	// Folded names the profiles whose running intent the default slot
	// serves in multiplex topology.
	Folded []string
	Intent IntentRecord
}

// State is the desired state of every slot, read in one pass.
type State struct {
	// Root is the profile root (the default profile's directory).
	Root string
	// Multiplex is true when one root gateway serves every profile.
	Multiplex bool
	// Services is sorted: default first, then by profile name.
	Services []Service
	// Held names profiles whose input is bad: their slot is left exactly as
	// it is, whatever it looks like.
	Held map[string]bool
	// Tombstoned names profiles marked deleted in profiles/.deleted/.
	Tombstoned map[string]bool
	// Incomplete is true when some profiles could not be listed: no slot may
	// be removed on the strength of this state.
	Incomplete  bool
	Diagnostics []Diagnostic
}

// Options are the inputs of Load besides the filesystem.
type Options struct {
	Renderer *Renderer
	// MultiplexEnv is GATEWAY_MULTIPLEX_PROFILES as found in the environment
	// ("" when unset); it overrides config.yaml when it is a clear word.
	MultiplexEnv string
}

// Root returns the profile root for a HERMES_HOME: when HERMES_HOME points
// at a named profile (its parent is "profiles"), the root is two levels up.
func Root(home string) string {
	home = filepath.Clean(home)
	if filepath.Base(filepath.Dir(home)) == "profiles" {
		return filepath.Dir(filepath.Dir(home))
	}
	return home
}

type profileInput struct {
	name   string
	dir    string
	intent IntentRecord
}

// Load reads every profile under the root of home.
func Load(home string, opt Options) (State, error) {
	root := Root(home)
	fi, err := os.Stat(root)
	if err != nil {
		return State{}, fmt.Errorf("%w: %s: %w", ErrHomeMissing, root, err)
	}
	if !fi.IsDir() {
		return State{}, fmt.Errorf("%w: %s is not a directory", ErrHomeMissing, root)
	}
	st := State{Root: root, Held: map[string]bool{}, Tombstoned: map[string]bool{}}
	diag := func(d Diagnostic) { st.Diagnostics = append(st.Diagnostics, d) }

	if isEmptyDir(root) {
		// An empty volume is what an unmounted HERMES_HOME looks like; it
		// must not read as "every profile was deleted".
		st.Incomplete = true
		diag(Diagnostic{Severity: Warning, Profile: DefaultProfile, Path: root, Message: "HERMES_HOME is empty (not mounted?): no slot will be removed"})
	}

	rootCfg, cfgOK := readConfig(root, DefaultProfile, diag)
	if !cfgOK {
		st.Held[DefaultProfile] = true
	}
	rootIntent, d := readIntent(root, DefaultProfile)
	if d != nil {
		diag(*d)
	}
	named := st.readNamed(root, diag)

	multiplex, known := false, cfgOK
	if rootCfg.Multiplex != nil {
		multiplex = *rootCfg.Multiplex
	}
	if v, ok := ParseSwitch(opt.MultiplexEnv); ok {
		multiplex, known = v, true
	}
	st.Multiplex = multiplex

	def := profileInput{name: DefaultProfile, dir: root, intent: rootIntent}
	st.Services = make([]Service, 0, len(named)+1)
	if !st.Held[DefaultProfile] {
		svc := newService(opt.Renderer, def)
		if multiplex {
			foldInto(&svc, named)
		}
		st.Services = append(st.Services, svc)
	}
	for _, p := range named {
		svc := newService(opt.Renderer, p)
		switch {
		case !known:
			// Without a readable root config.yaml nobody can say whether
			// named gateways may run: create them down and touch no run state.
			svc.WantUp, svc.Enforce, svc.Reason = false, false, "topology_unknown"
		case multiplex:
			svc.WantUp, svc.Enforce, svc.Reason = false, true, "multiplex"
		}
		st.Services = append(st.Services, svc)
	}
	if !known && len(st.Services) > 0 && st.Services[0].Profile == DefaultProfile {
		st.Services[0].Enforce = false
	}
	return st, nil
}

func newService(rd *Renderer, p profileInput) Service {
	svc := Service{
		Profile: p.name,
		Slot:    SlotName(p.name),
		Dir:     p.dir,
		Spec:    rd.Render(p.name),
		WantUp:  p.intent.Intent == IntentRunning,
		Enforce: p.intent.Explicit,
		Intent:  p.intent,
	}
	switch p.intent.Intent {
	case IntentRunning:
		svc.Reason = "intent_running"
	case IntentStopped:
		svc.Reason = "intent_stopped"
	default:
		svc.Reason = "no_intent"
	}
	return svc
}

// foldInto makes the default slot serve every named profile that wants to
// run: in multiplex topology one root gateway runs them all.
func foldInto(def *Service, named []profileInput) {
	for _, p := range named {
		if p.intent.Intent != IntentRunning {
			continue
		}
		def.Folded = append(def.Folded, p.name)
		// An explicit running intent folded in is the operator's word for
		// the root gateway. An explicit stop of a named profile is not: it
		// must not stop a root gateway whose own intent is legacy.
		if p.intent.Explicit {
			def.Enforce = true
		}
	}
	if len(def.Folded) > 0 && !def.WantUp {
		def.WantUp, def.Reason = true, "multiplex"
	}
}

// readNamed lists profiles/, sorted by name, skipping and diagnosing what is
// not a usable profile.
func (st *State) readNamed(root string, diag func(Diagnostic)) []profileInput {
	pdir := filepath.Join(root, "profiles")
	entries, err := os.ReadDir(pdir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		st.Incomplete = true
		diag(Diagnostic{Severity: Error, Path: pdir, Message: fmt.Sprintf("cannot list profiles: %v; no slot will be removed", unwrapPath(err))})
		return nil
	}
	st.readTombstones(pdir, diag)
	var out []profileInput
	for _, e := range entries {
		name := e.Name()
		dir := filepath.Join(pdir, name)
		switch {
		case name[0] == '.':
			continue // .deleted/, and staging dirs of a `hermes profile create`
		case name == DefaultProfile:
			diag(Diagnostic{Severity: Warning, Path: dir, Message: "profiles/default/ skipped: it would collide with the root profile's slot gateway-default"})
			continue
		}
		if err := ValidName(name); err != nil {
			diag(Diagnostic{Severity: Error, Path: dir, Message: err.Error() + "; no slot"})
			continue
		}
		if st.Tombstoned[name] {
			continue
		}
		p, ok := st.readProfile(name, dir, e.Type(), diag)
		if ok {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

func (st *State) readTombstones(pdir string, diag func(Diagnostic)) {
	dd := filepath.Join(pdir, ".deleted")
	tombs, err := os.ReadDir(dd)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err != nil {
		// Without the tombstones a deleted profile would look alive: that
		// keeps its slot, which is the safe side.
		diag(Diagnostic{Severity: Error, Path: dd, Message: fmt.Sprintf("cannot list tombstones: %v", unwrapPath(err))})
		return
	}
	for _, t := range tombs {
		st.Tombstoned[t.Name()] = true
	}
}

// readProfile decides whether profiles/<name> is a profile and reads it.
func (st *State) readProfile(name, dir string, typ fs.FileMode, diag func(Diagnostic)) (profileInput, bool) {
	hold := func(msg string) (profileInput, bool) {
		st.Held[name] = true
		diag(Diagnostic{Severity: Error, Profile: name, Path: dir, Message: msg})
		return profileInput{}, false
	}
	if typ&fs.ModeSymlink != 0 {
		return hold("symlinked profile not followed; its slot is left as it is")
	}
	if !typ.IsDir() {
		return profileInput{}, false
	}
	marker := false
	for _, f := range []string{"SOUL.md", ConfigFile} {
		_, err := os.Lstat(filepath.Join(dir, f))
		if err == nil {
			marker = true
			continue
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return hold(fmt.Sprintf("cannot read profile: %v; its slot is left as it is", unwrapPath(err)))
		}
	}
	if !marker {
		if _, err := os.ReadDir(dir); err != nil {
			return hold(fmt.Sprintf("cannot read profile: %v; its slot is left as it is", unwrapPath(err)))
		}
		return profileInput{}, false // a directory without SOUL.md or config.yaml is not a profile
	}
	if _, ok := readConfig(dir, name, diag); !ok {
		st.Held[name] = true
		return profileInput{}, false
	}
	intent, d := readIntent(dir, name)
	if d != nil {
		diag(*d)
	}
	return profileInput{name: name, dir: dir, intent: intent}, true
}

// readConfig parses dir/config.yaml. ok is false (with a diagnostic) when
// the file exists but cannot be used; a missing file is fine.
func readConfig(dir, profile string, diag func(Diagnostic)) (GatewayConfig, bool) {
	path := filepath.Join(dir, ConfigFile)
	data, err := ReadInput(path)
	if errors.Is(err, fs.ErrNotExist) {
		return GatewayConfig{}, true
	}
	if err != nil {
		diag(Diagnostic{Severity: Error, Profile: profile, Path: path, Message: unwrapPath(err).Error() + "; slot left as it is"})
		return GatewayConfig{}, false
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		line := 0
		var ce *ConfigError
		if errors.As(err, &ce) {
			line = ce.Line
		}
		diag(Diagnostic{Severity: Error, Profile: profile, Path: path, Line: line, Message: err.Error() + "; slot left as it is"})
		return GatewayConfig{}, false
	}
	return cfg, true
}

// unwrapPath drops the path from an *fs.PathError: diagnostics name the path
// once, themselves.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// isEmptyDir reports whether dir has no entry at all; it reads one name,
// not the whole listing, since Load asks on every pass.
func isEmptyDir(dir string) bool {
	f, err := os.Open(dir)
	if err != nil {
		return false
	}
	defer f.Close()
	_, err = f.Readdirnames(1)
	return errors.Is(err, io.EOF)
}
