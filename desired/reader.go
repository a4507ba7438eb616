package desired

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"
)

// Options are the inputs of a Reader besides the filesystem.
type Options struct {
	// MultiplexEnv is GATEWAY_MULTIPLEX_PROFILES as found in the environment
	// ("" when unset); it overrides config.yaml when it is a clear word, for
	// the Hermes releases that read it.
	MultiplexEnv string
	// Topology forces the topology, or (auto, "") decides it as the Hermes
	// installed at HermesRoot does (TopologyRules).
	Topology TopologyMode
	// HermesRoot is the Hermes checkout whose version decides the
	// topology ("" : none, the version is unknown).
	HermesRoot string
	// HermesVersion, when set, is the installed Hermes's version, told
	// rather than read (a cluster's gateway image): HermesRoot is not read.
	// HermesVersionFrom says who told it (default --hermes-version).
	HermesVersion, HermesVersionFrom string
	// Boot says the engine stands in for Hermes's container boot (s6):
	// the boot's own topology rules apply.
	Boot bool

	// Claims turns on reading what each service's gateway would claim
	// (Service.Claims): its .env, the managed .env and config.yaml's
	// platform blocks. Off (the default), none of that is read.
	Claims bool
	// InheritedEnv is the environment every gateway inherits from the
	// unit that runs it, before any .env: the caller fills it (for s6, the
	// container's environment plus the values rendered with --env). Nil is
	// an empty environment. It must not change while the Reader is used.
	InheritedEnv map[string]string
	// ManagedEnvFile is the managed scope's .env, which every gateway
	// loads last, over its own. Default: $HERMES_MANAGED_DIR/.env when the
	// gateway's environment (inherited, then its profile's .env) sets
	// HERMES_MANAGED_DIR, else /etc/hermes/.env, as Hermes resolves it. A
	// path that does not exist means no managed scope.
	ManagedEnvFile string
}

// Reader reads the profiles under one root, all of them or some keys. It
// only reads; bad input becomes a Diagnostic of its profile, never an error
// that stops the others.
type Reader struct {
	layout Layout
	opt    Options
	cache  *cache
	// named is every named profile as last read. A keyed load folds the
	// running intents of a multiplexed topology into default from it,
	// without reading every profile again; listed says a full load filled it.
	named  map[Key]profileInput
	listed bool
	// hermes is the installed Hermes as last read (a full load reads it
	// again); read says it was.
	hermes     HermesInstall
	hermesRead bool
	// pass holds what one load shares between profiles (the managed
	// .env); memo each profile's claims and the inputs they came from.
	pass *claimPass
	memo map[string]claimMemo
	// inherited is the claims of a gateway with nothing of its own.
	inherited *inheritedMemo
}

type profileInput struct {
	name   Key
	dir    string
	intent IntentRecord
	// intentAt is when the intent file first said intent; touched when it
	// was last written, whatever it said; inputsAt when config.yaml or .env
	// last was.
	intentAt, touched, inputsAt time.Time
	// claims are what its gateway would claim (Options.Claims).
	claims Claims
}

// NewReader returns a reader of the profiles under home's root.
func NewReader(home string, opt Options) *Reader {
	return &Reader{layout: NewLayout(home), opt: opt, named: map[Key]profileInput{}, cache: newCache(opt.Claims),
		memo: map[string]claimMemo{}}
}

// Layout is the layout the reader reads.
func (r *Reader) Layout() Layout { return r.layout }

// Load reads every profile under the root of home.
func Load(home string, opt Options) (State, error) { return NewReader(home, opt).Load(nil) }

