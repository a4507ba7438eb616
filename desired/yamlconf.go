package desired

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// GatewayConfig is what the reconciler reads from a config.yaml.
type GatewayConfig struct {
	// Multiplex is multiplex_profiles; nil when the file does not say.
	Multiplex *bool
}

// ConfigError is a config.yaml problem at a line (0 when unknown).
type ConfigError struct {
	Line int
	Msg  string
}

func (e *ConfigError) Error() string { return e.Msg }

var (
	yamlLineRE    = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
	parserErrorRE = regexp.MustCompile(`^did not find expected (key|node content|'-' indicator|',' or '\]'|',' or '\}'|<document start>)$`)
)

// ParseConfig reads the keys of config.yaml that bear on the gateway:
// multiplex_profiles at the top level or under gateway: (top level wins).
// Unknown keys are fine; a wrong type is an error.
func ParseConfig(data []byte) (GatewayConfig, error) {
	cfg, _, err := parseConfig(data)
	return cfg, err
}

// parseConfig is ParseConfig that also gives the document's top-level
// mapping (nil for an empty file), for the readers of other keys.
func parseConfig(data []byte) (GatewayConfig, *yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return GatewayConfig{}, nil, yamlError(err)
	}
	if n := expandedSize(&doc, map[*yaml.Node]int{}); n > maxExpandedNodes {
		return GatewayConfig{}, nil, &ConfigError{Line: 1, Msg: fmt.Sprintf("document contains excessive aliasing (over %d nodes once expanded)", maxExpandedNodes)}
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return GatewayConfig{}, nil, nil // empty file
	}
	top := doc.Content[0]
	if top.Kind == yaml.ScalarNode && top.Tag == "!!null" {
		return GatewayConfig{}, nil, nil
	}
	if top.Kind != yaml.MappingNode {
		return GatewayConfig{}, nil, &ConfigError{Line: top.Line, Msg: "top level must be a mapping"}
	}
	var cfg GatewayConfig
	if gw := mappingValue(top, "gateway"); gw != nil && gw.Kind == yaml.MappingNode {
		v, err := boolValue(gw, "multiplex_profiles", "gateway.multiplex_profiles")
		if err != nil {
			return GatewayConfig{}, nil, err
		}
		cfg.Multiplex = v
	}
	v, err := boolValue(top, "multiplex_profiles", "multiplex_profiles")
	if err != nil {
		return GatewayConfig{}, nil, err
	}
	if v != nil {
		cfg.Multiplex = v
	}
	return cfg, top, nil
}

// maxExpandedNodes bounds a document with its aliases expanded: Hermes itself
// loads config.yaml fully, so an alias bomb must be refused here, not passed on.
const maxExpandedNodes = 100000

// expandedSize counts the nodes of n with aliases expanded, saturating just
// above maxExpandedNodes so a bomb costs no more than a linear walk.
func expandedSize(n *yaml.Node, memo map[*yaml.Node]int) int {
	if v, ok := memo[n]; ok {
		return v
	}
	memo[n] = maxExpandedNodes + 1 // a cycle counts as a bomb
	total := 1
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		total = expandedSize(n.Alias, memo)
	}
	for _, c := range n.Content {
		total += expandedSize(c, memo)
		if total > maxExpandedNodes {
			total = maxExpandedNodes + 1
			break
		}
	}
	memo[n] = total
	return total
}

func mappingValue(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			v := m.Content[i+1]
			for v.Kind == yaml.AliasNode && v.Alias != nil {
				v = v.Alias
			}
			return v
		}
	}
	return nil
}

func boolValue(m *yaml.Node, key, label string) (*bool, error) {
	v := mappingValue(m, key)
	if v == nil || (v.Kind == yaml.ScalarNode && v.Tag == "!!null") {
		return nil, nil
	}
	if v.Kind == yaml.ScalarNode && v.Tag == "!!bool" {
		b, err := strconv.ParseBool(strings.ToLower(v.Value))
		if err == nil {
			return &b, nil
		}
	}
	shown := v.Value
	if v.Kind != yaml.ScalarNode {
		shown = "a " + kindName(v.Kind)
	}
	return nil, &ConfigError{Line: v.Line, Msg: fmt.Sprintf("%s must be true or false, got %s", label, strconv.Quote(shown))}
}

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "sequence"
	}
	return "value"
}

func yamlError(err error) error {
	msg := err.Error()
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		if parserErrorRE.MatchString(m[2]) {
			// yaml.v3 reports these parser errors with a 0-based line
			// (scanner errors are 1-based); editors count from 1.
			line++
		}
		return &ConfigError{Line: line, Msg: m[2]}
	}
	return &ConfigError{Msg: strings.TrimPrefix(msg, "yaml: ")}
}

// ParseSwitch reads an environment override such as GATEWAY_MULTIPLEX_PROFILES.
// ok is false unless the value is a clear true/false word.
func ParseSwitch(s string) (value, ok bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "true", "yes", "on":
		return true, true
	case "0", "false", "no", "off":
		return false, true
	}
	return false, false
}
