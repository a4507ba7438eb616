//go:build linux

package kube

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	crreconcile "sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/hermes-reconcile/hermes-reconcile/desired"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
)

// allKey is the request of a full pass: the topology, the profile list or
// a resync.
const allKey = "*"

// Scheme holds the API types the engine uses.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}

// ManagerOptions configure the controller manager.
type ManagerOptions struct {
	Namespace string
	// LeaderElection through a Lease in Namespace, named LeaseName: several
	// replicas are safe, one acts.
	LeaderElection bool
	LeaseName      string
	// MetricsAddr and HealthAddr serve /metrics and /healthz, /readyz; "0"
	// turns one off.
	MetricsAddr, HealthAddr string
	// SkipNameValidation lets two managers share a process (tests).
	SkipNameValidation bool
}

// NewManager returns the controller manager of a namespace: its cache (our
// Deployments), its Lease and its endpoints. The watch mode's engine reads
// through its client.
func NewManager(cfg *rest.Config, opt ManagerOptions) (manager.Manager, error) {
	if opt.LeaseName == "" {
		opt.LeaseName = "hermes-reconcile"
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                        Scheme(),
		Cache:                         cache.Options{DefaultNamespaces: map[string]cache.Config{opt.Namespace: {}}},
		LeaderElection:                opt.LeaderElection,
		LeaderElectionID:              opt.LeaseName,
		LeaderElectionNamespace:       opt.Namespace,
		LeaderElectionReleaseOnCancel: true,
		Metrics:                       metricsserver.Options{BindAddress: opt.MetricsAddr},
		HealthProbeBindAddress:        opt.HealthAddr,
		GracefulShutdownTimeout:       ptr(30 * time.Second),
		Controller:                    config.Controller{SkipNameValidation: ptr(opt.SkipNameValidation)},
	})
	if err != nil {
		return nil, fmt.Errorf("controller manager: %w", err)
	}
	if opt.HealthAddr != "0" && opt.HealthAddr != "" {
		if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
			return nil, err
		}
		if err := mgr.AddReadyzCheck("cache", func(req *http.Request) error {
			if !mgr.GetCache().WaitForCacheSync(req.Context()) {
				return errors.New("cache not synced")
			}
			return nil
		}); err != nil {
			return nil, err
		}
	}
	return mgr, nil
}

// ControllerOptions configure the controller.
type ControllerOptions struct {
	Home string
	// Poll is how often the profiles are stat-checked (inotify does not see
	// writes by other NFS clients); Resync how often a full pass runs.
	Poll, Resync time.Duration
	// OnPass, if set, hears every pass (tests).
	OnPass func(reconcile.Outcome)
}

// RunController runs pass as a controller in mgr until ctx ends: a
// reconciler keyed by profile, the Deployments watched through the
// manager's cache, the profiles by fsnotify and a stat-validated poll.
func RunController(ctx context.Context, mgr manager.Manager, pass *reconcile.Pass, opt ControllerOptions) error {
	log := logr.FromContextOrDiscard(ctx)
	ctrl.SetLogger(log)
	events := make(chan event.TypedGenericEvent[string], 1024)
	r := &profileReconciler{pass: pass, onPass: opt.OnPass}
	toRequest := handler.TypedEnqueueRequestsFromMapFunc(func(_ context.Context, key string) []crreconcile.Request {
		return []crreconcile.Request{{NamespacedName: client.ObjectKey{Name: key}}}
	})
	err := ctrl.NewControllerManagedBy(mgr).Named("hermes-gateway").
		WatchesRawSource(source.Kind(mgr.GetCache(), &appsv1.Deployment{},
			handler.TypedEnqueueRequestsFromMapFunc(func(_ context.Context, d *appsv1.Deployment) []crreconcile.Request {
				k, ok := ProfileOf(d.Name)
				if !ok {
					return nil
				}
				return []crreconcile.Request{{NamespacedName: client.ObjectKey{Name: k}}}
			}))).
		WatchesRawSource(source.Channel(events, toRequest)).
		Complete(r)
	if err != nil {
		return fmt.Errorf("controller: %w", err)
	}
	w := &profileWatch{home: opt.Home, poll: opt.Poll, resync: opt.Resync, out: events, log: log.WithName("profiles")}
	if err := mgr.Add(w); err != nil {
		return err
	}
	return mgr.Start(ctx)
}

func ptr[T any](v T) *T { return &v }

// profileReconciler runs one pass per request: a profile, or all.
type profileReconciler struct {
	pass   *reconcile.Pass
	onPass func(reconcile.Outcome)
}

func (r *profileReconciler) Reconcile(ctx context.Context, req crreconcile.Request) (crreconcile.Result, error) {
	var keys []desired.Key
	if req.Name != allKey {
		keys = []desired.Key{req.Name}
	}
	out := r.pass.Run(ctx, keys, nil)
	if r.onPass != nil {
		r.onPass(out)
	}
	if out.Err != nil {
		return crreconcile.Result{}, out.Err
	}
	if n := reconcile.Failed(out.Results); n > 0 {
		// The workqueue's rate limiter backs off per key.
		return crreconcile.Result{}, fmt.Errorf("%d actions failed", n)
	}
	return crreconcile.Result{}, nil
}

