//go:build linux

// Package bench measures DESIGN §10 against a real s6-svscan: the no-op
// pass, cold converge, watch latency and idle watch mode, each next to a
// floor or baseline measured in the same run. It holds only Benchmark
// functions, so `go test ./...` compiles it and runs nothing; `make bench`
// runs it. BENCHMARKS.md records the figures.
package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/onsi/gomega/gexec"

	"github.com/hermes-reconcile/hermes-reconcile/backends/s6"
	"github.com/hermes-reconcile/hermes-reconcile/config"
	"github.com/hermes-reconcile/hermes-reconcile/desired"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
	"github.com/hermes-reconcile/hermes-reconcile/test/testkit"
)

// maxServices is s6-svscan's -c, far above the 1,001 slots of the largest
// run. (s6 2.11 counts a slot and its logger as one service: -c 3 over four
// slots supervised three of them and their three loggers.)
const maxServices = 5000

var (
	repoRoot = testkit.RepoRoot
	lockHeld = testkit.LockHeld
)

// tempDir is a directory removed when the benchmark ends. Scandirs go on
// tmpfs when there is one, as /run/service does in a Hermes container;
// HERMES_HOME stays on disk like the /opt/data volume.
func tempDir(tb testing.TB, tmpfs bool) string {
	tb.Helper()
	if !tmpfs {
		return tb.TempDir()
	}
	parent := os.Getenv("BENCH_SCANDIR_PARENT")
	if parent == "" {
		parent = "/dev/shm"
	}
	if fi, err := os.Stat(parent); err != nil || !fi.IsDir() {
		return tb.TempDir()
	}
	dir, err := os.MkdirTemp(parent, "hermes-bench-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			tb.Errorf("remove %s: %v", dir, err)
		}
	})
	return dir
}

// svscan is one s6-svscan in its own process group.
type svscan struct {
	scandir string
	cmd     *exec.Cmd
	done    chan struct{}
	once    sync.Once
}

// startSvscan runs s6-svscan -c maxServices on scandir and waits until it
// listens on its control FIFO. The cleanup stops it by PID.
func startSvscan(tb testing.TB, scandir, home string) *svscan {
	return startSvscanMax(tb, scandir, home, maxServices)
}

func startSvscanMax(tb testing.TB, scandir, home string, max int) *svscan {
	tb.Helper()
	cmd := exec.Command("s6-svscan", "-c", strconv.Itoa(max), scandir)
	cmd.Env = append(os.Environ(), "HERMES_HOME="+home)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start s6-svscan: %v", err)
	}
	s := &svscan{scandir: scandir, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(s.done) }()
	tb.Cleanup(func() { s.stop(tb) })
	control := filepath.Join(scandir, ".s6-svscan", "control")
	waitFor(tb, "s6-svscan listening", 10*time.Second, func() bool { return fifoListening(control) })
	return s
}

// stop sends SIGTERM to s6-svscan (it then stops every supervisor and
// service), waits for it, then waits until nothing of its process group is
// left running, so the caller may delete the scandir.
func (s *svscan) stop(tb testing.TB) {
	s.once.Do(func() {
		pid := s.cmd.Process.Pid
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(3 * time.Minute):
			tb.Errorf("s6-svscan %d did not exit within 3 min of SIGTERM; killing it", pid)
			_ = s.cmd.Process.Kill()
			<-s.done
		}
		waitFor(tb, "supervisors of s6-svscan to exit", 3*time.Minute, func() bool { return !groupAlive(pid) })
	})
}

// groupAlive reports whether a process of group pgid still runs (zombies
// count as gone: PID 1 here may never reap them).
func groupAlive(pgid int) bool {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		data, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i := strings.LastIndexByte(string(data), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(data[i+1:]))
		// state ppid pgrp
		if len(f) > 2 && f[2] == strconv.Itoa(pgid) && f[0] != "Z" {
			return true
		}
	}
	return false
}

// waitFor polls cond every millisecond until it holds; past bound the
// benchmark fails.
func waitFor(tb testing.TB, what string, bound time.Duration, cond func() bool) {
	tb.Helper()
	if !poll(bound, time.Millisecond, cond) {
		tb.Fatalf("timed out after %s waiting for %s", bound, what)
	}
}

