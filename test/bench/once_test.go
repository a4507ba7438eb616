//go:build linux

package bench

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"
)

// BenchmarkOnce is the no-op `--once` a Hermes container runs at every boot
// (and `status` at every health check), over N in-sync profiles: the binary
// as shipped (static, its default flags), and with BENCH_BASELINE_BIN
// another build, each on a world of its own that it converged itself (two
// builds may render a slot differently), interleaved in the same run;
// medians, and the ratio to the baseline.
func BenchmarkOnce(b *testing.B) {
	for _, n := range []int{500, 1000} {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) { benchOnce(b, n) })
	}
}

func benchOnce(b *testing.B, n int) {
	type contender struct {
		name, path string
		w          *world
		times      []time.Duration
	}
	run := func(c *contender, args ...string) time.Duration {
		cmd := exec.Command(c.path, args...)
		cmd.Env = c.w.Env
		t := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%s %v: %v: %s", c.name, args, err, out)
		}
		return time.Since(t)
	}
	cs := []*contender{{name: "hermes-reconcile", path: binary(b), w: newWorld(b, n)}}
	cs[0].w.converge(b)
	if base := os.Getenv("BENCH_BASELINE_BIN"); base != "" {
		c := &contender{name: "baseline", path: base, w: newWorld(b, n)}
		run(c, "--once")
		cs = append(cs, c)
	}
	for _, c := range cs {
		c.w.checkWanted(b, n)
		run(c, "--once", "--detailed-exitcode") // in sync (exit 0), and the page cache warm
	}
	const rounds = 21
	b.ResetTimer()
	for range rounds {
		for _, c := range cs {
			c.times = append(c.times, run(c, "--once", "--detailed-exitcode"))
		}
	}
	b.StopTimer()
	for _, c := range cs {
		b.ReportMetric(ms(median(c.times)), c.name+"-ms")
	}
	line := fmt.Sprintf("no-op --once at %d: %s median %.1f ms", n, cs[0].name, ms(median(cs[0].times)))
	if len(cs) > 1 {
		ratio := float64(median(cs[0].times)) / float64(median(cs[1].times))
		b.ReportMetric(ratio, "ratio")
		line += fmt.Sprintf(", baseline %.1f ms, ratio %.2f", ms(median(cs[1].times)), ratio)
	}
	fmt.Fprintln(os.Stderr, line)
}
