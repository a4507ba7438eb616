package desired_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/hermes-reconcile/hermes-reconcile/desired"
)

// TestSecretNeverPrints: a Secret says [redacted] in every verb, inside a
// struct and in JSON; Reveal alone gives the value.
func TestSecretNeverPrints(t *testing.T) {
	const v = "sk-live-0123456789"
	b := desired.Binding{Key: "API_SERVER_KEY", Value: desired.NewSecret(v), Set: true, Line: 3}
	js, err := json.Marshal(map[desired.Secret]desired.Binding{desired.NewSecret(v): b})
	if err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{
		fmt.Sprintf("%v %+v %#v %s %q %x %X %10.3s", b, b, b, b.Value, b.Value, b.Value, b.Value, b.Value),
		fmt.Sprint(b.Value), fmt.Sprintln(b), string(js),
	} {
		if strings.Contains(out, v) || strings.Contains(out, fmt.Sprintf("%x", v)) {
			t.Errorf("the secret leaks: %s", out)
		}
	}
	if b.Value.Reveal() != v {
		t.Errorf("Reveal = %q", b.Value.Reveal())
	}
}
