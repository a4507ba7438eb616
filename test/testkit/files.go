package testkit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	. "github.com/onsi/gomega"
)

// RepoRoot is the checkout this package is in.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// FakeGateway is the stand-in for the Hermes gateway program.
func FakeGateway() string { return filepath.Join(RepoRoot(), "test", "fake-gateway") }

// HermesVersion is the Hermes the suites run the binary beside
// (HERMES_RECONCILE_HERMES_VERSION): before #112854, so multiplex_profiles
// decides, absent per-profile.
const HermesVersion = "0.21.3"

// WriteFile writes content to path, making its parent directories.
func WriteFile(path, content string) {
	Expect(os.MkdirAll(filepath.Dir(path), 0o755)).To(Succeed())
	Expect(os.WriteFile(path, []byte(content), 0o644)).To(Succeed())
}

// WriteAtomic writes like Hermes does: a temp file renamed over the target.
func WriteAtomic(path, content string) {
	tmp := path + ".tmp"
	WriteFile(tmp, content)
	Expect(os.Rename(tmp, path)).To(Succeed())
}

// ReadFile is the content of path, which must be readable.
func ReadFile(path string) string {
	data, err := os.ReadFile(path)
	Expect(err).NotTo(HaveOccurred())
	return string(data)
}

// CopyTree copies the directories and regular files under src to dst.
func CopyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
}

// LogLines are the JSON log lines of a run (its stderr) with the given
// message.
func LogLines(stderr []byte, msg string) []map[string]any {
	var out []map[string]any
	for _, line := range bytes.Split(stderr, []byte("\n")) {
		var ev map[string]any
		if json.Unmarshal(line, &ev) == nil && ev["msg"] == msg {
			out = append(out, ev)
		}
	}
	return out
}

// Generated checks that path holds want, between the markers begin and end
// (the whole file when both are ""), and under UPDATE_DOCS rewrites it
// instead: the docs and manifests generated from a definition stay in the
// tree. stale is true when they differ and nothing was rewritten; err says
// why path could not be read, marked or written.
func Generated(path, begin, end, want string) (stale bool, err error) {
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) && begin == "" {
		data, err = nil, nil
	}
	if err != nil {
		return false, err
	}
	text := string(data)
	i, j := 0, len(text)
	if begin != "" {
		i, j = strings.Index(text, begin), strings.Index(text, end)
		if i < 0 || j < i {
			return false, fmt.Errorf("%s has no %q … %q section", path, begin, end)
		}
		i += len(begin)
	}
	if text[i:j] == want {
		return false, nil
	}
	if os.Getenv("UPDATE_DOCS") == "" {
		return true, nil
	}
	return false, os.WriteFile(path, []byte(text[:i]+want+text[j:]), 0o644)
}