func poll(bound, every time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(every)
	}
	return true
}

func fifoListening(path string) bool {
	ok, _ := testkit.FIFOListening(path)
	return ok
}

// waitAllSupervised waits until every dir has a listening supervisor
// (supervise/control there and supervise/lock held). It walks the list in
// order and, at the first dir not ready, sleeps a millisecond: a sweep over
// all pending dirs would cost the two cores as much as s6 itself.
func waitAllSupervised(tb testing.TB, dirs []string, bound time.Duration) {
	tb.Helper()
	next := 0
	ok := poll(bound, time.Millisecond, func() bool {
		for ; next < len(dirs); next++ {
			d := dirs[next]
			if _, err := os.Lstat(filepath.Join(d, "supervise", "control")); err != nil || !lockHeld(d) {
				return false
			}
		}
		return true
	})
	if !ok {
		tb.Fatalf("timed out after %s: %d of %d dirs not supervised yet, e.g. %s", bound, len(dirs)-next, len(dirs), dirs[next])
	}
}

// profileName is the n-th benchmark profile.
func profileName(i int) string { return fmt.Sprintf("p%04d", i) }

// A profile as `hermes profile create` leaves it: SOUL.md, a config.yaml,
// and the operator's intent. Stopped, so no gateway runs (loggers do).
const (
	soulMD      = "You are a benchmark profile.\n"
	profileYAML = "model:\n  provider: openrouter\n  default: anthropic/claude-sonnet-4\nterminal:\n  backend: local\n"
	rootYAML    = "model:\n  provider: openrouter\ngateway:\n  multiplex_profiles: false\n"
	stoppedJSON = `{"desired_state":"stopped","updated_at":1764000000}`
)

// makeHome writes a HERMES_HOME with the root profile and n named ones.
func makeHome(tb testing.TB, n int) string {
	tb.Helper()
	home := tempDir(tb, false)
	must(tb, os.WriteFile(filepath.Join(home, "SOUL.md"), []byte(soulMD), 0o644))
	must(tb, os.WriteFile(filepath.Join(home, desired.ConfigFile), []byte(rootYAML), 0o644))
	must(tb, os.WriteFile(filepath.Join(home, desired.StateFile), []byte(stoppedJSON), 0o644))
	must(tb, os.MkdirAll(filepath.Join(home, "profiles", ".deleted"), 0o755))
	for i := range n {
		writeProfile(tb, filepath.Join(home, "profiles", profileName(i)), stoppedJSON)
	}
	return home
}

