// Package standin drives the stand-in systemctl, launchctl and schtasks
// scripts in test/host/standins for tests. Those programs cannot run on
// the test machines (no systemd as PID 1, no macOS, no Windows); the
// stand-ins record their argv and answer the calls hermes-reconcile makes as
// the real ones do, keeping their state in a directory of files.
package standin

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/hermes-reconcile/hermes-reconcile/backends/host"
	"github.com/hermes-reconcile/hermes-reconcile/desired"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
)

// Dir is the absolute path of test/host/standins.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(filepath.Dir(file)), "standins")
}

// State is one stand-in state directory ($STANDIN_STATE).
type State struct {
	Dir string
}

// New makes a state directory in dir.
func New(dir string) State {
	s := State{Dir: filepath.Join(dir, "standin-state")}
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		panic(err)
	}
	return s
}

// Env is environ with the stand-ins first on PATH and STANDIN_STATE set.
func (s State) Env(environ []string) []string {
	out := make([]string, 0, len(environ)+2)
	path := ""
	for _, kv := range environ {
		switch {
		case strings.HasPrefix(kv, "PATH="):
			path = strings.TrimPrefix(kv, "PATH=")
		case strings.HasPrefix(kv, "STANDIN_STATE="):
		default:
			out = append(out, kv)
		}
	}
	return append(out, "PATH="+Dir()+string(os.PathListSeparator)+path, "STANDIN_STATE="+s.Dir)
}

// Calls returns the recorded command lines since the last Reset.
func (s State) Calls() []string {
	b, err := os.ReadFile(filepath.Join(s.Dir, "calls"))
	if err != nil {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// Reset forgets the recorded calls.
func (s State) Reset() { os.Remove(filepath.Join(s.Dir, "calls")) }

// Set creates the knob file name with content.
func (s State) Set(name, content string) {
	if err := os.WriteFile(filepath.Join(s.Dir, name), []byte(content), 0o644); err != nil {
		panic(err)
	}
}

// Clear removes the knob file name.
func (s State) Clear(name string) { os.Remove(filepath.Join(s.Dir, name)) }

// Exists reports whether the file name exists in the state directory.
func (s State) Exists(name string) bool {
	_, err := os.Stat(filepath.Join(s.Dir, name))
	return err == nil
}

// Pass is the pass the binary runs for a host manager m: the profile home
// names, read and reconciled through the one planner. Keys are what it
// covers (the active profile).
func Pass(m host.Manager, home string, s host.Settings) (*reconcile.Pass, []desired.Key) {
	reader := desired.NewReader(home, desired.Options{HermesVersion: "0.21.3"})
	active, _ := desired.Active(home)
	return &reconcile.Pass{Reader: reader, Engine: host.NewEngine(m, reader.Layout(), active, s)}, []desired.Key{active}
}

// Run runs Pass once, applying its plan.
func Run(ctx context.Context, m host.Manager, home string, s host.Settings) reconcile.Outcome {
	p, keys := Pass(m, home, s)
	return p.Run(ctx, keys, nil)
}

// Observe plans Pass once, changing nothing.
func Observe(ctx context.Context, m host.Manager, home string, s host.Settings) reconcile.Outcome {
	p, keys := Pass(m, home, s)
	return p.Observe(ctx, keys)
}
