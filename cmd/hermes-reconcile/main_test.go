package main

import (
	"testing"

	"github.com/hermes-reconcile/hermes-reconcile/test/testkit"
)

// The man page is generated from the flags' one table and kept in the
// tree: UPDATE_DOCS=1 go test ./cmd/... rewrites it.
func TestManPage(t *testing.T) {
	const path = "../../docs/hermes-reconcile.1"
	stale, err := testkit.Generated(path, "", "", Binary.ManPage())
	if err != nil {
		t.Fatal(err)
	}
	if stale {
		t.Errorf("%s is not what the flags' table generates (UPDATE_DOCS=1 go test ./cmd/... rewrites it)", path)
	}
}
