package desired

import "fmt"

// Severity tells whether a diagnostic holds its profile's slot.
type Severity int

const (
	// Warning is reported and changes nothing else.
	Warning Severity = 1
	// Error holds the profile: its slot gets no action this pass.
	Error Severity = 2
)

func (s Severity) String() string {
	if s == Error {
		return "error"
	}
	return "warning"
}

// Diagnostic is bad input found while reading the profiles.
type Diagnostic struct {
	Severity Severity
	// Profile is the profile concerned, empty when none can be named.
	Profile string
	// Path is the file or directory at fault.
	Path string
	// Line is 1-based, 0 when unknown.
	Line    int
	Message string
	// Denied marks a permission error: the run fails, whatever --strict
	// says (a boot that cannot read its profiles must not succeed).
	Denied bool
}

// String is the "path:line: message" form operators and editors understand.
func (d Diagnostic) String() string {
	if d.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", d.Path, d.Line, d.Message)
	}
	if d.Path == "" {
		return d.Message
	}
	return fmt.Sprintf("%s: %s", d.Path, d.Message)
}
