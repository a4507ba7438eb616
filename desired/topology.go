package desired

import (
	"fmt"
	"strconv"
	"strings"
)

// TopologyMode is how the operator asks the topology to be decided:
// TopologyAuto decides as the installed Hermes does, the others force it.
type TopologyMode string

const (
	TopologyAuto       TopologyMode = "auto"
	TopologyPerProfile TopologyMode = "per-profile"
	TopologyMultiplex  TopologyMode = "multiplex"
)

// TopologyModes are the words --topology takes.
func TopologyModes() []string {
	return []string{string(TopologyAuto), string(TopologyPerProfile), string(TopologyMultiplex)}
}

// Topology is the topology a load decided, and why: every plan, status and
// explain says it, since two gateways on one bot token follow from a wrong
// one.
type Topology struct {
	// Multiplex: one root gateway serves every profile that wants to run,
	// and every named service is down.
	Multiplex bool
	// Known is false when the rule needs the root config.yaml and it could
	// not be read: no run state is touched.
	Known bool
	// From is what decided: the flag, or the Hermes version and where it
	// was read.
	From string
	// Rule is the rule that applied, in words, with the upstream change.
	Rule string
}

// Word is the topology's name.
func (t Topology) Word() string {
	switch {
	case !t.Known:
		return "unknown"
	case t.Multiplex:
		return string(TopologyMultiplex)
	}
	return string(TopologyPerProfile)
}

// String is the topology as plans, status and explain print it: the
// word, then what decided and by which rule.
func (t Topology) String() string {
	return fmt.Sprintf("%s. %s: %s.", t.Word(), t.From, t.Rule)
}

// Version is a Hermes release, major.minor.patch; a pre-release or local
// suffix is ignored (a release candidate carries what its release does).
type Version struct{ Major, Minor, Patch int }

func (v Version) String() string { return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch) }

// Less orders versions.
func (v Version) Less(w Version) bool {
	if v.Major != w.Major {
		return v.Major < w.Major
	}
	if v.Minor != w.Minor {
		return v.Minor < w.Minor
	}
	return v.Patch < w.Patch
}

// ParseVersion reads a PEP 440 release such as 0.17.2, 0.18.0rc1 or
// 1.2.dev3 (missing parts are 0). An epoch ("1!2.0") is refused: Hermes
// has none, and a version we cannot order is better unknown.
func ParseVersion(s string) (Version, error) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "v")
	var parts [3]int
	n := 0
	for i := 0; n < 3; n++ {
		j := i
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j == i {
			break
		}
		v, err := strconv.Atoi(s[i:j])
		if err != nil {
			return Version{}, fmt.Errorf("version %q: %w", s, err)
		}
		parts[n] = v
		if j == len(s) || s[j] != '.' {
			n++
			break
		}
		i = j + 1
	}
	if n == 0 || strings.Contains(s, "!") {
		return Version{}, fmt.Errorf("version %q is no release number", s)
	}
	return Version{parts[0], parts[1], parts[2]}, nil
}

// topologyRule is how a range of Hermes releases decides the topology,
// from Since on (until a later rule's Since).
type topologyRule struct {
	Since Version
	// Change is the upstream change that brought the rule.
	Change string
	// Words say the rule.
	Words string
	// decide applies it to the root config.yaml's multiplex_profiles (nil:
	// absent) and GATEWAY_MULTIPLEX_PROFILES; usesConfig says whether the
	// config matters at all.
	decide     func(key *bool, env string) bool
	usesConfig bool
	// Boot marks a rule of Hermes's container boot (cont-init.d), which
	// only the s6 engine stands in for: hosts and clusters run each
	// gateway themselves, and its own config decides.
	Boot bool
}

// configRule is a rule that reads multiplex_profiles: GATEWAY_MULTIPLEX_PROFILES
// when it is a clear word, else the key, else absent.
func configRule(absent bool) func(*bool, string) bool {
	return func(key *bool, env string) bool {
		if v, ok := ParseSwitch(env); ok {
			return v
		}
		if key != nil {
			return *key
		}
		return absent
	}
}