// profileWatch turns profile changes into requests: fsnotify where it
// works, a stat-validated poll where it does not (NFS), and a full pass
// at start and every resync. It runs on the leader only.
type profileWatch struct {
	home         string
	poll, resync time.Duration
	out          chan<- event.TypedGenericEvent[string]
	log          logr.Logger
	seen         map[string]string
}

var _ manager.LeaderElectionRunnable = (*profileWatch)(nil)

func (w *profileWatch) NeedLeaderElection() bool { return true }

func (w *profileWatch) send(key string) { w.out <- event.TypedGenericEvent[string]{Object: key} }

func (w *profileWatch) Start(ctx context.Context) error {
	layout := desired.NewLayout(w.home)
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		w.log.Error(err, "no fsnotify: polling only")
	} else {
		defer fw.Close()
	}
	watched := map[string]bool{}
	watchDirs := func() {
		if fw == nil {
			return
		}
		dirs := []string{layout.Root, filepath.Join(layout.Root, "profiles")}
		entries, _ := os.ReadDir(filepath.Join(layout.Root, "profiles"))
		for _, e := range entries {
			if e.IsDir() {
				dirs = append(dirs, filepath.Join(layout.Root, "profiles", e.Name()))
			}
		}
		for _, d := range dirs {
			if !watched[d] && fw.Add(d) == nil {
				watched[d] = true
			}
		}
	}
	watchDirs()
	w.seen = w.scan(layout)
	w.send(allKey)
	poll := w.poll
	if poll <= 0 {
		poll = 2 * time.Second
	}
	resync := w.resync
	if resync <= 0 {
		resync = 5 * time.Minute
	}
	pollT, resyncT := time.NewTicker(poll), time.NewTicker(resync)
	defer pollT.Stop()
	defer resyncT.Stop()
	var fsEvents <-chan fsnotify.Event
	if fw != nil {
		fsEvents = fw.Events
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-fsEvents:
			if k := keyOfPath(layout, ev.Name); k != "" {
				w.send(k)
			}
			watchDirs()
		case <-pollT.C:
			now := w.scan(layout)
			for _, k := range changed(w.seen, now) {
				w.send(k)
			}
			w.seen = now
			watchDirs()
		case <-resyncT.C:
			w.send(allKey)
		}
	}
}

// scan is the stat of every file a profile is read from, by key: a poll
// costs a stat per file, never a read.
func (w *profileWatch) scan(layout desired.Layout) map[string]string {
	out := map[string]string{}
	stat := func(k, dir string) {
		var b strings.Builder
		for _, f := range []string{desired.ConfigFile, desired.StateFile, desired.SoulFile, desired.EnvFile} {
			if fi, err := os.Stat(filepath.Join(dir, f)); err == nil {
				fmt.Fprintf(&b, "%s:%d:%d;", f, fi.Size(), fi.ModTime().UnixNano())
			}
		}
		out[k] = b.String()
	}
	stat(desired.DefaultProfile, layout.Root)
	entries, _ := os.ReadDir(filepath.Join(layout.Root, "profiles"))
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			stat(e.Name(), filepath.Join(layout.Root, "profiles", e.Name()))
		}
	}
	tomb, _ := os.ReadDir(filepath.Join(layout.Root, "profiles", ".deleted"))
	var names []string
	for _, t := range tomb {
		names = append(names, t.Name())
	}
	sort.Strings(names)
	out[allKey] = strings.Join(names, ",")
	return out
}

// changed lists the keys whose stats differ; a profile that came or went
// (or a tombstone) is a change of all.
func changed(before, now map[string]string) []string {
	var keys []string
	if len(before) != len(now) || before[allKey] != now[allKey] {
		return []string{allKey}
	}
	for k, v := range now {
		old, ok := before[k]
		if !ok {
			return []string{allKey}
		}
		if old != v {
			if k == desired.DefaultProfile {
				return []string{allKey} // the root config.yaml sets the topology
			}
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

// keyOfPath is the key a changed path belongs to: a profile, or all.
func keyOfPath(layout desired.Layout, path string) string {
	rel, err := filepath.Rel(layout.Root, path)
	if err != nil || strings.HasPrefix(rel, "..") {
		return ""
	}
	parts := strings.Split(filepath.ToSlash(rel), "/")
	switch {
	case parts[0] == "profiles" && len(parts) >= 3 && !strings.HasPrefix(parts[1], "."):
		return parts[1]
	case parts[0] == "profiles":
		return allKey // a profile, or a tombstone, came or went
	case len(parts) == 1 && parts[0] == desired.ConfigFile:
		return allKey
	case len(parts) == 1:
		return desired.DefaultProfile
	}
	return ""
}
