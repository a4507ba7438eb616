//go:build linux

package bench

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
)

// bareWatcherEnv, set to a HERMES_HOME, makes the test binary the bare
// watcher of BenchmarkChurnBare (see TestMain).
const bareWatcherEnv = "BENCH_BARE_WATCHER_HOME"

// bareWatcherMain is a Go fsnotify watcher (the reconciler's fsnotify
// version) on the directories the reconciler watches in home: the root,
// profiles/, profiles/.deleted and every profile. It receives every event
// and does nothing with it. It says "ready" once every watch is in place.
func bareWatcherMain(home string) int {
	fw, err := watchProfiles(home, home, filepath.Join(home, "profiles"), filepath.Join(home, "profiles", ".deleted"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("ready")
	for {
		select {
		case <-fw.Events:
		case err := <-fw.Errors:
			fmt.Fprintln(os.Stderr, err)
		}
	}
}

// watchProfiles is an fsnotify watcher on every profile directory of home
// and on extra.
func watchProfiles(home string, extra ...string) (*fsnotify.Watcher, error) {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	dirs, err := filepath.Glob(filepath.Join(home, "profiles", "*"))
	if err != nil {
		fw.Close()
		return nil, err
	}
	for _, d := range append(dirs, extra...) {
		if err := fw.Add(d); err != nil {
			fw.Close()
			return nil, err
		}
	}
	return fw, nil
}

// BenchmarkChurnBare is issue 25's churn figure: 1,000 in-sync profiles in
// watch mode (the binary as shipped, its default flags) while random
// profiles' gateway_state.json are rewritten 20 times a second (same
// intent, temp file and rename, as running gateways do), and beside it, on
// the same directories and so receiving the same events, a bare fsnotify
// watcher that does nothing with them. Both measured over the same window
// (BENCH_CHURN_DURATION, default 30 s): CPU by schedstat, and the ratio.
func BenchmarkChurnBare(b *testing.B) {
	window := 30 * time.Second
	if v, err := time.ParseDuration(os.Getenv("BENCH_CHURN_DURATION")); err == nil && v > 0 {
		window = v
	}
	const n = 1000
	l := startLive(b, binary(b), n)
	defer l.stop(b)
	bare := exec.Command(os.Args[0])
	bare.Env = append(os.Environ(), bareWatcherEnv+"="+l.Home)
	bare.Stderr = os.Stderr
	out, err := bare.StdoutPipe()
	must(b, err)
	must(b, bare.Start())
	defer func() { _ = bare.Process.Kill(); _ = bare.Wait() }()
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "ready\n" {
		b.Fatalf("bare watcher: %q %v", line, err)
	}
	ours, floor := l.wt.cmd.Process.Pid, bare.Process.Pid
	c := startChurn(b, l.Home, names(n), churnRate, n)
	defer c.Stop()
	time.Sleep(churnWarmup) // the churn's steady state, not a wait for a condition
	p0 := l.wt.passCount()
	o0, f0 := schedCPU(b, ours), schedCPU(b, floor)
	w0, _ := c.counts()
	time.Sleep(window) // the window measured
	o1, f1 := schedCPU(b, ours), schedCPU(b, floor)
	w1, _ := c.counts()
	passes := l.wt.passCount() - p0
	ratio := float64(o1-o0) / float64(f1-f0)
	b.ReportMetric(100*(o1-o0).Seconds()/window.Seconds(), "pct-core")
	b.ReportMetric(100*(f1-f0).Seconds()/window.Seconds(), "bare-pct-core")
	b.ReportMetric(ratio, "x-bare")
	b.ReportMetric(float64(passes), "passes")
	fmt.Fprintf(os.Stderr, "churn, %d profiles, %d writes in %s: reconciler %.2f%% of a core, bare watcher %.2f%%, %.2fx; %d passes\n",
		n, w1-w0, window, 100*(o1-o0).Seconds()/window.Seconds(), 100*(f1-f0).Seconds()/window.Seconds(), ratio, passes)
}
