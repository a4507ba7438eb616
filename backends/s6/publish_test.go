//go:build unix

package s6

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hermes-reconcile/hermes-reconcile/config"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
)

func testSpec() reconcile.Spec {
	return reconcile.Spec{
		Files: []reconcile.File{
			{Path: FileType, Mode: 0o644, Data: []byte("longrun\n")},
			{Path: FileRun, Mode: 0o755, Data: []byte("#!/bin/sh\nexec true\n")},
			{Path: FileFinish, Mode: 0o755, Data: []byte("#!/bin/sh\n")},
			{Path: FileLogRun, Mode: 0o755, Data: []byte("#!/bin/sh\nexec s6-log .\n")},
		},
		Hash: "abc123",
	}
}

// entry is what a published slot holds at one path: what s6-supervise
// would make itself, with s6's modes, and our files.
type entry struct {
	mode fs.FileMode
	data string // for regular files
}

func wantTree(wantUp bool) map[string]entry {
	const event = fs.ModeDir | fs.ModeSetgid | fs.ModeSticky | 0o730
	t := map[string]entry{
		".":                          {mode: fs.ModeDir | 0o755},
		"type":                       {mode: 0o644, data: "longrun\n"},
		"run":                        {mode: 0o755, data: "#!/bin/sh\nexec true\n"},
		"finish":                     {mode: 0o755, data: "#!/bin/sh\n"},
		"data":                       {mode: fs.ModeDir | 0o755},
		"data/hermes-reconcile.hash": {mode: 0o644, data: "abc123\n"},
		RenderFile:                   {mode: 0o644, data: string(renderRecord(config.DefaultRender()))},
		"log":                        {mode: fs.ModeDir | 0o755},
		"log/run":                    {mode: 0o755, data: "#!/bin/sh\nexec s6-log .\n"},
	}
	for _, dir := range []string{".", "log"} {
		t[filepath.Join(dir, "event")] = entry{mode: event}
		t[filepath.Join(dir, "supervise")] = entry{mode: fs.ModeDir | 0o755}
		t[filepath.Join(dir, "supervise/event")] = entry{mode: event}
		t[filepath.Join(dir, "supervise/control")] = entry{mode: fs.ModeNamedPipe | 0o660}
	}
	if !wantUp {
		t["down"] = entry{mode: 0o644}
	}
	return t
}

