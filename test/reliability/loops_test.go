//go:build linux

package reliability

import (
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/hermes-reconcile/hermes-reconcile/test/testkit"
)

var _ = Describe("loops under faults", func() {
	It("backs off a leftover of ours that cannot be cleaned, and does not spin", Label("root"), func() {
		skipUnlessRoot("mounts a tmpfs in the scandir")
		w := newWorld("home")
		w.StartSvscan()
		w.converge()
		stale := filepath.Join(w.Scandir, testkit.Staging("gateway-x"), "busy")
		Expect(os.MkdirAll(stale, 0o755)).To(Succeed())
		if !mount("-t", "tmpfs", "-o", "size=64k", "tmpfs", stale) {
			Skip("this machine does not allow mounts")
		}
		DeferCleanup(func() { umount(stale) })

		s := w.Watch("--resync", "1h", "--backoff-max", "4s")
		passes := func() int { return len(logLines(s.Err.Contents(), "pass done")) }
		Eventually(func() int { return len(logLines(s.Err.Contents(), "action failed")) }).Should(BeNumerically(">=", 1))
		before := passes()
		Consistently(passes, 10*time.Second, 500*time.Millisecond).Should(BeNumerically("<=", before+4), "retries at 1, 2, 4 and 4 s")
		n := passes() - before
		GinkgoWriter.Printf("a clean that fails every time: %d passes in 10 s\n", n)
		Expect(w.Slots()).To(ContainElement("gateway-alpha"), "the rest of the scandir as it was")
		record("6.1", "a leftover of ours whose clean fails every time (a tmpfs mounted inside it), in watch mode", 1,
			"held: the clean backed off (1 s doubling, here to a 4 s cap): at most 4 passes in the 10 s after the first failure, no hot loop")
	})
})
