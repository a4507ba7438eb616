//go:build unix

package s6

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/sys/unix"
)

// waitLog collects the holder of every "waiting for lock" line.
type waitLog struct {
	mu      sync.Mutex
	holders []string
}

func (l *waitLog) logger() logr.Logger { return logr.New(&waitSink{l: l}) }

type waitSink struct{ l *waitLog }

func (s *waitSink) Init(logr.RuntimeInfo)          {}
func (s *waitSink) Enabled(int) bool               { return true }
func (s *waitSink) Error(error, string, ...any)    {}
func (s *waitSink) WithValues(...any) logr.LogSink { return s }
func (s *waitSink) WithName(string) logr.LogSink   { return s }
func (s *waitSink) Info(_ int, msg string, kv ...any) {
	if msg != "waiting for lock" {
		return
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i] == "holder" {
			s.l.mu.Lock()
			s.l.holders = append(s.l.holders, kv[i+1].(string))
			s.l.mu.Unlock()
		}
	}
}

// A waiter that comes just after the holder took the lock, before the
// holder wrote its name, must still report the holder, not "unknown holder".
func TestAcquireLockNamesAHolderThatHasNotWrittenItsNameYet(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(5 * time.Millisecond) // the holder's own few system calls, stretched
		_, _ = f.WriteAt([]byte("pid 42 (the holder)\n"), 0)
		time.Sleep(100 * time.Millisecond)
		_ = f.Truncate(0)
		f.Close()
	}()
	var log waitLog
	ctx := logr.NewContext(context.Background(), log.logger())
	l, err := AcquireLock(ctx, dir, "pid 43 (the waiter)", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Unlock()
	if len(log.holders) != 1 || log.holders[0] != "pid 42 (the holder)" {
		t.Fatalf("waiting for lock named %q, want the holder once", log.holders)
	}
}

// Unlock forgets the holder's name before releasing, so no later waiter
// can name a holder that is gone.
func TestUnlockForgetsTheHolder(t *testing.T) {
	dir := t.TempDir()
	l, err := AcquireLock(context.Background(), dir, "pid 1 (first)", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got := holder(filepath.Join(dir, LockFile)); got != "pid 1 (first)" {
		t.Fatalf("holder while held = %q", got)
	}
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, LockFile))
	if err != nil || len(data) != 0 {
		t.Fatalf("lock file after Unlock = %q, %v; want empty", data, err)
	}
}
