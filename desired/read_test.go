//go:build unix

package desired

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestReadInput: only a regular file, not through a symlink, of at most
// maxInputSize bytes, is read; everything else is refused without hanging.
func TestReadInput(t *testing.T) {
	dir := t.TempDir()
	at := func(name string) string { return filepath.Join(dir, name) }
	write := func(name, data string) {
		if err := os.WriteFile(at(name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("plain", "model: x\n")
	write("empty", "")
	write("limit", strings.Repeat("a", maxInputSize))
	write("over", strings.Repeat("a", maxInputSize+1))
	if err := os.Symlink(at("plain"), at("link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(at("nowhere"), at("dangling")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(at("fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(at("dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		wantLen  int
		wantErr  string // substring; "" for success
		notExist bool
	}{
		{name: "plain", wantLen: 9},
		{name: "empty", wantLen: 0},
		{name: "limit", wantLen: maxInputSize},
		{name: "over", wantErr: "over the 1048576 byte limit"},
		{name: "link", wantErr: "not a regular file"},
		{name: "dangling", wantErr: "not a regular file"},
		{name: "fifo", wantErr: "not a regular file"},
		{name: "dir", wantErr: "not a regular file"},
		{name: "missing", wantErr: "no such file", notExist: true},
		{name: "plain/below", wantErr: "not a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, err := ReadInput(at(tc.name))
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tc.wantErr == "" && len(data) != tc.wantLen:
				t.Fatalf("read %d bytes, want %d", len(data), tc.wantLen)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("got %v, want an error containing %q", err, tc.wantErr)
			case errors.Is(err, fs.ErrNotExist) != tc.notExist:
				t.Fatalf("errors.Is(%v, fs.ErrNotExist) = %v, want %v", err, !tc.notExist, tc.notExist)
			}
		})
	}
}
