package loop

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
)

// recorded is a Recorder that keeps what it heard.
type recorded struct {
	mu      sync.Mutex
	running []bool
	reports []Report
}

func (r *recorded) Running(on bool, _ time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.running = append(r.running, on)
}

func (r *recorded) Passed(rep Report) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reports = append(r.reports, rep)
}

// TestRecorderHearsEveryPass: the loop says when it runs, and reports each
// pass with its kind and whether the lock was taken; a keyed pass is keyed.
func TestRecorderHearsEveryPass(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "SOUL.md"), []byte("soul\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rec := &recorded{}
	l := testLoop(root, Options{Recorder: rec})
	l.pass(context.Background(), "start", nil, true)
	l.pass(context.Background(), "event", []string{"default"}, false)
	refused := errors.New("held by pid 1")
	l.opt.Lock = func(context.Context) (func(), error) { return nil, refused }
	l.pass(context.Background(), "resync", nil, true)

	if len(rec.reports) != 3 {
		t.Fatalf("%d reports, want 3", len(rec.reports))
	}
	for i, want := range []struct{ full, locked bool }{{true, true}, {false, true}, {true, false}} {
		r := rec.reports[i]
		if r.Full != want.full || r.Locked != want.locked {
			t.Errorf("report %d: full %v locked %v, want %v %v", i, r.Full, r.Locked, want.full, want.locked)
		}
	}
	if err := rec.reports[2].Outcome.Err; !errors.Is(err, refused) {
		t.Errorf("a lock not taken fails the pass with its error; got %v", err)
	}

	ctx, cancel := context.WithCancel(logr.NewContext(context.Background(), logr.Discard()))
	cancel()
	rec2 := &recorded{}
	if err := Run(ctx, l.p, Options{Recorder: rec2}); err != nil {
		t.Fatal(err)
	}
	if len(rec2.running) != 2 || !rec2.running[0] || rec2.running[1] {
		t.Errorf("Running heard %v, want [true false]", rec2.running)
	}
}
