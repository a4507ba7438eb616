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

// scanParent is a directory for a scandir, removed when the benchmark
// ends: on tmpfs when there is one, as /run/service is in a Hermes
// container (HERMES_HOME stays on disk like the /opt/data volume).
func scanParent(tb testing.TB) string {
	tb.Helper()
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

// poll checks cond every interval until it holds (true) or bound passes
// (false).
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

// writeHome writes the root profile and n named ones into home.
func writeHome(tb testing.TB, home string, n int) {
	tb.Helper()
	must(tb, os.WriteFile(filepath.Join(home, "SOUL.md"), []byte(soulMD), 0o644))
	must(tb, os.WriteFile(filepath.Join(home, desired.ConfigFile), []byte(rootYAML), 0o644))
	must(tb, os.WriteFile(filepath.Join(home, desired.StateFile), []byte(stoppedJSON), 0o644))
	must(tb, os.MkdirAll(filepath.Join(home, "profiles", ".deleted"), 0o755))
	for i := range n {
		writeProfile(tb, filepath.Join(home, "profiles", profileName(i)), stoppedJSON)
	}
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

// world is a testkit.World with a home of profiles, s6-svscan running on
// its scandir, and the in-process pieces of a pass over them.
type world struct {
	*testkit.World
	rd   *s6.Renderer
	be   *s6.Backend
	pass *reconcile.Pass
}

func newWorld(tb testing.TB, n int) *world {
	return newWorldOpts(tb, n, maxServices, 60*time.Second)
}

// newWorldOpts is newWorld with s6-svscan's -c and the backend's bound on
// each wait.
func newWorldOpts(tb testing.TB, n, maxSvc int, timeout time.Duration) *world {
	tb.Helper()
	w := &world{World: testkit.NewBenchWorld(tb, scanParent(tb))}
	writeHome(tb, w.Home, n)
	w.Env = append(w.Env, "HERMES_RECONCILE_MAX_SERVICES="+strconv.Itoa(maxServices))
	w.StartSvscan("-c", strconv.Itoa(maxSvc))
	rd, err := s6.NewRenderer(w.Render())
	must(tb, err)
	w.rd = rd
	w.be, err = s6.New(s6.Options{Scandir: w.Scandir, Bindir: "/command", Timeout: timeout, UID: -1, GID: -1, Render: w.Render()})
	must(tb, err)
	w.pass = &reconcile.Pass{Reader: desired.NewReader(w.Home, desired.Options{HermesVersion: testkit.HermesVersion}), Engine: w.be}
	return w
}

// newFloor is a world for s6 alone: an empty home, and s6-svscan (-c
// maxServices) on an empty scandir.
func newFloor(tb testing.TB) *testkit.World {
	tb.Helper()
	w := testkit.NewBenchWorld(tb, scanParent(tb))
	w.StartSvscan("-c", strconv.Itoa(maxServices))
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
	for _, d := range slotDirs(w.Scandir, n) {
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
	buildOnce.Do(func() { binPath = testkit.BuildWith(testkit.Shipped, testkit.Cmd) })
	return binPath
}

func TestMain(m *testing.M) {
	if home := os.Getenv(churnFloorEnv); home != "" {
		os.Exit(churnFloorMain(home)) // this binary re-run as BenchmarkChurn's floor
	}
	if home := os.Getenv(bareWatcherEnv); home != "" {
		os.Exit(bareWatcherMain(home)) // re-run as BenchmarkChurnBare's bare watcher
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

// startWatcher runs w's binary in watch mode and waits for its readiness
// notification (the first complete pass). The cleanup stops it by PID.
func startWatcher(tb testing.TB, w *testkit.World, args ...string) *watcher {
	tb.Helper()
	pr, pw, err := os.Pipe()
	must(tb, err)
	defer pr.Close()
	cmd := w.Command(append([]string{"-v", "1", "--notify-fd", "3"}, args...))
	cmd.ExtraFiles = []*os.File{pw}
	stderr, err := cmd.StderrPipe()
	must(tb, err)
	must(tb, cmd.Start())
	pw.Close()
	wt := &watcher{cmd: cmd, done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			if line := sc.Text(); strings.Contains(line, `"msg":"pass done"`) {
				wt.mu.Lock()
				wt.passes++
				if strings.Contains(line, `"keys":"full"`) {
					wt.full++
				}
				wt.mu.Unlock()
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		_ = cmd.Wait()
		close(wt.done)
	}()
	tb.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-wt.done:
		case <-time.After(60 * time.Second):
			tb.Errorf("watcher %d did not exit within 60s of SIGTERM; killing it", cmd.Process.Pid)
			_ = cmd.Process.Kill()
			<-wt.done
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
	case <-wt.done:
		tb.Fatal("watcher exited before it was ready")
	case <-time.After(5 * time.Minute):
		tb.Fatal("watcher not ready after 5 min")
	}
	return wt
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
