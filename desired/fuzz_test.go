package desired_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode"

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
		if ok && (strings.ContainsAny(name, "/\x00.") || name == "") {
			t.Fatalf("valid name %q is not a plain file name", name)
		}
	})
}

// FuzzParseDotEnv: a .env file never panics the parser; a malformed
// statement is a warning naming the file and a line of it and nothing of
// its text; and what the parser read, written back out, reads the same.
func FuzzParseDotEnv(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		bindings, diags := desired.ParseDotEnv("/h/.env", data)
		lines := 1 + strings.Count(string(data), "\n") + strings.Count(string(data), "\r")
		last := 0
		for _, d := range diags {
			if d.Severity != desired.Warning || d.Path != "/h/.env" || d.Line < 1 || d.Line > lines {
				t.Fatalf("diagnostic %+v out of shape (file has at most %d lines)", d, lines)
			}
			if d.Message != "not a KEY=VALUE statement; Hermes (python-dotenv) skips it too" {
				t.Fatalf("diagnostic says more than the fixed phrase: %q", d.Message)
			}
		}
		for _, b := range bindings {
			if b.Key == "" || b.Line < last || b.Line > lines {
				t.Fatalf("binding out of shape: key %q line %d after line %d", b.Key, b.Line, last)
			}
			last = b.Line
		}
		// Written back one per line, double-quoted, the bindings read the
		// same. A value ending in a backslash has no such spelling
		// (python-dotenv's regex takes \" as an escaped quote), so it is
		// left out. The file starts with a blank line: a key that begins
		// with U+FEFF would lose it as a byte-order mark on the first.
		var kept []desired.Binding
		var file strings.Builder
		file.WriteString("\n")
		for _, b := range bindings {
			if b.Set && strings.HasSuffix(b.Value.Reveal(), `\`) {
				continue
			}
			kept = append(kept, b)
			file.WriteString(dotenvKey(b.Key))
			if b.Set {
				file.WriteString(`="` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(b.Value.Reveal()) + `"`)
			}
			file.WriteString("\n")
		}
		again, diags := desired.ParseDotEnv("/h/.env", []byte(file.String()))
		if len(diags) > 0 || len(again) != len(kept) {
			t.Fatalf("written back as %q: %d bindings and %v, want %d", file.String(), len(again), diags, len(kept))
		}
		for i := range kept {
			a, b := kept[i], again[i]
			if a.Key != b.Key || a.Set != b.Set || a.Value.Reveal() != b.Value.Reveal() {
				t.Fatalf("written back as %q: binding %d read as %q=%q, want %q=%q", file.String(), i, b.Key, b.Value.Reveal(), a.Key, a.Value.Reveal())
			}
		}
	})
}

// dotenvKey spells a key as python-dotenv reads it: bare when it can be,
// else single-quoted. A key read bare may hold a quote (not first) but no
// '=', '#' or blank; a key read quoted holds no quote.
func dotenvKey(k string) string {
	if !strings.Contains(k, "'") && (strings.ContainsAny(k, "=#") || strings.ContainsFunc(k, func(r rune) bool { return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f) })) {
		return "'" + k + "'"
	}
	return k
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
