//go:build linux

package main

import (
	"os"
	"testing"
)

// The man page is generated from the flags' one table and kept in the
// tree: UPDATE_DOCS=1 go test ./cmd/... rewrites it.
func TestManPage(t *testing.T) {
	const path = "../../docs/hermes-reconcile-kube.1"
	want := Binary.ManPage()
	got, err := os.ReadFile(path)
	if err == nil && string(got) == want {
		return
	}
	if os.Getenv("UPDATE_DOCS") != "" {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s is not what the flags' table generates (UPDATE_DOCS=1 go test ./cmd/... rewrites it)", path)
}
