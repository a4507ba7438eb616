package desired

import (
	"bytes"
	"unicode/utf8"
)

// parseIntentFast reads only the two keys an intent is read from, in one
// validating scan of the file: a running gateway rewrites its state file at
// every status change (20 a second across a fleet), and a watching
// reconciler reads every rewrite; encoding/json's reflection was most of that
// read's cost. ok is false wherever parseIntentMap could say otherwise than
// a plain reading: JSON that is not valid (an error to report with its
// line), not an object, a key or one of our values with an escape or a byte
// outside ASCII, a value of ours that is not a string, nesting deeper than
// maxScanDepth. parseIntentMap then decides; FuzzIntentFastPath holds the
// two equal and the scan's validity equal to encoding/json's.
func parseIntentFast(data []byte) (rec IntentRecord, ok bool) {
	var desired, gateway []byte
	haveDesired, haveGateway := false, false
	s := scanner{data: data}
	s.space()
	if !s.eat('{') {
		return IntentRecord{}, false // null, an array: the map says why
	}
	s.space()
	for !s.eat('}') {
		key, plain, ok := s.str()
		if !ok || !plain {
			return IntentRecord{}, false // encoding/json unescapes keys
		}
		s.space()
		if !s.eat(':') {
			return IntentRecord{}, false
		}
		s.space()
		if k := string(key); k == "desired_state" || k == "gateway_state" {
			val, plain, ok := s.str()
			if !ok || !plain {
				return IntentRecord{}, false // null, a number, an escape: the map says
			}
			if k == "desired_state" {
				desired, haveDesired = val, true
			} else {
				gateway, haveGateway = val, true
			}
		} else if !s.value() {
			return IntentRecord{}, false
		}
		s.space()
		if s.eat(',') {
			s.space()
			if s.peek('}') {
				return IntentRecord{}, false // a trailing comma
			}
		} else if !s.peek('}') {
			return IntentRecord{}, false
		}
	}
	if s.space(); s.i != len(data) {
		return IntentRecord{}, false
	}
	switch {
	case haveDesired:
		switch string(desired) {
		case "running":
			return IntentRecord{Intent: IntentRunning, Explicit: true, Raw: "running"}, true
		case "stopped":
			return IntentRecord{Intent: IntentStopped, Explicit: true, Raw: "stopped"}, true
		}
		return IntentRecord{}, false // an error, with its line
	case !haveGateway:
		return IntentRecord{}, true
	}
	switch st := string(gateway); st {
	// draining and degraded are a running gateway in a passing state (#42675).
	case "running", "draining", "degraded":
		return IntentRecord{Intent: IntentRunning, Raw: st}, true
	default:
		return IntentRecord{Intent: IntentStopped, Raw: st}, true
	}
}

// maxScanDepth bounds the scan's nesting (its recursion); deeper files,
// which no gateway writes, go to encoding/json.
const maxScanDepth = 64

// scanner reads JSON (RFC 8259, as encoding/json accepts it) from data at
// i: each method consumes what it reads and reports false at the first
// byte JSON does not allow there.
type scanner struct {
	data  []byte
	i     int
	depth int
}

func (s *scanner) space() {
	for s.i < len(s.data) {
		switch s.data[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) peek(c byte) bool { return s.i < len(s.data) && s.data[s.i] == c }

func (s *scanner) eat(c byte) bool {
	if s.peek(c) {
		s.i++
		return true
	}
	return false
}

// value reads any JSON value.
func (s *scanner) value() bool {
	if s.i >= len(s.data) {
		return false
	}
	switch c := s.data[s.i]; {
	case c == '"':
		_, _, ok := s.str()
		return ok
	case c == '{':
		return s.container('}')
	case c == '[':
		return s.container(']')
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '-' || ('0' <= c && c <= '9'):
		return s.number()
	}
	return false
}

// container reads an object (end '}') or an array (end ']').
func (s *scanner) container(end byte) bool {
	if s.depth++; s.depth > maxScanDepth {
		return false
	}
	defer func() { s.depth-- }()
	s.i++
	s.space()
	if s.eat(end) {
		return true
	}
	for {
		if end == '}' {
			if _, _, ok := s.str(); !ok {
				return false
			}
			s.space()
			if !s.eat(':') {
				return false
			}
			s.space()
		}
		if !s.value() {
			return false
		}
		s.space()
		if !s.eat(',') {
			return s.eat(end)
		}
		s.space()
	}
}

// str reads a string: its bytes between the quotes, and whether they are
// plain (no escape, nothing outside ASCII), and so what encoding/json
// would decode.
func (s *scanner) str() (b []byte, plain, ok bool) {
	if !s.eat('"') {
		return nil, false, false
	}
	start, plain := s.i, true
	for s.i < len(s.data) {
		switch c := s.data[s.i]; {
		case c == '"':
			s.i++
			return s.data[start : s.i-1], plain, true
		case c == '\\':
			plain = false
			if !s.escape() {
				return nil, false, false
			}
			continue
		case c < 0x20:
			return nil, false, false
		case c >= utf8.RuneSelf:
			plain = false // encoding/json replaces invalid UTF-8
		}
		s.i++
	}
	return nil, false, false
}

// escape reads a backslash escape.
func (s *scanner) escape() bool {
	if s.i+1 >= len(s.data) {
		return false
	}
	switch s.data[s.i+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		s.i += 2
		return true
	case 'u':
		if s.i+6 > len(s.data) {
			return false
		}
		for _, h := range s.data[s.i+2 : s.i+6] {
			if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
				return false
			}
		}
		s.i += 6
		return true
	}
	return false
}

func (s *scanner) literal(lit string) bool {
	if !bytes.HasPrefix(s.data[s.i:], []byte(lit)) {
		return false
	}
	s.i += len(lit)
	return true
}

// number reads -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) number() bool {
	s.eat('-')
	switch {
	case s.eat('0'):
	case s.i < len(s.data) && '1' <= s.data[s.i] && s.data[s.i] <= '9':
		s.digits()
	default:
		return false
	}
	if s.eat('.') && s.digits() == 0 {
		return false
	}
	if s.eat('e') || s.eat('E') {
		if !s.eat('+') {
			s.eat('-')
		}
		if s.digits() == 0 {
			return false
		}
	}
	return true
}

func (s *scanner) digits() int {
	n := 0
	for s.i < len(s.data) && '0' <= s.data[s.i] && s.data[s.i] <= '9' {
		s.i++
		n++
	}
	return n
}
