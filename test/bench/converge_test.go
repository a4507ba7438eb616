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

	"github.com/hermes-reconcile/hermes-reconcile/backends/s6"
	"github.com/hermes-reconcile/hermes-reconcile/desired"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
	"github.com/hermes-reconcile/hermes-reconcile/test/testkit"
)

// BenchmarkColdConverge is DESIGN §10's second bar: N new profiles (plus
// the root one), from nothing to every slot supervised and in its wanted
// state (down: the profiles say stopped), with one rescan. Each variant
// gets a fresh s6-svscan; in the same run:
//   - s6-floor: the same dirs already in place, one s6-svscanctl -a, until
//     every supervise/control exists and its lock is held: s6's own cost;
//   - shell: test/bench/converge.sh batch (build all, one rescan, s6-svok each);
//   - shell-per-slot: converge.sh per-slot (a rescan and a wait per slot);
//     at N=1000 only with BENCH_FULL set: it alone takes about 6 minutes on
//     the loaded 2-core machine BENCHMARKS.md was measured on.
//
// BENCH_CONVERGE_ROUNDS (default 1) repeats the set; figures are medians.
func BenchmarkColdConverge(b *testing.B) {
	rounds := 1
	if v, err := strconv.Atoi(os.Getenv("BENCH_CONVERGE_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	for _, n := range []int{100, 500, 1000} {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			var ours, writes, floor, shell, perSlot []time.Duration
			rescans, spawned := 0, 0
			for range rounds {
				floor = append(floor, convergeFloor(b, n))
				d, wr, r, sp := convergeOurs(b, n)
				ours = append(ours, d)
				writes = append(writes, wr)
				rescans, spawned = max(rescans, r), max(spawned, sp)
				shell = append(shell, convergeShell(b, "batch", n))
				if n < 1000 || os.Getenv("BENCH_FULL") != "" {
					perSlot = append(perSlot, convergeShell(b, "per-slot", n))
				}
			}
			o, f, s, ps, wr := median(ours), median(floor), median(shell), median(perSlot), median(writes)
			b.ReportMetric(ms(o), "ours-ms")
			b.ReportMetric(ms(wr), "ours-before-rescan-ms")
			b.ReportMetric(ms(f), "s6floor-ms")
			b.ReportMetric(float64(o)/float64(f), "x-floor")
			b.ReportMetric(ms(s), "shell-ms")
			if len(perSlot) > 0 {
				b.ReportMetric(ms(ps), "shellperslot-ms")
			}
			b.ReportMetric(float64(rescans), "rescans")
			b.ReportMetric(float64(spawned), "spawned")
			perSlotNote := "skipped (BENCH_FULL unset)"
			if len(perSlot) > 0 {
				perSlotNote = fmt.Sprintf("%v (x%.2f)", perSlot, float64(ps)/float64(f))
			}
			b.Logf("N=%d (+ default), %d round(s): ours %v (before the rescan: %v), s6 floor %v (x%.2f), shell %v (x%.2f), shell per-slot %s; rescans sent by the pass: %d; processes it spawned: %d",
				n, rounds, ours, writes, floor, float64(o)/float64(f), shell, float64(s)/float64(f), perSlotNote, rescans, spawned)
		})
	}
}

// phased is the s6 engine with a clock on the rescan: what a pass spends
// before it (reading, planning, writing every slot) is its own work; what
// follows is s6's, plus the wait's slack.
type phased struct {
	*s6.Backend
	rescanAt time.Time
}

func (p *phased) Do(ctx context.Context, s reconcile.Step) error {
	if s.Op.String() == "rescan" {
		p.rescanAt = time.Now()
	}
	return p.Backend.Do(ctx, s)
}

// convergeOurs times one in-process pass that creates every slot, and
// returns it, the part before the rescan, the rescans it sent and the
// number of programs the backend started.
func convergeOurs(b *testing.B, n int) (total, write time.Duration, rescans, spawned int) {
	w := newWorld(b, n)
	pb := &phased{Backend: w.be}
	pass := &reconcile.Pass{Reader: w.pass.Reader, Engine: pb}
	t := time.Now()
	out := pass.Run(context.Background(), nil, nil)
	total = time.Since(t)
	if out.Err != nil || reconcile.Failed(out.Results) > 0 {
		b.Fatalf("cold converge: %v, %d actions failed", out.Err, reconcile.Failed(out.Results))
	}
	creates := 0
	for _, a := range out.Plan.Actions {
		if a.Kind == reconcile.Create {
			creates++
		}
	}
	if creates != n+1 || len(out.Plan.Actions) != n+1 {
		b.Fatalf("plan: %d actions, %d creates, want %d creates", len(out.Plan.Actions), creates, n+1)
	}
	w.checkWanted(b, n)
	rescans, spawned = w.be.Rescans(), w.be.Spawned()
	w.Sv.Stop()
	return total, pb.rescanAt.Sub(t), rescans, spawned
}

