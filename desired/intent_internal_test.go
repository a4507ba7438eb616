package desired

import "testing"

// FuzzIntentFastPath: wherever the narrow decode answers, it answers what
// the decode of every key does.
func FuzzIntentFastPath(f *testing.F) {
	for _, seed := range []string{
		`{"desired_state":"running"}`, `{"desired_state":"stopped","pid":4}`, `{"gateway_state":"draining"}`,
		`{"gateway_state":"stopped","platforms":{"telegram":{"state":"connected"}}}`, `{}`, `null`, `[]`,
		`{"Desired_State":"running"}`, `{"desired_state":"stopped","DESIRED_STATE":"running"}`,
		`{"desired_state":"paused"}`, `{"desired_state":3}`, `{"gateway_state":null}`, `{"desired_state":null}`,
		`{"desired\u005fstate":"running"}`, `{"gateway_state":"running","desired_state":"stopped"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fast, ok := parseIntentFast(data)
		if !ok {
			return
		}
		slow, _, err := parseIntentMap(data)
		if err != nil || fast != slow {
			t.Fatalf("%q: fast %+v, map %+v (%v)", data, fast, slow, err)
		}
	})
}
