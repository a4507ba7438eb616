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

// waitLog collects the holder of every "waiting for lock" line; said is
// closed at the first.
type waitLog struct {
	mu      sync.Mutex
	holders []string
	once    sync.Once
	said    chan struct{}
}

func newWaitLog() *waitLog { return &waitLog{said: make(chan struct{})} }

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
			s.l.once.Do(func() { close(s.l.said) })
		}
	}
}

// readDone is closed once a reader of path has closed it without writing
// (inotify's IN_CLOSE_NOWRITE): here, the waiter's first look at the
// holder's name, which it opens read-only, reads and closes.
func readDone(t *testing.T, path string) <-chan struct{} {
	t.Helper()
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := unix.InotifyAddWatch(fd, path, unix.IN_CLOSE_NOWRITE); err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	// Non-blocking, so the runtime polls it and Close ends the Read.
	f := os.NewFile(uintptr(fd), "inotify")
	t.Cleanup(func() { f.Close() })
	done := make(chan struct{})
	go func() {
		buf := make([]byte, unix.SizeofInotifyEvent+unix.NAME_MAX+1)
		if n, err := f.Read(buf); err == nil && n > 0 {
			close(done)
		}
	}()
	return done
}

// A waiter that comes just after the holder took the lock, before the
// holder wrote its name, must still report the holder, not "unknown
// holder". The order is held by events, not sleeps: the holder writes its
// name once the waiter has looked and found none, and lets go once the
// waiter has said whom it waits for. What stays timed is the code's own
// grace: a holder has one tick of the waiter (20 ms) after that first look
// to write its name, and this one writes as soon as it is told.
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
	looked := readDone(t, path)
	log := newWaitLog()
	end := make(chan struct{})
	defer close(end)
	go func() {
		defer f.Close()
		select {
		case <-looked: // the waiter found the lock held and no name in it
		case <-end:
			return
		}
		_, _ = f.WriteAt([]byte("pid 42 (the holder)\n"), 0)
		select {
		case <-log.said: // it said whom it waits for
		case <-end:
			return
		}
		_ = f.Truncate(0)
	}()
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
