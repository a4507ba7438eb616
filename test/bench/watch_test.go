//go:build linux

package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/hermes-reconcile/hermes-reconcile/backends/s6"
)

// latencyCase is one watch-latency setting.
type latencyCase struct {
	name string
	base int      // profiles (and slots) already there
	args []string // extra watcher flags
	// maxEvents caps the events of a costly case (0: no cap).
	maxEvents int
}

// BenchmarkWatchLatency is DESIGN §10's watch bar: a profile created the
// way `hermes profile create` does it (staging dir, then one rename) until
// its slot is supervised, by the binary in watch mode; p50 and p99 over
// BENCH_WATCH_EVENTS (default 100) events, at most 50 over 1,000 profiles
// (a scaling figure; 100 events take 3 minutes there). Each event alternates
// with the floor, s6 alone: rename a ready service dir into a second
// scandir, one s6-svscanctl -a, until s6-svok's test passes. Both start with
// `base` slots in place. With BENCH_BASELINE_BIN set (another build of the
// binary, e.g. from before a change), a third world runs that one, its
// events interleaved with the others: a before/after in one run.
func BenchmarkWatchLatency(b *testing.B) {
	events := 100
	if v, err := strconv.Atoi(os.Getenv("BENCH_WATCH_EVENTS")); err == nil && v > 0 {
		events = v
	}
	for _, c := range []latencyCase{
		{name: "base=10/quiet=100ms", base: 10},
		{name: "base=10/quiet=1ms", base: 10, args: []string{"--quiet", "1ms"}},
		// Scaling only: every event is a full pass over 1,000 profiles.
		{name: "base=1000/quiet=100ms", base: 1000, maxEvents: 50},
	} {
		n := events
		if c.maxEvents > 0 {
			n = min(n, c.maxEvents)
		}
		b.Run(c.name, func(b *testing.B) { benchLatency(b, c, n) })
	}
}

// watchedWorld is a world with the binary watching it.
type watchedWorld struct {
	*world
	wt    *watcher
	extra int // events followed by a second pass within 100 ms
}

func newWatchedWorld(b *testing.B, c latencyCase, bin string) *watchedWorld {
	w := newWorld(b, c.base)
	w.converge(b)
	args := c.args
	if bin == binary(b) {
		// Issue 11 measures the mechanism: no settle window for other
		// writers (issue 12), which the baseline build does not know.
		args = append([]string{"--settle", "0"}, args...)
	}
	w.Binary = bin
	return &watchedWorld{world: w, wt: startWatcher(b, w.World, args...)}
}

// event creates profile name as Hermes does and times it until its slot is
// supervised.
func (w *watchedWorld) event(b *testing.B, name string) time.Duration {
	pdir := filepath.Join(w.Home, "profiles", name)
	staging := filepath.Join(w.Home, "profiles", fmt.Sprintf(".%s.staging-%d", name, os.Getpid()))
	writeProfile(b, staging, "")
	before := w.wt.passCount()
	sdir := filepath.Join(w.Scandir, s6.SlotName(name))
	t := time.Now()
	must(b, os.Rename(staging, pdir))
	if !poll(30*time.Second, 500*time.Microsecond, func() bool { return lockHeld(sdir) }) {
		b.Fatalf("watcher: %s not supervised after 30s", sdir)
	}
	d := time.Since(t)
	// Let the watcher finish the pass that made the slot, so events do not
	// pile up, and see whether another pass follows it: the pass's own
	// writes in the scandir must not wake the watcher.
	if !poll(5*time.Second, time.Millisecond, func() bool { return w.wt.passCount() >= before+1 }) {
		b.Fatalf("watcher: no pass done 5s after %s was supervised", sdir)
	}
	if poll(100*time.Millisecond, time.Millisecond, func() bool { return w.wt.passCount() > before+1 }) {
		w.extra++
	}
	return d
}

