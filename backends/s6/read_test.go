//go:build unix

package s6

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestReadSmall(t *testing.T) {
	dir := t.TempDir()
	file := func(name string, size int) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, bytes.Repeat([]byte("x"), size), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	link := filepath.Join(dir, "zero")
	if err := os.Symlink("/dev/zero", link); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	sparse := filepath.Join(dir, "sparse")
	f, err := os.Create(sparse)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(10 << 30); err != nil { // 10 GiB, no blocks
		t.Fatal(err)
	}
	f.Close()

	tests := []struct {
		name  string
		path  string
		limit int64
		size  int
		odd   bool
	}{
		{"empty", file("e", 0), 64, 0, false},
		{"one byte", file("one", 1), 64, 1, false},
		{"exactly the limit", file("lim", 64), 64, 64, false},
		{"a page and more", file("page", 4097), 1 << 20, 4097, false},
		{"one byte over the limit", file("over", 65), 64, 0, true},
		{"a symlink to /dev/zero is never followed", link, 1 << 20, 0, true},
		{"a FIFO does not hang the read", fifo, 1 << 20, 0, true},
		{"a 10 GiB sparse file is refused before a byte is allocated", sparse, 1 << 20, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := readSmall(tt.path, tt.limit)
			if tt.odd {
				if !errors.Is(err, ErrOddFile) {
					t.Fatalf("err = %v, want ErrOddFile", err)
				}
				return
			}
			if err != nil || len(data) != tt.size {
				t.Fatalf("got %d bytes, %v; want %d", len(data), err, tt.size)
			}
		})
	}
}
