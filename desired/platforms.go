package desired

import (
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// platformConfig is one platform's settings in config.yaml, merged from
// every block the gateway reads them from (gateway/config.py's
// load_gateway_config, and config_loader.merge_platform_sections in newer
// Hermes), in its order, later wins:
//
//  1. gateway.platforms.<p>
//  2. platforms.<p>
//  3. gateway.<p> (newer Hermes)
//
// with extra: merged key by key, and a block's other keys that Hermes has no
// typed field for (port: under platforms.api_server) promoted into extra
// unless extra says otherwise (newer Hermes; older ones drop them). A
// top-level <p>: block then has the last word on enabled, and (newer Hermes)
// on its adapter keys and extra. Only scalars are kept: nothing the claims
// need is a list or a mapping.
type platformConfig struct {
	// enabledSet says some block has an enabled: key at all (Hermes's
	// _enabled_explicit), which is what lets enabled: false beat a token in
	// the environment; enabled is its value (absent for a null).
	enabledSet bool
	enabled    yamlScalar
	token      yamlScalar
	extra      map[string]yamlScalar
}

// yamlScalar is one scalar value of config.yaml. Strings have their ${VAR}
// expanded against the gateway's environment when read (newer Hermes
// expands the whole file); other scalars are taken as they are. The zero
// value is an absent (or null) value.
type yamlScalar struct {
	v   Secret
	tag string
	// isInt: the scalar is a YAML integer, whose value is i.
	isInt bool
	i     int64
}

// platformConfigs are the platform blocks of one config.yaml, by the name
// Hermes gives the platform there.
type platformConfigs map[string]platformConfig

// typedKeys are the keys of a platform block that PlatformConfig has a
// field for; every other key is an adapter key, promoted into extra.
var typedKeys = map[string]bool{"enabled": true, "token": true, "api_key": true, "home_channel": true,
	"reply_to_mode": true, "gateway_restart_notification": true, "typing_indicator": true, "extra": true,
	"channel_overrides": true}

// rawPlatform is a platform's blocks merged, before typing.
type rawPlatform struct {
	keys, extra map[string]*yaml.Node
	enabledSet  bool
}

// parsePlatforms reads the blocks of the platforms named in known from the
// top-level mapping of a config.yaml (nil: an empty file).
func parsePlatforms(top *yaml.Node, known map[string]bool) platformConfigs {
	if top == nil || top.Kind != yaml.MappingNode {
		return nil
	}
	raws := map[string]*rawPlatform{}
	raw := func(name string) *rawPlatform {
		r := raws[name]
		if r == nil {
			r = &rawPlatform{keys: map[string]*yaml.Node{}, extra: map[string]*yaml.Node{}}
			raws[name] = r
		}
		return r
	}
	merge := func(name string, block *yaml.Node) {
		if !known[name] || block == nil || block.Kind != yaml.MappingNode {
			return
		}
		r := raw(name)
		eachPair(block, func(k string, v *yaml.Node) {
			switch {
			case k == "extra":
				eachPair(v, func(ek string, ev *yaml.Node) { r.extra[ek] = ev })
			default:
				r.keys[k] = v
				if k == "enabled" {
					r.enabledSet = true
				}
			}
		})
	}
	gw := mappingValue(top, "gateway")
	if gw != nil && gw.Kind == yaml.MappingNode {
		eachPair(mappingValue(gw, "platforms"), merge)
	}
	eachPair(mappingValue(top, "platforms"), merge)
	if gw != nil && gw.Kind == yaml.MappingNode {
		eachPair(gw, func(k string, v *yaml.Node) {
			if k != "platforms" {
				merge(k, v)
			}
		})
	}

	out := platformConfigs{}
	for name := range known {
		root := mappingValue(top, name)
		if root != nil && root.Kind != yaml.MappingNode {
			root = nil
		}
		r := raws[name]
		if r == nil && root == nil {
			continue
		}
		if r == nil {
			r = raw(name)
		}
		// Adapter keys reach extra, below what extra itself says.
		extra := map[string]*yaml.Node{}
		for k, v := range r.keys {
			if !typedKeys[k] {
				extra[k] = v
			}
		}
		for k, v := range r.extra {
			extra[k] = v
		}
		if root != nil {
			eachPair(root, func(k string, v *yaml.Node) {
				switch {
				case k == "enabled":
					r.keys[k], r.enabledSet = v, true
				case !typedKeys[k]:
					extra[k] = v
				}
			})
			eachPair(mappingValue(root, "extra"), func(k string, v *yaml.Node) { extra[k] = v })
		}
		p := platformConfig{enabledSet: r.enabledSet, extra: map[string]yamlScalar{}}
		p.enabled, _ = scalarOf(r.keys["enabled"])
		p.token, _ = scalarOf(r.keys["token"])
		for k, v := range extra {
			if s, ok := scalarOf(v); ok {
				p.extra[k] = s
			}
		}
		out[name] = p
	}
	return out
}

// eachPair calls fn for each key and value of mapping m, aliases resolved;
// nothing when m is not a mapping.
func eachPair(m *yaml.Node, fn func(k string, v *yaml.Node)) {
	if m == nil || m.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		v := m.Content[i+1]
		for v.Kind == yaml.AliasNode && v.Alias != nil {
			v = v.Alias
		}
		fn(m.Content[i].Value, v)
	}
}

// scalarOf is n as a yamlScalar; false for a mapping, a sequence or null
// (Hermes reads a null as the key being absent: extra.get() gives None).
func scalarOf(n *yaml.Node) (yamlScalar, bool) {
	if n == nil || n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return yamlScalar{}, false
	}
	s := yamlScalar{v: NewSecret(n.Value), tag: n.Tag}
	if n.Tag == "!!int" {
		var i int64
		if n.Decode(&i) == nil {
			s.isInt, s.i = true, i
		}
	}
	return s, true
}

// coerceEnabled is gateway/config.py's _coerce_bool(value, False) for an
// enabled: key that is present: true, false, and the words Hermes knows
// (text is the scalar, ${VAR} expanded); a number is true when it is not
// zero; anything else (null included) is false.
func coerceEnabled(s yamlScalar, text string) bool {
	switch s.tag {
	case "!!bool":
		v, ok := ParseSwitch(text)
		return ok && v
	case "!!int":
		return s.isInt && s.i != 0
	case "!!float":
		f, err := strconv.ParseFloat(strings.ReplaceAll(text, "_", ""), 64)
		return err == nil && f != 0
	case "!!str":
		v, ok := ParseSwitch(text)
		return ok && v
	}
	return false
}
