package cli

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/pmezard/go-difflib/difflib"

	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
)

// fileReader is an engine that can show a unit's file as it is now: the
// left side of --diff.
type fileReader interface {
	CurrentFile(unit, path string) ([]byte, error)
}

// diffs prints, for each update or adopt, a unified diff of every file it
// rewrites, --env values masked.
func (p *printer) diffs(o *reconcile.Outcome, e reconcile.Engine) {
	fr, ok := e.(fileReader)
	if !ok {
		return
	}
	for _, a := range o.Plan.Actions {
		if a.Kind != reconcile.Update && a.Kind != reconcile.Adopt {
			continue // a create's files are all new: the plan line says so
		}
		spec, ok := o.Want[a.Key]
		if !ok {
			continue
		}
		for _, path := range a.Files {
			f := spec.File(path)
			if f == nil {
				continue
			}
			old, _ := fr.CurrentFile(a.Unit, path)
			before, after := maskSecrets(string(old), string(f.Data))
			text := unifiedDiff(a.Unit+"/"+path, before, after)
			if text == "" {
				continue
			}
			if p.json {
				p.event(levelInfo, "planned_diff", a.Unit+"/"+path+": planned change", map[string]any{"slot": a.Unit, "profile": orNull(a.Key), "file": path, "diff": text})
				continue
			}
			fmt.Fprint(p.out, text)
		}
	}
}

// exportLine is a run script's export of a variable.
var exportLine = regexp.MustCompile(`^(\s*export\s+)([A-Za-z_][A-Za-z0-9_]*)=(.*)$`)

// notSecret are the variables the scripts set themselves.
var notSecret = map[string]bool{"HOME": true, "HERMES_HOME": true, "PATH": true,
	"HERMES_S6_SUPERVISED_CHILD": true, "HERMES_SUPERVISED_CHILD": true}

// maskSecrets hides the values of exported variables (--env: tokens, keys)
// but those the scripts set themselves, in the file as it is (a) and as
// planned (b); a value that changes says so without showing either.
func maskSecrets(a, b string) (string, string) {
	was := map[string]string{}
	mask := func(text string, changed func(k, v string) bool) string {
		lines := strings.Split(text, "\n")
		for i, l := range lines {
			m := exportLine.FindStringSubmatch(l)
			if m == nil || notSecret[m[2]] {
				continue
			}
			word := "(masked)"
			if changed(m[2], m[3]) {
				word = "(masked, changed)"
			}
			lines[i] = m[1] + m[2] + "=" + word
		}
		return strings.Join(lines, "\n")
	}
	ma := mask(a, func(k, v string) bool { was[k] = v; return false })
	mb := mask(b, func(k, v string) bool { old, ok := was[k]; return ok && old != v })
	return ma, mb
}

// unifiedDiff is a unified diff (3 lines of context) of a and b, "" when
// they are equal, by go-difflib. A last line without its newline is
// marked as diff(1) marks it, so a change of the final newline shows.
func unifiedDiff(name, a, b string) string {
	if a == b {
		return ""
	}
	text, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: diffLines(a), B: diffLines(b), FromFile: name + " (now)", ToFile: name + " (planned)", Context: 3})
	if err != nil {
		return ""
	}
	return text
}

// noNewline marks a last line without its newline, as diff(1) does.
const noNewline = "\\ No newline at end of file\n"

// diffLines are the lines of s, each with its newline; a last one without
// carries the marker, so it differs from the same line with one.
func diffLines(s string) []string {
	lines := strings.SplitAfter(s, "\n")
	if last := lines[len(lines)-1]; last == "" {
		return lines[:len(lines)-1]
	}
	lines[len(lines)-1] += "\n" + noNewline
	return lines
}
