package host

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
)

// TestNotes: a note of absence outlives the engine (the next process reads
// it), and a note that the profile is back clears it.
func TestNotes(t *testing.T) {
	file := filepath.Join(t.TempDir(), "cache", "systemd-abc.notes.json")
	at := time.Date(2026, 12, 6, 12, 0, 1, 0, time.UTC)
	e := &Engine{settings: Settings{NotesFile: file}}
	if got := e.absentSince("hermes-gateway-coder"); !got.IsZero() {
		t.Fatalf("no notes yet: got %v", got)
	}
	if err := e.Note(context.Background(), reconcile.Note{Key: "coder", Unit: "hermes-gateway-coder", Absent: at}); err != nil {
		t.Fatal(err)
	}
	next := &Engine{settings: Settings{NotesFile: file}}
	if got := next.absentSince("hermes-gateway-coder"); !got.Equal(at) {
		t.Fatalf("another process's engine: got %v, want %v", got, at)
	}
	if err := next.Note(context.Background(), reconcile.Note{Key: "coder", Unit: "hermes-gateway-coder"}); err != nil {
		t.Fatal(err)
	}
	if got := e.absentSince("hermes-gateway-coder"); !got.IsZero() {
		t.Fatalf("cleared: got %v", got)
	}
}
