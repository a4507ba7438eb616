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

// FuzzRenderSettings: every setting rendered into a script (home dir, the
// log/run HERMES_HOME fallback, the gateway command, s6-log's script, the
// user) is refused by NewRenderer or reaches the script as quoted words
// that read back as the setting: no value can become shell code.
func FuzzRenderSettings(f *testing.F) {
	f.Fuzz(func(t *testing.T, home, logHome, command, logScript, user string) {
		r := config.DefaultRender()
		r.HomeDir, r.DefaultHermesHome, r.GatewayCommand, r.LogScript, r.User = home, logHome, command, logScript, user
		rd, err := s6.NewRenderer(r)
		if err != nil {
			return // refused: nothing is rendered
		}
		for _, v := range []string{home, logHome, command, logScript, user} {
			if strings.ContainsAny(v, "\n\x00") {
				t.Fatalf("NewRenderer took a setting with a newline or NUL: %q", v)
			}
		}
		spec := rd.Render("coder")
		run := strings.Split(string(renderedFile(t, spec, s6.FileRun)), "\n")
		word := func(line, prefix, suffix string) string {
			t.Helper()
			if !strings.HasPrefix(line, prefix) || !strings.HasSuffix(line, suffix) {
				t.Fatalf("line %q is not %q…%q", line, prefix, suffix)
			}
			w, ok := unquoteWord(strings.TrimSuffix(strings.TrimPrefix(line, prefix), suffix))
			if !ok {
				t.Fatalf("line %q: not one quoted word between %q and %q", line, prefix, suffix)
			}
			return w
		}
		if got := word(run[3], "export HOME=", ""); got != home {
			t.Fatalf("HOME reads back as %q, want %q", got, home)
		}
		if got := word(run[4], "cd ", ""); got != home {
			t.Fatalf("cd reads back as %q, want %q", got, home)
		}
		last := run[len(run)-2]
		if user != "" {
			last = strings.Replace(last, "exec s6-setuidgid "+user+" ", "exec ", 1)
		}
		if got := word(last, "exec ", " -p coder gateway run --replace"); got != command {
			t.Fatalf("the gateway command reads back as %q, want %q", got, command)
		}

		logRun := strings.Split(string(renderedFile(t, spec, s6.FileLogRun)), "\n")
		switch line := logRun[2]; {
		case strings.HasPrefix(line, `: "${HERMES_HOME:=`):
			v := strings.TrimSuffix(strings.TrimPrefix(line, `: "${HERMES_HOME:=`), `}"`)
			if w, ok := unquoteWord(v); !ok || w != v || v != logHome || v == "" {
				t.Fatalf("bare HERMES_HOME fallback %q for %q: only a plain word may go bare", v, logHome)
			}
		default:
			if got := word(line, `[ -n "${HERMES_HOME:-}" ] || HERMES_HOME=`, ""); got != logHome {
				t.Fatalf("the HERMES_HOME fallback reads back as %q, want %q", got, logHome)
			}
		}
		var exec string
		for _, l := range logRun {
			if i := strings.Index(l, "exec s6-log "); i >= 0 {
				exec = l[i+len("exec s6-log "):]
			}
		}
		rest, ok := strings.CutSuffix(exec, ` "$log_dir"`)
		if !ok {
			t.Fatalf("log/run's s6-log line %q does not end with the log dir", exec)
		}
		var got []string
		if rest != "" {
			for _, w := range strings.Split(rest, " ") {
				u, ok := unquoteWord(w)
				if !ok {
					t.Fatalf("s6-log word %q of %q is not one quoted word", w, rest)
				}
				got = append(got, u)
			}
		}
		if want := strings.Fields(logScript); strings.Join(got, "\x00") != strings.Join(want, "\x00") {
			t.Fatalf("s6-log's script reads back as %q, want %q", got, want)
		}
	})
}
