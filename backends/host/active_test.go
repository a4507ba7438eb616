package host_test

import (
	"os"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/hermes-reconcile/hermes-reconcile/backends/host"
	"github.com/hermes-reconcile/hermes-reconcile/desired"
)

var _ = Describe("Active", func() {
	var root string
	write := func(rel, content string) {
		p := filepath.Join(root, rel)
		Expect(os.MkdirAll(filepath.Dir(p), 0o755)).To(Succeed())
		Expect(os.WriteFile(p, []byte(content), 0o644)).To(Succeed())
	}
	BeforeEach(func() {
		root = GinkgoT().TempDir()
		write("SOUL.md", "root\n")
		write("profiles/coder/SOUL.md", "coder\n")
	})

	It("reads the default profile and its explicit intent", func() {
		write("gateway_state.json", `{"desired_state": "running", "updated_at": 1}`)
		d, err := host.Active(root)
		Expect(err).NotTo(HaveOccurred())
		Expect(d.Profile).To(Equal("default"))
		Expect(d.Home).To(Equal(root))
		Expect(d.WantUp).To(BeTrue())
		Expect(d.Enforce).To(BeTrue())
		Expect(d.Reason).To(Equal("intent_running"))
	})

	It("reads a named profile from a HERMES_HOME under profiles/", func() {
		write("profiles/coder/gateway_state.json", "\xef\xbb\xbf{\"gateway_state\": \"draining\"}")
		d, err := host.Active(filepath.Join(root, "profiles", "coder"))
		Expect(err).NotTo(HaveOccurred())
		Expect(d.Profile).To(Equal("coder"))
		Expect(d.Root).To(Equal(root))
		Expect(d.WantUp).To(BeTrue())
		Expect(d.Enforce).To(BeFalse(), "legacy gateway_state sets the run state only at creation")
	})

	It("has no intent without gateway_state.json", func() {
		d, err := host.Active(root)
		Expect(err).NotTo(HaveOccurred())
		Expect(d.WantUp || d.Enforce).To(BeFalse())
		Expect(d.Reason).To(Equal("no_intent"))
		Expect(d.Diagnostics).To(BeEmpty())
	})

	It("warns about a corrupt intent and reads it as none", func() {
		write("gateway_state.json", "{\n\"desired_state\": 1}")
		d, err := host.Active(root)
		Expect(err).NotTo(HaveOccurred())
		Expect(d.Held).To(BeFalse())
		Expect(d.Intent.Intent).To(Equal(desired.IntentNone))
		Expect(d.Diagnostics).To(HaveLen(1))
		Expect(d.Diagnostics[0].String()).To(ContainSubstring("gateway_state.json:2: desired_state must be a string"))
	})

	DescribeTable("a named profile that is gone",
		func(prepare func(), reason string) {
			prepare()
			d, err := host.Active(filepath.Join(root, "profiles", "coder"))
			Expect(err).NotTo(HaveOccurred())
			Expect(d.Gone).To(BeTrue())
			Expect(d.Reason).To(Equal(reason))
		},
		Entry("deleted", func() { Expect(os.RemoveAll(filepath.Join(root, "profiles", "coder"))).To(Succeed()) }, "profile_removed"),
		Entry("tombstoned", func() { write("profiles/.deleted/coder", "") }, "profile_tombstoned"),
		Entry("no SOUL.md or config.yaml", func() { Expect(os.Remove(filepath.Join(root, "profiles", "coder", "SOUL.md"))).To(Succeed()) }, "profile_removed"),
	)

	DescribeTable("input that holds the service as it is",
		func(prepare func() string, message string) {
			d, err := host.Active(prepare())
			Expect(err).NotTo(HaveOccurred())
			Expect(d.Held).To(BeTrue())
			Expect(d.Gone).To(BeFalse())
			Expect(d.Diagnostics).NotTo(BeEmpty())
			Expect(d.Diagnostics[0].String()).To(ContainSubstring(message))
		},
		Entry("a symlinked profile", func() string {
			Expect(os.Symlink(filepath.Join(root, "profiles", "coder"), filepath.Join(root, "profiles", "link"))).To(Succeed())
			return filepath.Join(root, "profiles", "link")
		}, "symlinked profile not followed"),
		Entry("an invalid name", func() string { return filepath.Join(root, "profiles", "Upper") }, "invalid profile name"),
		Entry("profiles/default", func() string { return filepath.Join(root, "profiles", "default") }, "collide with the root profile"),
		Entry("a malformed config.yaml", func() string {
			write("profiles/coder/config.yaml", "multiplex_profiles: maybe\n")
			return filepath.Join(root, "profiles", "coder")
		}, "config.yaml:1:"),
		Entry("an empty root (unmounted volume)", func() string {
			Expect(os.RemoveAll(root)).To(Succeed())
			Expect(os.Mkdir(root, 0o755)).To(Succeed())
			return filepath.Join(root, "profiles", "coder")
		}, "not mounted?"),
	)

	It("fails when the root is missing: nothing may change", func() {
		_, err := host.Active(filepath.Join(root, "nope", "profiles", "coder"))
		Expect(err).To(MatchError(desired.ErrHomeMissing))
	})
})