func writeProfile(tb testing.TB, dir, state string) {
	must(tb, os.Mkdir(dir, 0o755))
	must(tb, os.WriteFile(filepath.Join(dir, "SOUL.md"), []byte(soulMD), 0o644))
	must(tb, os.WriteFile(filepath.Join(dir, desired.ConfigFile), []byte(profileYAML), 0o644))
	if state != "" {
		must(tb, os.WriteFile(filepath.Join(dir, desired.StateFile), []byte(state), 0o644))
	}
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

// renderSettings point the slots at the stand-in gateway, as the end-to-end
// suite does; the same settings go to the binary through env.
func renderSettings(home string) config.Render {
	r := config.DefaultRender()
	r.Shebang = "#!/bin/sh"
	r.User = ""
	r.GatewayCommand = filepath.Join(repoRoot(), "test", "fake-gateway")
	r.HomeDir = home
	r.DefaultHermesHome = home
	return r
}

func binaryEnv(home, scandir string) []string {
	r := renderSettings(home)
	return append(os.Environ(),
		"HERMES_HOME="+home,
		"HERMES_RECONCILE_SCANDIR="+scandir,
		"HERMES_RECONCILE_SHEBANG="+r.Shebang,
		"HERMES_RECONCILE_USER=",
		"HERMES_RECONCILE_GATEWAY_COMMAND="+r.GatewayCommand,
		"HERMES_RECONCILE_HOME_DIR="+home,
		"HERMES_RECONCILE_LOG_HERMES_HOME="+home,
		"HERMES_RECONCILE_LOG_FORMAT=json",
		"HERMES_RECONCILE_MAX_SERVICES="+strconv.Itoa(maxServices),
		"GATEWAY_MULTIPLEX_PROFILES=",
		// A Hermes before #112854: multiplex_profiles decides, absent per-profile.
		"HERMES_RECONCILE_HERMES_VERSION=0.21.3",
		"NO_COLOR=1",
	)
}

// world is a HERMES_HOME, a scandir under a running s6-svscan, and the
// in-process pieces of a pass over them.
type world struct {
	home, scandir string
	svscan        *svscan
	rd            *s6.Renderer
	be            *s6.Backend
	pass          *reconcile.Pass
}

func newWorld(tb testing.TB, n int) *world {
	return newWorldOpts(tb, n, maxServices, 60*time.Second)
}

// newWorldOpts is newWorld with s6-svscan's -c and the backend's bound on
// each wait.
func newWorldOpts(tb testing.TB, n, maxSvc int, timeout time.Duration) *world {
	tb.Helper()
	w := &world{home: makeHome(tb, n), scandir: filepath.Join(tempDir(tb, true), "scan")}
	must(tb, os.Mkdir(w.scandir, 0o755))
	w.svscan = startSvscanMax(tb, w.scandir, w.home, maxSvc)
	rd, err := s6.NewRenderer(renderSettings(w.home))
	must(tb, err)
	w.rd = rd
	w.be, err = s6.New(s6.Options{Scandir: w.scandir, Bindir: "/command", Timeout: timeout, UID: -1, GID: -1, Render: renderSettings(w.home)})
	must(tb, err)
	w.pass = &reconcile.Pass{Reader: desired.NewReader(w.home, desired.Options{HermesVersion: "0.21.3"}), Engine: w.be}
	return w
}

// converge runs one pass and fails on any error.
func (w *world) converge(tb testing.TB) reconcile.Outcome {
	tb.Helper()
	out := w.pass.Run(context.Background(), nil, nil)
	if out.Err != nil {
		tb.Fatalf("pass: %v", out.Err)
	}
	if n := reconcile.Failed(out.Results); n > 0 {
		for _, r := range out.Results {
			if r.Err != nil {
				tb.Fatalf("%d actions failed, e.g. %s %s: %v", n, r.Action.Kind, r.Action.Unit, r.Err)
			}
		}
	}
	return out
}

// slotDirs are the slot dirs of the root profile and n named ones.
func slotDirs(scandir string, n int) []string {
	dirs := []string{filepath.Join(scandir, s6.SlotName(desired.DefaultProfile))}
	for i := range n {
		dirs = append(dirs, filepath.Join(scandir, s6.SlotName(profileName(i))))
	}
	return dirs
}

// checkWanted fails unless every slot is supervised and wanted down, as
// its stopped intent says. s6-supervise takes its lock a moment before it
// first writes supervise/status, so each slot gets a bounded wait.
func (w *world) checkWanted(tb testing.TB, n int) {
	tb.Helper()
	deadline := time.Now().Add(time.Minute)
	for _, d := range slotDirs(w.scandir, n) {
		var st s6.Status
		var err error
		ok := poll(time.Until(deadline), time.Millisecond, func() bool {
			st, err = w.be.ReadStatus(d)
			return err == nil && st.Supervised && !st.WantUp && !st.Up
		})
		if !ok {
			tb.Fatalf("%s: not in its wanted state (supervised, down): %+v %v", d, st, err)
		}
	}
}

var (
	buildOnce sync.Once
	binPath   string
)

// binary builds cmd/hermes-reconcile once per run (no -race: these are
// timings).
func binary(tb testing.TB) string {
	tb.Helper()
	buildOnce.Do(func() { binPath = testkit.Build(testkit.Cmd) })
	return binPath
}

func TestMain(m *testing.M) {
	if home := os.Getenv(churnFloorEnv); home != "" {
		os.Exit(churnFloorMain(home)) // this binary re-run as BenchmarkChurn's floor
	}
	code := m.Run()
	gexec.CleanupBuildArtifacts()
	os.Exit(code)
}

// watcher is the binary in watch mode; it counts its "pass done" lines,
// and among them the full ones (a build that logs which keys a pass
// covered says "keys":"full"; an older one says nothing, and counts none).
type watcher struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	passes int
	full   int
	done   chan struct{}
}

