//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crlog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/hermes-reconcile/hermes-reconcile/backends/kube"
	"github.com/hermes-reconcile/hermes-reconcile/desired"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
)

const serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// inPod reports whether this process runs in a Kubernetes pod with a
// service account, and outside an s6 container (a Hermes image on a
// cluster still has its s6 scandir).
func inPod() bool {
	if os.Getenv("KUBERNETES_SERVICE_HOST") == "" {
		return false
	}
	if _, err := os.Stat(serviceAccountDir + "/token"); err != nil {
		return false
	}
	_, err := os.Stat("/run/service")
	return err != nil
}

func (k kubeOptions) restConfig() (*rest.Config, error) {
	if k.kubeconfig != "" {
		return clientcmd.BuildConfigFromFlags("", k.kubeconfig)
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

func (k kubeOptions) ns() (string, error) {
	if k.namespace != "" {
		return k.namespace, nil
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

func (k kubeOptions) settings(o options) kube.Settings {
	s := kube.DefaultSettings()
	s.Image = k.image
	s.Resources.Requests, _ = resources("--kube-requests", k.requests)
	s.Resources.Limits, _ = resources("--kube-limits", k.limits)
	s.Claim, s.MountPath = k.claim, k.mount
	s.GatewayCommand = o.cfg.Render.GatewayCommand
	s.Env = o.cfg.Render.Env
	return s
}

// runKube reconciles one Deployment per profile: --once, --dry-run,
// status and explain through the one pass; watch mode as a controller.
func runKube(ctx context.Context, o options, p *printer, getenv func(string) string) int {
	k := o.kube
	// controller-runtime logs through its own root logger: ours.
	crlog.SetLogger(logr.FromContextOrDiscard(ctx))
	if k.image == "" {
		return p.fail(errors.New("--backend kube needs the Hermes image of the gateway pods: set --kube-image (HERMES_RECONCILE_KUBE_IMAGE)"))
	}
	for flag, list := range map[string]string{"--kube-requests": k.requests, "--kube-limits": k.limits} {
		if _, err := resources(flag, list); err != nil {
			return p.fail(err)
		}
	}
	cfg, err := k.restConfig()
	if err != nil {
		return p.fail(err)
	}
	ns, err := k.ns()
	if err != nil {
		return p.fail(err)
	}
	ropt := o.readerOptions(getenv, false)
	if ropt.HermesVersion == "" {
		// The gateways run the image's Hermes, not one beside us: its tag
		// may say which (hermes-agent:v0.21.4).
		if v := imageVersion(k.image); v != "" {
			ropt.HermesVersion, ropt.HermesVersionFrom = v, "the tag of --kube-image"
		}
	}
	home := o.cfg.Home
	policy := reconcile.Policy{Settle: o.cfg.Settle}
	if !o.allowMassRemove {
		policy.MaxRemove = &reconcile.RemoveLimit{Max: o.maxRemove.n, Percent: o.maxRemove.percent, Set: o.maxRemove.set,
			Flag: "--max-remove", Allow: "--allow-mass-remove (HERMES_RECONCILE_ALLOW_MASS_REMOVE=1)"}
	}
	if !o.once && !o.status && o.explain == "" {
		log := logr.FromContextOrDiscard(ctx)
		log.Info("hermes-reconcile starting", "version", readBuildInfo().Version, "home", home, "backend", backendKube,
			"namespace", ns, "image", k.image, "claim", k.claim, "leader_election", k.leaderElect)
		err := kube.RunController(ctx, cfg, kube.ControllerOptions{Namespace: ns, Settings: k.settings(o), Home: home,
			Reader: ropt, Policy: policy, LeaderElection: k.leaderElect,
			MetricsAddr: k.metricsAddr, HealthAddr: k.healthAddr, Poll: k.poll, Resync: o.cfg.Watch.Resync})
		if err != nil {
			log.Error(err, "controller stopped")
			return exitError
		}
		return exitOK
	}
	c, err := client.New(cfg, client.Options{Scheme: kube.Scheme()})
	if err != nil {
		return p.fail(fmt.Errorf("kubernetes client: %w", err))
	}
	pass := &reconcile.Pass{Reader: desired.NewReader(home, ropt),
		Engine: kube.New(c, ns, k.settings(o)), Policy: policy}
	run := runner{o: o, p: p, pass: pass, backend: backendKube}
	for _, name := range o.profiles {
		run.keys = append(run.keys, name)
	}
	switch {
	case o.explain != "":
		return run.explain(ctx, o.explain)
	case o.status:
		return run.status(ctx)
	}
	return run.once(ctx)
}
