//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crlog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/hermes-reconcile/hermes-reconcile/backends/kube"
	"github.com/hermes-reconcile/hermes-reconcile/cmd/internal/cli"
	"github.com/hermes-reconcile/hermes-reconcile/config"
	"github.com/hermes-reconcile/hermes-reconcile/desired"
	"github.com/hermes-reconcile/hermes-reconcile/metrics"
	"github.com/hermes-reconcile/hermes-reconcile/metrics/collector"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile/loop"
)

const serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

func restConfig(k config.Kube) (*rest.Config, error) {
	if k.Kubeconfig != "" {
		return clientcmd.BuildConfigFromFlags("", k.Kubeconfig)
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules() // $KUBECONFIG, ~/.kube/config
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err == nil {
		return cfg, nil
	}
	if in, ierr := rest.InClusterConfig(); ierr == nil {
		return in, nil
	}
	return nil, fmt.Errorf("no Kubernetes API: set --kubeconfig (or KUBECONFIG), or run in a pod: %w", err)
}

func namespace(k config.Kube) (string, error) {
	if k.Namespace != "" {
		return k.Namespace, nil
	}
	if b, err := os.ReadFile(serviceAccountDir + "/namespace"); err == nil && strings.TrimSpace(string(b)) != "" {
		return strings.TrimSpace(string(b)), nil
	}
	return "", errors.New("no namespace: set --kube-namespace (HERMES_RECONCILE_KUBE_NAMESPACE) or run in a pod")
}

// imageVersion is the release an image reference's tag names (v0.21.4,
// 0.21.4-slim), or "" when it names none (latest, a digest alone).
func imageVersion(ref string) string {
	ref, _, _ = strings.Cut(ref, "@")
	i := strings.LastIndexByte(ref, ':')
	if i < 0 || strings.Contains(ref[i:], "/") {
		return ""
	}
	tag := ref[i+1:]
	if _, err := desired.ParseVersion(tag); err != nil || !strings.ContainsRune(tag, '.') {
		return ""
	}
	return tag
}

// resources parses --kube-requests or --kube-limits.
func resources(flag, list string) (corev1.ResourceList, error) {
	if strings.TrimSpace(list) == "" {
		return nil, nil
	}
	out := corev1.ResourceList{}
	for _, kv := range strings.Split(list, ",") {
		name, qty, ok := strings.Cut(strings.TrimSpace(kv), "=")
		q, err := resource.ParseQuantity(qty)
		if !ok || name == "" || err != nil {
			return nil, fmt.Errorf("%s: want NAME=QUANTITY pairs such as cpu=100m,memory=256Mi; got %q", flag, kv)
		}
		out[corev1.ResourceName(name)] = q
	}
	return out, nil
}

func kubeSettings(o *cli.Options) (kube.Settings, error) {
	s := kube.SettingsOf(o.Cfg)
	s.Resources.Requests, _ = resources("--kube-requests", o.Cfg.Kube.Requests)
	s.Resources.Limits, _ = resources("--kube-limits", o.Cfg.Kube.Limits)
	if p := o.Cfg.Kube.TemplatePatch; p != "" {
		data, err := os.ReadFile(p)
		if err != nil {
			return s, fmt.Errorf("--kube-template-patch: %w", err)
		}
		if s.TemplatePatch, err = kube.ParseTemplatePatch(data); err != nil {
			return s, fmt.Errorf("--kube-template-patch %s: %w", p, err)
		}
	}
	return s, nil
}

// build makes the Kubernetes engine: a direct client for the one-shot
// modes, a controller manager's cached client for watch mode.
func build(ctx context.Context, _ string, o *cli.Options, getenv func(string) string) (*cli.Setup, error) {
	k := o.Cfg.Kube
	// controller-runtime logs through its own root logger: ours.
	crlog.SetLogger(logr.FromContextOrDiscard(ctx))
	if k.Image == "" {
		return nil, errors.New("the Kubernetes engine needs the Hermes image of the gateway pods: set --kube-image (HERMES_RECONCILE_KUBE_IMAGE)")
	}
	for flag, list := range map[string]string{"--kube-requests": k.Requests, "--kube-limits": k.Limits} {
		if _, err := resources(flag, list); err != nil {
			return nil, err
		}
	}
	// The settings first: a bad template patch is said before anything is
	// read of the cluster.
	settings, err := kubeSettings(o)
	if err != nil {
		return nil, err
	}
	cfg, err := restConfig(k)
	if err != nil {
		return nil, err
	}
	cfg.QPS, cfg.Burst = float32(k.QPS), k.Burst
	ns, err := namespace(k)
	if err != nil {
		return nil, err
	}
	ropt := o.ReaderOptions(getenv, false)
	if ropt.HermesVersion == "" {
		// The gateways run the image's Hermes, not one beside us: its tag
		// may say which (hermes-agent:v0.21.4).
		if v := imageVersion(k.Image); v != "" {
			ropt.HermesVersion, ropt.HermesVersionFrom = v, "the tag of --kube-image"
		}
	}
	st := &cli.Setup{Reader: ropt, NoUnpark: "unpark applies to s6 slots; on Kubernetes scale the Deployment or fix the pod",
		// Every pod has its own network namespace: only credentials clash.
		Policy: func(p *reconcile.Policy) { p.OwnNetworks = true }}
	if o.Once || o.Status || o.Explain != "" {
		c, err := client.New(cfg, client.Options{Scheme: kube.Scheme()})
		if err != nil {
			return nil, fmt.Errorf("kubernetes client: %w", err)
		}
		st.Engine = kube.New(c, ns, settings).WithWorkers(k.Workers)
		if o.Once {
			st.LockProbe = func(ctx context.Context) error { return controllerActive(ctx, c, ns) }
			if !o.Force {
				st.Lock = refuseBesideController(st.LockProbe)
			}
		}
		return st, nil
	}
	metricsAddr := o.Cfg.Watch.MetricsAddr
	if metricsAddr == "" {
		metricsAddr = "0" // off, as the s6 binary reads it (controller-runtime would take :8080)
	}
	mgr, err := kube.NewManager(cfg, kube.ManagerOptions{Namespace: ns, LeaderElection: k.LeaderElect,
		MetricsAddr: metricsAddr, HealthAddr: k.HealthAddr})
	if err != nil {
		return nil, err
	}
	eng := kube.New(mgr.GetClient(), ns, settings).WithWorkers(k.Workers)
	st.Engine = eng
	st.Sources = []loop.Source{eng.Source(mgr.GetCache()),
		kube.NewEvents(mgr.GetEventRecorder(kube.EventsName), mgr.GetCache(), mgr.GetAPIReader(), ns)}
	st.Serve = func(ctx context.Context, run func(context.Context) error) error { return kube.Serve(ctx, mgr, run) }
	st.Observe = func(m *metrics.Metrics) error { return observe(mgr, m, k.HealthAddr) }
	st.Startup = []any{"namespace", ns, "image", k.Image, "claim", k.Claim, "leader_election", k.LeaderElect}
	return st, nil
}

// observe registers the domain metrics with controller-runtime's registry
// (served on --metrics-addr beside its own) and backs /healthz and /readyz
// with the loop's passes: a loop stuck in a read that never returns is
// unhealthy, where a ping would answer.
func observe(mgr manager.Manager, m *metrics.Metrics, healthAddr string) error {
	c := collector.New(m)
	if err := ctrlmetrics.Registry.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			return fmt.Errorf("register the metrics: %w", err)
		}
		// Another run in this process registered its own: ours replace them.
		ctrlmetrics.Registry.Unregister(are.ExistingCollector)
		if err := ctrlmetrics.Registry.Register(c); err != nil {
			return fmt.Errorf("register the metrics: %w", err)
		}
	}
	if healthAddr == "" || healthAddr == "0" {
		return nil
	}
	if err := mgr.AddHealthzCheck("pass", func(*http.Request) error { return m.Healthy() }); err != nil {
		return err
	}
	return mgr.AddReadyzCheck("pass", func(*http.Request) error { return m.Ready() })
}

// controllerActive says, as one line, when a controller in watch mode holds
// the Lease of ns: a one-shot run that applied now would be a second
// writer racing it. nil when none does.
func controllerActive(ctx context.Context, c client.Reader, ns string) error {
	err := kube.CheckLease(ctx, c, ns, kube.LeaseName, time.Now())
	var held *kube.LeaseHeldError
	switch {
	case errors.As(err, &held):
		return fmt.Errorf("%w: a controller in watch mode is reconciling these Deployments, and --once beside it would be a second writer; "+
			"stop the controller (scale its Deployment to 0) or pass --force (HERMES_RECONCILE_FORCE=1)", err)
	case err != nil:
		return fmt.Errorf("cannot tell whether a controller is reconciling these Deployments: %w; --force (HERMES_RECONCILE_FORCE=1) runs without looking", err)
	}
	return nil
}

// refuseBesideController is --once's lock: the Lease is the controller's,
// so a one-shot run takes nothing, but it refuses to apply while a
// controller holds it.
func refuseBesideController(active func(context.Context) error) loop.Locker {
	return func(ctx context.Context) (func(), error) {
		if err := active(ctx); err != nil {
			return nil, err
		}
		return func() {}, nil
	}
}
