package desired

import (
	"fmt"
	"path/filepath"
	"strings"
)

// DefaultManagedDir is the managed scope's directory when
// HERMES_MANAGED_DIR does not name one (hermes_cli/managed_scope.py).
const DefaultManagedDir = "/etc/hermes"

// claimPass is what one load shares between profiles: the managed .env,
// looked up (one stat, a read only when it changed) at most once per pass
// and path, and what reading it had to say.
type claimPass struct {
	managed map[string]managedEnv
	diags   []Diagnostic
}

type managedEnv struct {
	bindings []Binding
	exists   bool
	gen      uint64
}

func newClaimPass() *claimPass { return &claimPass{managed: map[string]managedEnv{}} }

// claimMemo is a profile's claims and the generations of the inputs they
// were computed from: while none changed, a pass reuses them.
type claimMemo struct {
	env, cfg, managed uint64
	managedPath       string
	claims            Claims
	diags             []Diagnostic
}

// claimsOf is what profile name's gateway, in dir, would claim, with the
// diagnostics of its .env; hold is true when its .env cannot be read:
// its claims are unknown, so its slot is left as it is. The caller has
// looked up dir's config.yaml this pass.
func (r *Reader) claimsOf(name Key, dir string) (Claims, []Diagnostic, bool) {
	envPath := filepath.Join(dir, EnvFile)
	env, exists, envGen := r.cache.dotenv(envPath)
	if env.err != nil {
		if isDenied(env.err) {
			return nil, []Diagnostic{denied(name, envPath, "cannot read .env; its slot is left as it is")}, true
		}
		return nil, []Diagnostic{{Severity: Error, Profile: name, Path: envPath,
			Message: fmt.Sprintf("cannot read .env: %v; its slot is left as it is", unwrapPath(env.err))}}, true
	}
	cfg := r.cache.configs[filepath.Join(dir, ConfigFile)]
	if !exists && len(cfg.val.platforms) == 0 {
		// Nothing of its own: what every such gateway inherits. Most
		// profiles of a fleet are this, and it is worked out once a pass.
		if c, ok := r.inheritedClaims(); ok {
			return c, nil, false
		}
	}
	if m, ok := r.memo[dir]; ok && m.env == envGen && m.cfg == cfg.gen && m.managed == r.managedEnv(m.managedPath).gen {
		return m.claims, m.diags, false
	}

	// The layers in Hermes's order (hermes_cli/env_loader.py): what the
	// unit hands down, the profile's own .env (a named profile never reads
	// the root's), then the managed .env over both.
	ge := newGatewayEnv(r.opt.InheritedEnv)
	if exists {
		ge.load(env.bindings, "profile .env")
	}
	mpath := r.managedPath(ge)
	managed := r.managedEnv(mpath)
	if managed.exists {
		ge.load(managed.bindings, "managed .env")
	}
	claims := gatewayClaims(ge, cfg.val.platforms, dir)

	var diags []Diagnostic
	for _, d := range env.diags {
		diags = append(diags, withProfile(&d, name))
	}
	diags = append(diags, portClashes(name, dir, claims)...)
	r.memo[dir] = claimMemo{env: envGen, cfg: cfg.gen, managed: managed.gen, managedPath: mpath, claims: claims, diags: diags}
	return claims, diags, false
}

// managedPath is the managed .env a gateway with environment ge loads.
func (r *Reader) managedPath(ge *gatewayEnv) string {
	if r.opt.ManagedEnvFile != "" {
		return r.opt.ManagedEnvFile
	}
	if d := strings.TrimSpace(ge.get("HERMES_MANAGED_DIR")); d != "" {
		return filepath.Join(d, EnvFile)
	}
	return filepath.Join(DefaultManagedDir, EnvFile)
}

// managedEnv is the managed .env at path, looked up once per pass. One
// that cannot be read is a warning, once a pass: Hermes itself would fail
// to start its gateways then, and the claims are computed without it.
func (r *Reader) managedEnv(path string) managedEnv {
	if m, ok := r.pass.managed[path]; ok {
		return m
	}
	f, exists, gen := r.cache.dotenv(path)
	m := managedEnv{bindings: f.bindings, exists: exists && f.err == nil, gen: gen}
	switch {
	case f.err != nil:
		r.pass.diags = append(r.pass.diags, Diagnostic{Severity: Warning, Path: path,
			Message: fmt.Sprintf("cannot read the managed .env: %v; the gateways' claims are computed without it", unwrapPath(f.err))})
	default:
		r.pass.diags = append(r.pass.diags, f.diags...)
	}
	r.pass.managed[path] = m
	return m
}

// portClashes warns of two listeners of one gateway on one port: Hermes
// starts one and the other fails to bind (the defaults collide: WeCom's
// callback and BlueBubbles on 8645, LINE and Microsoft Graph on 8646).
func portClashes(name Key, dir string, claims Claims) []Diagnostic {
	var out []Diagnostic
	first := map[int]string{}
	for _, c := range claims {
		if c.Scope != ScopePort {
			continue
		}
		if k, ok := first[c.Port]; ok {
			out = append(out, Diagnostic{Severity: Warning, Profile: name, Path: dir,
				Message: fmt.Sprintf("%s and %s in one gateway: one of them will fail to bind; give one another port", k, c.Kind)})
			continue
		}
		first[c.Port] = c.Kind
	}
	return out
}

// inheritedMemo is the claims of a gateway with nothing of its own: no
// .env, no platform in its config.yaml.
type inheritedMemo struct {
	managed     uint64
	managedPath string
	claims      Claims
	// perHome: one of the claims names the gateway's home (a WhatsApp
	// session), so it is not the same for every such gateway.
	perHome bool
}

// inheritedClaims are what a gateway with nothing of its own claims, from
// what it inherits and the managed .env; ok is false when they depend on
// the profile's directory and must be worked out for each.
func (r *Reader) inheritedClaims() (Claims, bool) {
	ge := newGatewayEnv(r.opt.InheritedEnv)
	mpath := r.managedPath(ge)
	managed := r.managedEnv(mpath)
	if m := r.inherited; m != nil && m.managedPath == mpath && m.managed == managed.gen {
		return m.claims, !m.perHome
	}
	if managed.exists {
		ge.load(managed.bindings, "managed .env")
	}
	claims := gatewayClaims(ge, nil, "")
	m := &inheritedMemo{managed: managed.gen, managedPath: mpath, claims: claims}
	for _, c := range claims {
		m.perHome = m.perHome || c.Scope == "whatsapp-session"
	}
	r.inherited = m
	return claims, !m.perHome
}
