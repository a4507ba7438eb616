package cli

import (
	"fmt"
	"regexp"
	"strings"

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
				p.emit(map[string]any{"type": "planned_diff", "slot": a.Unit, "profile": a.Key, "file": path, "diff": text})
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
// they are equal. Slot files are a few dozen lines: a plain LCS table is
// enough.
func unifiedDiff(name, a, b string) string {
	if a == b {
		return ""
	}
	x, y := splitLines(a), splitLines(b)
	n, m := len(x), len(y)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	type edit struct {
		op   byte // ' ', '-', '+'
		text string
		i, j int // line numbers (0-based) in a and b before this edit
	}
	var edits []edit
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && x[i] == y[j]:
			edits = append(edits, edit{' ', x[i], i, j})
			i, j = i+1, j+1
		case i < n && (j == m || lcs[i+1][j] >= lcs[i][j+1]):
			edits = append(edits, edit{'-', x[i], i, j})
			i++
		default:
			edits = append(edits, edit{'+', y[j], i, j})
			j++
		}
	}
	const context = 3
	var out strings.Builder
	fmt.Fprintf(&out, "--- %s (now)\n+++ %s (planned)\n", name, name)
	for k := 0; k < len(edits); {
		if edits[k].op == ' ' {
			k++
			continue
		}
		start := max(k-context, 0)
		end := k
		for end < len(edits) {
			if edits[end].op != ' ' {
				end++
				continue
			}
			run := end
			for run < len(edits) && edits[run].op == ' ' {
				run++
			}
			if run-end > 2*context || run == len(edits) {
				end = min(end+context, len(edits))
				break
			}
			end = run
		}
		la, lb := 0, 0
		for _, e := range edits[start:end] {
			if e.op != '+' {
				la++
			}
			if e.op != '-' {
				lb++
			}
		}
		fmt.Fprintf(&out, "@@ -%s +%s @@\n", hunkRange(edits[start].i, la), hunkRange(edits[start].j, lb))
		for _, e := range edits[start:end] {
			fmt.Fprintf(&out, "%c%s\n", e.op, e.text)
		}
		k = end
	}
	return out.String()
}

func hunkRange(start, n int) string {
	if n == 0 {
		return fmt.Sprintf("%d,0", start)
	}
	if n == 1 {
		return fmt.Sprint(start + 1)
	}
	return fmt.Sprintf("%d,%d", start+1, n)
}

func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}
