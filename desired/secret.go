package desired

import (
	"fmt"
	"io"
)

// Secret is a value read from a .env file or config.yaml that may be a
// credential. It prints as [redacted] in every fmt verb, in JSON and as
// text, so a value that reaches a log line, an error or a diagnostic by
// mistake still says nothing. It is a struct, not a string, so that no
// conversion or concatenation can reach the value: Reveal is the one way.
type Secret struct{ v string }

const redacted = "[redacted]"

// NewSecret wraps v.
func NewSecret(v string) Secret { return Secret{v} }

// Reveal is the value itself, for the code that must compare or hash it.
func (s Secret) Reveal() string { return s.v }

// Format prints [redacted] whatever the verb and flags (%v, %+v, %#v, %s,
// %q, %x).
func (s Secret) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

func (s Secret) String() string   { return redacted }
func (s Secret) GoString() string { return redacted }

// MarshalText makes encoding/json (and every text encoder) print
// [redacted], as a value and as a map key.
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }
