package s6

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hermes-reconcile/hermes-reconcile/config"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
)

func TestParseDeathTally(t *testing.T) {
	// Four deaths of a run that exits 3, as s6-supervise 2.11.3 wrote them
	// here (xxd of supervise/death_tally), and one by SIGKILL.
	real, _ := hex.DecodeString(strings.Join([]string{
		"400000006b0f51a40957c0070300", "400000006b0f51a509dce6660300",
		"400000006b0f51a60a698fb90300", "400000006b0f51a70b0418d70300",
		"400000006b0f51a80000000089" + "09",
	}, ""))
	at := func(secs int64, nanos int64) time.Time {
		return time.Unix(0x6b0f51a4+secs-37, nanos).UTC()
	}
	tests := []struct {
		name    string
		data    []byte
		want    []reconcile.Death
		wantErr bool
	}{
		{"empty: a slot that never died", nil, []reconcile.Death{}, false},
		{"s6 2.11's records", real, []reconcile.Death{
			{At: at(0, 0x0957c007), Exit: 3}, {At: at(1, 0x09dce666), Exit: 3},
			{At: at(2, 0x0a698fb9), Exit: 3}, {At: at(3, 0x0b0418d7), Exit: 3},
			{At: at(4, 0), Exit: 0x89, Signal: 9},
		}, false},
		{"a torn record", real[:20], nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseDeathTally(tt.data)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d deaths, want %d: %v", len(got), len(tt.want), got)
			}
			for i := range got {
				if !got[i].At.Equal(tt.want[i].At) || got[i].Exit != tt.want[i].Exit || got[i].Signal != tt.want[i].Signal {
					t.Errorf("death %d = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestStateRoundTrip(t *testing.T) {
	at := time.Date(2026, 12, 1, 22, 0, 0, 123456789, time.UTC)
	tests := []struct {
		name string
		st   slotState
	}{
		{"nothing recorded", slotState{}},
		{"a restart under way", slotState{RunWritten: at, LogWritten: at.Add(-time.Hour), Restarting: true}},
		{"parked", slotState{Park: &reconcile.Park{At: at, Why: "crash loop, 5 deaths in 4s, last exit 1", Count: 2, LastExits: []string{"exit 1", "signal 11"}}}},
		{"lifted", slotState{Park: &reconcile.Park{At: at, Why: "w", Count: 1, Lifted: at.Add(time.Minute)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			b, err := New(Options{Scandir: root, Render: config.DefaultRender()})
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(filepath.Join(root, "gateway-a"), 0o755); err != nil {
				t.Fatal(err)
			}
			r, err := os.OpenRoot(root)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if err := b.writeState(r, "gateway-a", tt.st); err != nil {
				t.Fatal(err)
			}
			got, err := b.readState("gateway-a")
			if err != nil {
				t.Fatal(err)
			}
			if !got.RunWritten.Equal(tt.st.RunWritten) || !got.LogWritten.Equal(tt.st.LogWritten) || got.Restarting != tt.st.Restarting {
				t.Errorf("got %+v, want %+v", got, tt.st)
			}
			if (got.Park == nil) != (tt.st.Park == nil) {
				t.Fatalf("park = %+v, want %+v", got.Park, tt.st.Park)
			}
			if p := got.Park; p != nil {
				w := tt.st.Park
				if !p.At.Equal(w.At) || !p.Lifted.Equal(w.Lifted) || p.Why != w.Why || p.Count != w.Count || strings.Join(p.LastExits, ",") != strings.Join(w.LastExits, ",") {
					t.Errorf("park = %+v, want %+v", p, w)
				}
			}
		})
	}
}

func TestParseStateRejectsGarbage(t *testing.T) {
	if _, err := parseState([]byte("{not json")); err == nil || !strings.Contains(err.Error(), StateFile) {
		t.Fatalf("err = %v, want one naming %s", err, StateFile)
	}
}