// TestPublish checks a new slot's whole tree: exact modes whatever the
// umask, every entry owned by the gateway user when we run as root, the
// staging dir gone, and a stale staging dir from a crash replaced.
func TestPublish(t *testing.T) {
	old := syscall.Umask(0o077) // a strict umask must not leak into s6's modes
	defer syscall.Umask(old)
	for _, tc := range []struct {
		name   string
		wantUp bool
		stale  bool
	}{
		{name: "down", wantUp: false},
		{name: "up", wantUp: true},
		{name: "over a stale staging dir", wantUp: false, stale: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			scandir := t.TempDir()
			b := mustNew(t, Options{Scandir: scandir, UID: 4242, GID: 4343})
			if tc.stale {
				half := filepath.Join(scandir, stagingName("gateway-p"), "log")
				if err := os.MkdirAll(half, 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(half, "run"), []byte("half"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if err := b.publish("gateway-p", testSpec(), tc.wantUp); err != nil {
				t.Fatal(err)
			}
			slot := filepath.Join(scandir, "gateway-p")
			got := map[string]entry{}
			err := filepath.WalkDir(slot, func(p string, _ fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				rel, _ := filepath.Rel(slot, p)
				fi, err := os.Lstat(p)
				if err != nil {
					return err
				}
				e := entry{mode: fi.Mode()}
				if fi.Mode().IsRegular() {
					data, err := os.ReadFile(p)
					if err != nil {
						return err
					}
					if len(data) > 0 {
						e.data = string(data)
					}
				}
				got[rel] = e
				if euid() == 0 {
					st := fi.Sys().(*syscall.Stat_t)
					if st.Uid != 4242 || st.Gid != 4343 {
						t.Errorf("%s owned by %d:%d, want 4242:4343", rel, st.Uid, st.Gid)
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			want := wantTree(tc.wantUp)
			for p, w := range want {
				if g, ok := got[p]; !ok {
					t.Errorf("%s missing", p)
				} else if g != w {
					t.Errorf("%s: got %v %q, want %v %q", p, g.mode, g.data, w.mode, w.data)
				}
			}
			for p := range got {
				if _, ok := want[p]; !ok {
					t.Errorf("unexpected %s", p)
				}
			}
			assertOnly(t, scandir, "gateway-p")
		})
	}
}

// TestPublishFailureLeavesNothing: a slot that cannot be built leaves no
// staging dir behind and nothing under its name.
func TestPublishFailureLeavesNothing(t *testing.T) {
	scandir := t.TempDir()
	b := mustNew(t, Options{Scandir: scandir, UID: -1, GID: -1})
	spec := testSpec()
	spec.Files = append(spec.Files, reconcile.File{Path: "sub/dir/file", Mode: 0o644})
	err := b.publish("gateway-p", spec, false)
	if err == nil || !strings.Contains(err.Error(), "sub/dir/file") {
		t.Fatalf("got %v, want an error naming sub/dir/file", err)
	}
	assertOnly(t, scandir)
}

func assertOnly(t *testing.T, dir string, names ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if strings.Join(got, ",") != strings.Join(names, ",") {
		t.Errorf("%s holds %v, want %v", dir, got, names)
	}
}

// TestRescan: a published slot is supervised after one rescan by a real
// s6-svscan, and a scandir nobody scans is ErrSvscanDown, as s6-svscanctl's
// exit 100 was.
func TestRescan(t *testing.T) {
	if _, err := exec.LookPath("s6-svscan"); err != nil {
		t.Fatalf("s6-svscan not installed (make deps): %v", err)
	}
	scandir := t.TempDir()
	b := mustNew(t, Options{Scandir: scandir, UID: -1, GID: -1})
	if err := b.rescan(context.Background()); !errors.Is(err, ErrSvscanDown) {
		t.Fatalf("no s6-svscan: got %v, want ErrSvscanDown", err)
	}

	svscan := exec.Command("s6-svscan", scandir)
	svscan.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := svscan.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = svscan.Wait(); close(exited) }()
	stop := func() {
		_ = syscall.Kill(-svscan.Process.Pid, syscall.SIGTERM)
		<-exited
	}
	defer stop()
	waitFor(t, func() bool {
		ok, _ := fifoListening(filepath.Join(scandir, ".s6-svscan", "control"))
		return ok
	})

	spec := testSpec()
	spec.Files[1].Data = []byte("#!/bin/sh\nexec sleep 1000\n")
	if err := b.publish("gateway-p", spec, false); err != nil {
		t.Fatal(err)
	}
	if err := b.rescan(context.Background()); err != nil {
		t.Fatal(err)
	}
	if errs := b.waitSupervised(context.Background(), []string{"gateway-p"}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	if got := b.Rescans(); got != 1 {
		t.Errorf("Rescans() = %d, want 1", got)
	}
	if got := b.Spawned(); got != 0 {
		t.Errorf("Spawned() = %d, want 0: the rescan needs no program", got)
	}

	stop()
	if err := b.rescan(context.Background()); !errors.Is(err, ErrSvscanDown) {
		t.Fatalf("s6-svscan stopped: got %v, want ErrSvscanDown", err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met after 10s")
		}
		time.Sleep(time.Millisecond)
	}
}

func mustNew(t *testing.T, opt Options) *Backend {
	t.Helper()
	opt.Render = config.DefaultRender()
	b, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPublishLosesRace: a slot another writer published while ours was
// staged is never replaced; ours is dropped and the step is superseded, not
// failed. A staging dir of that writer (.gateway-<p>.tmp) is not ours to
// touch.
func TestPublishLosesRace(t *testing.T) {
	scandir := t.TempDir()
	b := mustNew(t, Options{Scandir: scandir, UID: -1, GID: -1})
	theirs := filepath.Join(scandir, "gateway-p")
	if err := os.MkdirAll(filepath.Join(theirs, "log"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(theirs, "run"), []byte("theirs\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	hermes := filepath.Join(scandir, ".gateway-q.tmp")
	if err := os.MkdirAll(hermes, 0o755); err != nil {
		t.Fatal(err)
	}
	err := b.publish("gateway-p", testSpec(), false)
	if !errors.Is(err, reconcile.ErrSuperseded) {
		t.Fatalf("publish over another writer's slot: %v, want superseded", err)
	}
	if data, _ := os.ReadFile(filepath.Join(theirs, "run")); string(data) != "theirs\n" {
		t.Fatalf("their slot was changed: run is %q", data)
	}
	if err := b.publish("gateway-q", testSpec(), false); err != nil {
		t.Fatal(err)
	}
	names := entries(t, scandir)
	if !slices.Equal(names, []string{".gateway-q.tmp", "gateway-p", "gateway-q"}) {
		t.Fatalf("scandir holds %v: our staging left behind, or theirs touched", names)
	}
}

func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}
