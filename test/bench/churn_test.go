//go:build linux

package bench

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/hermes-reconcile/hermes-reconcile/backends/s6"
	"github.com/hermes-reconcile/hermes-reconcile/desired"
)

// churnRate is how many gateway_state.json rewrites a second the churner
// makes: issue 11's figure for a host of busy gateways.
const churnRate = 20

// churner rewrites the gateway_state.json of random profiles the way a
// running Hermes gateway does: a temp file in the profile dir (mkstemp's
// ".gateway_state_*.tmp"), then a rename over the file. The intent
// (desired_state) is the profile's current one; the other fields change on
// every write. setIntent changes a profile's intent with the same kind of
// write, under the same lock, so no churn write can put an old intent back.
type churner struct {
	home   string
	names  []string
	mu     sync.Mutex
	intent map[string]string
	rng    *rand.Rand
	seq    int
	writes int
	errs   int
	stop   chan struct{}
	done   chan struct{}
}

// startChurn rewrites a random one of names every 1/perSecond s until
// Stop. All of names start as stopped, as writeHome writes them.
func startChurn(tb testing.TB, home string, names []string, perSecond int, seed uint64) *churner {
	c := &churner{home: home, names: names, intent: map[string]string{}, rng: rand.New(rand.NewPCG(seed, 11)),
		stop: make(chan struct{}), done: make(chan struct{})}
	for _, n := range names {
		c.intent[n] = "stopped"
	}
	go func() {
		defer close(c.done)
		t := time.NewTicker(time.Second / time.Duration(perSecond))
		defer t.Stop()
		for {
			select {
			case <-c.stop:
				return
			case <-t.C:
			}
			c.mu.Lock()
			name := c.names[c.rng.IntN(len(c.names))]
			if _, err := c.writeAt(name); err != nil {
				c.errs++
			} else {
				c.writes++
			}
			c.mu.Unlock()
		}
	}()
	tb.Cleanup(c.Stop)
	return c
}

// writeAt writes name's state file with its current intent (c.mu is
// held), and returns the time just before the rename that makes the new
// content visible.
func (c *churner) writeAt(name string) (time.Time, error) {
	c.seq++
	dir := filepath.Join(c.home, "profiles", name)
	body := fmt.Sprintf(`{"desired_state":%q,"gateway_state":"running","active_agents":%d,"updated_at":%q}`,
		c.intent[name], c.seq%7, time.Now().UTC().Format(time.RFC3339Nano))
	f, err := os.CreateTemp(dir, ".gateway_state_*.tmp")
	if err != nil {
		return time.Time{}, err
	}
	_, werr := f.WriteString(body)
	cerr := f.Close()
	if werr != nil || cerr != nil {
		_ = os.Remove(f.Name())
		return time.Time{}, fmt.Errorf("write %s: %v %v", f.Name(), werr, cerr)
	}
	t := time.Now()
	if err := os.Rename(f.Name(), filepath.Join(dir, desired.StateFile)); err != nil {
		_ = os.Remove(f.Name())
		return time.Time{}, err
	}
	return t, nil
}

// setIntent gives name a new intent and writes it at once (temp file and
// rename); it returns the time just before the rename.
func (c *churner) setIntent(tb testing.TB, name, intent string) time.Time {
	tb.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.intent[name] = intent
	t, err := c.writeAt(name)
	must(tb, err)
	return t
}

// counts are the writes made so far and the ones that failed.
func (c *churner) counts() (writes, errs int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writes, c.errs
}

func (c *churner) Stop() {
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
	<-c.done
}

// schedCPU is the CPU time the kernel accounts to pid's live threads in
// nanoseconds (the first field of /proc/<pid>/task/*/schedstat): the same
// figure as utime+stime, without its 10 ms ticks.
func schedCPU(tb testing.TB, pid int) time.Duration {
	tb.Helper()
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	must(tb, err)
	var sum int64
	for _, t := range tasks {
		data, err := os.ReadFile(t)
		if err != nil {
			continue // a thread gone since the glob
		}
		f := strings.Fields(string(data))
		if len(f) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		sum += n
	}
	return time.Duration(sum)
}

// liveWatcher is a world with the binary watching it, which can be torn
// down before the benchmark ends, so the next world is measured alone.
type liveWatcher struct {
	*world
	wt *watcher
}

func startLive(b *testing.B, bin string, n int, args ...string) *liveWatcher {
	w := newWorld(b, n)
	w.converge(b)
	w.Binary = bin
	wt := startWatcher(b, w.World, args...)
	// The first pass logs its line before it notifies readiness, on another
	// pipe: count it before anything is measured.
	if !poll(10*time.Second, time.Millisecond, func() bool { return wt.passCount() >= 1 }) {
		b.Fatal("watcher ready, yet no pass logged")
	}
	return &liveWatcher{world: w, wt: wt}
}

