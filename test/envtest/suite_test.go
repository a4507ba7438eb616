//go:build linux

// Package envtest runs the Kubernetes engine against a real kube-apiserver
// and etcd (controller-runtime's envtest), built from the Go module proxy by
// assets.sh and cached. There is no kubelet: pods never run, so readiness is
// what the Deployment's status says, and nothing here pretends otherwise.
package envtest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	crlog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/hermes-reconcile/hermes-reconcile/backends/kube"
	"github.com/hermes-reconcile/hermes-reconcile/test/testkit"
)

func TestEnvtest(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "hermes-reconcile on a real kube-apiserver")
}

var (
	env *envtest.Environment
	cfg *rest.Config
	raw client.Client
)

var _ = BeforeSuite(func() {
	crlog.SetLogger(GinkgoLogr)
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		// Built once and cached; a second call returns at once.
		out, err := exec.Command("bash", filepath.Join(testkit.RepoRoot(), "test", "envtest", "assets.sh")).Output()
		Expect(err).NotTo(HaveOccurred(), "test/envtest/assets.sh builds kube-apiserver and etcd")
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		assets = lines[len(lines)-1]
	}
	env = &envtest.Environment{BinaryAssetsDirectory: assets, ControlPlaneStartTimeout: 2 * time.Minute, ControlPlaneStopTimeout: time.Minute}
	var err error
	cfg, err = env.Start()
	Expect(err).NotTo(HaveOccurred())
	raw, err = client.New(cfg, client.Options{Scheme: kube.Scheme()})
	Expect(err).NotTo(HaveOccurred())
})

var _ = AfterSuite(func() {
	if env != nil {
		Expect(env.Stop()).To(Succeed())
	}
})

// counting is a client that counts its API calls, reads and writes apart:
// a second pass must make no write, a cached one no read either.
type counting struct {
	client.Client
	reads, writes atomic.Int64
}

func (c *counting) Get(ctx context.Context, k client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	c.reads.Add(1)
	return c.Client.Get(ctx, k, obj, opts...)
}

func (c *counting) List(ctx context.Context, l client.ObjectList, opts ...client.ListOption) error {
	c.reads.Add(1)
	return c.Client.List(ctx, l, opts...)
}

func (c *counting) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	c.writes.Add(1)
	return c.Client.Create(ctx, obj, opts...)
}

func (c *counting) Update(ctx context.Context, obj client.Object, opts ...client.UpdateOption) error {
	c.writes.Add(1)
	return c.Client.Update(ctx, obj, opts...)
}

func (c *counting) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
	c.writes.Add(1)
	return c.Client.Patch(ctx, obj, patch, opts...)
}

func (c *counting) Apply(ctx context.Context, obj runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
	c.writes.Add(1)
	return c.Client.Apply(ctx, obj, opts...)
}

func (c *counting) Delete(ctx context.Context, obj client.Object, opts ...client.DeleteOption) error {
	c.writes.Add(1)
	return c.Client.Delete(ctx, obj, opts...)
}

// calls is every call counted.
func (c *counting) calls() int64 { return c.reads.Load() + c.writes.Load() }

// newNamespace makes a fresh namespace for one spec.
func newNamespace() string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "hermes-"}}
	Expect(raw.Create(context.Background(), ns)).To(Succeed())
	return ns.Name
}

// kubeconfig writes a kubeconfig of an admin of the envtest API server.
func kubeconfig() string {
	u, err := env.AddUser(envtest.User{Name: "hermes-admin", Groups: []string{"system:masters"}}, nil)
	Expect(err).NotTo(HaveOccurred())
	data, err := u.KubeConfig()
	Expect(err).NotTo(HaveOccurred())
	path := filepath.Join(GinkgoT().TempDir(), "kubeconfig")
	Expect(os.WriteFile(path, data, 0o600)).To(Succeed())
	return path
}
