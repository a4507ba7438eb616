package desired

import (
	"bytes"
	"encoding/json"
	"testing"
)

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
		if !json.Valid(data) {
			t.Fatalf("%q: the scan answered %+v for invalid JSON", data, fast)
		}
		slow, _, err := parseIntentMap(data)
		if err != nil || fast != slow {
			t.Fatalf("%q: fast %+v, map %+v (%v)", data, fast, slow, err)
		}
	})
}

// FuzzScanValid: the scan the fast path reads with accepts exactly what
// encoding/json does, but for nesting deeper than it goes.
func FuzzScanValid(f *testing.F) {
	for _, seed := range []string{
		`{"a":[1,-0.5e+3,true,false,null,"\u00e9\n"],"b":{}}`, `[]`, `01`, `1.`, `-`, `"\x"`, "\"\x01\"", `{"a" 1}`,
		`[1,]`, `{"a":1,}`, ` 3 `, `"\ud800"`, "\"\xff\"", `[[[[]]]]`, `{"a":tru}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s := scanner{data: data}
		s.space()
		ok := s.value()
		s.space()
		ok = ok && s.i == len(data)
		deep := bytes.Count(data, []byte("["))+bytes.Count(data, []byte("{")) > maxScanDepth
		if want := json.Valid(data); ok != want && !(deep && want) {
			t.Fatalf("%q: the scan says valid %v, encoding/json %v", data, ok, want)
		}
	})
}

// TestIntentFastPathAnswers: the files Hermes writes are read by the scan,
// not handed to the map (which would be right, only slower), and the scan
// hands over what it must not answer itself.
func TestIntentFastPathAnswers(t *testing.T) {
	for _, tc := range []struct {
		data string
		want IntentRecord
		ok   bool
	}{
		{`{"gateway_state":"running"}` + "\n", IntentRecord{Intent: IntentRunning, Raw: "running"}, true},
		{`{"gateway_state":"running","desired_state":"running","timestamp":1765000000,"migrated_from":"legacy-container-cmd"}`,
			IntentRecord{Intent: IntentRunning, Explicit: true, Raw: "running"}, true},
		{"{\n  \"pid\": 41,\n  \"platforms\": {\"telegram\": {\"state\": \"connected\", \"errors\": [1, {\"x\": \"}\"}]}},\n  \"desired_state\": \"stopped\",\n  \"gateway_state\": \"running\"\n}\n",
			IntentRecord{Intent: IntentStopped, Explicit: true, Raw: "stopped"}, true},
		{`{"gateway_state":"degraded","note":"a \"quoted\" word","n":-1.5e3,"t":true,"z":null}`, IntentRecord{Intent: IntentRunning, Raw: "degraded"}, true},
		{`{"gateway_state":"exited"}`, IntentRecord{Intent: IntentStopped, Raw: "exited"}, true},
		{` {} `, IntentRecord{}, true},
		{`{"Desired_State":"running"}`, IntentRecord{}, true}, // another key, as the map reads it
		{`{"gateway_state":"running","gateway_state":"stopped"}`, IntentRecord{Intent: IntentStopped, Raw: "stopped"}, true},
		{`{"desired_state":"paused"}`, IntentRecord{}, false}, // an error to report
		{`{"desired_state":null}`, IntentRecord{}, false},     // the map's reading
		{`{"desired\u005fstate":"running"}`, IntentRecord{}, false},
		{`{"gateway_state":"run\u006eing"}`, IntentRecord{}, false},
		{`{"gateway_state":"running"`, IntentRecord{}, false}, // truncated
		{`null`, IntentRecord{}, false},
		{`[]`, IntentRecord{}, false},
	} {
		got, ok := parseIntentFast([]byte(tc.data))
		if got != tc.want || ok != tc.ok {
			t.Errorf("%q: %+v %v, want %+v %v", tc.data, got, ok, tc.want, tc.ok)
		}
		if ok {
			if slow, _, err := parseIntentMap([]byte(tc.data)); err != nil || slow != got {
				t.Errorf("%q: the map reads %+v (%v), the scan %+v", tc.data, slow, err, got)
			}
		}
	}
}

// BenchmarkParseIntent: one rewrite of a running gateway's state file, as
// a watch-mode reconciler reads at every status change.
func BenchmarkParseIntent(b *testing.B) {
	data := []byte("{\n  \"pid\": 41,\n  \"platforms\": {\"telegram\": {\"state\": \"connected\", \"updated_at\": \"2026-12-07T04:00:00Z\"}, \"discord\": {\"state\": \"connected\"}},\n  \"desired_state\": \"running\",\n  \"gateway_state\": \"running\",\n  \"active_agents\": 3,\n  \"updated_at\": \"2026-12-07T04:00:01.123456Z\"\n}\n")
	b.ReportAllocs()
	for b.Loop() {
		if rec, _, err := ParseIntent(data); err != nil || rec.Intent != IntentRunning {
			b.Fatal(rec, err)
		}
	}
}
