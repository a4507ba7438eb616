//go:build unix

package s6

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

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
