package cli

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// value is a flag's value: Set parses one occurrence (from the command line
// or the environment twin) and says, when it refuses, what it expects.
type value interface {
	Set(s string) error
}

// switchValue is a value a bare flag sets (--once): it takes no argument.
type switchValue interface {
	value
	isSwitch()
}

// boolValue takes one vocabulary everywhere: 1/true/yes/on, 0/false/no/off.
type boolValue struct{ p *bool }

func (b boolValue) isSwitch() {}

func (b boolValue) Set(s string) error {
	v, err := parseBool(s)
	if err != nil {
		return err
	}
	*b.p = v
	return nil
}

// parseBool is the boolean vocabulary of every flag, twin and Hermes
// variable (GATEWAY_MULTIPLEX_PROFILES takes the same words).
func parseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "true", "yes", "on":
		return true, nil
	case "0", "false", "no", "off":
		return false, nil
	}
	return false, fmt.Errorf("want a boolean: 1, true, yes, on or 0, false, no, off; got %q", s)
}

type stringValue struct{ p *string }

func (v stringValue) Set(s string) error { *v.p = s; return nil }

// choiceValue is one of a few words.
type choiceValue struct {
	p       *string
	choices []string
}

func (v choiceValue) Set(s string) error {
	for _, c := range v.choices {
		if s == c {
			*v.p = s
			return nil
		}
	}
	return fmt.Errorf("want %s; got %q", orList(v.choices), s)
}

// backendValue is --backend: a choice, and a word of the other binary
// named.
type backendValue struct{ choiceValue }

func (v backendValue) Set(s string) error {
	err := v.choiceValue.Set(s)
	switch {
	case err == nil:
	case s == BackendKube:
		return fmt.Errorf("the Kubernetes engine is the hermes-reconcile-kube binary (its image, deploy/kubernetes); this one has %s", orList(v.choices))
	case slices.Contains([]string{"s6", "systemd", "launchd", "windows"}, s):
		return fmt.Errorf("%s is hermes-reconcile's, the binary of Hermes images and hosts; this one has %s", s, orList(v.choices))
	}
	return err
}

func orList(words []string) string {
	switch len(words) {
	case 0:
		return ""
	case 1:
		return words[0]
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}

// durationValue is a duration within [min, max] (max 0: none).
type durationValue struct {
	p        *time.Duration
	min, max time.Duration
}

func (v durationValue) Set(s string) error {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("want a duration such as 500ms, 10s or 1m30s (%s); got %q", v.bounds(), s)
	}
	if d < v.min || (v.max > 0 && d > v.max) {
		return fmt.Errorf("want a duration %s; got %s", v.bounds(), s)
	}
	*v.p = d
	return nil
}

func (v durationValue) bounds() string {
	lo := "0"
	if v.min > 0 {
		lo = v.min.String()
	}
	if v.max > 0 {
		return "from " + lo + " to " + v.max.String()
	}
	return "of at least " + lo
}

// intValue is a whole number within [min, max].
type intValue struct {
	p        *int
	min, max int
}

func (v intValue) Set(s string) error {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < v.min || n > v.max {
		return fmt.Errorf("want a whole number from %d to %d; got %q", v.min, v.max, s)
	}
	*v.p = n
	return nil
}

// floatValue is a number within [min, max].
type floatValue struct {
	p        *float64
	min, max float64
}

func (v floatValue) String() string { return strconv.FormatFloat(*v.p, 'g', -1, 64) }

func (v floatValue) Set(s string) error {
	n, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || n < v.min || n > v.max {
		return fmt.Errorf("want a number from %g to %g; got %q", v.min, v.max, s)
	}
	*v.p = n
	return nil
}

// removeLimit is --max-remove: a count (N) or a share (P%) of the named
// slots one pass may remove.
type removeLimit struct {
	set     bool
	n       int
	percent bool
}

func (l *removeLimit) Set(s string) error {
	t := strings.TrimSpace(s)
	pct := strings.HasSuffix(t, "%")
	n, err := strconv.Atoi(strings.TrimSuffix(t, "%"))
	if err != nil || n < 0 || (pct && n > 100) {
		return fmt.Errorf("want a count (such as 3) or a share from 0%% to 100%% (such as 50%%); got %q", s)
	}
	*l = removeLimit{set: true, n: n, percent: pct}
	return nil
}

// envList is a repeatable KEY=VALUE flag; its twin holds one per line.
type envList map[string]string

func (e envList) Set(s string) error {
	for _, kv := range strings.Split(s, "\n") {
		if strings.TrimSpace(kv) == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return fmt.Errorf("want KEY=VALUE, got %q", kv)
		}
		e[k] = v
	}
	return nil
}

func (e envList) keys() []string {
	keys := make([]string, 0, len(e))
	for k := range e {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// lineList is a repeatable line; its twin holds one per line.
type lineList struct{ p *[]string }

func (l lineList) Set(s string) error {
	*l.p = append(*l.p, strings.Split(s, "\n")...)
	return nil
}

// editDistance is the optimal string alignment distance of a and b, for
// "did you mean": Levenshtein's, with a swap of two neighbours one edit
// (alpah is alpha's typo, one edit away).
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

// nearest is the candidate closest to word, "" when none is close enough
// to be what was meant: within a third of its length, and at most 3 edits.
func nearest(word string, candidates []string) string {
	best, bestD := "", 0
	for _, c := range candidates {
		d := editDistance(strings.ToLower(word), strings.ToLower(c))
		if best == "" || d < bestD {
			best, bestD = c, d
		}
	}
	if best == "" || bestD > 3 || bestD*3 > max(len(word), 3) {
		return ""
	}
	return best
}
