//go:build linux

// Package cluster turns a started controller-runtime envtest Environment
// (kube-apiserver + etcd) into a small "real" cluster without a kubelet:
// kube-controller-manager (Deployments, ReplicaSets, garbage collection,
// namespaces, node lifecycle), kube-scheduler, and kwok, which plays the
// kubelet of one fake node (kwok-node-0) through Stages: pods bound to it
// become Running and Ready, deleted pods go away, and the crash-loop Stages
// of test/cluster/crashloop-stages.yaml make labelled pods crash-loop.
// Nothing runs: images are never pulled, container state is what the Stages
// write.
//
// The binaries and kwok's Stage CRD and default Stages come from
// test/cluster/assets.sh, whose output directory also holds kube-apiserver and
// etcd, so one KUBEBUILDER_ASSETS serves envtest and this package:
//
//	env := &envtest.Environment{BinaryAssetsDirectory: assets}
//	cfg, err := env.Start()
//	c, err := cluster.Start(ctx, env, cluster.Options{Output: GinkgoWriter})
//	defer env.Stop()
//	defer c.Stop() // before env.Stop: they are the API server's clients
//
// It returns errors rather than asserting, so plain tests can use it too.
package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"
)

const (
	// NodeName is the fake node's name: no taint, 64 CPUs, 256Gi, 10000 pods.
	NodeName = "kwok-node-0"
	// NodeAnnotation marks the nodes kwok manages (value "fake").
	NodeAnnotation = "kwok.x-k8s.io/node"

	// CrashLoopLabel, set to "true" on a pod (template), makes the
	// crash-loop Stages drive the pod once InstallCrashLoopStages ran.
	CrashLoopLabel = "hermes-reconcile.test/crashloop"
	// RunForAnnotation on a crash-looping pod: how long its container runs
	// before it crashes (a Go duration; default 1s).
	RunForAnnotation = "hermes-reconcile.test/run-for"
	// BackoffAnnotation on a crash-looping pod: how long it stays in
	// CrashLoopBackOff before it runs again (a Go duration; default 2s).
	BackoffAnnotation = "hermes-reconcile.test/backoff"

	// KCMControllers are the kube-controller-manager controllers that run.
	// envtest's kube-apiserver runs without the ServiceAccount admission
	// plugin, so no serviceaccount controllers are needed. The volume
	// binder binds a claim to the volume a spec makes for it (the gateway
	// pods mount one; there is no provisioner).
	KCMControllers = "deployment,replicaset,garbagecollector,namespace,nodelifecycle,persistentvolume-binder"
)

// Binaries are what Start runs, besides envtest's kube-apiserver and etcd.
var Binaries = []string{"kube-controller-manager", "kube-scheduler", "kwok"}

// stopGrace is how long Stop waits after SIGTERM before it sends SIGKILL.
const stopGrace = 10 * time.Second

// Options configure Start. The zero value is usable.
type Options struct {
	// Assets is test/cluster/assets.sh's output directory. Default: the
	// directory envtest took kube-apiserver from ($KUBEBUILDER_ASSETS, else
	// env.BinaryAssetsDirectory).
	Assets string
	// Output receives the processes' output, each line prefixed with
	// "[name] " (tests pass GinkgoWriter). Default: discarded.
	Output io.Writer
	// Timeout bounds Start's wait for the fake node to be Ready.
	// Default: one minute.
	Timeout time.Duration
}

// Cluster is kube-controller-manager, kube-scheduler and kwok running
// against an envtest API server, with one Ready fake node.
type Cluster struct {
	// Kubeconfig is the path of an admin (system:masters) kubeconfig of the
	// API server, valid until Stop; the three processes use it too.
	Kubeconfig string
	// Assets is the directory the binaries and kwok-config came from.
	Assets string

	client client.Client
	dir    string
	procs  []*proc

	stopOnce sync.Once
	stopErr  error
}

// Missing lists what of the cluster assets dir lacks: binaries, kwok's
// Stage CRD or its default Stages. Empty means complete.
func Missing(assets string) []string {
	var missing []string
	for _, b := range Binaries {
		if fi, err := os.Stat(filepath.Join(assets, b)); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			missing = append(missing, b)
		}
	}
	for _, d := range []string{"crd", "stages"} {
		if m, _ := filepath.Glob(filepath.Join(assets, "kwok-config", d, "*.yaml")); len(m) == 0 {
			missing = append(missing, filepath.Join("kwok-config", d))
		}
	}
	return missing
}

