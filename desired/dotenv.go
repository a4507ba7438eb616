package desired

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// A .env file as Hermes reads it: python-dotenv 1.2.2 (the version Hermes
// pins), through hermes_cli/env_loader.py. The parser below follows
// python-dotenv's parser.py statement by statement, so a file means here
// what it means to the gateway, malformed lines included: python-dotenv
// skips a statement it cannot parse and goes on with the next line, and so
// does this one.
//
// Before python-dotenv reads a file, Hermes strips its NUL bytes (they would
// crash os.environ); a file that is not UTF-8 is read as Latin-1. A leading
// byte-order mark is dropped: Hermes's own sanitiser drops it whenever it
// rewrites the file, and newer python-dotenv always does.

// Binding is one KEY=VALUE statement of a .env file.
type Binding struct {
	Key string
	// Value is the value as written, quotes and escapes decoded, ${VAR}
	// references not yet expanded (that needs the environment it is
	// loaded into).
	Value Secret
	// Set is false for a bare KEY without '=': python-dotenv gives it no
	// value, and loading the file leaves the environment's KEY alone.
	Set bool
	// Line is the 1-based line the statement starts on.
	Line int
}

// malformedLine is the one thing a diagnostic says of a statement the
// parser cannot read: never its text, which may hold a secret.
const malformedLine = "not a KEY=VALUE statement; Hermes (python-dotenv) skips it too"

// ParseDotEnv reads a .env file's statements in file order. A statement it
// cannot parse is skipped, and becomes a Warning naming path and line; no
// diagnostic quotes the file.
func ParseDotEnv(path string, data []byte) ([]Binding, []Diagnostic) {
	p := dotenvParser{s: decodeDotEnv(data), line: 1}
	var out []Binding
	var diags []Diagnostic
	for p.pos < len(p.s) {
		p.skip(isPySpace)
		if p.pos >= len(p.s) {
			break
		}
		line := p.line
		b, ok := p.statement()
		if !ok {
			// Like python-dotenv: what is left of the line where the
			// statement failed is dropped, and parsing goes on after it.
			p.restOfLine()
			diags = append(diags, Diagnostic{Severity: Warning, Path: path, Line: line, Message: malformedLine})
			continue
		}
		if b.Key != "" {
			b.Line = line
			out = append(out, b)
		}
	}
	return out, diags
}

// decodeDotEnv is the text Hermes hands python-dotenv: UTF-8 or else
// Latin-1, without NUL bytes or a leading byte-order mark.
func decodeDotEnv(data []byte) string {
	var s string
	if utf8.Valid(data) {
		s = string(data)
	} else {
		r := make([]rune, len(data))
		for i, b := range data {
			r[i] = rune(b)
		}
		s = string(r)
	}
	s = strings.ReplaceAll(s, "\x00", "")
	return strings.TrimPrefix(s, "\ufeff")
}

// dotenvParser walks the text as python-dotenv's Reader does; line counts
// the lines consumed so far (\r\n, \n and \r each end one).
type dotenvParser struct {
	s    string
	pos  int
	line int
}

// statement parses one binding at p.pos; a comment line is a binding
// without a key. On failure p.pos is where it failed, as in python-dotenv.
func (p *dotenvParser) statement() (Binding, bool) {
	fail := func() (Binding, bool) { return Binding{}, false }
	p.export()
	var b Binding
	switch {
	case p.peek() == '#':
		// a comment: no key
	case p.peek() == '\'':
		end := strings.IndexByte(p.s[p.pos+1:], '\'')
		if end <= 0 { // unterminated, or an empty key
			return fail()
		}
		b.Key = p.s[p.pos+1 : p.pos+1+end]
		p.advance(end + 2)
	default:
		n := p.span(func(r rune) bool { return r != '=' && r != '#' && !isPySpace(r) })
		if n == 0 {
			return fail()
		}
		b.Key = p.s[p.pos : p.pos+n]
		p.advance(n)
	}
	p.skip(isHSpace)
	if p.peek() == '=' {
		p.advance(1)
		p.skip(isHSpace)
		v, ok := p.value()
		if !ok {
			return fail()
		}
		b.Value, b.Set = NewSecret(v), true
	}
	p.comment()
	if !p.endOfLine() {
		return fail()
	}
	return b, true
}

// export consumes an optional "export" and the blanks after it.
func (p *dotenvParser) export() {
	if !strings.HasPrefix(p.s[p.pos:], "export") {
		return
	}
	r, _ := utf8.DecodeRuneInString(p.s[p.pos+len("export"):])
	if p.pos+len("export") < len(p.s) && isHSpace(r) {
		p.advance(len("export"))
		p.skip(isHSpace)
	}
}

