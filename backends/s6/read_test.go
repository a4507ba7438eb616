package s6

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// readSmall must return exactly what os.ReadFile does, whatever its size
// hint says.
func TestReadSmall(t *testing.T) {
	dir := t.TempDir()
	for _, size := range []int{0, 1, 33, 64, 65, 4096, 70000} {
		path := filepath.Join(dir, "f")
		data := bytes.Repeat([]byte("x"), size)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, hint := range []int64{-1, 0, 16, int64(size), int64(size) + 100} {
			got, err := readSmall(path, hint)
			if err != nil || !bytes.Equal(got, data) {
				t.Errorf("size %d, hint %d: got %d bytes, %v", size, hint, len(got), err)
			}
		}
	}
	if _, err := readSmall(filepath.Join(dir, "missing"), 0); !os.IsNotExist(err) {
		t.Errorf("missing file: %v, want not-exist", err)
	}
	if _, err := readSmall(dir, 0); err == nil {
		t.Error("a directory read as a file")
	}
}