// TopologyRules is every rule, oldest first: the next upstream change is
// one more row. #112854 and #118273 first shipped together, in 0.21.4;
// the boot's fold is the rule of an s6 container, the default of the
// host and cluster gateways.
var TopologyRules = []topologyRule{
	{Since: Version{}, Change: "v0.15.2",
		Words:  "multiplex_profiles in the root config.yaml (or GATEWAY_MULTIPLEX_PROFILES) decides; absent: per-profile",
		decide: configRule(false), usesConfig: true},
	{Since: Version{0, 21, 4}, Change: "#112854",
		Words:  "multiplex_profiles in the root config.yaml (or GATEWAY_MULTIPLEX_PROFILES) decides; absent: multiplex",
		decide: configRule(true), usesConfig: true},
	{Since: Version{0, 21, 4}, Change: "#118273", Boot: true,
		Words:  "the container boot folds every named profile into the root gateway, whatever the config says",
		decide: func(*bool, string) bool { return true }},
}

// multiplexDefault is the first release whose root gateway multiplexes
// unless its config says otherwise.
var multiplexDefault = TopologyRules[1].Since

// ruleFor is the rule Hermes v follows; boot says whether Hermes's
// container boot rules apply (s6).
func ruleFor(v Version, boot bool) topologyRule {
	r := TopologyRules[0]
	for _, x := range TopologyRules[1:] {
		if !v.Less(x.Since) && (boot || !x.Boot) {
			r = x
		}
	}
	return r
}

// HermesInstall is what is known of the Hermes installed beside us: its
// version, or why it is not known.
type HermesInstall struct {
	Version Version
	Known   bool
	// Source is where the version was read, or what was looked at.
	Source string
	// Err says why the version is not known.
	Err error
}

// DecideTopology is the topology of a home: forced by mode, or as the
// installed Hermes decides it from the root config.yaml's
// multiplex_profiles (nil: absent), whether that config could be read
// (cfgOK), and GATEWAY_MULTIPLEX_PROFILES (env); boot says whether the
// rules of Hermes's container boot apply (the s6 engine stands in for it).
func DecideTopology(mode TopologyMode, boot bool, h HermesInstall, key *bool, cfgOK bool, env string) Topology {
	switch mode {
	case TopologyPerProfile:
		return Topology{Known: true, From: "--topology per-profile", Rule: "forced by the operator, each profile's gateway follows its own intent"}
	case TopologyMultiplex:
		return Topology{Multiplex: true, Known: true, From: "--topology multiplex", Rule: "forced by the operator, the root gateway serves every profile"}
	}
	if !h.Known {
		// The safe failure: a named gateway left down is visible and
		// recoverable; two gateways on one bot token are not.
		return Topology{Multiplex: true, Known: true, From: "Hermes version unknown (" + h.Err.Error() + ")",
			Rule: "the safe side, as a named gateway left down can be seen and started and two on one bot token cannot be undone; set --topology or --hermes-root to decide otherwise"}
	}
	r := ruleFor(h.Version, boot)
	t := Topology{Known: true, From: fmt.Sprintf("Hermes %s (%s)", h.Version, h.Source),
		Rule: fmt.Sprintf("from %s (%s), %s", r.Since, r.Change, r.Words)}
	if r.Since == (Version{}) {
		t.Rule = fmt.Sprintf("before %s, %s", TopologyRules[1].Since, r.Words)
	}
	if r.usesConfig && !cfgOK {
		if _, ok := ParseSwitch(env); !ok {
			// Without a readable root config.yaml nobody can say whether
			// named gateways may run.
			t.Known = false
			t.Rule += "; the root config.yaml cannot be read, so no gateway's run state is touched"
			return t
		}
	}
	t.Multiplex = r.decide(key, env)
	return t
}
