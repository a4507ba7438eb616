//go:build unix

package desired

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestCache: a full load over unchanged profiles only stats them; a change
// is seen whatever it changes; a file read while it was fresh is read again
// (git's racily clean rule); a rewrite that says the same is no intent change.
func TestCache(t *testing.T) {
	root := t.TempDir()
	old := time.Now().Add(-time.Hour)
	write := func(rel, data string, mtime time.Time) {
		t.Helper()
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		tmp := p + ".tmp"
		if err := os.WriteFile(tmp, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(tmp, mtime, mtime); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, p); err != nil {
			t.Fatal(err)
		}
	}
	write("config.yaml", "model: x\n", old)
	for _, p := range []string{"a", "b", "c"} {
		write("profiles/"+p+"/SOUL.md", p, old)
		write("profiles/"+p+"/config.yaml", "model: x\n", old)
		write("profiles/"+p+"/gateway_state.json", `{"desired_state":"running","updated_at":1}`, old)
	}
	r := NewReader(root, Options{HermesVersion: "0.21.3"})
	load := func(keys ...Key) State {
		t.Helper()
		var k []Key
		if len(keys) > 0 {
			k = keys
		}
		st, err := r.Load(k)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	reads := func() int { _, n := r.CacheStats(); return n }

	load()
	if got := reads(); got != 7 {
		t.Fatalf("first load read %d files, want 7 (the root's config, and each profile's config and intent)", got)
	}
	load()
	if got := reads(); got != 7 {
		t.Fatalf("a second load of unchanged files read %d more", got-7)
	}

	// A rewrite by rename (a new inode), as Hermes and the gateways do.
	write("profiles/b/gateway_state.json", `{"desired_state":"stopped","updated_at":2}`, old)
	st := load()
	if got := reads(); got != 8 {
		t.Fatalf("after one file changed, %d files read, want 1", got-7)
	}
	if svc := st.Service("b"); svc == nil || svc.WantUp {
		t.Fatalf("the change was not seen: %+v", svc)
	}

	// Read while racily clean: the clock says the file was read within a
	// second of its mtime, so its stamp cannot be trusted yet.
	r.cache.now = func() time.Time { return old.Add(500 * time.Millisecond) }
	write("profiles/c/gateway_state.json", `{"desired_state":"running","updated_at":3}`, old)
	load("c")
	n := reads()
	load("c")
	if reads() != n+1 {
		t.Fatalf("a racily clean entry was trusted")
	}
	r.cache.now = time.Now
	load("c")
	m := reads()
	load("c")
	if reads() != m {
		t.Fatalf("an entry read well after its mtime was read again")
	}

	// The triage of an event: a rewrite with the same intent is no change.
	write("profiles/a/gateway_state.json", `{"desired_state":"running","updated_at":"2026-12-01T00:00:00Z","active_agents":3}`, old)
	if r.IntentChanged("a") {
		t.Fatal("a rewrite with the same intent counted as a change")
	}
	write("profiles/a/gateway_state.json", `{"desired_state":"stopped"}`, old)
	if !r.IntentChanged("a") {
		t.Fatal("a new intent did not count")
	}
	if err := os.Remove(filepath.Join(root, "profiles/a/gateway_state.json")); err != nil {
		t.Fatal(err)
	}
	if !r.IntentChanged("a") {
		t.Fatal("a removed intent file did not count")
	}
	if r.IntentChanged("a") {
		t.Fatal("a file still missing counted as a change")
	}
	if !r.IntentChanged("nobody") {
		t.Fatal("a profile never read must be left to a load")
	}
}
