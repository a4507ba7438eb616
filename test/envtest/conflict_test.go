//go:build linux

package envtest

import (
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"

	"github.com/hermes-reconcile/hermes-reconcile/test/testkit"
)

var _ = Describe("the conflict guard on Kubernetes", func() {
	It("holds the second Deployment of one bot token at replicas 0, naming the first, and never writes the token", func() {
		ns, h, kc := newNamespace(), GinkgoT().TempDir(), kubeconfig()
		const token = "7001234567:AAHsecret-envtest-token"
		w := func(rel, data string) { testkit.WriteFile(filepath.Join(h, rel), data) }
		w("config.yaml", "model: x\n")
		for _, p := range []string{"one", "two"} {
			w("profiles/"+p+"/SOUL.md", "soul\n")
			w("profiles/"+p+"/gateway_state.json", `{"desired_state":"running"}`)
			w("profiles/"+p+"/.env", "TELEGRAM_BOT_TOKEN="+token+"\n")
		}
		s := kubeRun(kc, ns, h, nil, "--once")
		Expect(s).To(gexec.Exit(0), "%s", s.Err.Contents())
		Expect(string(s.Out.Contents())).To(ContainSubstring("= hermes-gateway-two  start held  conflict: one already claims the Telegram bot token"))
		Expect(string(s.Out.Contents()) + string(s.Err.Contents())).NotTo(ContainSubstring(token))
		ds := deployments(ns)
		Expect(*ds["hermes-gateway-one"].Spec.Replicas).To(BeNumerically("==", 1))
		Expect(*ds["hermes-gateway-two"].Spec.Replicas).To(BeNumerically("==", 0))
		for name, d := range ds {
			Expect(d.String()).NotTo(ContainSubstring(token), name)
		}
	})
})
