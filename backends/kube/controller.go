//go:build linux

package kube

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/hermes-reconcile/hermes-reconcile/reconcile/loop"
)

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
	// LeaderElection through a Lease in Namespace, named LeaseName (default
	// the package's LeaseName): several replicas are safe, one acts.
	LeaderElection bool
	LeaseName      string
	// MetricsAddr and HealthAddr serve /metrics and /healthz, /readyz; "0"
	// turns one off. /readyz waits for the cache; the checks that say
	// whether the loop does its job are the caller's (AddHealthzCheck).
	MetricsAddr, HealthAddr string
	// SkipNameValidation lets two managers share a process (tests).
	SkipNameValidation bool
}

// NewManager returns the controller manager of a namespace: its cache (our
// Deployments), its Lease and its endpoints. The watch mode's engine reads
// through its client.
func NewManager(cfg *rest.Config, opt ManagerOptions) (manager.Manager, error) {
	if opt.LeaseName == "" {
		opt.LeaseName = LeaseName
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme: Scheme(),
		Cache: cache.Options{DefaultNamespaces: map[string]cache.Config{opt.Namespace: {}},
			ByObject: map[client.Object]cache.ByObject{
				// Only our Deployments: the namespace's other workloads cost
				// no memory. One of our name but not our label (made by
				// hand) is labelled when a create finds it, and adopted from
				// then on.
				&appsv1.Deployment{}: {Label: labels.SelectorFromSet(labels.Set{LabelManagedBy: ManagedBy})},
				// Only the env Secrets labelled ours are read and held: the
				// Role grants the namespace's Secrets (RBAC cannot select by
				// label), the informer asks for these alone.
				&corev1.Secret{}: {Label: labels.SelectorFromSet(labels.Set{SecretLabel: "true"})},
				// The gateway pods, whose state says a gateway is failing.
				&corev1.Pod{}: {Label: labels.SelectorFromSet(labels.Set{LabelName: AppName})},
			}},
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

// Serve runs the loop (run) in mgr while mgr holds the Lease, once the
// cache has synced, and returns when ctx ends or the lease is lost: the
// manager's cache, Lease and endpoints stay controller-runtime's, the rules
// are the loop's.
func Serve(ctx context.Context, mgr manager.Manager, run func(context.Context) error) error {
	ctrl.SetLogger(logr.FromContextOrDiscard(ctx))
	if err := mgr.Add(leaderRunnable(func(ctx context.Context) error {
		if !mgr.GetCache().WaitForCacheSync(ctx) {
			return errors.New("cache did not sync")
		}
		return run(ctx)
	})); err != nil {
		return err
	}
	return mgr.Start(ctx)
}

// secretSource sends an Input event for the profile of each env Secret
// that comes, changes or goes.
func secretSource(ctx context.Context, c cache.Cache, send func(loop.Event)) error {
	event := func(obj any, why string) {
		if tomb, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
			obj = tomb.Obj
		}
		s, ok := obj.(*corev1.Secret)
		if !ok || s.Labels[SecretLabel] != "true" {
			return
		}
		if k, ok := profileOfSecret(s.Name); ok {
			send(loop.Event{Kind: loop.Input, Key: k, Why: why})
		}
	}
	return handle(ctx, c, &corev1.Secret{}, "secret", toolscache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { event(obj, "env secret added") },
		UpdateFunc: func(old, obj any) {
			o, ok1 := old.(*corev1.Secret)
			n, ok2 := obj.(*corev1.Secret)
			if ok1 && ok2 && o.ResourceVersion == n.ResourceVersion {
				return // a resync, not a change
			}
			event(obj, "env secret changed")
		},
		DeleteFunc: func(obj any) { event(obj, "env secret deleted") },
	})
}

// handle has the cache's informer of obj's kind call h until ctx ends.
func handle(ctx context.Context, c cache.Cache, obj client.Object, kind string, h toolscache.ResourceEventHandler) error {
	inf, err := c.GetInformer(ctx, obj)
	if err != nil {
		return fmt.Errorf("%s informer: %w", kind, err)
	}
	reg, err := inf.AddEventHandler(h)
	if err != nil {
		return fmt.Errorf("%s informer: %w", kind, err)
	}
	go func() {
		<-ctx.Done()
		_ = inf.RemoveEventHandler(reg)
	}()
	return nil
}

// leaderRunnable runs only on the leader.
type leaderRunnable func(context.Context) error

func (r leaderRunnable) Start(ctx context.Context) error { return r(ctx) }
func (leaderRunnable) NeedLeaderElection() bool          { return true }

var _ manager.LeaderElectionRunnable = leaderRunnable(nil)

// Source is the engine's Deployments and env Secrets as the manager's
// informers see them: a Deployment made, changed or deleted by someone else
// (or by the cluster: its status) asks for a pass over its profile; so does
// a profile's env Secret made, rotated or deleted (its hash is part of the
// template).
func (e *Engine) Source(c cache.Cache) loop.Source {
	return loop.SourceFunc(func(ctx context.Context, send func(loop.Event)) error {
		if err := secretSource(ctx, c, send); err != nil {
			return err
		}
		event := func(obj any, op loop.UnitOp) {
			if tomb, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			d, ok := obj.(*appsv1.Deployment)
			if !ok {
				return
			}
			if k, ok := ProfileOf(d.Name); ok {
				send(loop.Event{Kind: loop.Unit, Key: k, Unit: d.Name, Op: op})
			}
		}
		return handle(ctx, c, &appsv1.Deployment{}, "deployment", toolscache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { event(obj, loop.Appeared) },
			UpdateFunc: func(_, obj any) { event(obj, loop.Changed) },
			DeleteFunc: func(obj any) { event(obj, loop.Gone) },
		})
	})
}

func ptr[T any](v T) *T { return &v }
