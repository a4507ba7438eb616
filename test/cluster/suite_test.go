//go:build linux

// Package cluster_test proves test/testkit/cluster: on envtest's real
// kube-apiserver and etcd, kube-controller-manager, kube-scheduler and kwok
// make a Deployment's pod run (as far as its status says) on a fake node,
// and kwok's Stages can make it crash-loop. The binaries come from
// test/cluster/assets.sh:
//
//	KUBEBUILDER_ASSETS=$(bash test/cluster/assets.sh) go test ./test/cluster/
//
// Without them (no KUBEBUILDER_ASSETS, or envtest's assets only) the suite
// is skipped.
package cluster_test

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	crlog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/hermes-reconcile/hermes-reconcile/test/testkit/cluster"
)

func TestCluster(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "envtest + kube-controller-manager + kube-scheduler + kwok")
}

const build = "build them with: KUBEBUILDER_ASSETS=$(bash test/cluster/assets.sh) go test ./test/cluster/"

var (
	env *envtest.Environment
	tc  *cluster.Cluster
	k8s client.Client
)

var _ = BeforeSuite(func(ctx SpecContext) {
	SetDefaultEventuallyTimeout(30 * time.Second)
	SetDefaultEventuallyPollingInterval(20 * time.Millisecond)
	crlog.SetLogger(GinkgoLogr)
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		Skip("KUBEBUILDER_ASSETS is not set; " + build)
	}
	if m := cluster.Missing(assets); len(m) > 0 {
		Skip(fmt.Sprintf("KUBEBUILDER_ASSETS=%s lacks %s; %s", assets, strings.Join(m, ", "), build))
	}

	t0 := time.Now()
	env = &envtest.Environment{BinaryAssetsDirectory: assets, ControlPlaneStartTimeout: 2 * time.Minute, ControlPlaneStopTimeout: time.Minute}
	cfg, err := env.Start()
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(env.Stop)
	t1 := time.Now()

	tc, err = cluster.Start(ctx, env, cluster.Options{Output: GinkgoWriter})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(tc.Stop) // runs before env.Stop: cleanups run last-in, first-out
	AddReportEntry("start", fmt.Sprintf("envtest %s, cluster %s",
		t1.Sub(t0).Round(time.Millisecond), time.Since(t1).Round(time.Millisecond)))

	k8s, err = client.New(cfg, client.Options{Scheme: clientgoscheme.Scheme})
	Expect(err).NotTo(HaveOccurred())
}, NodeTimeout(3*time.Minute))