// value parses what follows "=": a quoted value, or the rest of the line
// without a trailing " # comment" and trailing blanks.
func (p *dotenvParser) value() (string, bool) {
	switch q := p.peek(); q {
	case '\'', '"':
		body, n, ok := quoted(p.s[p.pos:], byte(q))
		if !ok {
			return "", false
		}
		p.advance(n)
		if q == '\'' {
			return unescape(body, `\'`), true
		}
		return unescape(body, `\'"abfnrtv`), true
	case 0, '\n', '\r':
		return "", true
	}
	n := strings.IndexAny(p.s[p.pos:], "\r\n")
	if n < 0 {
		n = len(p.s) - p.pos
	}
	v := p.s[p.pos : p.pos+n]
	p.advance(n)
	return strings.TrimRightFunc(cutComment(v), isPySpace), true
}

// quoted matches python-dotenv's '((?:\\'|[^'])*)' at the start of s (or
// its double-quoted twin): the body ends at the first quote not escaped by
// a backslash; when there is none, the regex backtracks to the last escaped
// one. n is the length matched, quotes included.
func quoted(s string, q byte) (body string, n int, ok bool) {
	lastEscaped := -1
	for i := 1; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s) && s[i+1] == q:
			lastEscaped = i + 1
			i++
		case s[i] == q:
			return s[1:i], i + 1, true
		}
	}
	if lastEscaped < 0 {
		return "", 0, false
	}
	return s[1:lastEscaped], lastEscaped + 1, true
}

// unescape decodes a backslash followed by one of chars, left to right, as
// Python's unicode-escape codec does; any other backslash stays.
func unescape(s, chars string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) && strings.IndexByte(chars, s[i+1]) >= 0 {
			i++
			b.WriteString(escapes[s[i]])
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

var escapes = map[byte]string{'\\': `\`, '\'': `'`, '"': `"`, 'a': "\a", 'b': "\b", 'f': "\f", 'n': "\n", 'r': "\r", 't': "\t", 'v': "\v"}

// cutComment drops what python-dotenv's re.sub(r"\s+#.*", "") drops from
// an unquoted value: from the first blank run followed by '#'.
func cutComment(v string) string {
	for i := 0; i < len(v); {
		r, size := utf8.DecodeRuneInString(v[i:])
		if !isPySpace(r) {
			i += size
			continue
		}
		j := i + size
		for j < len(v) {
			r2, s2 := utf8.DecodeRuneInString(v[j:])
			if !isPySpace(r2) {
				break
			}
			j += s2
		}
		if j < len(v) && v[j] == '#' {
			return v[:i]
		}
		i = j
	}
	return v
}

// comment consumes an optional "  # ..." up to the end of the line.
func (p *dotenvParser) comment() {
	save, line := p.pos, p.line
	p.skip(isHSpace)
	if p.peek() != '#' {
		p.pos, p.line = save, line
		return
	}
	n := strings.IndexAny(p.s[p.pos:], "\r\n")
	if n < 0 {
		n = len(p.s) - p.pos
	}
	p.advance(n)
}

// endOfLine consumes blanks and one line end; false when something else
// follows.
func (p *dotenvParser) endOfLine() bool {
	p.skip(isHSpace)
	switch {
	case p.pos >= len(p.s):
		return true
	case strings.HasPrefix(p.s[p.pos:], "\r\n"):
		p.advance(2)
	case p.s[p.pos] == '\n', p.s[p.pos] == '\r':
		p.advance(1)
	default:
		return false
	}
	return true
}

// restOfLine consumes up to and including the end of the current line.
func (p *dotenvParser) restOfLine() {
	n := strings.IndexAny(p.s[p.pos:], "\r\n")
	if n < 0 {
		p.advance(len(p.s) - p.pos)
		return
	}
	n++
	if strings.HasPrefix(p.s[p.pos+n-1:], "\r\n") {
		n++
	}
	p.advance(n)
}

func (p *dotenvParser) peek() rune {
	if p.pos >= len(p.s) {
		return 0
	}
	r, _ := utf8.DecodeRuneInString(p.s[p.pos:])
	return r
}

// span is how many bytes from p.pos satisfy ok.
func (p *dotenvParser) span(ok func(rune) bool) int {
	n := 0
	for p.pos+n < len(p.s) {
		r, size := utf8.DecodeRuneInString(p.s[p.pos+n:])
		if !ok(r) {
			break
		}
		n += size
	}
	return n
}

func (p *dotenvParser) skip(ok func(rune) bool) { p.advance(p.span(ok)) }

// advance consumes n bytes, counting the lines they end.
func (p *dotenvParser) advance(n int) {
	p.line += countLines(p.s[p.pos : p.pos+n])
	p.pos += n
}

// countLines counts line ends: \r\n, \n and a lone \r each end one.
func countLines(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\n':
			n++
		case '\r':
			if i+1 >= len(s) || s[i+1] != '\n' {
				n++
			}
		}
	}
	return n
}

// isPySpace is Python's \s for str patterns: Unicode white space plus the
// four ASCII separators \x1c-\x1f Python counts too.
func isPySpace(r rune) bool { return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f) }

// isHSpace is [^\S\r\n]: white space that does not end a line.
func isHSpace(r rune) bool { return r != '\r' && r != '\n' && isPySpace(r) }