// AssetsDir is where envtest takes its binaries from, so where Start looks
// by default: $KUBEBUILDER_ASSETS, else env.BinaryAssetsDirectory.
func AssetsDir(env *envtest.Environment) string {
	if d := os.Getenv("KUBEBUILDER_ASSETS"); d != "" {
		return d
	}
	if env != nil {
		return env.BinaryAssetsDirectory
	}
	return ""
}

// CrashLoopStagesFile is test/cluster/crashloop-stages.yaml in this checkout.
func CrashLoopStagesFile() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "cluster", "crashloop-stages.yaml")
}

// Start installs kwok's Stage CRD and default Stages into env's API server
// (already started), provisions an admin user, starts kube-controller-manager,
// kube-scheduler and kwok, creates the fake node NodeName and waits until it
// is Ready and without taints (pods can be scheduled). None of the processes
// listens on a port. On error, whatever was started is stopped again. ctx
// bounds the set-up only; Stop ends the processes.
func Start(ctx context.Context, env *envtest.Environment, opts Options) (c *Cluster, err error) {
	if env == nil || env.Config == nil {
		return nil, errors.New("cluster.Start: the envtest Environment is not started")
	}
	if opts.Assets == "" {
		opts.Assets = AssetsDir(env)
	}
	if opts.Assets == "" {
		return nil, errors.New("cluster.Start: no assets directory: set KUBEBUILDER_ASSETS=$(test/cluster/assets.sh)")
	}
	if m := Missing(opts.Assets); len(m) > 0 {
		return nil, fmt.Errorf("cluster.Start: %s lacks %s: build it with test/cluster/assets.sh",
			opts.Assets, strings.Join(m, ", "))
	}
	if opts.Output == nil {
		opts.Output = io.Discard
	}
	if opts.Timeout == 0 {
		opts.Timeout = time.Minute
	}

	cl, err := client.New(env.Config, client.Options{Scheme: clientgoscheme.Scheme})
	if err != nil {
		return nil, fmt.Errorf("cluster.Start: client: %w", err)
	}
	dir, err := os.MkdirTemp("", "hermes-cluster-")
	if err != nil {
		return nil, fmt.Errorf("cluster.Start: %w", err)
	}
	c = &Cluster{Assets: opts.Assets, client: cl, dir: dir}
	t0 := time.Now()
	var outMu sync.Mutex
	say := &lineWriter{mu: &outMu, w: opts.Output, prefix: "[cluster] "}
	logf := func(format string, args ...any) {
		_, _ = fmt.Fprintf(say, "%.3fs: "+format+"\n", append([]any{time.Since(t0).Seconds()}, args...)...)
	}
	defer func() {
		if err != nil {
			err = errors.Join(fmt.Errorf("cluster.Start: %w", err), c.Stop())
			c = nil
		}
	}()

	// An admin user for the processes and the caller (envtest runs the API
	// server with RBAC: system:masters may do everything).
	user, err := env.AddUser(envtest.User{Name: "hermes-cluster-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return c, fmt.Errorf("add admin user: %w", err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return c, fmt.Errorf("admin kubeconfig: %w", err)
	}
	c.Kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(c.Kubeconfig, kc, 0o600); err != nil {
		return c, err
	}

	// kwok's Stage CRD (a no-op when env installed it already), then the
	// default Stages, which kwok (--enable-crds=Stage) reads from the cluster.
	if _, err := envtest.InstallCRDs(env.Config, envtest.CRDInstallOptions{
		Paths:              []string{filepath.Join(opts.Assets, "kwok-config", "crd")},
		ErrorIfPathMissing: true,
	}); err != nil {
		return c, fmt.Errorf("install kwok's Stage CRD: %w", err)
	}
	stages, _ := filepath.Glob(filepath.Join(opts.Assets, "kwok-config", "stages", "*.yaml"))
	sort.Strings(stages)
	for _, f := range stages {
		if err := c.ApplyStages(ctx, f); err != nil {
			return c, err
		}
	}
	logf("Stage CRD and %d default Stages installed from %s", len(stages), filepath.Join(opts.Assets, "kwok-config"))

	// A kwok config file gets no defaults: every parallelism left out is 0,
	// and kwok then logs "failed to start controller" and goes on with
	// /healthz ok and no node ever Ready. kwok's documented defaults.
	// --config also keeps kwok from reading ~/.kwok/kwok.yaml. The node
	// lease (renewed every 10 s) keeps nodelifecycle from marking the node
	// NotReady after its grace period.
	kwokConf := filepath.Join(dir, "kwok.yaml")
	if err := os.WriteFile(kwokConf, []byte(`apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokConfiguration
options:
  podPlayStageParallelism: 4
  nodePlayStageParallelism: 4
  nodeLeaseParallelism: 4
  nodeLeaseDurationSeconds: 40
  podsOnNodeSyncParallelism: 1
  enablePodsOnNodeSyncListPager: true
  enablePodsOnNodeSyncStreamWatch: false
`), 0o600); err != nil {
		return c, err
	}

	kwokFailed := make(chan string, 1)
	start := func(name string, watch func(line []byte), args ...string) error {
		p, err := startProc(filepath.Join(opts.Assets, name), name, args,
			&lineWriter{mu: &outMu, w: opts.Output, prefix: "[" + name + "] ", watch: watch})
		if err != nil {
			return err
		}
		c.procs = append(c.procs, p)
		logf("started %s (pid %d)", name, p.cmd.Process.Pid)
		return nil
	}
	// --secure-port=0: no HTTPS endpoint, so no listener at all.
	if err := start("kube-controller-manager", nil,
		"--kubeconfig="+c.Kubeconfig, "--secure-port=0", "--leader-elect=false",
		"--use-service-account-credentials=false", "--controllers="+KCMControllers,
		"--kube-api-qps=1000", "--kube-api-burst=2000"); err != nil {
		return c, err
	}
	if err := start("kube-scheduler", nil,
		"--kubeconfig="+c.Kubeconfig, "--secure-port=0", "--leader-elect=false",
		"--kube-api-qps=1000", "--kube-api-burst=2000"); err != nil {
		return c, err
	}
	// No --node-port and no --server-address: kwok serves nothing.
	if err := start("kwok", func(line []byte) {
		if bytes.Contains(line, []byte("failed to start controller")) {
			select {
			case kwokFailed <- strings.TrimSpace(string(line)):
			default:
			}
		}
	},
		"--kubeconfig="+c.Kubeconfig, "--config="+kwokConf,
		"--manage-all-nodes=false", "--manage-nodes-with-annotation-selector="+NodeAnnotation+"=fake",
		"--enable-crds=Stage", "--node-ip=127.0.0.1", "--cidr=10.244.0.0/16"); err != nil {
		return c, err
	}

	if err := cl.Create(ctx, fakeNode()); err != nil && !apierrors.IsAlreadyExists(err) {
		return c, fmt.Errorf("create node %s: %w", NodeName, err)
	}
	if err := c.waitNodeReady(ctx, opts.Timeout, kwokFailed); err != nil {
		return c, err
	}
	logf("node %s Ready, no taints; admin kubeconfig %s", NodeName, c.Kubeconfig)
	return c, nil
}

// fakeNode is the node kwok manages: no taint, so any pod lands there.
func fakeNode() *corev1.Node {
	res := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("64"),
		corev1.ResourceMemory: resource.MustParse("256Gi"),
		corev1.ResourcePods:   resource.MustParse("10000"),
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        NodeName,
			Annotations: map[string]string{NodeAnnotation: "fake", "node.alpha.kubernetes.io/ttl": "0"},
			Labels: map[string]string{
				"kubernetes.io/hostname": NodeName, "kubernetes.io/os": "linux",
				"kubernetes.io/arch": runtime.GOARCH, "type": "kwok",
			},
		},
		// Nodes may set their status on create; kwok's node-initialize
		// Stage keeps allocatable and capacity.
		Status: corev1.NodeStatus{Allocatable: res, Capacity: res.DeepCopy()},
	}
}

