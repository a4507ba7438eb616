//go:build linux

package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/hermes-reconcile/hermes-reconcile/desired"
)

// latencyCase is one watch-latency setting.
type latencyCase struct {
	name string
	base int      // profiles (and slots) already there
	args []string // extra watcher flags
}

// BenchmarkWatchLatency is DESIGN §10's watch bar: a profile created the
// way `hermes profile create` does it (staging dir, then one rename) until
// its slot is supervised, by the binary in watch mode; p50 and p99 over
// BENCH_WATCH_EVENTS (default 100) events. Each event alternates with the
// floor, s6 alone: rename a ready service dir into a second scandir, one
// s6-svscanctl -a, until s6-svok's test passes. Both floors and the watcher
// start with `base` slots in place.
func BenchmarkWatchLatency(b *testing.B) {
	events := 100
	if v, err := strconv.Atoi(os.Getenv("BENCH_WATCH_EVENTS")); err == nil && v > 0 {
		events = v
	}
	for _, c := range []latencyCase{
		{name: "base=10/quiet=100ms", base: 10},
		{name: "base=10/quiet=1ms", base: 10, args: []string{"--quiet", "1ms"}},
		{name: "base=1000/quiet=100ms", base: 1000},
	} {
		b.Run(c.name, func(b *testing.B) { benchLatency(b, c, events) })
	}
}

func benchLatency(b *testing.B, c latencyCase, events int) {
	w := newWorld(b, c.base)
	w.converge(b)

	// The floor's scandir, with the same base slots supervised.
	fhome := tempDir(b, false)
	fscan := filepath.Join(tempDir(b, true), "scan")
	must(b, os.Mkdir(fscan, 0o755))
	startSvscan(b, fscan, fhome)
	for i := range c.base {
		writeServiceDir(b, fscan, desired.SlotName(profileName(i)), w.rd.Render(profileName(i)))
	}
	run(b, "s6-svscanctl", "-a", fscan)
	waitAllSupervised(b, slotDirs(fscan, c.base)[1:], 5*time.Minute)

	wt := startWatcher(b, w.home, w.scandir, c.args...)
	floor := make([]time.Duration, 0, events)
	ours := make([]time.Duration, 0, events)
	merged := 0
	for i := range events {
		// s6 alone.
		name := fmt.Sprintf("f%03d", i)
		slot := desired.SlotName(name)
		writeServiceDir(b, fscan, "."+slot+".ready", w.rd.Render(name))
		t := time.Now()
		must(b, os.Rename(filepath.Join(fscan, "."+slot+".ready"), filepath.Join(fscan, slot)))
		run(b, "s6-svscanctl", "-a", fscan)
		if !poll(30*time.Second, 500*time.Microsecond, func() bool { return lockHeld(filepath.Join(fscan, slot)) }) {
			b.Fatalf("floor: %s not supervised after 30s", slot)
		}
		floor = append(floor, time.Since(t))

		// A profile created as Hermes does it, picked up by the watcher.
		name = fmt.Sprintf("e%03d", i)
		pdir := filepath.Join(w.home, "profiles", name)
		staging := filepath.Join(w.home, "profiles", fmt.Sprintf(".%s.staging-%d", name, os.Getpid()))
		writeProfile(b, staging, "")
		before := wt.passCount()
		sdir := filepath.Join(w.scandir, desired.SlotName(name))
		t = time.Now()
		must(b, os.Rename(staging, pdir))
		if !poll(30*time.Second, 500*time.Microsecond, func() bool { return lockHeld(sdir) }) {
			b.Fatalf("watcher: %s not supervised after 30s", sdir)
		}
		ours = append(ours, time.Since(t))
		// Let the watcher finish: the pass that made the slot, and the one
		// its own rename into the scandir triggers, so events do not pile up.
		if !poll(5*time.Second, time.Millisecond, func() bool { return wt.passCount() >= before+2 }) {
			merged++
		}
	}
	p50, p99 := percentile(ours, 50), percentile(ours, 99)
	f50, f99 := percentile(floor, 50), percentile(floor, 99)
	b.ReportMetric(ms(p50), "p50-ms")
	b.ReportMetric(ms(p99), "p99-ms")
	b.ReportMetric(ms(f50), "floor-p50-ms")
	b.ReportMetric(ms(f99), "floor-p99-ms")
	b.ReportMetric(ms(p50-f50), "p50-over-floor-ms")
	b.Logf("%s, %d events: watcher p50 %.1f ms p99 %.1f ms (min %.1f, max %.1f); s6 floor p50 %.1f ms p99 %.1f ms (min %.1f, max %.1f); p50 +%.1f ms over the floor; %d events without a second pass",
		c.name, events, ms(p50), ms(p99), ms(percentile(ours, 0)), ms(percentile(ours, 100)),
		ms(f50), ms(f99), ms(percentile(floor, 0)), ms(percentile(floor, 100)), ms(p50-f50), merged)
}

// BenchmarkIdleWatch is DESIGN §10's idle bar: the binary in watch mode over
// N in-sync profiles, left alone for BENCH_IDLE_WINDOW (default 60s): CPU
// seconds used (utime+stime from /proc), RSS, open fds, inotify watches,
// context switches and passes run in the window.
func BenchmarkIdleWatch(b *testing.B) {
	window := 60 * time.Second
	if v, err := time.ParseDuration(os.Getenv("BENCH_IDLE_WINDOW")); err == nil && v > 0 {
		window = v
	}
	for _, n := range []int{10, 1000} {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			w := newWorld(b, n)
			w.converge(b)
			wt := startWatcher(b, w.home, w.scandir)
			pid := wt.cmd.Process.Pid
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
			b.Logf("N=%d, %s idle: cpu %.2f s, RSS %.1f MiB (peak %.1f), %d fds, %d inotify watches, %d context switches, %d passes",
				n, window, cpu.Seconds(), float64(s1.rss)/(1<<20), float64(s1.hwm)/(1<<20), s1.fds, s1.watches,
				s1.ctxSwitches-s0.ctxSwitches, passes)
		})
	}
}
