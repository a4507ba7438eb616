//go:build linux

package bench

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hermes-reconcile/hermes-reconcile/backends/s6"
	"github.com/hermes-reconcile/hermes-reconcile/desired"
)

// BenchmarkNoopPass is DESIGN §10's first bar: a pass over N in-sync
// profiles spawns no process and costs within 3× of the floor, a Go loop
// that only reads every input file once and stats every slot. Floor and
// pass alternate in the same run; the figures are medians.
func BenchmarkNoopPass(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) { benchNoop(b, n) })
	}
}

func benchNoop(b *testing.B, n int) {
	w := newWorld(b, n)
	w.converge(b)
	w.checkWanted(b, n)
	if out := w.pass.Observe(context.Background(), nil); out.Err != nil || len(out.Plan.Actions) != 0 {
		b.Fatalf("not in sync after converging: %v, %d actions", out.Err, len(out.Plan.Actions))
	}
	// Enough rounds for a stable median: 100, 40 and 10.
	rounds := max(10, min(100, 4000/n))
	ctx := context.Background()
	spawned := w.be.Spawned()
	floors := make([]time.Duration, 0, rounds)
	raws := make([]time.Duration, 0, rounds)
	passes := make([]time.Duration, 0, rounds)
	var files int
	// Warm every path once (page cache, lazily built regexps).
	_, _ = readFloor(w.Home, w.Scandir, readGo)
	_, _ = readFloor(w.Home, w.Scandir, readRaw)
	_ = w.pass.Run(ctx, nil, nil)

	b.ResetTimer()
	for range rounds {
		t := time.Now()
		nf, err := readFloor(w.Home, w.Scandir, readGo)
		floors = append(floors, time.Since(t))
		must(b, err)
		files = nf
		t = time.Now()
		_, err = readFloor(w.Home, w.Scandir, readRaw)
		raws = append(raws, time.Since(t))
		must(b, err)
		t = time.Now()
		out := w.pass.Run(ctx, nil, nil)
		passes = append(passes, time.Since(t))
		if out.Err != nil || len(out.Plan.Actions) != 0 {
			b.Fatalf("no-op pass: %v, %d actions", out.Err, len(out.Plan.Actions))
		}
	}
	b.StopTimer()

	// Allocations of the pass alone, in a loop of their own.
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	allocRounds := min(rounds, 5)
	for range allocRounds {
		_ = w.pass.Run(ctx, nil, nil)
	}
	runtime.ReadMemStats(&m1)
	if got := w.be.Spawned() - spawned; got != 0 {
		b.Fatalf("no-op passes spawned %d processes, want 0", got)
	}

	pass, floor, raw := median(passes), median(floors), median(raws)
	b.ReportMetric(ms(pass), "pass-ms")
	b.ReportMetric(ms(floor), "floor-ms")
	b.ReportMetric(float64(pass)/float64(floor), "x-floor")
	b.ReportMetric(ms(raw), "rawfloor-ms")
	b.ReportMetric(float64(pass)/float64(raw), "x-rawfloor")
	b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/float64(allocRounds), "allocs/pass")
	b.ReportMetric(float64(m1.TotalAlloc-m0.TotalAlloc)/float64(allocRounds), "B/pass")
	b.ReportMetric(0, "spawned")
	b.Logf("N=%d: %d rounds, %d files read by the floor; pass p50 %.3f ms (min %.3f), floor p50 %.3f ms (min %.3f), ratio %.2f; raw-syscall floor p50 %.3f ms (min %.3f), ratio %.2f",
		n, rounds, files, ms(pass), ms(percentile(passes, 0)), ms(floor), ms(percentile(floors, 0)), float64(pass)/float64(floor),
		ms(raw), ms(percentile(raws, 0)), float64(pass)/float64(raw))
}

// readFloor reads every input of a pass once: the root and each profile's
// config.yaml and gateway_state.json (SOUL.md only stat'ed: its content
// does not matter), the tombstones, and for every slot its four files, its
// spec hash and its supervise/status, with one stat for its down marker.
// It returns how many files it read or stat'ed. read is readGo (the floor
// DESIGN names: os.ReadFile) or readRaw (bare system calls, the least a
// process can do).
func readFloor(home, scandir string, read func(string) error) (int, error) {
	files := 0
	readOpt := func(path string) error {
		err := read(path)
		files++
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	stat := func(path string) {
		_, _ = os.Lstat(path)
		files++
	}
	profile := func(dir string) error {
		stat(filepath.Join(dir, "SOUL.md"))
		if err := readOpt(filepath.Join(dir, desired.ConfigFile)); err != nil {
			return err
		}
		return readOpt(filepath.Join(dir, desired.StateFile))
	}
	if err := profile(home); err != nil {
		return 0, err
	}
	pdir := filepath.Join(home, "profiles")
	entries, err := os.ReadDir(pdir)
	if err != nil {
		return 0, err
	}
	if _, err := os.ReadDir(filepath.Join(pdir, ".deleted")); err != nil {
		return 0, err
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if err := profile(filepath.Join(pdir, e.Name())); err != nil {
			return 0, err
		}
	}
	slots, err := os.ReadDir(scandir)
	if err != nil {
		return 0, err
	}
	for _, e := range slots {
		if !strings.HasPrefix(e.Name(), s6.SlotPrefix) {
			continue
		}
		dir := filepath.Join(scandir, e.Name())
		for _, f := range []string{s6.FileType, s6.FileRun, s6.FileFinish, s6.FileLogRun, s6.HashFile, "supervise/status"} {
			if err := readOpt(filepath.Join(dir, f)); err != nil {
				return 0, err
			}
		}
		stat(filepath.Join(dir, s6.DownFile))
	}
	return files, nil
}

func readGo(path string) error {
	_, err := os.ReadFile(path)
	return err
}

var rawBuf = make([]byte, 64<<10)

// readRaw reads a file with open, read until the end, close.
func readRaw(path string) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	for {
		n, err := unix.Read(fd, rawBuf)
		if err != nil {
			return &os.PathError{Op: "read", Path: path, Err: err}
		}
		if n == 0 {
			return nil
		}
	}
}
