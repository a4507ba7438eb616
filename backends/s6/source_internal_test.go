//go:build unix

package s6

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/go-logr/logr"

	"github.com/hermes-reconcile/hermes-reconcile/config"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile/loop"
)

// tally encodes deaths as supervise/death_tally does: TAI64N, exit, signal.
func tally(deaths []reconcile.Death) []byte {
	var out []byte
	for _, d := range deaths {
		r := make([]byte, deathRecord)
		binary.BigEndian.PutUint64(r[0:8], uint64(1)<<62+37+uint64(d.At.Unix()))
		binary.BigEndian.PutUint32(r[8:12], uint32(d.At.Nanosecond()))
		r[12], r[13] = byte(d.Exit), byte(d.Signal)
		out = append(out, r...)
	}
	return out
}

// TestSourceEvents: the scandir's entries become unit events, the scandir
// replaced a full pass, and a death record a pass only when the deaths make
// a crash loop or the last is a failure for good (exit 78); noise becomes
// nothing.
func TestSourceEvents(t *testing.T) {
	scandir := t.TempDir()
	b, err := New(Options{Scandir: scandir, Render: config.DefaultRender()})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	crashes := func(n int, exit, sig int) []reconcile.Death {
		var out []reconcile.Death
		for i := range n {
			out = append(out, reconcile.Death{At: now.Add(-time.Duration(n-i) * time.Second), Exit: exit, Signal: sig})
		}
		return out
	}
	var got []loop.Event
	st := &sourceState{s: b.Source(reconcile.CrashLoop{Deaths: 5, Window: time.Minute}, logr.Discard()),
		send: func(e loop.Event) { got = append(got, e) }, deathDirs: map[string]string{}}
	for slot, deaths := range map[string][]reconcile.Death{
		"gateway-loop": crashes(5, 1, 0), "gateway-once": crashes(1, 1, 0), "gateway-stops": crashes(9, 0, 15),
		"gateway-clean": crashes(9, 0, 0), "gateway-config": crashes(1, 78, 0), "gateway-new": nil,
	} {
		dir := filepath.Join(scandir, slot, "supervise")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "death_tally"), tally(deaths), 0o644); err != nil {
			t.Fatal(err)
		}
		k, _ := ProfileOfSlot(slot)
		st.deathDirs[dir] = k
	}
	in := func(rel string, op fsnotify.Op) fsnotify.Event {
		return fsnotify.Event{Name: filepath.Join(scandir, rel), Op: op}
	}
	for _, tc := range []struct {
		name string
		ev   fsnotify.Event
		want []loop.Event
	}{
		{"a slot published", in("gateway-a", fsnotify.Create), []loop.Event{{Kind: loop.Unit, Key: "a", Unit: "gateway-a", Op: loop.Appeared}}},
		{"a slot deleted", in("gateway-a", fsnotify.Remove), []loop.Event{{Kind: loop.Unit, Key: "a", Unit: "gateway-a", Op: loop.Gone}}},
		{"a slot moved away", in("gateway-a", fsnotify.Rename), []loop.Event{{Kind: loop.Unit, Key: "a", Unit: "gateway-a", Op: loop.Gone}}},
		{"our staging dir", in(".hermes-reconcile.gateway-a.tmp", fsnotify.Create), nil},
		{"s6-svscan's", in(".s6-svscan", fsnotify.Create), nil},
		{"another service", in("other-service", fsnotify.Remove), nil},
		{"a chmod", in("gateway-a", fsnotify.Chmod), nil},
		{"the scandir replaced", fsnotify.Event{Name: scandir, Op: fsnotify.Rename}, []loop.Event{{Kind: loop.All, Why: "scandir replaced"}}},
		{"five crashes in a minute", in("gateway-loop/supervise/death_tally", fsnotify.Create), []loop.Event{{Kind: loop.Deaths, Key: "loop"}}},
		{"one crash", in("gateway-once/supervise/death_tally", fsnotify.Create), nil},
		{"our stops (SIGTERM)", in("gateway-stops/supervise/death_tally", fsnotify.Create), nil},
		{"clean exits", in("gateway-clean/supervise/death_tally", fsnotify.Create), nil},
		{"exit 78: failed for good, said now", in("gateway-config/supervise/death_tally", fsnotify.Create), []loop.Event{{Kind: loop.Deaths, Key: "config"}}},
		{"a new slot's empty tally", in("gateway-new/supervise/death_tally", fsnotify.Create), nil},
		{"the status record", in("gateway-loop/supervise/status", fsnotify.Create), nil},
	} {
		got = nil
		st.note(tc.ev)
		if len(got) != len(tc.want) || (len(got) == 1 && got[0] != tc.want[0]) {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}
