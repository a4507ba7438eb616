//go:build linux

package envtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	crlog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/hermes-reconcile/hermes-reconcile/backends/kube"
	"github.com/hermes-reconcile/hermes-reconcile/config"
	"github.com/hermes-reconcile/hermes-reconcile/desired"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
	"github.com/hermes-reconcile/hermes-reconcile/test/testkit"
)

// The benchmarks start their own API server: -run '^$' skips the suite.
var (
	benchOnce sync.Once
	benchEnvt *envtest.Environment
	benchCfg  *rest.Config
	benchErr  error
)

// TestMain stops the benchmarks' API server: envtest's processes outlive
// the test binary otherwise.
func TestMain(m *testing.M) {
	code := m.Run()
	if benchEnvt != nil {
		_ = benchEnvt.Stop()
	}
	os.Exit(code)
}

func benchEnv(b *testing.B) (*rest.Config, client.Client) {
	benchOnce.Do(func() {
		crlog.SetLogger(logr.Discard())
		assets := os.Getenv("KUBEBUILDER_ASSETS")
		if assets == "" {
			out, err := exec.Command("bash", filepath.Join(testkit.RepoRoot(), "test", "envtest", "assets.sh")).Output()
			if err != nil {
				benchErr = err
				return
			}
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			assets = lines[len(lines)-1]
		}
		benchEnvt = &envtest.Environment{BinaryAssetsDirectory: assets, ControlPlaneStartTimeout: 2 * time.Minute}
		if benchCfg, benchErr = benchEnvt.Start(); benchErr == nil {
			benchErr = warmApply(benchCfg)
		}
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	cfg := rest.CopyConfig(benchCfg)
	// The shipped defaults (--kube-qps, --kube-burst): the floor's
	// client-go loop gets the same.
	def := config.Default().Kube
	cfg.QPS, cfg.Burst = float32(def.QPS), def.Burst
	c, err := client.New(cfg, client.Options{Scheme: kube.Scheme()})
	if err != nil {
		b.Fatal(err)
	}
	return cfg, c
}

// warmApply converges one profile: the API server builds its server-side
// apply machinery (the OpenAPI type converter) at its first apply, seconds
// once, which the first benchmark would otherwise pay.
func warmApply(cfg *rest.Config) error {
	c, err := client.New(cfg, client.Options{Scheme: kube.Scheme()})
	if err != nil {
		return err
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "warm-"}}
	if err := c.Create(context.Background(), ns); err != nil {
		return err
	}
	h, err := os.MkdirTemp("", "warm-home-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(h)
	if err := os.WriteFile(filepath.Join(h, "config.yaml"), []byte("model: x\n"), 0o644); err != nil {
		return err
	}
	p := &reconcile.Pass{Reader: desired.NewReader(h, desired.Options{HermesVersion: "0.21.3"}), Engine: kube.New(c, ns.Name, settings)}
	if out := p.Run(context.Background(), nil, nil); out.Err != nil || reconcile.Failed(out.Results) > 0 {
		return fmt.Errorf("warm-up pass: %v, %d failed", out.Err, reconcile.Failed(out.Results))
	}
	return nil
}

func benchHome(b *testing.B, n int) string {
	h := b.TempDir()
	if err := os.WriteFile(filepath.Join(h, "config.yaml"), []byte("model: x\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	for i := range n {
		dir := filepath.Join(h, "profiles", fmt.Sprintf("p%04d", i))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte("model: x\n"), 0o644); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "gateway_state.json"), []byte(`{"desired_state":"running"}`), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return h
}

func benchNamespace(b *testing.B, c client.Client) string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "bench-"}}
	if err := c.Create(context.Background(), ns); err != nil {
		b.Fatal(err)
	}
	return ns.Name
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkKubeColdConverge: a home of N running profiles and an empty
// namespace, one --once pass; beside it, the floor: the same Deployments
// created by a plain client loop.
func BenchmarkKubeColdConverge(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprintf("profiles=%d/engine", n), func(b *testing.B) {
			_, c := benchEnv(b)
			h := benchHome(b, n)
			var reqs int64
			for range b.N {
				b.StopTimer()
				ns := benchNamespace(b, c)
				rc := &counting{Client: c}
				p := &reconcile.Pass{Reader: desired.NewReader(h, desired.Options{HermesVersion: "0.21.3"}),
					Engine: kube.New(rc, ns, settings).WithWorkers(config.Default().Kube.Workers)}
				b.StartTimer()
				out := p.Run(context.Background(), nil, nil)
				b.StopTimer()
				if out.Err != nil || reconcile.Failed(out.Results) > 0 || len(out.Results) != n+1 {
					b.Fatalf("pass: %v, %d failed of %d", out.Err, reconcile.Failed(out.Results), len(out.Results))
				}
				reqs += rc.calls()
				var d []time.Duration
				for _, r := range out.Results {
					d = append(d, r.Duration)
				}
				slices.Sort(d)
				b.ReportMetric(float64(d[len(d)/2].Microseconds())/1000, "write-p50-ms")
			}
			b.ReportMetric(float64(reqs)/float64(b.N), "requests/op")
			b.ReportMetric(float64(reqs)/float64(b.N)/float64(n+1), "requests/profile")
		})
		b.Run(fmt.Sprintf("profiles=%d/floor", n), func(b *testing.B) {
			_, c := benchEnv(b)
			var reqs int64
			for range b.N {
				b.StopTimer()
				ns := benchNamespace(b, c)
				var ds []*appsv1.Deployment
				for i := range n + 1 {
					name := desired.DefaultProfile
					if i > 0 {
						name = fmt.Sprintf("p%04d", i-1)
					}
					d, err := settings.Deployment(ns, name)
					if err != nil {
						b.Fatal(err)
					}
					one := int32(1)
					d.Spec.Replicas = &one
					ds = append(ds, d)
				}
				rc := &counting{Client: c}
				b.StartTimer()
				for _, d := range ds {
					if err := rc.Create(context.Background(), d); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				reqs += rc.calls()
			}
			b.ReportMetric(float64(reqs)/float64(b.N), "requests/op")
			b.ReportMetric(float64(reqs)/float64(b.N)/float64(n+1), "requests/profile")
		})
	}
}

