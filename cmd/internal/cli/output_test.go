package cli

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
)

// A unit the plan leaves as it is (a paused Deployment, a symlinked slot)
// is said with the plan, in text and in NDJSON, and the summary does not
// claim the services match the profiles.
func TestPlanSaysWhatItLeavesAlone(t *testing.T) {
	paused := reconcile.Untouched{Key: "coder", Unit: "hermes-gateway-coder", State: "paused", Why: "paused by its annotation"}
	clamp := reconcile.Action{Kind: reconcile.Start, Key: "run", Unit: "hermes-gateway-run", Reason: "replicas_clamped"}
	tests := []struct {
		name      string
		plan      reconcile.Plan
		text      string
		json      []string // the types of the NDJSON events
		untouched int
	}{
		{"nothing to do", reconcile.Plan{},
			"No changes. Services match the profiles.\n",
			[]string{"change_summary"}, 0},
		{"one paused, nothing else", reconcile.Plan{Untouched: []reconcile.Untouched{paused}},
			"= hermes-gateway-coder  left as it is (paused)  paused by its annotation\nNo changes. 1 service left as it is.\n",
			[]string{"untouched", "change_summary"}, 1},
		{"a clamp beside one paused", reconcile.Plan{Actions: []reconcile.Action{clamp}, Untouched: []reconcile.Untouched{paused}},
			"> hermes-gateway-run  start  replicas_clamped\n= hermes-gateway-coder  left as it is (paused)  paused by its annotation\n" +
				"Plan: 0 to create, 0 to update, 0 to remove, 1 to start, 0 to stop. 1 service left as it is.\n",
			[]string{"planned_change", "untouched", "change_summary"}, 1},
		{"two left alone", reconcile.Plan{Untouched: []reconcile.Untouched{paused, {Key: "a", Unit: "gateway-a", State: "untouchable", Why: "a symlink"}}},
			"= hermes-gateway-coder  left as it is (paused)  paused by its annotation\n= gateway-a  left as it is (untouchable)  a symlink\n" +
				"No changes. 2 services left as they are.\n",
			[]string{"untouched", "untouched", "change_summary"}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var text strings.Builder
			(&printer{out: &text, errw: &text}).plan(tt.plan, nil)
			if text.String() != tt.text {
				t.Errorf("text:\n%s\nwant:\n%s", text.String(), tt.text)
			}

			var out strings.Builder
			p := &printer{out: &out, errw: &out, json: true, now: func() time.Time { return time.Unix(0, 0) }}
			p.plan(tt.plan, nil)
			p.summary(tt.plan, nil, 0, nil)
			var types []string
			var events []map[string]any
			for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
				var ev map[string]any
				if err := json.Unmarshal([]byte(line), &ev); err != nil {
					t.Fatalf("%q: %v", line, err)
				}
				types = append(types, ev["type"].(string))
				events = append(events, ev)
			}
			if strings.Join(types, " ") != strings.Join(tt.json, " ") {
				t.Errorf("NDJSON types %v, want %v", types, tt.json)
			}
			for _, ev := range events {
				switch ev["type"] {
				case "untouched":
					if ev["slot"] == "hermes-gateway-coder" && (ev["state"] != "paused" || ev["profile"] != "coder" || ev["why"] != paused.Why) {
						t.Errorf("untouched event %v", ev)
					}
				case "change_summary":
					if ev["untouched"] != float64(tt.untouched) {
						t.Errorf("change_summary untouched %v, want %d", ev["untouched"], tt.untouched)
					}
				}
			}
		})
	}
}
