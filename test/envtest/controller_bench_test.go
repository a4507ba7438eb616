//go:build linux

package envtest

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/hermes-reconcile/hermes-reconcile/backends/kube"
	"github.com/hermes-reconcile/hermes-reconcile/config"
	"github.com/hermes-reconcile/hermes-reconcile/desired"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
	"github.com/hermes-reconcile/hermes-reconcile/test/testkit"
)

// BenchmarkKubeController runs the kube binary as shipped (static, its
// default flags) in watch mode over N converged profiles and 1,000
// Deployments of someone else's in its namespace: its RSS and CPU while
// idle, and how long a profile's intent flip takes to reach its
// Deployment's replicas, through fsnotify and through the --poll alone
// (inotify refused: the binary runs in a user namespace with
// max_inotify_instances 0, as on a volume inotify cannot see).
func BenchmarkKubeController(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("profiles=%d", n), func(b *testing.B) { benchController(b, n, false) })
	}
	b.Run("profiles=1000/poll-only", func(b *testing.B) { benchController(b, 1000, true) })
}

var shippedKube = func() func() string {
	var p string
	return func() string {
		if p == "" {
			p = testkit.BuildWith(testkit.Shipped, testkit.Cmd+"-kube")
		}
		return p
	}
}()

func benchController(b *testing.B, n int, pollOnly bool) {
	_, c := benchEnv(b)
	h := benchHome(b, n)
	ns := benchNamespace(b, c)
	p := &reconcile.Pass{Reader: desired.NewReader(h, desired.Options{HermesVersion: "0.21.3"}),
		Engine: kube.New(c, ns, settings).WithWorkers(config.Default().Kube.Workers)}
	if out := p.Run(context.Background(), nil, nil); out.Err != nil || reconcile.Failed(out.Results) > 0 {
		b.Fatalf("converge: %v", out.Err)
	}
	foreign(b, c, ns, 1000)
	u, err := benchEnvt.AddUser(envtest.User{Name: "bench-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	kc, err := u.KubeConfig()
	if err != nil {
		b.Fatal(err)
	}
	kcPath := filepath.Join(b.TempDir(), "kubeconfig")
	if err := os.WriteFile(kcPath, kc, 0o600); err != nil {
		b.Fatal(err)
	}
	args := []string{"--kubeconfig", kcPath, "--kube-namespace", ns, "--home", h, "--kube-image", settings.Image,
		"--hermes-version", "0.21.3", "--metrics-addr", "0", "--health-addr", "0", "-v", "1"}
	cmd := exec.Command(shippedKube(), args...)
	if pollOnly {
		cmd = exec.Command("/bin/sh", append([]string{"-c", `echo 0 > /proc/sys/user/max_inotify_instances && exec "$0" "$@"`, shippedKube()}, args...)...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUSER,
			UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
			GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}}}
	}
	cmd.Env = []string{"PATH=/usr/bin:/bin", "NO_COLOR=1", "HOME=" + b.TempDir()}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		b.Fatal(err)
	}
	t0start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	ready := make(chan string, 1)
	exited := make(chan struct{})
	var mu sync.Mutex // actions and last, which the reader appends to
	var actions, last []string
	var lastLine, passes atomic.Int64
	go func() {
		defer close(exited)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			lastLine.Store(time.Now().UnixNano())
			if strings.Contains(line, `"msg":"pass done"`) {
				passes.Add(1)
			}
			mu.Lock()
			last = append(last, line)
			if len(last) > 20 {
				last = last[1:]
			}
			if strings.Contains(line, `"msg":"action done"`) {
				actions = append(actions, line)
			}
			mu.Unlock()
			if strings.Contains(line, "first pass complete") {
				select {
				case ready <- line:
				default:
				}
			}
		}
	}()
	select {
	case <-ready:
	case <-exited:
		mu.Lock()
		defer mu.Unlock()
		b.Fatalf("the binary stopped before its first pass:\n%s", strings.Join(last, "\n"))
	case <-time.After(5 * time.Minute):
		mu.Lock()
		defer mu.Unlock()
		b.Fatalf("no first pass within 5 minutes:\n%s", strings.Join(last, "\n"))
	}
	mu.Lock()
	first := append([]string(nil), actions...)
	mu.Unlock()
	if len(first) > 0 {
		b.Fatalf("the binary's first pass was no no-op: %d actions, e.g. %s", len(first), first[0])
	}

	pid := cmd.Process.Pid // sh execs the binary: the same process

	// Idle: RSS and CPU over a window with no event, once the start has
	// settled: the informers' first lists arrive as events (past the
	// loop's buffer at 10,000: one more full pass), each logged at -v 1.
	for time.Since(time.Unix(0, lastLine.Load())) < 5*time.Second {
		if time.Since(t0start) > 10*time.Minute {
			b.Fatal("the controller never went quiet")
		}
		time.Sleep(100 * time.Millisecond) // waiting for 5 s without a log line
	}
	startPasses := passes.Load()
	cpu0, t0 := procCPU(b, pid), time.Now()
	time.Sleep(15 * time.Second) // the window measured, not a wait for a condition
	idleCPU := float64(procCPU(b, pid)-cpu0) / float64(time.Since(t0))
	rss := procRSS(b, pid)

	// Intent flips: each to stopped, timed to the Deployment's replicas 0.
	var lat []time.Duration
	for i := range 20 {
		// A flip after a quiet spell, as an operator's is: one right after
		// the last pass waits out the loop's quiet period (a burst's); and
		// at a random phase of the poll, which flips paced by the last
		// one's completion would otherwise always meet at the same point.
		time.Sleep(2*config.Default().Watch.Quiet + rand.N(config.KubePoll)) // pacing the flips, not a wait for a condition
		name := fmt.Sprintf("p%04d", (i*37)%n)
		dep := kube.DeploymentName(name)
		start := time.Now()
		state := filepath.Join(h, "profiles", name, "gateway_state.json")
		if err := os.WriteFile(state+".tmp", []byte(`{"desired_state":"stopped"}`), 0o644); err != nil {
			b.Fatal(err)
		}
		if err := os.Rename(state+".tmp", state); err != nil { // as Hermes writes it
			b.Fatal(err)
		}
		for {
			var d appsv1.Deployment
			if err := c.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: dep}, &d); err == nil &&
				d.Spec.Replicas != nil && *d.Spec.Replicas == 0 {
				break
			}
			if time.Since(start) > time.Minute {
				b.Fatalf("%s: not scaled to 0 within a minute", dep)
			}
			time.Sleep(2 * time.Millisecond) // sampling the API
		}
		lat = append(lat, time.Since(start))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(rss)/(1<<20), "rss-MiB")
	b.ReportMetric(float64(startPasses), "start-passes")
	b.ReportMetric(100*idleCPU, "idle-cpu-%")
	b.ReportMetric(ms(lat[len(lat)/2]), "flip-p50-ms")
	b.ReportMetric(ms(lat[len(lat)*99/100]), "flip-p99-ms")
	fmt.Fprintf(os.Stderr, "controller, %d profiles + 1000 foreign (poll only: %v): %d passes at start, RSS %.0f MiB, idle CPU %.2f%%, intent flip p50 %.0f ms, p99 %.0f ms\n",
		n, pollOnly, startPasses, float64(rss)/(1<<20), 100*idleCPU, ms(lat[len(lat)/2]), ms(lat[len(lat)*99/100]))
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// procCPU is a process's user and system time.
func procCPU(b *testing.B, pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * (time.Second / 100) // USER_HZ
}

// procRSS is a process's resident set, in bytes.
func procRSS(b *testing.B, pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	b.Fatal("no VmRSS")
	return 0
}
