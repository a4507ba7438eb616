package desired

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// claimInput is what the claim rules read for one gateway: the
// environment it would run with and its config.yaml platform blocks. Each
// rule adds what the gateway would claim to out.
type claimInput struct {
	env   *gatewayEnv
	plats platformConfigs
	// home is the gateway's HERMES_HOME, the profile directory.
	home string
	out  Claims
}

// get is os.getenv(k, ""); has says whether k is set at all.
func (in *claimInput) get(k string) string { return in.env.get(k) }
func (in *claimInput) has(k string) bool   { _, ok := in.env.lookup(k); return ok }

// src names where k's value comes from.
func (in *claimInput) src(k string) string { return in.env.source(k) }

// envOn is Hermes's `os.getenv(k, "").lower() in {"true", "1", "yes"}`.
func (in *claimInput) envOn(k string) bool {
	switch strings.ToLower(in.get(k)) {
	case "true", "1", "yes":
		return true
	}
	return false
}

// on and off are an explicit enabled: true and an explicit enabled: false
// (or anything Hermes does not read as true) in config.yaml.
func (in *claimInput) on(plat string) bool {
	p := in.plats[plat]
	return p.enabledSet && coerceEnabled(p.enabled, in.text(p.enabled))
}

func (in *claimInput) off(plat string) bool { return in.plats[plat].enabledSet && !in.on(plat) }

// text is a config.yaml scalar as the gateway reads it: a string with its
// ${VAR} expanded against the gateway's environment.
func (in *claimInput) text(s yamlScalar) string {
	if s.tag == "!!str" {
		return expandConfig(s.v.Reveal(), in.env.lookup)
	}
	return s.v.Reveal()
}

// token is the platform block's token ("" when it has none) and where it came from.
func (in *claimInput) token(plat string) (string, string) {
	return in.text(in.plats[plat].token), "config.yaml " + plat + " token"
}

// extra is the platform block's extra.<key>, and where it came from; ""
// when absent.
func (in *claimInput) extra(plat, key string) (string, string) {
	s, ok := in.plats[plat].extra[key]
	if !ok {
		return "", ""
	}
	return in.text(s), "config.yaml " + plat + " extra." + key
}

// firstOf is Python's `a or b or ...` over (value, source) pairs: the
// first non-empty value.
func firstOf(pairs ...[2]string) (string, string) {
	for _, p := range pairs {
		if p[0] != "" {
			return p[0], p[1]
		}
	}
	return "", ""
}

// envPair and extraPair are (value, source) pairs for firstOf.
func (in *claimInput) envPair(k string) [2]string { return [2]string{in.get(k), in.src(k)} }
func (in *claimInput) extraPair(plat, key string) [2]string {
	v, from := in.extra(plat, key)
	return [2]string{v, from}
}

// envPort is utils.env_int(k, def): the variable as an integer, def when
// it is unset, empty or not a number.
func (in *claimInput) envPort(k string, def int) (int, string) {
	if n, ok := pyInt(in.get(k)); ok {
		return n, in.src(k)
	}
	return def, "default"
}

// extraPort is the platform block's extra.<key> as a port, def when it is
// absent; a value that is not a number falls back to def too (Hermes
// mostly does, where it does not the adapter fails and binds nothing).
func (in *claimInput) extraPort(plat, key string, def int) (int, string, bool) {
	s, ok := in.plats[plat].extra[key]
	if !ok {
		return def, "default", false
	}
	if s.isInt {
		return int(s.i), "config.yaml " + plat + " extra." + key, true
	}
	if n, ok := pyInt(in.text(s)); ok {
		return n, "config.yaml " + plat + " extra." + key, true
	}
	return def, "default", true
}

// credential records a claim on a credential, when there is one.
func (in *claimInput) credential(scope, kind, identity, from string) {
	if strings.TrimSpace(identity) != "" {
		in.out = append(in.out, credentialClaim(scope, kind, identity, from))
	}
}

// port records a claim on a listening port. Port 0 asks the kernel for any
// free port and conflicts with nothing; a number out of range binds
// nothing.
func (in *claimInput) port(listener string, port int, from string) {
	if port > 0 && port <= 65535 {
		in.out = append(in.out, portClaim(listener, port, from))
	}
}

// pyInt is Python's int(s) on a string: blanks around, an optional sign,
// decimal digits with single underscores between them.
func pyInt(s string) (int, bool) {
	s = strings.TrimFunc(s, unicode.IsSpace)
	t := strings.TrimLeft(s, "+-")
	if len(s)-len(t) > 1 || t == "" || t[0] == '_' || t[len(t)-1] == '_' || strings.Contains(t, "__") {
		return 0, false
	}
	n, err := strconv.Atoi(s[:len(s)-len(t)] + strings.ReplaceAll(t, "_", ""))
	return n, err == nil
}

// placeholders are the values Hermes refuses as a secret
// (hermes_cli/auth.py, _PLACEHOLDER_SECRET_VALUES).
var placeholders = map[string]bool{"*": true, "**": true, "***": true, "changeme": true,
	"your_api_key": true, "your_api_key_here": true, "your-api-key": true, "placeholder": true,
	"example": true, "dummy": true, "null": true, "none": true}

// usableSecret is Hermes's has_usable_secret: long enough and not a
// placeholder. A bot token that fails it disables its platform; an API
// server key that fails it (16 characters) keeps the server from binding.
func usableSecret(v string, minLen int) bool {
	v = strings.TrimSpace(v)
	return utf8.RuneCountInString(v) >= minLen && !placeholders[strings.ToLower(v)]
}
