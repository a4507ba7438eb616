package s6

import (
	"encoding/binary"
	"testing"
	"time"
)

// record builds a supervise/status record the way s6-supervise packs it.
func record(size int, unix int64, pid uint64, wstat uint16, flags byte) []byte {
	b := make([]byte, size)
	binary.BigEndian.PutUint64(b[0:], uint64(1)<<62+uint64(unix)+37)
	binary.BigEndian.PutUint64(b[24:], pid)
	binary.BigEndian.PutUint16(b[size-3:], wstat)
	b[size-1] = flags
	return b
}

func TestParseStatus(t *testing.T) {
	since := time.Unix(1795660000, 0).UTC()
	tests := []struct {
		name string
		rec  []byte
		want Status
	}{
		{"2.11 up, wanted up", record(35, since.Unix(), 4589, 0, 4),
			Status{Supervised: true, Up: true, WantUp: true, PID: 4589, ExitCode: -1, Since: since}},
		{"2.11 up and ready", record(35, since.Unix(), 7, 0, 4|8),
			Status{Supervised: true, Up: true, WantUp: true, Ready: true, PID: 7, ExitCode: -1, Since: since}},
		{"2.11 down after SIGTERM, ready flag ignored when down", record(35, since.Unix(), 0, 15, 8),
			Status{Supervised: true, ExitCode: -1, Signal: 15, Since: since}},
		{"2.11 down, exit 3, wants up (respawning)", record(35, since.Unix(), 0, 3<<8, 4),
			Status{Supervised: true, WantUp: true, ExitCode: 3, Since: since}},
		{"2.11 finishing counts as down", record(35, since.Unix(), 99, 0, 4|2),
			Status{Supervised: true, WantUp: true, ExitCode: 0, Since: since}},
		{"2.13+ record with pgid", record(43, since.Unix(), 4242, 0, 4),
			Status{Supervised: true, Up: true, WantUp: true, PID: 4242, ExitCode: -1, Since: since}},
		{"never ran (down file), exit 0", record(35, since.Unix(), 0, 0, 0),
			Status{Supervised: true, ExitCode: 0, Since: since}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseStatus(tt.rec)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("ParseStatus:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseStatusRejectsUnknownSizes(t *testing.T) {
	for _, n := range []int{0, 34, 36, 42, 44} {
		if _, err := ParseStatus(make([]byte, n)); err == nil {
			t.Errorf("size %d: want an error", n)
		}
	}
}