// stop ends the watcher first (so it sees nothing of what follows), then
// s6-svscan and its supervisors. The temp dirs go at the benchmark's end.
func (l *liveWatcher) stop(b *testing.B) {
	_ = l.wt.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-l.wt.done:
	case <-time.After(60 * time.Second):
		b.Errorf("watcher %d did not exit within 60s of SIGTERM; killing it", l.wt.cmd.Process.Pid)
		_ = l.wt.cmd.Process.Kill()
		<-l.wt.done
	}
	l.Sv.Stop()
}

func names(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = profileName(i)
	}
	return out
}

// churnResult is what one binary did over one churn window.
type churnResult struct {
	window       time.Duration
	cpu, sched   time.Duration // utime+stime (ticks); schedstat (ns)
	passes, full int
	writes, errs int
	rss, hwm     int64
	ctxSwitches  int64
}

func (r churnResult) pctCore() float64 { return 100 * r.cpu.Seconds() / r.window.Seconds() }

func (r churnResult) String() string {
	return fmt.Sprintf("cpu %.2f s (%.2f %% of a core; schedstat %.3f s), %d passes (%d full), %d writes (%d failed), %d context switches, RSS %.1f MiB (peak %.1f)",
		r.cpu.Seconds(), r.pctCore(), r.sched.Seconds(), r.passes, r.full, r.writes, r.errs, r.ctxSwitches,
		float64(r.rss)/(1<<20), float64(r.hwm)/(1<<20))
}

// churnWarmup runs the churn before the window opens: the first writes
// find the watcher in its steady state, not just after its start.
const churnWarmup = 2 * time.Second

// churnOne runs bin in watch mode (default flags: resync 5m, so none falls
// in the window) over n in-sync profiles under churn at churnRate writes a
// second, and measures window.
func churnOne(b *testing.B, bin string, n int, window time.Duration, seed uint64) churnResult {
	l := startLive(b, bin, n)
	defer l.stop(b)
	pid := l.wt.cmd.Process.Pid
	c := startChurn(b, l.Home, names(n), churnRate, seed)
	time.Sleep(churnWarmup)
	r := churnResult{window: window}
	p0, f0 := l.wt.passCount(), l.wt.fullCount()
	w0, e0 := c.counts()
	s0, c0 := readProcStat(b, pid), schedCPU(b, pid)
	// The measurement window: the churner works, the watcher is watched.
	time.Sleep(window)
	s1, c1 := readProcStat(b, pid), schedCPU(b, pid)
	p1, f1 := l.wt.passCount(), l.wt.fullCount()
	w1, e1 := c.counts()
	c.Stop()
	r.cpu, r.sched = s1.cpu-s0.cpu, c1-c0
	r.passes, r.full = p1-p0, f1-f0
	r.writes, r.errs = w1-w0, e1-e0
	r.rss, r.hwm = s1.rss, s1.hwm
	r.ctxSwitches = s1.ctxSwitches - s0.ctxSwitches
	return r
}

// churnFloorEnv, set to a HERMES_HOME, makes the test binary the churn
// floor instead (see TestMain).
const churnFloorEnv = "BENCH_CHURN_FLOOR_HOME"

// churnFloorMain is the least a Go program can do to follow the intent of
// home's profiles under churn: one fsnotify watcher on every profile dir,
// and on each write or rename onto a gateway_state.json an os.ReadFile and
// the same parse (desired.ParseIntent). No keys, no cache, no timers. It
// says "ready" on stdout once every watch is in place, and runs until
// killed.
func churnFloorMain(home string) int {
	fw, err := watchProfiles(home)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("ready")
	intents := map[string]desired.Intent{}
	for {
		select {
		case ev := <-fw.Events:
			if filepath.Base(ev.Name) != desired.StateFile || !ev.Has(fsnotify.Create) && !ev.Has(fsnotify.Write) {
				continue
			}
			data, err := os.ReadFile(ev.Name)
			if err != nil {
				continue
			}
			if rec, _, err := desired.ParseIntent(data); err == nil {
				intents[ev.Name] = rec.Intent
			}
		case err := <-fw.Errors:
			fmt.Fprintln(os.Stderr, err)
		}
	}
}

