//go:build linux

package bench

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/hermes-reconcile/hermes-reconcile/test/testkit"
)

// BenchmarkBinaries measures what a Hermes container pays for the binary it
// runs at every boot and every health check: its size, its start-up
// (`--version`) and a warm no-op `--once` over 500 in-sync profiles; for
// hermes-reconcile, hermes-reconcile-kube (size and start-up: it runs no
// s6 pass), and with BENCH_BASELINE_BIN another build (the one before the
// binaries were split), interleaved in the same run; medians.
func BenchmarkBinaries(b *testing.B) {
	s6bin := binary(b)
	kubeBin := testkit.BuildWith(testkit.Shipped, testkit.Cmd+"-kube")
	bins := []struct{ name, path string }{{"hermes-reconcile", s6bin}, {"hermes-reconcile-kube", kubeBin}}
	if base := os.Getenv("BENCH_BASELINE_BIN"); base != "" {
		bins = append(bins, struct{ name, path string }{"baseline", base})
	}
	size := map[string]float64{}
	for _, bin := range bins {
		fi, err := os.Stat(bin.path)
		must(b, err)
		size[bin.name] = float64(fi.Size()) / 1e6
	}

	const rounds = 21
	run := func(path string, env []string, args ...string) time.Duration {
		c := exec.Command(path, args...)
		c.Env = env
		t := time.Now()
		if out, err := c.CombinedOutput(); err != nil {
			b.Fatalf("%s %v: %v: %s", path, args, err, out)
		}
		return time.Since(t)
	}
	startup := map[string][]time.Duration{}
	for range rounds {
		for _, bin := range bins {
			startup[bin.name] = append(startup[bin.name], run(bin.path, os.Environ(), "--version"))
		}
	}

	w := newWorld(b, 500)
	w.converge(b)
	w.checkWanted(b, 500)
	env := w.Env
	once := map[string][]time.Duration{}
	for i := range rounds + 1 {
		for _, bin := range bins {
			if bin.name == "hermes-reconcile-kube" {
				continue
			}
			d := run(bin.path, env, "--once", "--detailed-exitcode")
			if i > 0 { // the first warms the page cache
				once[bin.name] = append(once[bin.name], d)
			}
		}
	}
	b.ResetTimer()
	for _, bin := range bins {
		b.ReportMetric(size[bin.name], bin.name+"-MB")
		b.ReportMetric(ms(median(startup[bin.name])), bin.name+"-version-ms")
		if len(once[bin.name]) > 0 {
			b.ReportMetric(ms(median(once[bin.name])), bin.name+"-once500-ms")
		}
		line := fmt.Sprintf("%s: %.1f MB, --version median %.1f ms", bin.name, size[bin.name], ms(median(startup[bin.name])))
		if len(once[bin.name]) > 0 {
			line += fmt.Sprintf(", no-op --once at 500 median %.1f ms", ms(median(once[bin.name])))
		}
		fmt.Fprintln(os.Stderr, line)
	}
}
