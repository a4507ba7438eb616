//go:build linux

package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/hermes-reconcile/hermes-reconcile/actual"
	"github.com/hermes-reconcile/hermes-reconcile/desired"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
)

// BenchmarkColdConverge is DESIGN §10's second bar: N new profiles (plus
// the root one), from nothing to every slot supervised and in its wanted
// state (down: the profiles say stopped), with one rescan. Each variant
// gets a fresh s6-svscan; in the same run:
//   - s6-floor: the same dirs already in place, one s6-svscanctl -a, until
//     every supervise/control exists and its lock is held: s6's own cost;
//   - shell: test/bench/converge.sh batch (build all, one rescan, s6-svok each);
//   - shell-per-slot: converge.sh per-slot (a rescan and a wait per slot).
//
// BENCH_CONVERGE_ROUNDS (default 1) repeats the set; figures are medians.
func BenchmarkColdConverge(b *testing.B) {
	rounds := 1
	if v, err := strconv.Atoi(os.Getenv("BENCH_CONVERGE_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	for _, n := range []int{100, 500, 1000} {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			var ours, floor, shell, perSlot []time.Duration
			rescans := 0
			for range rounds {
				floor = append(floor, convergeFloor(b, n))
				d, spawned := convergeOurs(b, n)
				ours = append(ours, d)
				rescans = max(rescans, spawned)
				shell = append(shell, convergeShell(b, "batch", n))
				perSlot = append(perSlot, convergeShell(b, "per-slot", n))
			}
			o, f, s, ps := median(ours), median(floor), median(shell), median(perSlot)
			b.ReportMetric(ms(o), "ours-ms")
			b.ReportMetric(ms(f), "s6floor-ms")
			b.ReportMetric(float64(o)/float64(f), "x-floor")
			b.ReportMetric(ms(s), "shell-ms")
			b.ReportMetric(ms(ps), "shellperslot-ms")
			b.ReportMetric(float64(rescans), "spawned")
			b.Logf("N=%d (+ default), %d round(s): ours %v, s6 floor %v (x%.2f), shell %v (x%.2f), shell per-slot %v (x%.2f); processes spawned by the pass: %d (the s6-svscanctl)",
				n, rounds, ours, floor, float64(o)/float64(f), shell, float64(s)/float64(f), perSlot, float64(ps)/float64(f), rescans)
		})
	}
}

// convergeOurs times one in-process pass that creates every slot, and
// returns it with the number of programs the backend started.
func convergeOurs(b *testing.B, n int) (time.Duration, int) {
	w := newWorld(b, n)
	t := time.Now()
	out := w.converge(b)
	d := time.Since(t)
	creates := 0
	for _, a := range out.Plan {
		if a.Kind == reconcile.Create {
			creates++
		}
	}
	if creates != n+1 || len(out.Plan) != n+1 {
		b.Fatalf("plan: %d actions, %d creates, want %d creates", len(out.Plan), creates, n+1)
	}
	w.checkWanted(b, n)
	spawned := w.be.Spawned()
	w.svscan.stop(b)
	return d, spawned
}

// convergeFloor puts the same N+1 service dirs in place, then times one
// s6-svscanctl -a and the wait until every one is supervised.
func convergeFloor(b *testing.B, n int) time.Duration {
	home := tempDir(b, false)
	scandir := filepath.Join(tempDir(b, true), "scan")
	must(b, os.Mkdir(scandir, 0o755))
	sv := startSvscan(b, scandir, home)
	rd, err := desired.NewRenderer(renderSettings(home))
	must(b, err)
	profiles := []string{desired.DefaultProfile}
	for i := range n {
		profiles = append(profiles, profileName(i))
	}
	for _, p := range profiles {
		writeServiceDir(b, scandir, desired.SlotName(p), rd.Render(p))
	}
	dirs := slotDirs(scandir, n)
	t := time.Now()
	run(b, "s6-svscanctl", "-a", scandir)
	waitAllSupervised(b, dirs, 60*time.Second)
	d := time.Since(t)
	sv.stop(b)
	return d
}

// writeServiceDir writes a slot the plain way (no supervise skeleton):
// staging dir, files, down marker, hash, rename.
func writeServiceDir(tb testing.TB, scandir, slot string, spec desired.Spec) {
	tmp := filepath.Join(scandir, "."+slot+".tmp")
	must(tb, os.MkdirAll(filepath.Join(tmp, "log"), 0o755))
	must(tb, os.MkdirAll(filepath.Join(tmp, "data"), 0o755))
	for _, f := range spec.Files {
		p := filepath.Join(tmp, filepath.FromSlash(f.Path))
		must(tb, os.WriteFile(p, f.Data, f.Mode))
		must(tb, os.Chmod(p, f.Mode))
	}
	must(tb, os.WriteFile(filepath.Join(tmp, actual.DownFile), nil, 0o644))
	must(tb, os.WriteFile(filepath.Join(tmp, filepath.FromSlash(actual.HashFile)), []byte(spec.Hash+"\n"), 0o644))
	must(tb, os.Rename(tmp, filepath.Join(scandir, slot)))
}

// convergeShell times test/bench/converge.sh on a fresh scandir.
func convergeShell(b *testing.B, mode string, n int) time.Duration {
	home := tempDir(b, false)
	scandir := filepath.Join(tempDir(b, true), "scan")
	must(b, os.Mkdir(scandir, 0o755))
	sv := startSvscan(b, scandir, home)
	args := []string{path.Join(repoRoot(), "test", "bench", "converge.sh"), mode, scandir,
		filepath.Join(repoRoot(), "test", "fake-gateway"), desired.DefaultProfile}
	for i := range n {
		args = append(args, profileName(i))
	}
	cmd := exec.Command("sh", args...)
	t := time.Now()
	out, err := cmd.CombinedOutput()
	d := time.Since(t)
	if err != nil {
		b.Fatalf("converge.sh %s: %v: %s", mode, err, out)
	}
	waitAllSupervised(b, slotDirs(scandir, n), 10*time.Second)
	sv.stop(b)
	return d
}

// BenchmarkOverLimit is a cold converge past s6-svscan's service limit
// (DESIGN §10: -c): 60 slots under -c 20, so 40 are never supervised and
// each of their waits can only time out. With a 1 s bound on each wait the
// pass should end about one bound after s6 is done, not one bound per
// stranded slot (40 s).
func BenchmarkOverLimit(b *testing.B) {
	const n, limit, timeout = 59, 20, time.Second
	w := newWorldOpts(b, n, limit, timeout)
	t := time.Now()
	out := reconcile.RunPass(context.Background(), w.src, w.be, nil)
	d := time.Since(t)
	if out.Err != nil {
		b.Fatal(out.Err)
	}
	failed := reconcile.Failed(out.Results)
	if want := n + 1 - limit; failed != want {
		b.Fatalf("%d actions failed, want %d (the slots over the limit)", failed, want)
	}
	b.ReportMetric(ms(d), "pass-ms")
	b.ReportMetric(float64(failed), "stranded")
	b.Logf("%d slots under s6-svscan -c %d, %s bound per wait: pass %v, %d slots reported not supervised", n+1, limit, timeout, d, failed)
}
