package desired_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hermes-reconcile/hermes-reconcile/desired"
)

// bindingLines renders bindings one per line, "line:KEY=value" (value
// quoted), or "line:KEY" for a bare key.
func bindingLines(bs []desired.Binding) string {
	var out []string
	for _, b := range bs {
		if !b.Set {
			out = append(out, fmt.Sprintf("%d:%s", b.Line, b.Key))
			continue
		}
		out = append(out, fmt.Sprintf("%d:%s=%q", b.Line, b.Key, b.Value.Reveal()))
	}
	return strings.Join(out, "\n")
}

// TestParseDotEnv: each row is a .env file and what python-dotenv 1.2.2
// (Hermes's pin) makes of it, and the lines it warns about.
func TestParseDotEnv(t *testing.T) {
	for _, tc := range []struct {
		name, file, want string
		bad              []int // lines with a malformed statement
	}{
		{name: "plain", file: "A=1\n", want: `1:A="1"`},
		{name: "export", file: "export A=1", want: `1:A="1"`},
		{name: "blanks around =", file: "A = 1 \t\n", want: `1:A="1"`},
		{name: "empty sets empty", file: "A=\n", want: `1:A=""`},
		{name: "bare key sets nothing", file: "A\nexport B\n", want: "1:A\n2:B"},
		{name: "comments and blank lines", file: "# a comment\n\n   \n  # another\nA=1\n", want: `5:A="1"`},
		{name: "inline comment after blank", file: "A=abc # comment\n", want: `1:A="abc"`},
		{name: "hash inside a value", file: "A=abc#def\n", want: `1:A="abc#def"`},
		{name: "only a comment after = (1.2.2 keeps it)", file: "A=  # off\n", want: `1:A="# off"`},
		{name: "tab before comment", file: "A=x\t# c\n", want: `1:A="x"`},
		{name: "single quotes keep blanks and hashes", file: "A='x # y '\n", want: `1:A="x # y "`},
		{name: "single quotes decode only \\\\ and \\'", file: `A='it\'s \n \\'`, want: `1:A="it's \\n \\"`},
		{name: "double quotes decode escapes", file: `A="a\tb\nc\"d\\e\qf"`, want: `1:A="a\tb\nc\"d\\e\\qf"`},
		{name: "comment after quoted", file: `A="x"  # c` + "\n", want: `1:A="x"`},
		{name: "multi-line quoted value", file: "A=\"one\ntwo\"\nB=3\n", want: "1:A=\"one\\ntwo\"\n3:B=\"3\""},
		{name: "unterminated quote is skipped, next line read", file: "A=\"oops\nB=2\n", want: `2:B="2"`, bad: []int{1}},
		{name: "escaped last quote closes an unterminated value", file: `A='a\'`, want: `1:A="a\\"`},
		{name: "no key", file: "=x\nB=2\n", want: `2:B="2"`, bad: []int{1}},
		{name: "junk after quoted value", file: "A=\"x\" junk\nB=2", want: `2:B="2"`, bad: []int{1}},
		{name: "junk after bare key", file: "A junk\n", bad: []int{1}},
		{name: "export without key", file: "export =x\n", bad: []int{1}},
		{name: "export alone is a key", file: "export\n", want: "1:export"},
		{name: "exportX is a key", file: "exportA=1\n", want: `1:exportA="1"`},
		{name: "quoted key", file: "'my key'=v\n", want: `1:my key="v"`},
		{name: "empty quoted key", file: "''=v\nB=1\n", want: `2:B="1"`, bad: []int{1}},
		{name: "CRLF", file: "A=1\r\nB='2'\r\n\r\nC=3", want: "1:A=\"1\"\n2:B=\"2\"\n4:C=\"3\""},
		{name: "lone CR ends a line", file: "A=1\rB=2", want: "1:A=\"1\"\n2:B=\"2\""},
		{name: "leading blanks", file: "\n\n   A=1\n", want: `3:A="1"`},
		{name: "byte-order mark", file: "\ufeffA=1\n", want: `1:A="1"`},
		{name: "NUL bytes stripped", file: "A=a\x00b\n", want: `1:A="ab"`},
		{name: "Latin-1 when not UTF-8", file: "A=caf\xe9\n", want: `1:A="café"`},
		{name: "references stay unexpanded", file: "A=${B:-x}\n", want: `1:A="${B:-x}"`},
		{name: "later line repeats a key", file: "A=1\nA=2\n", want: "1:A=\"1\"\n2:A=\"2\""},
		{name: "Unicode blank trims like Python", file: "A=x\u00a0\n", want: `1:A="x"`},
		{name: "two bad lines, each named", file: "A B\nC=1\n=\n", want: `2:C="1"`, bad: []int{1, 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, diags := desired.ParseDotEnv("/p/.env", []byte(tc.file))
			if s := bindingLines(got); s != tc.want {
				t.Errorf("bindings:\n%s\nwant:\n%s", s, tc.want)
			}
			var lines []int
			for _, d := range diags {
				lines = append(lines, d.Line)
				if d.Severity != desired.Warning || d.Path != "/p/.env" {
					t.Errorf("diagnostic %+v: want a warning on /p/.env", d)
				}
			}
			if fmt.Sprint(lines) != fmt.Sprint(tc.bad) && !(len(lines) == 0 && len(tc.bad) == 0) {
				t.Errorf("malformed lines %v, want %v", lines, tc.bad)
			}
		})
	}
}

// TestParseDotEnvNeverQuotes: a diagnostic for a malformed line names the
// file and line and nothing of the line, which may hold a secret.
func TestParseDotEnvNeverQuotes(t *testing.T) {
	const secret = "123456:AAH-very-secret-token"
	for _, file := range []string{
		"TELEGRAM_BOT_TOKEN=\"" + secret + "\n",
		"TELEGRAM_BOT_TOKEN='" + secret + "' trailing\n",
		secret + " " + secret + "\n",
		"=" + secret + "\n",
	} {
		_, diags := desired.ParseDotEnv("/h/.env", []byte(file))
		if len(diags) != 1 {
			t.Fatalf("%d diagnostics, want 1", len(diags))
		}
		if s := diags[0].String(); s != "/h/.env:1: not a KEY=VALUE statement; Hermes (python-dotenv) skips it too" {
			t.Errorf("diagnostic %q", s)
		}
	}
}