// BenchmarkKubeNoopResync: N profiles converged, and 1,000 Deployments of
// someone else's beside them; a full pass through the controller's cache
// (the shipped manager: our label only): no write, no API read, and the
// foreign ones not cached.
func BenchmarkKubeNoopResync(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("profiles=%d", n), func(b *testing.B) { benchNoopResync(b, n) })
	}
}

func benchNoopResync(b *testing.B, n int) {
	cfg, c := benchEnv(b)
	h := benchHome(b, n)
	ns := benchNamespace(b, c)
	workers := config.Default().Kube.Workers
	p := &reconcile.Pass{Reader: desired.NewReader(h, desired.Options{HermesVersion: "0.21.3"}), Engine: kube.New(c, ns, settings).WithWorkers(workers)}
	if out := p.Run(context.Background(), nil, nil); out.Err != nil || reconcile.Failed(out.Results) > 0 {
		b.Fatalf("converge: %v", out.Err)
	}
	foreign(b, c, ns, 1000)
	mgr, err := kube.NewManager(cfg, kube.ManagerOptions{Namespace: ns, MetricsAddr: "0", HealthAddr: "0", SkipNameValidation: true})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = mgr.Start(ctx) }()
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		b.Fatal("cache")
	}
	// Reads through the cache; writes would go to the API server and are
	// counted.
	var list appsv1.DeploymentList
	if err := mgr.GetCache().List(ctx, &list, client.InNamespace(ns)); err != nil || len(list.Items) != n+1 {
		b.Fatalf("cache holds %d (want ours alone, %d): %v", len(list.Items), n+1, err)
	}
	cached := &counting{Client: mgr.GetClient()}
	p = &reconcile.Pass{Reader: desired.NewReader(h, desired.Options{HermesVersion: "0.21.3"}), Engine: kube.New(cached, ns, settings).WithWorkers(workers)}
	p.Run(ctx, nil, nil) // warm the reader's stat cache
	cached.reads.Store(0)
	cached.writes.Store(0)
	cpu0 := cpuTime()
	b.ResetTimer()
	for range b.N {
		out := p.Run(ctx, nil, nil)
		if out.Err != nil || len(out.Plan.Actions) != 0 {
			b.Fatalf("no-op resync planned %d: %v", len(out.Plan.Actions), out.Err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(cached.reads.Load())/float64(b.N), "cache-reads/op")
	b.ReportMetric(float64(cached.writes.Load())/float64(b.N), "writes/op")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/op")
}

// foreign creates n Deployments that are not ours (another team's) in ns.
func foreign(b *testing.B, c client.Client, ns string, n int) {
	for i := range n {
		d, err := settings.Deployment(ns, fmt.Sprintf("other%04d", i))
		if err != nil {
			b.Fatal(err)
		}
		d.Name = fmt.Sprintf("other-app-%04d", i)
		d.Labels = map[string]string{"app": d.Name}
		d.Annotations = nil
		d.Spec.Selector.MatchLabels = map[string]string{"app": d.Name}
		d.Spec.Template.Labels = map[string]string{"app": d.Name}
		if err := c.Create(context.Background(), d); err != nil {
			b.Fatal(err)
		}
	}
}