// startWatcher runs the binary in watch mode and waits for its readiness
// notification (the first complete pass). The cleanup stops it by PID.
func startWatcher(tb testing.TB, home, scandir string, args ...string) *watcher {
	return startWatcherBin(tb, binary(tb), home, scandir, args...)
}

func startWatcherBin(tb testing.TB, bin, home, scandir string, args ...string) *watcher {
	tb.Helper()
	pr, pw, err := os.Pipe()
	must(tb, err)
	defer pr.Close()
	cmd := exec.Command(bin, append([]string{"-v", "1", "--notify-fd", "3"}, args...)...)
	cmd.Env = binaryEnv(home, scandir)
	cmd.ExtraFiles = []*os.File{pw}
	stderr, err := cmd.StderrPipe()
	must(tb, err)
	must(tb, cmd.Start())
	pw.Close()
	w := &watcher{cmd: cmd, done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			if line := sc.Text(); strings.Contains(line, `"msg":"pass done"`) {
				w.mu.Lock()
				w.passes++
				if strings.Contains(line, `"keys":"full"`) {
					w.full++
				}
				w.mu.Unlock()
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		_ = cmd.Wait()
		close(w.done)
	}()
	tb.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-w.done:
		case <-time.After(60 * time.Second):
			tb.Errorf("watcher %d did not exit within 60s of SIGTERM; killing it", cmd.Process.Pid)
			_ = cmd.Process.Kill()
			<-w.done
		}
	})
	ready := make(chan error, 1)
	go func() {
		buf := make([]byte, 1)
		_, err := pr.Read(buf)
		ready <- err
	}()
	select {
	case err := <-ready:
		if err != nil {
			tb.Fatalf("watcher closed its notification fd without a newline: %v", err)
		}
	case <-w.done:
		tb.Fatal("watcher exited before it was ready")
	case <-time.After(5 * time.Minute):
		tb.Fatal("watcher not ready after 5 min")
	}
	return w
}

func (w *watcher) passCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.passes
}

// fullCount is how many of the passes were full ones (see watcher).
func (w *watcher) fullCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.full
}

// procStat is what /proc says about a process.
type procStat struct {
	cpu          time.Duration // utime + stime
	rss, hwm     int64         // bytes
	fds, watches int
	ctxSwitches  int64
}

func readProcStat(tb testing.TB, pid int) procStat {
	tb.Helper()
	var ps procStat
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	must(tb, err)
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	// fields after the comm: state is f[0]; utime f[11], stime f[12] (in ticks).
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	const clkTck = 100 // sysconf(_SC_CLK_TCK) on Linux
	ps.cpu = time.Duration(ut+st) * time.Second / clkTck
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	must(tb, err)
	for _, line := range strings.Split(string(status), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		fs := strings.Fields(v)
		if len(fs) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(fs[0], 10, 64)
		switch k {
		case "VmRSS":
			ps.rss = n << 10
		case "VmHWM":
			ps.hwm = n << 10
		}
	}
	// Context switches of every thread: how often the process woke up.
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	for _, t := range tasks {
		data, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			k, v, _ := strings.Cut(line, ":")
			if k == "voluntary_ctxt_switches" || k == "nonvoluntary_ctxt_switches" {
				n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				ps.ctxSwitches += n
			}
		}
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	must(tb, err)
	ps.fds = len(fds)
	for _, fd := range fds {
		info, err := os.ReadFile(fmt.Sprintf("/proc/%d/fdinfo/%s", pid, fd.Name()))
		if err != nil {
			continue
		}
		ps.watches += strings.Count(string(info), "inotify wd:")
	}
	return ps
}

// Statistics over durations.

func median(d []time.Duration) time.Duration { return percentile(d, 50) }

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	// nearest rank
	i := int(float64(len(s))*p/100+0.999999) - 1
	return s[max(0, min(i, len(s)-1))]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// run executes a program and fails on a non-zero exit.
func run(tb testing.TB, name string, args ...string) {
	tb.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		tb.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}