// Load reads the profiles keys name (nil: every profile). The root's
// config.yaml is read every time: the topology it sets decides every
// service.
func (r *Reader) Load(keys []Key) (State, error) {
	root := r.layout.Root
	fi, err := os.Stat(root)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return State{}, fmt.Errorf("%w: %s does not exist (is the volume mounted? set --home or HERMES_HOME)", ErrHomeMissing, root)
	case isDenied(err):
		return State{}, fmt.Errorf("%w: %s: %s", ErrHomeUnreadable, root, permissionHint(root))
	case err != nil:
		return State{}, fmt.Errorf("%w: %w", ErrHomeMissing, err)
	case !fi.IsDir():
		return State{}, fmt.Errorf("%w: %s is a file, not a directory (set --home or HERMES_HOME to the profile root)", ErrHomeMissing, root)
	}
	if keys != nil {
		keys = slices.Clone(keys)
		slices.Sort(keys)
		keys = slices.Compact(keys)
	}
	st := State{Root: root, Keys: keys, Held: map[Key]bool{}, Tombstoned: map[Key]bool{}}
	r.pass = newClaimPass()
	withDefault := st.Covers(DefaultProfile)
	var rootDiags []Diagnostic
	rootDenied := false
	rootDiag := func(d Diagnostic) {
		if !(rootDenied && d.Denied) { // one line says the root is refused us
			rootDiags = append(rootDiags, d)
		}
	}
	diag := func(d Diagnostic) {
		if !(rootDenied && d.Denied) {
			st.Diagnostics = append(st.Diagnostics, d)
		}
	}

	if has, err := hasHermesData(root); isDenied(err) {
		rootDenied = true
		// Nothing under the root can be read: no profile is known, none may
		// be removed, and the run fails saying whose the root is.
		st.Incomplete = true
		rootDiags = append(rootDiags, denied(DefaultProfile, root, "cannot read HERMES_HOME; no slot will be removed"))
	} else if !has {
		// A volume that is not mounted (or swapped) looks like this: empty,
		// or only the logs/ our own loggers make. It must not read as
		// "every profile was deleted".
		st.Incomplete = true
		what := "holds no Hermes data (no config.yaml, SOUL.md, .env, profiles/ or gateway_state.json; not mounted?)"
		if isEmptyDir(root) {
			what = "is empty (not mounted?)"
		}
		rootDiag(Diagnostic{Severity: Warning, Profile: DefaultProfile, Path: root,
			Message: "HERMES_HOME " + what + ": no slot will be removed; check the volume and --home (HERMES_HOME)"})
	}
	rootCfg, cfgOK := r.readConfig(root, DefaultProfile, rootDiag)
	rootIntent, d := r.readIntent(root, DefaultProfile)
	rootIntent.name, rootIntent.dir = DefaultProfile, root
	if d != nil {
		rootDiag(*d)
	}
	envHeld := false
	if r.opt.Claims && withDefault {
		var diags []Diagnostic
		rootIntent.claims, diags, envHeld = r.claimsOf(DefaultProfile, root)
		for _, d := range diags {
			rootDiag(d)
		}
	}
	rootIntent.inputsAt = r.inputsAt(root)
	if withDefault {
		st.Diagnostics = append(st.Diagnostics, rootDiags...)
		if (!cfgOK || envHeld) && !r.rootDenied() {
			// A broken root config.yaml (or a .env we cannot read, when
			// claims are read) holds default as it is; one we may not
			// read leaves it registered, its run state untouched (the
			// topology is unknown).
			st.Held[DefaultProfile] = true
		}
	}

	var named []profileInput
	if keys == nil {
		named = r.list(&st, diag)
	} else {
		for _, k := range keys {
			if k == DefaultProfile || ValidName(k) != nil {
				continue
			}
			if p, ok := r.readKey(&st, k, diag); ok {
				named = append(named, p)
			}
		}
	}

	if keys == nil || !r.hermesRead {
		r.readHermes()
	}
	topo := r.topology(rootCfg, cfgOK)
	multiplex, known := topo.Multiplex, topo.Known
	st.Topology, st.Multiplex = topo, multiplex
	if withDefault {
		if d := r.perProfileRisk(rootCfg); d != nil {
			st.Diagnostics = append(st.Diagnostics, *d)
		}
	}

	st.Services = make([]Service, 0, len(named)+1)
	if withDefault && !st.Held[DefaultProfile] {
		svc := newService(rootIntent)
		if multiplex {
			foldInto(&svc, r.allNamed())
		}
		if !known {
			// Without a readable root config.yaml nobody can say whether
			// named gateways may run: touch no run state.
			svc.Enforce = false
		}
		st.Services = append(st.Services, svc)
	}
	for _, p := range named {
		svc := newService(p)
		switch {
		case !known:
			svc.WantUp, svc.Enforce, svc.Reason = false, false, ReasonTopologyUnknown
		case multiplex:
			svc.WantUp, svc.Enforce, svc.Reason = false, true, ReasonMultiplex
		}
		st.Services = append(st.Services, svc)
	}
	st.Diagnostics = append(st.Diagnostics, r.pass.diags...)
	return st, nil
}