// waitNodeReady polls the fake node until its Ready condition is True and it
// has no taint: the API server's TaintNodesByCondition admission gives a new
// node node.kubernetes.io/not-ready:NoSchedule, which kube-controller-manager's
// nodelifecycle controller removes once kwok has made it Ready. It fails early when a process exits or kwok reports a controller that did
// not start.
func (c *Cluster) waitNodeReady(ctx context.Context, timeout time.Duration, kwokFailed <-chan string) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		var n corev1.Node
		if err := c.client.Get(ctx, client.ObjectKey{Name: NodeName}, &n); err != nil {
			last = err
		} else {
			last = fmt.Errorf("conditions %v, taints %v", conditions(n.Status.Conditions), n.Spec.Taints)
			for _, cond := range n.Status.Conditions {
				if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue && len(n.Spec.Taints) == 0 {
					return nil
				}
			}
		}
		for _, p := range c.procs {
			if p.exited() {
				return fmt.Errorf("%s exited while waiting for node %s to be Ready: %v", p.name, NodeName, p.waitErr)
			}
		}
		select {
		case line := <-kwokFailed:
			return fmt.Errorf("kwok: %s", line)
		case <-ctx.Done():
			return fmt.Errorf("node %s not Ready and untainted after %s (last: %v): %w", NodeName, timeout, last, ctx.Err())
		case <-tick.C:
		}
	}
}