func benchLatency(b *testing.B, c latencyCase, events int) {
	// The floor's scandir, with the same base slots supervised.
	fw := newFloor(b)
	fscan := fw.Scandir
	rd, err := s6.NewRenderer(fw.Render())
	must(b, err)
	for i := range c.base {
		writeServiceDir(b, fscan, s6.SlotName(profileName(i)), rd.Render(profileName(i)))
	}
	run(b, "s6-svscanctl", "-a", fscan)
	waitAllSupervised(b, slotDirs(fscan, c.base)[1:], 5*time.Minute)
	floorEvent := func(i int) time.Duration {
		name := fmt.Sprintf("f%03d", i)
		slot := s6.SlotName(name)
		writeServiceDir(b, fscan, "."+slot+".ready", rd.Render(name))
		t := time.Now()
		must(b, os.Rename(filepath.Join(fscan, "."+slot+".ready"), filepath.Join(fscan, slot)))
		run(b, "s6-svscanctl", "-a", fscan)
		if !poll(30*time.Second, 500*time.Microsecond, func() bool { return lockHeld(filepath.Join(fscan, slot)) }) {
			b.Fatalf("floor: %s not supervised after 30s", slot)
		}
		return time.Since(t)
	}

	ours := newWatchedWorld(b, c, binary(b))
	var base *watchedWorld
	if bin := os.Getenv("BENCH_BASELINE_BIN"); bin != "" {
		base = newWatchedWorld(b, c, bin)
	}
	var floor, lat, baseLat []time.Duration
	for i := range events {
		// Rotate who goes first, so none always runs right after another.
		for k := range 3 {
			switch (i + k) % 3 {
			case 0:
				floor = append(floor, floorEvent(i))
			case 1:
				lat = append(lat, ours.event(b, fmt.Sprintf("e%03d", i)))
			case 2:
				if base != nil {
					baseLat = append(baseLat, base.event(b, fmt.Sprintf("e%03d", i)))
				}
			}
		}
	}
	p50, p99 := percentile(lat, 50), percentile(lat, 99)
	f50, f99 := percentile(floor, 50), percentile(floor, 99)
	b.ReportMetric(ms(p50), "p50-ms")
	b.ReportMetric(ms(p99), "p99-ms")
	b.ReportMetric(ms(f50), "floor-p50-ms")
	b.ReportMetric(ms(f99), "floor-p99-ms")
	b.ReportMetric(ms(p50-f50), "p50-over-floor-ms")
	b.Logf("%s, %d events: watcher p50 %.1f ms p99 %.1f ms (min %.1f, max %.1f); s6 floor p50 %.1f ms p99 %.1f ms (min %.1f, max %.1f); p50 +%.1f ms over the floor; %d events followed by a second pass",
		c.name, events, ms(p50), ms(p99), ms(percentile(lat, 0)), ms(percentile(lat, 100)),
		ms(f50), ms(f99), ms(percentile(floor, 0)), ms(percentile(floor, 100)), ms(p50-f50), ours.extra)
	if base != nil {
		b50, b99 := percentile(baseLat, 50), percentile(baseLat, 99)
		b.ReportMetric(ms(b50), "baseline-p50-ms")
		b.ReportMetric(ms(b99), "baseline-p99-ms")
		b.Logf("%s, baseline binary %s: p50 %.1f ms p99 %.1f ms (min %.1f, max %.1f); p50 +%.1f ms over the floor",
			c.name, os.Getenv("BENCH_BASELINE_BIN"), ms(b50), ms(b99), ms(percentile(baseLat, 0)), ms(percentile(baseLat, 100)), ms(b50-f50))
	}
}

// BenchmarkIdleWatch is DESIGN §10's idle bar: the binary in watch mode over
// N in-sync profiles, left alone for BENCH_IDLE_WINDOW (default 60s; at
// most 15s below 1,000 profiles, where only RSS and watches matter): CPU
// seconds used (utime+stime from /proc), RSS, open fds, inotify watches,
// context switches and passes run in the window. With BENCH_BASELINE_BIN
// set, N=1000-baseline runs that build the same way, after N=1000.
func BenchmarkIdleWatch(b *testing.B) {
	window := 60 * time.Second
	if v, err := time.ParseDuration(os.Getenv("BENCH_IDLE_WINDOW")); err == nil && v > 0 {
		window = v
	}
	for _, n := range []int{10, 1000} {
		window := window
		if n < 1000 {
			window = min(window, 15*time.Second) // for RSS and watches only
		}
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) { idleOne(b, binary(b), n, window) })
		// The baseline build on its own world of the same shape, after this
		// one's: RSS before and after a change, in the same run.
		if bin := os.Getenv("BENCH_BASELINE_BIN"); bin != "" && n == 1000 {
			b.Run(fmt.Sprintf("N=%d-baseline", n), func(b *testing.B) { idleOne(b, bin, n, window) })
		}
	}
}

func idleOne(b *testing.B, bin string, n int, window time.Duration) {
	w := newWorld(b, n)
	w.converge(b)
	w.Binary = bin
	wt := startWatcher(b, w.World)
	pid := wt.cmd.Process.Pid
	// The first pass logs its line before it notifies readiness, but
	// the line is read on another pipe: count it before the window.
	if !poll(10*time.Second, time.Millisecond, func() bool { return wt.passCount() >= 1 }) {
		b.Fatal("watcher ready, yet no pass logged")
	}
	passes := wt.passCount()
	s0 := readProcStat(b, pid)
	// The measurement window: nothing to wait for, by design.
	time.Sleep(window)
	s1 := readProcStat(b, pid)
	passes = wt.passCount() - passes
	cpu := s1.cpu - s0.cpu
	b.ReportMetric(cpu.Seconds(), "cpu-s")
	b.ReportMetric(float64(s1.rss)/(1<<20), "rss-MiB")
	b.ReportMetric(float64(s1.hwm)/(1<<20), "hwm-MiB")
	b.ReportMetric(float64(s1.fds), "fds")
	b.ReportMetric(float64(s1.watches), "inotify-watches")
	b.ReportMetric(float64(s1.ctxSwitches-s0.ctxSwitches), "ctxsw")
	b.ReportMetric(float64(passes), "passes")
	b.Logf("N=%d, %s idle, %s: cpu %.2f s, RSS %.1f MiB (peak %.1f), %d fds, %d inotify watches, %d context switches, %d passes",
		n, window, bin, cpu.Seconds(), float64(s1.rss)/(1<<20), float64(s1.hwm)/(1<<20), s1.fds, s1.watches,
		s1.ctxSwitches-s0.ctxSwitches, passes)
}
