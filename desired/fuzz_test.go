package desired_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/hermes-reconcile/hermes-reconcile/config"
	"github.com/hermes-reconcile/hermes-reconcile/desired"
)

// Fuzz targets for every reader of hostile input. Their seed corpora are in
// testdata/fuzz/<target>/; `make test` runs each for a few seconds, and
// `go test -run '^$' -fuzz '^FuzzX$' ./desired/` for as long as you like.

// FuzzParseConfig: config.yaml never panics the reader, refuses quickly
// (alias bombs), and every refusal is a ConfigError with a line.
func FuzzParseConfig(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := desired.ParseConfig(data)
		if err != nil {
			var ce *desired.ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v is not a *ConfigError", err)
			}
			if ce.Line < 0 || ce.Msg == "" {
				t.Fatalf("ConfigError without a usable line or message: %+v", ce)
			}
			return
		}
		again, err := desired.ParseConfig(data)
		if err != nil || (cfg.Multiplex == nil) != (again.Multiplex == nil) ||
			(cfg.Multiplex != nil && *cfg.Multiplex != *again.Multiplex) {
			t.Fatalf("not deterministic: %+v then %+v, %v", cfg, again, err)
		}
	})
}

// FuzzParseIntent: gateway_state.json gives one of the three intents, a
// corrupt file gives none, and a BOM changes nothing.
func FuzzParseIntent(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		rec, line, err := desired.ParseIntent(data)
		if line < 0 {
			t.Fatalf("negative line %d", line)
		}
		if err != nil {
			if rec != (desired.IntentRecord{}) {
				t.Fatalf("corrupt file yet an intent: %+v (%v)", rec, err)
			}
		} else if !json.Valid(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))) {
			t.Fatalf("accepted invalid JSON %q", data)
		}
		switch {
		case rec.Explicit:
			if rec.Intent == desired.IntentNone || rec.Raw != rec.Intent.String() {
				t.Fatalf("explicit intent not running/stopped: %+v", rec)
			}
		case rec.Intent == desired.IntentRunning:
			if rec.Raw != "running" && rec.Raw != "draining" && rec.Raw != "degraded" {
				t.Fatalf("legacy %q read as running", rec.Raw)
			}
		}
		if !bytes.HasPrefix(data, []byte("\xef\xbb\xbf")) {
			rec2, _, err2 := desired.ParseIntent(append([]byte("\xef\xbb\xbf"), data...))
			if rec2 != rec || (err == nil) != (err2 == nil) {
				t.Fatalf("a BOM changed the reading: %+v/%v vs %+v/%v", rec, err, rec2, err2)
			}
		}
	})
}

// FuzzValidName: exactly the names Hermes allows pass, and each of them is
// a safe file name whose slot maps back to it.
func FuzzValidName(f *testing.F) {
	f.Fuzz(func(t *testing.T, name string) {
		ok := desired.ValidName(name) == nil
		if ok != referenceValid(name) {
			t.Fatalf("ValidName(%q) = %v, the rule says %v", name, ok, !ok)
		}
		p, isOurs := desired.ProfileOfSlot(desired.SlotName(name))
		if isOurs != ok || (ok && p != name) {
			t.Fatalf("ProfileOfSlot(SlotName(%q)) = %q, %v", name, p, isOurs)
		}
		if ok && (strings.ContainsAny(name, "/\x00.") || name == "") {
			t.Fatalf("valid name %q is not a plain file name", name)
		}
	})
}

// referenceValid is ^[a-z0-9][a-z0-9_-]{0,63}$ spelt out.
func referenceValid(s string) bool {
	if len(s) < 1 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '_' && c != '-') {
			return false
		}
	}
	return true
}

// FuzzRender: for any env entry and profile name, NewRenderer refuses what
// cannot be quoted safely, and the rendering carries the value as exactly
// one shell word that reads back as the value.
func FuzzRender(f *testing.F) {
	f.Fuzz(func(t *testing.T, name, key, value string) {
		r := config.DefaultRender()
		r.Env = map[string]string{key: value}
		rd, err := desired.NewRenderer(r)
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
			return // Load never renders an invalid name
		}
		run := string(renderedFile(t, spec, desired.FileRun))
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
		logRun := string(renderedFile(t, spec, desired.FileLogRun))
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

func renderedFile(t *testing.T, spec desired.Spec, path string) []byte {
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