// churnFloor runs the floor (this test binary again, see churnFloorMain)
// over a home of n profiles under the same churn as churnOne, and measures
// its CPU over window the same way.
func churnFloor(b *testing.B, n int, window time.Duration, seed uint64) churnResult {
	home := b.TempDir()
	writeHome(b, home, n)
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), churnFloorEnv+"="+home)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	must(b, err)
	must(b, cmd.Start())
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "ready\n" {
		b.Fatalf("churn floor: %q %v", line, err)
	}
	pid := cmd.Process.Pid
	c := startChurn(b, home, names(n), churnRate, seed)
	defer c.Stop()
	time.Sleep(churnWarmup)
	w0, e0 := c.counts()
	s0, c0 := readProcStat(b, pid), schedCPU(b, pid)
	time.Sleep(window)
	s1, c1 := readProcStat(b, pid), schedCPU(b, pid)
	w1, e1 := c.counts()
	return churnResult{window: window, cpu: s1.cpu - s0.cpu, sched: c1 - c0, writes: w1 - w0, errs: e1 - e0,
		rss: s1.rss, hwm: s1.hwm, ctxSwitches: s1.ctxSwitches - s0.ctxSwitches}
}

// churnAt10 keeps the N=10 figure of this run for the N=1,000 scaling ratio.
var churnAt10 = map[string]churnResult{}

// BenchmarkChurn is issue 11's first figure: N in-sync profiles (all
// stopped) in watch mode while random profiles' gateway_state.json are
// rewritten 20 times a second with the same intent and other fields
// changing, as running gateways do. Over BENCH_CHURN_DURATION (default
// 30s, after 2 s of churn already going): the reconciler's CPU
// (utime+stime from /proc/<pid>/stat, and schedstat's ns for precision),
// as % of a core, and the passes it ran. First, in the same run, the floor:
// the least a Go program does to follow those intents (churnFloorMain),
// under the same churn. With BENCH_BASELINE_BIN set, that binary then runs
// the same on its own world of the same shape, after this one's world is
// torn down: never two at once.
func BenchmarkChurn(b *testing.B) {
	window := 30 * time.Second
	if v, err := time.ParseDuration(os.Getenv("BENCH_CHURN_DURATION")); err == nil && v > 0 {
		window = v
	}
	baseBin := os.Getenv("BENCH_BASELINE_BIN")
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			seed := uint64(n)
			floor := churnFloor(b, n, window, seed)
			b.ReportMetric(floor.sched.Seconds(), "floor-schedcpu-s")
			b.ReportMetric(100*floor.sched.Seconds()/window.Seconds(), "floor-pct-core")
			b.Logf("N=%d, %s of churn at %d writes/s: floor (fsnotify, ReadFile, ParseIntent): %s", n, window, churnRate, floor)
			ours := churnOne(b, binary(b), n, window, seed)
			b.ReportMetric(float64(ours.sched)/float64(floor.sched), "x-floor-sched")
			b.ReportMetric(ours.cpu.Seconds(), "cpu-s")
			b.ReportMetric(ours.pctCore(), "pct-core")
			b.ReportMetric(ours.sched.Seconds(), "schedcpu-s")
			b.ReportMetric(float64(ours.passes), "passes")
			b.ReportMetric(float64(ours.full), "full-passes")
			b.ReportMetric(float64(ours.writes), "writes")
			b.ReportMetric(float64(ours.rss)/(1<<20), "rss-MiB")
			b.Logf("N=%d, %s of churn at %d writes/s: new: %s; %.2fx the floor (schedstat)", n, window, churnRate, ours, float64(ours.sched)/float64(floor.sched))
			if n == 10 {
				churnAt10["new"] = ours
			}
			if at10, ok := churnAt10["new"]; ok && n == 1000 {
				b.ReportMetric(float64(ours.sched)/float64(at10.sched), "x-N10-sched")
				b.Logf("N=1000 / N=10 (new, this run): cpu %.2f / %.2f s, schedstat %.3f / %.3f s = %.2fx",
					ours.cpu.Seconds(), at10.cpu.Seconds(), ours.sched.Seconds(), at10.sched.Seconds(), float64(ours.sched)/float64(at10.sched))
			}
			if baseBin == "" {
				return
			}
			base := churnOne(b, baseBin, n, window, seed)
			b.ReportMetric(base.cpu.Seconds(), "baseline-cpu-s")
			b.ReportMetric(base.pctCore(), "baseline-pct-core")
			b.ReportMetric(base.sched.Seconds(), "baseline-schedcpu-s")
			b.ReportMetric(float64(base.passes), "baseline-passes")
			b.ReportMetric(float64(base.rss)/(1<<20), "baseline-rss-MiB")
			b.ReportMetric(float64(ours.sched)/float64(base.sched), "x-baseline-sched")
			b.Logf("N=%d, %s of churn at %d writes/s: baseline %s: %s", n, window, churnRate, baseBin, base)
			b.Logf("N=%d: new / baseline cpu %.3f / %.3f s (schedstat) = %.4fx; passes %d / %d",
				n, ours.sched.Seconds(), base.sched.Seconds(), float64(ours.sched)/float64(base.sched), ours.passes, base.passes)
		})
	}
}

