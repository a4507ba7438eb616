//go:build linux

package testkit

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"

	"github.com/hermes-reconcile/hermes-reconcile/backends/s6"
	"github.com/hermes-reconcile/hermes-reconcile/config"
)

// T is the test a World belongs to: GinkgoT() in a spec, a *testing.B in a
// benchmark.
type T interface {
	Helper()
	Cleanup(func())
	TempDir() string
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// World is one spec's (or benchmark's) HERMES_HOME, scandir and
// s6-svscan, and the binary run on them with the environment every
// reconciler run gets.
type World struct {
	// Dir holds the world: Home, Scandir (unless a benchmark put it on
	// tmpfs) and whatever else a spec needs beside them. It is the test's
	// TempDir, opened to every user so a spec can run the binary as
	// another; the cleanup removes it.
	Dir string
	// Home is HERMES_HOME.
	Home string
	// Scandir is s6-svscan's scan directory, empty at first.
	Scandir string
	// Binary is the hermes-reconcile Command runs.
	Binary string
	// Env is what every reconciler run gets: the process's environment,
	// with the rendering pointing the slots at the stand-in gateway (no
	// privilege drop, #!/bin/sh, Home as HOME) and a Hermes before #112854.
	// Render is the same settings for an in-process renderer.
	Env []string
	// Sv is the s6-svscan on Scandir, once StartSvscan ran.
	Sv *Svscan
	// As runs the binary (and SvstatOutput) as another user; nil: as the
	// test.
	As *syscall.Credential

	t   T
	g   Gomega
	out io.Writer // the binary's and s6-svscan's output; nil drops it
	// svscanWithin bounds a stop of s6-svscan; svscanGroup waits for its
	// process group too.
	svscanWithin time.Duration
	svscanGroup  bool
}

// NewWorld makes the world of the running Ginkgo spec: Home a copy of
// test/fixtures/<fixture> (an empty directory for ""), an empty Scandir,
// no s6-svscan yet (StartSvscan), Env for binary. Output goes to
// GinkgoWriter, failures through Gomega, and the spec's cleanup stops and
// removes it all.
func NewWorld(binary, fixture string) *World {
	return newWorld(GinkgoT(), Default, GinkgoWriter, binary, fixture, "", 10*time.Second, false)
}

// NewBenchWorld makes a benchmark's world: an empty Home, and the Scandir
// in scanParent (a tmpfs, as /run/service is in a Hermes container) unless
// that is "". Binary is for the caller to set. Output is dropped, failures
// go to tb, s6-svscan gets 10 s to listen and 3 minutes to stop, and a
// stop waits for its supervisors to exit.
func NewBenchWorld(tb testing.TB, scanParent string) *World {
	tb.Helper()
	g := NewWithT(tb)
	g.SetDefaultEventuallyTimeout(10 * time.Second)
	g.SetDefaultEventuallyPollingInterval(time.Millisecond)
	return newWorld(tb, g, nil, "", "", scanParent, 3*time.Minute, true)
}

func newWorld(t T, g Gomega, out io.Writer, binary, fixture, scanParent string, within time.Duration, group bool) *World {
	t.Helper()
	dir := t.TempDir()
	g.Expect(os.Chmod(dir, 0o755)).To(Succeed())
	if scanParent == "" {
		scanParent = dir
	}
	w := &World{Dir: dir, Home: filepath.Join(dir, "home"), Scandir: filepath.Join(scanParent, "scan"), Binary: binary,
		t: t, g: g, out: out, svscanWithin: within, svscanGroup: group}
	if fixture != "" {
		g.Expect(CopyTree(filepath.Join(RepoRoot(), "test", "fixtures", fixture), w.Home)).To(Succeed())
	} else {
		g.Expect(os.Mkdir(w.Home, 0o755)).To(Succeed())
	}
	g.Expect(os.Mkdir(w.Scandir, 0o755)).To(Succeed())
	r := w.Render()
	w.Env = append(os.Environ(),
		"HERMES_HOME="+w.Home,
		"HERMES_RECONCILE_SCANDIR="+w.Scandir,
		"HERMES_RECONCILE_SHEBANG="+r.Shebang,
		"HERMES_RECONCILE_USER="+r.User,
		"HERMES_RECONCILE_GATEWAY_COMMAND="+r.GatewayCommand,
		"HERMES_RECONCILE_HOME_DIR="+r.HomeDir,
		"HERMES_RECONCILE_LOG_HERMES_HOME="+r.DefaultHermesHome,
		"HERMES_RECONCILE_LOG_FORMAT=json",
		"GATEWAY_MULTIPLEX_PROFILES=",
		"HERMES_RECONCILE_HERMES_VERSION="+HermesVersion,
		// Most specs delete a profile and expect its unit gone at once: the
		// wait before a removal is the removal specs' own business.
		"HERMES_RECONCILE_REMOVE_AFTER=0",
		// Likewise a rollout's pace: the rollout specs set their own.
		"HERMES_RECONCILE_ROLLOUT_BATCH=100%",
		"NO_COLOR=1",
	)
	return w
}

// Render is what Env sets, as rendering settings: the slots run the
// stand-in gateway with #!/bin/sh, as the test's user, from Home.
func (w *World) Render() config.Render {
	r := config.DefaultRender()
	r.Shebang = "#!/bin/sh"
	r.User = ""
	r.GatewayCommand = FakeGateway()
	r.HomeDir = w.Home
	r.DefaultHermesHome = w.Home
	return r
}

// Command is the binary with args, run as As with Env and extraEnv. It
// gets SIGTERM should the test process die without its cleanups, so no
// watcher outlives it.
func (w *World) Command(args []string, extraEnv ...string) *exec.Cmd {
	cmd := exec.Command(w.Binary, args...)
	cmd.Env = append(append([]string{}, w.Env...), extraEnv...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: w.As, Pdeathsig: syscall.SIGTERM}
	return cmd
}

// Start starts the binary with args.
func (w *World) Start(args ...string) *gexec.Session {
	s, err := gexec.Start(w.Command(args), w.out, w.out)
	w.g.Expect(err).NotTo(HaveOccurred())
	return s
}

// Run runs the binary with args and waits (a minute at most) for its exit.
func (w *World) Run(args ...string) *gexec.Session {
	s := w.Start(args...)
	w.g.Eventually(s, 60*time.Second).Should(gexec.Exit())
	return s
}

// Watch starts the binary in watch mode, logging JSON at -v 1, and waits
// for its first pass; the cleanup stops it with SIGTERM and waits (30 s at
// most) for its exit.
func (w *World) Watch(args ...string) *gexec.Session {
	s := w.Start(append([]string{"-v", "1"}, args...)...)
	w.t.Cleanup(func() {
		s.Signal(syscall.SIGTERM)
		w.g.Eventually(s, 30*time.Second).Should(gexec.Exit())
	})
	w.g.Eventually(func() int { return len(LogLines(s.Err.Contents(), "pass done")) }).Should(BeNumerically(">=", 1), "first pass")
	return s
}

// Slot is the slot directory of profile.
func (w *World) Slot(profile string) string { return filepath.Join(w.Scandir, "gateway-"+profile) }

// ProfileDir is the directory of profile: Home for the root profile.
func (w *World) ProfileDir(profile string) string {
	if profile == "default" {
		return w.Home
	}
	return filepath.Join(w.Home, "profiles", profile)
}

// Slots lists the gateway-* entries of the scandir, sorted.
func (w *World) Slots() []string { return Slots(w.Scandir) }

// Leftovers lists our dot-named staging and removal dirs in the scandir.
func (w *World) Leftovers() []string { return Leftovers(w.Scandir) }

// Supervisors lists the slots and loggers s6-svscan supervises.
func (w *World) Supervisors() []string { return w.Sv.Supervisors() }

// SupervisorsOf lists the supervisors of slot and of its logger.
func (w *World) SupervisorsOf(slot string) []string { return w.Sv.SupervisorsOf(slot) }

// Svstat is what `s6-svstat -o up,wantedup,pid` says of a slot.
type Svstat struct {
	Up, WantUp bool
	PID        int
}

// Status is `s6-svstat -o up,wantedup,pid` of profile's slot.
func (w *World) Status(profile string) (Svstat, error) {
	out, err := w.SvstatOutput(profile)
	if err != nil {
		return Svstat{}, fmt.Errorf("s6-svstat: %v: %s", err, out)
	}
	f := strings.Fields(out)
	if len(f) != 3 {
		return Svstat{}, fmt.Errorf("s6-svstat printed %q", out)
	}
	pid, _ := strconv.Atoi(f[2])
	return Svstat{Up: f[0] == "true", WantUp: f[1] == "true", PID: pid}, nil
}

// SvstatOutput is what s6-svstat -o up,wantedup,pid, run as As, prints of
// profile's slot, trimmed.
func (w *World) SvstatOutput(profile string) (string, error) {
	cmd := exec.Command("s6-svstat", "-o", "up,wantedup,pid", w.Slot(profile))
	if w.As != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: w.As}
	}
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// SlotState is what s6-supervise last recorded for a slot.
type SlotState struct {
	Supervised, Up, WantUp bool
	PID                    int
}

