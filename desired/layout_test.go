package desired_test

import (
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/hermes-reconcile/hermes-reconcile/desired"
)

var _ = Describe("Layout", func() {
	l := desired.NewLayout("/opt/data")

	DescribeTable("Classify maps a changed path to the profile it changes, or to every profile",
		func(rel string, want desired.Change, ok bool) {
			got, gotOK := l.Classify(filepath.Join("/opt/data", rel))
			Expect(gotOK).To(Equal(ok))
			Expect(got).To(Equal(want))
		},
		Entry("the root itself", "", desired.Change{All: true}, true),
		Entry("the root config.yaml: the topology", "config.yaml", desired.Change{All: true}, true),
		Entry("the root intent", "gateway_state.json", desired.Change{Key: "default"}, true),
		Entry("the root SOUL.md", "SOUL.md", desired.Change{Key: "default"}, true),
		Entry("the root .env", ".env", desired.Change{Key: "default"}, true),
		Entry("profiles/ itself", "profiles", desired.Change{All: true}, true),
		Entry("a profile dir", "profiles/coder", desired.Change{Key: "coder"}, true),
		Entry("a profile's config.yaml", "profiles/coder/config.yaml", desired.Change{Key: "coder"}, true),
		Entry("a profile's intent", "profiles/coder/gateway_state.json", desired.Change{Key: "coder"}, true),
		Entry("a profile's SOUL.md", "profiles/coder/SOUL.md", desired.Change{Key: "coder"}, true),
		Entry("a profile's .env", "profiles/coder/.env", desired.Change{Key: "coder"}, true),
		Entry("a tombstone", "profiles/.deleted/coder", desired.Change{Key: "coder"}, true),
		Entry("the tombstone dir", "profiles/.deleted", desired.Change{All: true}, true),
		Entry("a gateway's pid file", "profiles/coder/gateway.pid", desired.Change{}, false),
		Entry("an atomic write's temp file", "profiles/coder/gateway_state.json.tmp", desired.Change{}, false),
		Entry("a staging dir of hermes profile create", "profiles/.coder.staging-42", desired.Change{}, false),
		Entry("a file inside a staging dir", "profiles/.coder.staging-42/SOUL.md", desired.Change{}, false),
		Entry("profiles/default/: never a profile", "profiles/default/SOUL.md", desired.Change{}, false),
		Entry("an invalid name", "profiles/Upper/SOUL.md", desired.Change{}, false),
		Entry("deeper inside a profile", "profiles/coder/logs/gateway.log", desired.Change{}, false),
		Entry("the logs of the root", "logs/gateways/coder/current", desired.Change{}, false),
		Entry("a root file that is no input", "gateway.pid", desired.Change{}, false),
	)

	It("is not fooled by a path outside the root", func() {
		_, ok := l.Classify("/opt/database/profiles/coder/SOUL.md")
		Expect(ok).To(BeFalse())
		_, ok = l.Classify("/etc/passwd")
		Expect(ok).To(BeFalse())
	})

	It("knows each profile's directory and tombstone", func() {
		Expect(l.Dir("default")).To(Equal("/opt/data"))
		Expect(l.Dir("coder")).To(Equal("/opt/data/profiles/coder"))
		Expect(l.Tombstone("coder")).To(Equal("/opt/data/profiles/.deleted/coder"))
		Expect(desired.NewLayout("/opt/data/profiles/coder").Root).To(Equal("/opt/data"))
	})

	DescribeTable("Active is the profile a host's HERMES_HOME names",
		func(home string, key desired.Key, diag string) {
			k, d := desired.Active(home)
			Expect(k).To(Equal(key))
			if diag == "" {
				Expect(d).To(BeNil())
			} else {
				Expect(d).NotTo(BeNil())
				Expect(d.Message).To(ContainSubstring(diag))
			}
		},
		Entry("the root", "/h", "default", ""),
		Entry("a named profile", "/h/profiles/coder", "coder", ""),
		Entry("profiles/default/", "/h/profiles/default", "", "collide with the root profile"),
		Entry("an invalid name", "/h/profiles/Upper", "", "invalid profile name"),
	)
})