// convergeFloor puts the same N+1 service dirs in place, then times one
// s6-svscanctl -a and the wait until every one is supervised.
func convergeFloor(b *testing.B, n int) time.Duration {
	fw := newFloor(b)
	scandir := fw.Scandir
	rd, err := s6.NewRenderer(fw.Render())
	must(b, err)
	profiles := []string{desired.DefaultProfile}
	for i := range n {
		profiles = append(profiles, profileName(i))
	}
	for _, p := range profiles {
		writeServiceDir(b, scandir, s6.SlotName(p), rd.Render(p))
	}
	dirs := slotDirs(scandir, n)
	t := time.Now()
	run(b, "s6-svscanctl", "-a", scandir)
	waitAllSupervised(b, dirs, 5*time.Minute)
	d := time.Since(t)
	fw.Sv.Stop()
	return d
}

// writeServiceDir writes a slot the plain way (no supervise skeleton):
// staging dir, files, down marker, hash, rename.
func writeServiceDir(tb testing.TB, scandir, slot string, spec reconcile.Spec) {
	tmp := filepath.Join(scandir, "."+slot+".tmp")
	must(tb, os.MkdirAll(filepath.Join(tmp, "log"), 0o755))
	must(tb, os.MkdirAll(filepath.Join(tmp, "data"), 0o755))
	for _, f := range spec.Files {
		p := filepath.Join(tmp, filepath.FromSlash(f.Path))
		must(tb, os.WriteFile(p, f.Data, f.Mode))
		must(tb, os.Chmod(p, f.Mode))
	}
	must(tb, os.WriteFile(filepath.Join(tmp, s6.DownFile), nil, 0o644))
	must(tb, os.WriteFile(filepath.Join(tmp, filepath.FromSlash(s6.HashFile)), []byte(spec.Hash+"\n"), 0o644))
	must(tb, os.Rename(tmp, filepath.Join(scandir, slot)))
}

// convergeShell times test/bench/converge.sh on a fresh scandir.
func convergeShell(b *testing.B, mode string, n int) time.Duration {
	fw := newFloor(b)
	scandir := fw.Scandir
	args := []string{path.Join(repoRoot(), "test", "bench", "converge.sh"), mode, scandir,
		testkit.FakeGateway(), desired.DefaultProfile}
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
	fw.Sv.Stop()
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
	out := w.pass.Run(context.Background(), nil, nil)
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

// BenchmarkPublish is the pass's own share of a cold converge without s6:
// writing N new slots (staging dir, files, down marker, hash, supervise
// skeleton owned by the service user, rename), next to the same dirs
// written the plain way (no skeleton, no chown) in the same run. s6's
// spawning dominates the cold-converge figures on a loaded machine; this
// one does not depend on it.
func BenchmarkPublish(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			// A home for the rendering; its scandir stays unused.
			render := testkit.NewBenchWorld(b, "").Render()
			rd, err := s6.NewRenderer(render)
			must(b, err)
			specs := make([]reconcile.Spec, n)
			for i := range specs {
				specs[i] = rd.Render(profileName(i))
			}
			var ours, plain []time.Duration
			for range 3 {
				dir := filepath.Join(scanParent(b), "scan")
				must(b, os.Mkdir(dir, 0o755))
				be, err := s6.New(s6.Options{Scandir: dir, Bindir: "/command", UID: -1, GID: -1, Render: render})
				must(b, err)
				t := time.Now()
				for _, spec := range specs {
					publish := reconcile.Action{Kind: reconcile.Create, Unit: spec.Unit, Spec: spec}
					// The engine's publish step alone: its plan's first.
					step := be.Schedule(reconcile.Plan{Actions: []reconcile.Action{publish}})[0]
					must(b, be.Do(context.Background(), step))
				}
				ours = append(ours, time.Since(t))
				pdir := filepath.Join(scanParent(b), "scan")
				must(b, os.Mkdir(pdir, 0o755))
				t = time.Now()
				for i, spec := range specs {
					writeServiceDir(b, pdir, s6.SlotName(profileName(i)), spec)
				}
				plain = append(plain, time.Since(t))
			}
			o, p := median(ours), median(plain)
			b.ReportMetric(ms(o)/float64(n), "ms/slot")
			b.ReportMetric(ms(p)/float64(n), "plain-ms/slot")
			b.ReportMetric(float64(o)/float64(p), "x-plain")
			b.Logf("N=%d, 3 rounds: publish %v (%.3f ms/slot), plain write %v (%.3f ms/slot), x%.2f", n, ours, ms(o)/float64(n), plain, ms(p)/float64(n), float64(o)/float64(p))
		})
	}
}