// State is what s6-supervise last recorded for profile's slot, read from
// its supervise/ files without forking.
func (w *World) State(profile string) SlotState { return ReadSlotState(w.Slot(profile)) }

// ReadSlotState is what s6-supervise last recorded for the service
// directory dir (a slot, or its log/).
func ReadSlotState(dir string) SlotState {
	if !LockHeld(dir) {
		return SlotState{}
	}
	data, err := os.ReadFile(filepath.Join(dir, "supervise", "status"))
	if err != nil {
		return SlotState{Supervised: true}
	}
	st, err := s6.ParseStatus(data)
	if err != nil {
		return SlotState{Supervised: true}
	}
	return SlotState{Supervised: true, Up: st.Up, WantUp: st.WantUp, PID: st.PID}
}

// Since is s6's stamp of the last state change of profile's gateway; zero
// when it has none to read.
func (w *World) Since(profile string) time.Time {
	data, err := os.ReadFile(filepath.Join(w.Slot(profile), "supervise", "status"))
	if err != nil {
		return time.Time{}
	}
	st, err := s6.ParseStatus(data)
	if err != nil {
		return time.Time{}
	}
	return st.Since
}

// UpPID waits until profile's gateway is up and returns its pid.
func (w *World) UpPID(profile string) int {
	var st SlotState
	w.g.Eventually(func() bool { st = w.State(profile); return st.Up }).Should(BeTrue(), "gateway-%s up", profile)
	return st.PID
}
