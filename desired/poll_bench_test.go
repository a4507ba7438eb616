package desired

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkPoll is the stat poll's cost for volumes inotify cannot see, at
// N profiles, idle (nothing changed): each poll as it runs now (a stat per
// directory, files only where one changed, a full sweep one poll in
// pollSweepEvery) against every poll a full sweep (every file stat'ed,
// profiles/ listed: the poll before), in the same run. Reported per
// second at the kube binary's default --poll of 2 s.
func BenchmarkPoll(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		root := b.TempDir()
		for i := range n {
			dir := filepath.Join(root, "profiles", fmt.Sprintf("p%05d", i))
			writeBenchFile(b, filepath.Join(dir, SoulFile), "soul\n")
			writeBenchFile(b, filepath.Join(dir, ConfigFile), "model: x\n")
			writeBenchFile(b, filepath.Join(dir, StateFile), `{"desired_state":"running"}`)
		}
		for _, mode := range []string{"sweep-every-poll", "dirs-first"} {
			b.Run(fmt.Sprintf("N=%d/%s", n, mode), func(b *testing.B) {
				s := &watchState{w: &Watcher{layout: Layout{Root: root}}}
				s.stamps = s.scan(true)
				s.pollStats = 0
				b.ResetTimer()
				for i := range b.N {
					full := mode == "sweep-every-poll" || i%pollSweepEvery == pollSweepEvery-1
					s.stamps = s.scan(full)
				}
				b.StopTimer()
				perPoll := b.Elapsed() / time.Duration(b.N)
				const period = 2 * time.Second
				b.ReportMetric(float64(s.pollStats)/float64(b.N), "stats/poll")
				b.ReportMetric(float64(s.pollStats)/float64(b.N)/period.Seconds(), "stats/s")
				b.ReportMetric(100*float64(perPoll)/float64(period), "cpu-%")
			})
		}
	}
}

func writeBenchFile(b *testing.B, path, data string) {
	b.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		b.Fatal(err)
	}
}