// Topology is what the root config.yaml, read again, makes the topology:
// multiplex or per-profile, and whether that is known at all (a broken root
// config.yaml, where the rule reads it: it is not).
func (r *Reader) Topology() Topology {
	res, _, _ := r.cache.config(filepath.Join(r.layout.Root, ConfigFile))
	return r.topology(res.cfg, res.ok)
}

func (r *Reader) topology(rootCfg GatewayConfig, cfgOK bool) Topology {
	return DecideTopology(r.opt.Topology, r.opt.Boot, r.hermes, rootCfg.Multiplex, cfgOK, r.opt.MultiplexEnv)
}

// readHermes reads the installed Hermes's version (auto topology only).
func (r *Reader) readHermes() {
	r.hermesRead = true
	if v := r.opt.HermesVersion; v != "" {
		from := r.opt.HermesVersionFrom
		if from == "" {
			from = "--hermes-version"
		}
		r.hermes = parsedInstall(v, from)
		return
	}
	if r.opt.HermesRoot == "" {
		r.hermes = HermesInstall{Err: errors.New("no --hermes-root")}
		return
	}
	r.hermes = ReadHermes(r.opt.HermesRoot)
}

// Hermes is the installed Hermes as the last load read it.
func (r *Reader) Hermes() HermesInstall { return r.hermes }

// perProfileRisk warns when the operator forced per-profile gateways
// beside a Hermes whose root gateway multiplexes unless told not to: it
// would serve the named profiles too, on their bot tokens.
func (r *Reader) perProfileRisk(rootCfg GatewayConfig) *Diagnostic {
	if r.opt.Topology != TopologyPerProfile {
		return nil
	}
	if v, ok := ParseSwitch(r.opt.MultiplexEnv); (ok && !v) || (rootCfg.Multiplex != nil && !*rootCfg.Multiplex) {
		return nil
	}
	h := r.hermes
	if h.Known && h.Version.Less(multiplexDefault) {
		return nil
	}
	what := "Hermes " + h.Version.String()
	if !h.Known {
		what = "a Hermes of unknown version"
	}
	return &Diagnostic{Severity: Warning, Profile: DefaultProfile, Path: filepath.Join(r.layout.Root, ConfigFile),
		Message: fmt.Sprintf("--topology per-profile beside %s, whose root gateway multiplexes unless told not to (from %s, %s): "+
			"it may serve the named profiles too, on their bot tokens; set gateway.multiplex_profiles: false (and gateway.auto_multiplex_migration: false) here",
			what, multiplexDefault, TopologyRules[1].Change)}
}

func newService(p profileInput) Service {
	svc := Service{
		Profile:  p.name,
		Dir:      p.dir,
		WantUp:   p.intent.Intent == IntentRunning,
		Enforce:  p.intent.Explicit,
		Intent:   p.intent,
		IntentAt: p.intentAt,
		Touched:  p.touched,
		InputsAt: p.inputsAt,
		Claims:   p.claims,
	}
	switch p.intent.Intent {
	case IntentRunning:
		svc.Reason = ReasonIntentRunning
	case IntentStopped:
		svc.Reason = ReasonIntentStopped
	default:
		svc.Reason = ReasonNoIntent
	}
	return svc
}

// foldInto makes the default service serve every named profile that wants
// to run: in multiplex topology one root gateway runs them all.
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
		def.WantUp, def.Reason = true, ReasonMultiplex
	}
}

