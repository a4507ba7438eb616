package s6_test

import (
	"strings"
	"testing"

	"github.com/hermes-reconcile/hermes-reconcile/backends/s6"
	"github.com/hermes-reconcile/hermes-reconcile/config"
	"github.com/hermes-reconcile/hermes-reconcile/desired"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
)

// The fuzz target of the rendering: its seed corpus is in
// testdata/fuzz/FuzzRender/; `make test` runs it for a few seconds.

// FuzzRender: for any env entry and profile name, NewRenderer refuses what
// cannot be quoted safely, and the rendering carries the value as exactly
// one shell word that reads back as the value.
func FuzzRender(f *testing.F) {
	f.Fuzz(func(t *testing.T, name, key, value string) {
		r := config.DefaultRender()
		r.Env = map[string]string{key: value}
		rd, err := s6.NewRenderer(r)
		badKey := !envKey(key)
		badValue := strings.ContainsAny(value, "\n\r\x00")
		if (err != nil) != (badKey || badValue) {
			t.Fatalf("NewRenderer(%q=%q) error = %v", key, value, err)
		}
		if err != nil {
			return
		}
		spec := rd.Render(name) // any name: never a panic
		if desired.ValidName(name) != nil {
			return // the reader never yields an invalid name
		}
		p, isOurs := s6.ProfileOfSlot(s6.SlotName(name))
		if !isOurs || p != name {
			t.Fatalf("ProfileOfSlot(SlotName(%q)) = %q, %v", name, p, isOurs)
		}
		run := string(renderedFile(t, spec, s6.FileRun))
		// The env block is the one line right before our own exports.
		lines := strings.Split(run, "\n")
		at := -1
		for i, line := range lines {
			if line == "export HERMES_S6_SUPERVISED_CHILD=1" {
				at = i - 1
			}
		}
		if at < 0 || !strings.HasPrefix(lines[at], "export "+key+"=") {
			t.Fatalf("no export of %s right before HERMES_S6_SUPERVISED_CHILD in\n%s", key, run)
		}
		word := strings.TrimPrefix(lines[at], "export "+key+"=")
		got, ok := unquoteWord(word)
		if !ok || got != value {
			t.Fatalf("export %s=%s reads back as %q (ok=%v), want %q", key, word, got, ok, value)
		}
		cmd := "hermes -p " + name + " gateway run --replace\n"
		if name == desired.DefaultProfile {
			cmd = "hermes gateway run --replace\n"
		}
		if !strings.HasSuffix(run, "exec s6-setuidgid hermes "+cmd) {
			t.Fatalf("run does not end with the gateway command:\n%s", run)
		}
		logRun := string(renderedFile(t, spec, s6.FileLogRun))
		if !strings.Contains(logRun, "\nlog_dir=\"$HERMES_HOME/logs/gateways/"+name+"\"\n") {
			t.Fatalf("log/run has no log_dir for %q:\n%s", name, logRun)
		}
	})
}

func envKey(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func renderedFile(t *testing.T, spec reconcile.Spec, path string) []byte {
	for _, f := range spec.Files {
		if f.Path == path {
			return f.Data
		}
	}
	t.Fatalf("no %s in the rendering", path)
	return nil
}

// unquoteWord reads one sh word made only of safe bare characters, '…'
// spans and "'" (how shellQuote writes a quote), as sh would. Anything
// else (a space, $, `, \, ;, a lone ") ends it as not one plain word.
func unquoteWord(s string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return "", false
			}
			b.WriteString(s[i+1 : i+1+j])
			i += j + 2
		case strings.HasPrefix(s[i:], `"'"`):
			b.WriteByte('\'')
			i += 3
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("_@%+=:,./-", c) >= 0:
			b.WriteByte(c)
			i++
		default:
			return "", false
		}
	}
	return b.String(), true
}
