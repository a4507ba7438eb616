package desired

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/fsnotify/fsnotify"
	"github.com/go-logr/logr"
)

// TestWatcherEvents: a changed path becomes its profile's key, the intent
// file alone an Intent, the root config.yaml RootConfig, what every profile
// depends on All; noise becomes nothing.
func TestWatcherEvents(t *testing.T) {
	root := "/opt/data"
	var got []Event
	s := &watchState{w: NewWatcher(NewLayout(root), WatchOptions{}, logr.Discard()), send: func(e Event) { got = append(got, e) },
		watched: map[string]bool{}}
	ev := func(rel string, op fsnotify.Op) fsnotify.Event {
		return fsnotify.Event{Name: filepath.Join(root, rel), Op: op}
	}
	for _, tc := range []struct {
		name string
		ev   fsnotify.Event
		want []Event
	}{
		{"an intent written by rename", ev("profiles/a/gateway_state.json", fsnotify.Create), []Event{{Key: "a", Intent: true}}},
		{"an intent written in place", ev("profiles/a/gateway_state.json", fsnotify.Write), []Event{{Key: "a", Intent: true}}},
		{"an intent file removed is an input", ev("profiles/a/gateway_state.json", fsnotify.Remove), []Event{{Key: "a"}}},
		{"its temp file", ev("profiles/a/gateway_state.json.tmp", fsnotify.Create), nil},
		{"a config.yaml edit", ev("profiles/b/config.yaml", fsnotify.Write), []Event{{Key: "b"}}},
		{"a .env", ev("profiles/b/.env", fsnotify.Create), []Event{{Key: "b"}}},
		{"a profile published by rename", ev("profiles/c", fsnotify.Create), []Event{{Key: "c"}}},
		{"a tombstone", ev("profiles/.deleted/b", fsnotify.Create), []Event{{Key: "b"}}},
		{"default's intent", ev("gateway_state.json", fsnotify.Create), []Event{{Key: "default", Intent: true}}},
		{"the root config.yaml", ev("config.yaml", fsnotify.Create), []Event{{RootConfig: true}}},
		{"profiles/ replaced", ev("profiles", fsnotify.Remove), []Event{{All: true}}},
		{"a pid file", ev("profiles/a/gateway.pid", fsnotify.Create), nil},
		{"a staging dir", ev("profiles/.x.staging-1", fsnotify.Create), nil},
		{"profiles/default/", ev("profiles/default/SOUL.md", fsnotify.Create), nil},
		{"a chmod", ev("profiles/a/config.yaml", fsnotify.Chmod), nil},
		{"outside the root", fsnotify.Event{Name: "/etc/passwd", Op: fsnotify.Write}, nil},
	} {
		got = nil
		s.note(tc.ev)
		if len(got) != len(tc.want) || (len(got) == 1 && got[0] != tc.want[0]) {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}

	// A watched dir that inotify dropped is forgotten, to be watched again;
	// so is every dir under it, which gets no event of its own when its
	// parent is moved away.
	s.watched[filepath.Join(root, "profiles", "a")] = true
	s.note(ev("profiles/a", fsnotify.Remove))
	if s.watched[filepath.Join(root, "profiles", "a")] {
		t.Error("a removed profile dir is still thought watched")
	}
}

// TestPollStamps: a poll that finds a profile's files changed asks for its
// key; one that came or went, or a tombstone, for all; the root's, for the
// topology too.
func TestPollStamps(t *testing.T) {
	base := map[Key]string{DefaultProfile: "x", "a": "1", "b": "2", tombstonesKey: ""}
	with := func(k Key, v string) map[Key]string {
		m := map[Key]string{}
		for k, v := range base {
			m[k] = v
		}
		m[k] = v
		return m
	}
	for _, tc := range []struct {
		name string
		now  map[Key]string
		want []Event
	}{
		{"nothing", base, nil},
		{"a's files", with("a", "1'"), []Event{{Key: "a"}}},
		{"the root's", with(DefaultProfile, "y"), []Event{{RootConfig: true}, {Key: DefaultProfile}}},
		{"a new profile", with("c", "3"), []Event{{All: true, Why: "poll"}}},
		{"a tombstone", with(tombstonesKey, "b"), []Event{{All: true, Why: "poll"}}},
	} {
		got := changedStamps(base, tc.now)
		if len(got) != len(tc.want) {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
			}
		}
	}
}

// TestPollScan: the poll stats each directory, and its files only when the
// directory changed: a rewrite by rename (Hermes's way) is seen at the
// next poll at the cost of one stat a profile; one in place, at the next
// full sweep.
func TestPollScan(t *testing.T) {
	root := t.TempDir()
	for _, p := range []string{"a", "b", "c"} {
		writeTestFile(t, filepath.Join(root, "profiles", p, SoulFile), "soul\n")
		writeTestFile(t, filepath.Join(root, "profiles", p, StateFile), `{"desired_state":"running"}`)
	}
	s := &watchState{w: &Watcher{layout: Layout{Root: root}}}
	s.stamps = s.scan(true)

	s.pollStats = 0
	if got := changedStamps(s.stamps, s.scan(false)); got != nil {
		t.Fatalf("nothing changed: %+v", got)
	}
	// The root, profiles/, three profiles and the tombstones: a stat each.
	if s.pollStats != 6 {
		t.Errorf("an idle poll made %d stats, want 6 (one a directory)", s.pollStats)
	}

	state := filepath.Join(root, "profiles", "b", StateFile)
	writeTestFile(t, state+".tmp", `{"desired_state":"stopped"}`)
	if err := os.Rename(state+".tmp", state); err != nil {
		t.Fatal(err)
	}
	now := s.scan(false)
	if got := changedStamps(s.stamps, now); len(got) != 1 || got[0].Key != "b" {
		t.Fatalf("a rename in b: %+v, want b", got)
	}
	s.stamps = now

	// In place: the directory does not change; the sweep sees it.
	f, err := os.OpenFile(filepath.Join(root, "profiles", "c", StateFile), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.WriteString("\n")
	_ = f.Close()
	if got := changedStamps(s.stamps, s.scan(false)); got != nil {
		t.Fatalf("an in-place write seen without a sweep: %+v (the directory did not change)", got)
	}
	if got := changedStamps(s.stamps, s.scan(true)); len(got) != 1 || got[0].Key != "c" {
		t.Fatalf("the sweep: %+v, want c", got)
	}
}

func writeTestFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}