// allNamed is every named profile as last read, sorted; the first keyed
// load that needs it lists profiles/ once.
func (r *Reader) allNamed() []profileInput {
	if !r.listed {
		scratch := State{Held: map[Key]bool{}, Tombstoned: map[Key]bool{}}
		r.list(&scratch, func(Diagnostic) {})
	}
	out := make([]profileInput, 0, len(r.named))
	for _, p := range r.named {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// list reads every entry of profiles/, sorted by name, skipping and
// diagnosing what is not a usable profile, and remembers what it read.
func (r *Reader) list(st *State, diag func(Diagnostic)) []profileInput {
	pdir := r.layout.ProfilesDir()
	entries, err := os.ReadDir(pdir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		st.Incomplete = true
		if isDenied(err) {
			diag(denied("", pdir, "cannot list profiles; no slot will be removed"))
		} else {
			diag(Diagnostic{Severity: Error, Path: pdir, Message: fmt.Sprintf("cannot list profiles: %v; no slot will be removed", unwrapPath(err))})
		}
		return nil
	}
	r.named, r.listed = map[Key]profileInput{}, true
	if err != nil {
		return nil // no profiles/: no named profiles
	}
	r.readTombstones(st, diag)
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
		if p, ok := r.readProfile(st, name, dir, e.Type(), diag); ok {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

func (r *Reader) readTombstones(st *State, diag func(Diagnostic)) {
	dd := r.layout.TombstonesDir()
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

// readKey reads one named profile the way list does for each entry.
func (r *Reader) readKey(st *State, k Key, diag func(Diagnostic)) (profileInput, bool) {
	delete(r.named, k)
	tomb := r.layout.Tombstone(k)
	switch _, err := os.Lstat(tomb); {
	case err == nil:
		st.Tombstoned[k] = true
		return profileInput{}, false
	case !errors.Is(err, fs.ErrNotExist):
		diag(Diagnostic{Severity: Error, Profile: k, Path: tomb, Message: fmt.Sprintf("cannot read tombstone: %v", unwrapPath(err))})
	}
	dir := r.layout.Dir(k)
	fi, err := os.Lstat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return profileInput{}, false // gone
	case isDenied(err):
		st.Held[k] = true
		diag(denied(k, dir, "cannot read profile; its slot is left as it is"))
		return profileInput{}, false
	case err != nil:
		st.Held[k] = true
		diag(Diagnostic{Severity: Error, Profile: k, Path: dir, Message: fmt.Sprintf("cannot read profile: %v; its slot is left as it is", unwrapPath(err))})
		return profileInput{}, false
	}
	return r.readProfile(st, k, dir, fi.Mode().Type(), diag)
}

// readProfile decides whether profiles/<name> is a profile and reads it.
func (r *Reader) readProfile(st *State, name Key, dir string, typ fs.FileMode, diag func(Diagnostic)) (profileInput, bool) {
	hold := func(msg string) (profileInput, bool) {
		st.Held[name] = true
		diag(Diagnostic{Severity: Error, Profile: name, Path: dir, Message: msg})
		return profileInput{}, false
	}
	holdDenied := func() (profileInput, bool) {
		st.Held[name] = true
		diag(denied(name, dir, "cannot read profile; its slot is left as it is"))
		return profileInput{}, false
	}
	if typ&fs.ModeSymlink != 0 {
		return hold("symlinked profile not followed; its slot is left as it is")
	}
	if !typ.IsDir() {
		return profileInput{}, false
	}
	_, err := os.Lstat(filepath.Join(dir, SoulFile))
	soul := err == nil
	if isDenied(err) {
		return holdDenied()
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return hold(fmt.Sprintf("cannot read profile: %v; its slot is left as it is", unwrapPath(err)))
	}
	cfg, d, hasConfig := r.cache.config(filepath.Join(dir, ConfigFile))
	if !soul && !hasConfig {
		if _, err := os.ReadDir(dir); isDenied(err) {
			return holdDenied()
		} else if err != nil {
			return hold(fmt.Sprintf("cannot read profile: %v; its slot is left as it is", unwrapPath(err)))
		}
		return profileInput{}, false // a directory without SOUL.md or config.yaml is not a profile
	}
	if !cfg.ok {
		st.Held[name] = true
		diag(withProfile(d, name))
		return profileInput{}, false
	}
	p, d := r.readIntent(dir, name)
	if d != nil {
		diag(*d)
	}
	if r.opt.Claims {
		claims, diags, hold := r.claimsOf(name, dir)
		for _, d := range diags {
			diag(d)
		}
		if hold {
			st.Held[name] = true
			return profileInput{}, false
		}
		p.claims = claims
	}
	p.name, p.dir, p.inputsAt = name, dir, r.inputsAt(dir)
	r.named[name] = p
	return p, true
}

// readConfig parses dir/config.yaml. ok is false (with a diagnostic) when
// the file exists but cannot be used; a missing file is fine.
func (r *Reader) readConfig(dir string, profile Key, diag func(Diagnostic)) (GatewayConfig, bool) {
	res, d, _ := r.cache.config(filepath.Join(dir, ConfigFile))
	if d != nil {
		diag(withProfile(d, profile))
	}
	return res.cfg, res.ok
}

// readIntent reads dir/gateway_state.json. A missing file is no intent and no
// diagnostic; anything unreadable or corrupt is a Warning diagnostic.
func (r *Reader) readIntent(dir string, profile Key) (profileInput, *Diagnostic) {
	path := filepath.Join(dir, StateFile)
	rec, d, _, _ := r.cache.intent(path)
	var p profileInput
	if e, ok := r.cache.intents[path]; ok && !e.missing {
		p.intentAt, p.touched = time.Unix(0, e.changed), time.Unix(0, e.st.Mtime)
	}
	if d != nil {
		w := withProfile(d, profile)
		return p, &w
	}
	p.intent = rec
	return p, nil
}

// inputsAt is when dir's config.yaml or .env was last written: from the
// cache's stamps, or .env with one lstat when claims, which read it, are
// off.
func (r *Reader) inputsAt(dir string) time.Time {
	var t int64
	if e, ok := r.cache.configs[filepath.Join(dir, ConfigFile)]; ok && !e.missing {
		t = e.st.Mtime
	}
	if r.opt.Claims {
		if e, ok := r.cache.envs[filepath.Join(dir, EnvFile)]; ok && !e.missing {
			t = max(t, e.st.Mtime)
		}
	} else if st, _, err := StatFile(filepath.Join(dir, EnvFile)); err == nil {
		t = max(t, st.Mtime)
	}
	if t == 0 {
		return time.Time{}
	}
	return time.Unix(0, t)
}

// IntentChanged reads profile k's intent file again and reports whether it
// says something else than at the last read: it appeared or went, or holds
// another intent. A running gateway rewrites the file at every turn with the
// same intent; that is no change, and costs this one read.
func (r *Reader) IntentChanged(k Key) bool {
	path := filepath.Join(r.layout.Dir(k), StateFile)
	prev, had := r.cache.intents[path]
	r.cache.intentAs(path, false) // an event named it: most likely rewritten
	cur := r.cache.intents[path]
	switch {
	case !had:
		return true // never read: only a load can say
	case prev.missing || cur.missing:
		return prev.missing != cur.missing
	}
	return !sameParse(prev, cur)
}

// CacheStats are how many input files the reader looked up and how many of
// those it had to read and parse again.
func (r *Reader) CacheStats() (lookups, reads int) { return r.cache.stats, r.cache.reads }

func withProfile(d *Diagnostic, k Key) Diagnostic {
	out := *d
	out.Profile = k
	return out
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

// hermesMarkers are the entries only a Hermes root holds; the loggers'
// logs/ is not one of them.
var hermesMarkers = []string{profilesDir, ConfigFile, SoulFile, EnvFile, StateFile}

// hasHermesData reports whether root holds any Hermes marker: one stat
// when it does (profiles/ first, the common case). A root we may not look
// into is a permission error, not an empty volume.
func hasHermesData(root string) (bool, error) {
	for _, m := range hermesMarkers {
		_, err := os.Lstat(filepath.Join(root, m))
		switch {
		case err == nil:
			return true, nil
		case isDenied(err):
			return false, err
		}
	}
	return false, nil
}

// rootDenied reports whether the root config.yaml was refused us: its
// last lookup was a permission error.
func (r *Reader) rootDenied() bool {
	_, d, _ := r.cache.config(filepath.Join(r.layout.Root, ConfigFile))
	return d != nil && d.Denied
}

// isEmptyDir reports whether dir has no entry at all; it reads one name,
// not the whole listing, since every load asks.
func isEmptyDir(dir string) bool {
	f, err := os.Open(dir)
	if err != nil {
		return false
	}
	defer f.Close()
	_, err = f.Readdirnames(1)
	return errors.Is(err, io.EOF)
}