// BenchmarkChurnIntent is issue 11's second figure: a real intent change
// during heavy churn. 1,000 stopped profiles, churn at 20 writes a second
// over all of them; BENCH_CHURN_FLIPS (default 20) times, on a different
// profile each time, its desired_state goes from stopped to running (temp
// file and rename) and the time is taken from just before the rename until
// supervise/status says the gateway is up (read without forking, as
// s6-svstat would). Flips are BENCH_CHURN_FLIP_GAP apart (default: a random
// 0.5 to 2.5 s after the previous gateway came up, seeded, so they fall at
// any point of the watcher's cycle). With BENCH_BASELINE_BIN set, that
// binary then does the same on its own world, after this one's is torn
// down. Compare with BenchmarkWatchLatency at base=1000.
func BenchmarkChurnIntent(b *testing.B) {
	flips := 20
	if v, err := strconv.Atoi(os.Getenv("BENCH_CHURN_FLIPS")); err == nil && v > 0 {
		flips = v
	}
	var gap time.Duration
	if v, err := time.ParseDuration(os.Getenv("BENCH_CHURN_FLIP_GAP")); err == nil && v > 0 {
		gap = v
	}
	const n = 1000
	b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
		ours, oursPasses := churnIntentOne(b, binary(b), n, flips, gap)
		p50, p99 := percentile(ours, 50), percentile(ours, 99)
		b.ReportMetric(ms(p50), "p50-ms")
		b.ReportMetric(ms(p99), "p99-ms")
		b.ReportMetric(float64(oursPasses), "passes")
		b.Logf("new: %d flips under churn at %d writes/s: p50 %.1f ms p99 %.1f ms (min %.1f, max %.1f), %d passes while flipping; each: %s",
			flips, churnRate, ms(p50), ms(p99), ms(percentile(ours, 0)), ms(percentile(ours, 100)), oursPasses, fmtDurations(ours))
		bin := os.Getenv("BENCH_BASELINE_BIN")
		if bin == "" {
			return
		}
		base, basePasses := churnIntentOne(b, bin, n, flips, gap)
		b50, b99 := percentile(base, 50), percentile(base, 99)
		b.ReportMetric(ms(b50), "baseline-p50-ms")
		b.ReportMetric(ms(b99), "baseline-p99-ms")
		b.ReportMetric(float64(basePasses), "baseline-passes")
		b.ReportMetric(float64(p50)/float64(b50), "x-baseline-p50")
		b.Logf("baseline %s: p50 %.1f ms p99 %.1f ms (min %.1f, max %.1f), %d passes while flipping; each: %s",
			bin, ms(b50), ms(b99), ms(percentile(base, 0)), ms(percentile(base, 100)), basePasses, fmtDurations(base))
	})
}

func churnIntentOne(b *testing.B, bin string, n, flips int, gap time.Duration) ([]time.Duration, int) {
	l := startLive(b, bin, n)
	defer l.stop(b)
	c := startChurn(b, l.Home, names(n), churnRate, 1011)
	defer c.Stop()
	rng := rand.New(rand.NewPCG(2026, 11))
	time.Sleep(churnWarmup)
	p0 := l.wt.passCount()
	var lat []time.Duration
	for i := range flips {
		d := gap
		if d == 0 {
			d = 500*time.Millisecond + time.Duration(rng.Int64N(int64(2*time.Second)))
		}
		time.Sleep(d)
		// Spread over the profiles, one each; the churner keeps writing them all.
		name := profileName(i * (n / flips))
		dir := filepath.Join(l.Scandir, s6.SlotName(name))
		t := c.setIntent(b, name, "running")
		var st s6.Status
		if !poll(60*time.Second, 500*time.Microsecond, func() bool {
			var err error
			st, err = l.be.ReadStatus(dir)
			return err == nil && st.Up
		}) {
			b.Fatalf("%s: gateway not up 60 s after its intent said running: %+v", name, st)
		}
		lat = append(lat, time.Since(t))
	}
	return lat, l.wt.passCount() - p0
}

func fmtDurations(d []time.Duration) string {
	s := make([]string, len(d))
	for i, x := range d {
		s[i] = fmt.Sprintf("%.0f", ms(x))
	}
	return strings.Join(s, " ") + " ms"
}