func conditions(cs []corev1.NodeCondition) []string {
	out := make([]string, 0, len(cs))
	for _, c := range cs {
		out = append(out, string(c.Type)+"="+string(c.Status))
	}
	return out
}

// ApplyStages applies (server-side: creates or updates) every kwok Stage of
// a multi-document YAML file. kwok picks Stages up while it runs.
func (c *Cluster) ApplyStages(ctx context.Context, file string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	for i, doc := range bytes.Split(data, []byte("\n---")) {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(doc, &u.Object); err != nil {
			return fmt.Errorf("%s: document %d: %w", file, i+1, err)
		}
		if len(u.Object) == 0 {
			continue
		}
		if u.GetAPIVersion() != "kwok.x-k8s.io/v1alpha1" || u.GetKind() != "Stage" {
			return fmt.Errorf("%s: document %d is a %s %s, not a kwok Stage", file, i+1, u.GetAPIVersion(), u.GetKind())
		}
		// Server-side apply: create or update in one call, and not a create,
		// which kube-apiserver delays by 2 s while the CRD is less than 2 s
		// Established (apiextensions-apiserver's customresource_handler.go).
		if err := c.client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u),
			client.FieldOwner("hermes-reconcile-test"), client.ForceOwnership); err != nil {
			return fmt.Errorf("%s: Stage %s: %w", file, u.GetName(), err)
		}
	}
	return nil
}

// InstallCrashLoopStages applies test/cluster/crashloop-stages.yaml: pods
// labelled CrashLoopLabel=true then crash and restart in a loop, with the
// timing of RunForAnnotation and BackoffAnnotation.
func (c *Cluster) InstallCrashLoopStages(ctx context.Context) error {
	return c.ApplyStages(ctx, CrashLoopStagesFile())
}

// Stop stops kwok, kube-scheduler and kube-controller-manager (SIGTERM to
// each process group, SIGKILL after 10 s) and removes the kubeconfig. Call it
// before the envtest Environment's Stop. It reports a process that could not
// be stopped or that had exited before Stop; a second call returns the first
// call's result.
func (c *Cluster) Stop() error {
	c.stopOnce.Do(func() {
		errs := make([]error, len(c.procs))
		var wg sync.WaitGroup
		for i, p := range c.procs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = p.stop(stopGrace)
			}()
		}
		wg.Wait()
		c.stopErr = errors.Join(append(errs, os.RemoveAll(c.dir))...)
	})
	return c.stopErr
}

// proc is one running binary, alone in its process group.
type proc struct {
	name    string
	cmd     *exec.Cmd
	out     *lineWriter
	done    chan struct{}
	waitErr error // valid once done is closed
}

// startProc starts path with args, output to out. Pdeathsig: should the test
// process die without stopping it (a timeout, a panic), the kernel kills it.
// (Strictly, when the OS thread that started it exits; Go ends threads only
// for goroutines that exit while locked to one, which Ginkgo's do not.)
func startProc(path, name string, args []string, out *lineWriter) (*proc, error) {
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	// Its output pipe may outlive it in an orphan; its exit is what counts.
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, out: out, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		out.flush()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM to the process group, then SIGKILL after grace.
func (p *proc) stop(grace time.Duration) error {
	if p.exited() {
		return fmt.Errorf("%s had exited before Stop: %v", p.name, p.waitErr)
	}
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	select {
	case <-p.done:
		return fmt.Errorf("%s did not stop within %s of SIGTERM; killed", p.name, grace)
	case <-time.After(5 * time.Second):
		return fmt.Errorf("%s (pid %d) did not exit even after SIGKILL", p.name, pgid)
	}
}

// lineWriter passes whole lines, prefixed, to a writer shared (under mu)
// with the other processes, and shows each line to watch.
type lineWriter struct {
	mu     *sync.Mutex
	w      io.Writer
	prefix string
	watch  func(line []byte)
	buf    []byte
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		l.emit(l.buf[:i+1])
		l.buf = l.buf[i+1:]
	}
	if len(l.buf) == 0 {
		l.buf = nil
	}
	return len(p), nil
}

// flush passes on a last line without a newline.
func (l *lineWriter) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 {
		l.emit(append(l.buf, '\n'))
		l.buf = nil
	}
}

func (l *lineWriter) emit(line []byte) {
	if l.watch != nil {
		l.watch(line)
	}
	// One Write per line: the shared writer may have other writers too.
	_, _ = l.w.Write(append([]byte(l.prefix), line...))
}
