//go:build linux

package envtest

import (
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"

	"github.com/hermes-reconcile/hermes-reconcile/test/testkit"
)

// kubeBinary is hermes-reconcile-kube, built once for the specs that run it.
var kubeBinary = sync.OnceValue(func() string {
	return testkit.Build("github.com/hermes-reconcile/hermes-reconcile/cmd/hermes-reconcile-kube")
})

// kubeRun runs the built binary against namespace ns and home h through
// kubeconfig kc, with env besides PATH and NO_COLOR, and waits for its exit.
func kubeRun(kc, ns, h string, env []string, args ...string) *gexec.Session {
	// envtest has no kubelet: no pod is ever available, so a rollout's
	// batch would never be healthy. The budget's specs run on test/cluster.
	cmd := exec.Command(kubeBinary(), append([]string{"--kubeconfig", kc, "--kube-namespace", ns,
		"--kube-image", "example.org/hermes:v0.21.3", "--home", h, "--rollout-batch", "100%"}, args...)...)
	cmd.Env = append([]string{"PATH=/usr/bin:/bin", "NO_COLOR=1"}, env...)
	s, err := gexec.Start(cmd, GinkgoWriter, GinkgoWriter)
	Expect(err).NotTo(HaveOccurred())
	Eventually(s, time.Minute).Should(gexec.Exit())
	return s
}

var _ = Describe("the hermes-reconcile-kube binary", func() {
	It("converges with --once, changes nothing with --dry-run, and says so in status", func() {
		ns, h, kc := newNamespace(), home(), kubeconfig()
		run := func(args ...string) *gexec.Session { return kubeRun(kc, ns, h, nil, args...) }
		s := run("--once")
		Expect(s).To(gexec.Exit(0), "%s", s.Err.Contents())
		Expect(string(s.Out.Contents())).To(HavePrefix("Topology: per-profile. Hermes 0.21.3 (the tag of --kube-image): before 0.21.4, "))
		Expect(string(s.Out.Contents())).To(ContainSubstring("+ hermes-gateway-run  create (up)  profile_added"))
		Expect(deployments(ns)).To(HaveLen(4))

		versions := map[string]string{}
		for n, d := range deployments(ns) {
			versions[n] = d.ResourceVersion
		}
		testkit.WriteFile(filepath.Join(h, "profiles", "stop", "gateway_state.json"), `{"desired_state":"running"}`)
		s = run("--dry-run", "--detailed-exitcode")
		Expect(s).To(gexec.Exit(2))
		Expect(string(s.Out.Contents())).To(ContainSubstring("> hermes-gateway-stop  start  intent_running"))
		for n, d := range deployments(ns) {
			Expect(d.ResourceVersion).To(Equal(versions[n]), "%s: --dry-run wrote nothing", n)
		}

		s = run("status")
		Expect(s).To(gexec.Exit(3), "stop should run and is scaled to 0:\n%s", s.Out.Contents())
		Expect(string(s.Out.Contents())).To(MatchRegexp(`run\s+hermes-gateway-run\s+running\s+up\s+starting`))
		s = run("--once")
		Expect(s).To(gexec.Exit(0))
		s = run("status")
		Expect(s).To(gexec.Exit(0), "%s", s.Out.Contents())
	})
})
