package desired

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Intent is what a profile says about its gateway.
type Intent uint8

const (
	// IntentNone: no state file, or nothing readable in it.
	IntentNone Intent = iota
	// IntentRunning: the gateway should run.
	IntentRunning
	// IntentStopped: the gateway should not run.
	IntentStopped
)

func (i Intent) String() string {
	switch i {
	case IntentRunning:
		return "running"
	case IntentStopped:
		return "stopped"
	}
	return "none"
}

// maxInputSize caps every file the reconciler parses; larger is refused.
const maxInputSize = 1 << 20

// IntentRecord is what gateway_state.json said.
type IntentRecord struct {
	Intent Intent
	// Explicit is true when desired_state decided: the operator's word, which
	// the reconciler enforces on every pass.
	Explicit bool
	// Raw is the value read (desired_state, else gateway_state), for status.
	Raw string
}

// ParseIntent reads the bytes of a gateway_state.json. A non-nil error is a
// corrupt file; the record is then IntentNone. line is 1-based, 0 if unknown.
func ParseIntent(data []byte) (rec IntentRecord, line int, err error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if rec, ok := parseIntentFast(data); ok {
		return rec, 0, nil
	}
	return parseIntentMap(data)
}

// parseIntentMap is ParseIntent by a map of every key: what decides, and
// says where a file is wrong.
func parseIntentMap(data []byte) (rec IntentRecord, line int, err error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(data, &doc); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return IntentRecord{}, lineOf(data, syn.Offset), fmt.Errorf("invalid JSON: %w", err)
		}
		return IntentRecord{}, 0, fmt.Errorf("invalid JSON: %w", err)
	}
	if doc == nil {
		return IntentRecord{}, 1, errors.New("invalid JSON: expected an object")
	}
	if raw, ok := doc["desired_state"]; ok {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return IntentRecord{}, lineOfKey(data, "desired_state"), fmt.Errorf("desired_state must be a string, got %s", raw)
		}
		switch s {
		case "running":
			return IntentRecord{Intent: IntentRunning, Explicit: true, Raw: s}, 0, nil
		case "stopped":
			return IntentRecord{Intent: IntentStopped, Explicit: true, Raw: s}, 0, nil
		}
		return IntentRecord{}, lineOfKey(data, "desired_state"), fmt.Errorf("desired_state must be \"running\" or \"stopped\", got %q", s)
	}
	raw, ok := doc["gateway_state"]
	if !ok {
		return IntentRecord{}, 0, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return IntentRecord{}, lineOfKey(data, "gateway_state"), fmt.Errorf("gateway_state must be a string, got %s", raw)
	}
	switch s {
	// draining and degraded are a running gateway in a passing state (#42675).
	case "running", "draining", "degraded":
		return IntentRecord{Intent: IntentRunning, Raw: s}, 0, nil
	}
	return IntentRecord{Intent: IntentStopped, Raw: s}, 0, nil
}

func lineOf(data []byte, offset int64) int {
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	if offset < 0 {
		offset = 0
	}
	return bytes.Count(data[:offset], []byte("\n")) + 1
}

func lineOfKey(data []byte, key string) int {
	i := bytes.Index(data, []byte(`"`+key+`"`))
	if i < 0 {
		return 0
	}
	return lineOf(data, int64(i))
}
