package desired

import "strings"

// gatewayEnv is the environment a gateway would run with, built as
// Hermes's env_loader builds os.environ: what the unit hands down
// (inherited), then the profile's .env, then the managed .env, each
// loaded with override=True so the later layer wins. It holds the values
// the layers set, never a copy of the inherited map.
type gatewayEnv struct {
	inherited map[string]string
	set       map[string]string
	// from names the layer that set each key of set.
	from map[string]string
	// loaded: a .env was loaded, after which Hermes strips non-ASCII from
	// credential variables (env_loader._sanitize_loaded_credentials).
	loaded bool
}

func newGatewayEnv(inherited map[string]string) *gatewayEnv {
	return &gatewayEnv{inherited: inherited, set: map[string]string{}, from: map[string]string{}}
}

// lookup is os.getenv(k): the value and whether k is set at all.
func (e *gatewayEnv) lookup(k string) (string, bool) {
	v, ok := e.set[k]
	if !ok {
		v, ok = e.inherited[k]
	}
	if ok && e.loaded && isCredentialName(k) {
		v = asciiOnly(v)
	}
	return v, ok
}

// get is os.getenv(k, ""): "" when unset.
func (e *gatewayEnv) get(k string) string {
	v, _ := e.lookup(k)
	return v
}

// source names where k's value comes from, by name only.
func (e *gatewayEnv) source(k string) string {
	if l, ok := e.from[k]; ok {
		return k + " (" + l + ")"
	}
	return k + " (inherited)"
}

// load applies a .env file's bindings as python-dotenv's
// load_dotenv(override=True) does: each value's ${VAR} and ${VAR:-default}
// expanded against the file's earlier bindings, then the environment as it
// stands; then every key the file gives a value overrides the environment.
// A bare KEY sets nothing, and hides KEY from later references in the same
// file, as it does in python-dotenv.
func (e *gatewayEnv) load(bindings []Binding, label string) {
	vals := map[string]string{}
	bare := map[string]bool{}
	ref := func(name string, def *string) string {
		if v, ok := vals[name]; ok {
			return v
		}
		if bare[name] {
			return ""
		}
		if v, ok := e.lookup(name); ok {
			return v
		}
		if def != nil {
			return *def
		}
		return ""
	}
	for _, b := range bindings {
		if !b.Set {
			delete(vals, b.Key)
			bare[b.Key] = true
			continue
		}
		// Expanded before it is recorded: a reference to the key itself
		// sees what came before.
		v := expandDotEnv(b.Value.Reveal(), ref)
		delete(bare, b.Key)
		vals[b.Key] = v
	}
	for k, v := range vals {
		e.set[k], e.from[k] = v, label
	}
	e.loaded = true
}

// expandDotEnv expands python-dotenv's ${NAME} and ${NAME:-default} (the
// only forms it knows: no bare $NAME), left to right.
func expandDotEnv(s string, ref func(name string, def *string) string) string {
	if !strings.Contains(s, "${") {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		name, def, n, ok := dotenvVar(s[i:])
		if !ok {
			b.WriteString(s[:i+1])
			s = s[i+1:]
			continue
		}
		b.WriteString(s[:i])
		b.WriteString(ref(name, def))
		s = s[i+n:]
	}
}

// dotenvVar matches \$\{([^}:]*)(?::-([^}]*))?\} at the start of s.
func dotenvVar(s string) (name string, def *string, n int, ok bool) {
	end := strings.IndexAny(s[2:], "}:")
	if end < 0 {
		return "", nil, 0, false
	}
	name, rest := s[2:2+end], s[2+end:]
	if rest[0] == '}' {
		return name, nil, 2 + end + 1, true
	}
	if !strings.HasPrefix(rest, ":-") {
		return "", nil, 0, false
	}
	close := strings.IndexByte(rest[2:], '}')
	if close < 0 {
		return "", nil, 0, false
	}
	d := rest[2 : 2+close]
	return name, &d, 2 + end + 2 + close + 1, true
}

// expandConfig is Hermes's _expand_env_vars on one config.yaml string:
// ${NAME} becomes NAME's value; a NAME that is not set stays as written.
func expandConfig(s string, lookup func(string) (string, bool)) string {
	if !strings.Contains(s, "${") {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		j := -1
		if i >= 0 {
			j = strings.IndexByte(s[i+2:], '}')
		}
		if i < 0 || j <= 0 {
			if i >= 0 && j == 0 { // ${} matches nothing: keep it, go on after it
				b.WriteString(s[:i+3])
				s = s[i+3:]
				continue
			}
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		name := s[i+2 : i+2+j]
		if v, ok := lookup(name); ok {
			b.WriteString(v)
		} else {
			b.WriteString(s[i : i+2+j+1])
		}
		s = s[i+2+j+1:]
	}
}

// isCredentialName is env_loader's _CREDENTIAL_SUFFIXES test.
func isCredentialName(k string) bool {
	for _, suf := range []string{"_API_KEY", "_TOKEN", "_SECRET", "_KEY"} {
		if strings.HasSuffix(k, suf) {
			return true
		}
	}
	return false
}

// asciiOnly drops every non-ASCII character, as Hermes does to credential
// variables (they become HTTP headers).
func asciiOnly(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return strings.Map(func(r rune) rune {
				if r >= 0x80 {
					return -1
				}
				return r
			}, s)
		}
	}
	return s
}
