package desired_test

import (
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/hermes-reconcile/hermes-reconcile/desired"
)

var _ = Describe("ValidName", func() {
	DescribeTable("accepts the names `hermes profile create` accepts",
		func(name string) {
			Expect(desired.ValidName(name)).To(Succeed())
		},
		Entry("a plain word", "coder"),
		Entry("a dash", "my-profile"),
		Entry("an underscore", "assistant_v2"),
		Entry("one letter", "a"),
		Entry("one digit", "0"),
		Entry("a leading digit", "0abc"),
		Entry("64 characters, the limit", strings.Repeat("a", 64)),
	)

	DescribeTable("rejects anything else",
		func(name string) {
			Expect(desired.ValidName(name)).To(HaveOccurred())
		},
		Entry("empty", ""),
		Entry("uppercase", "Coder"),
		Entry("a slash", "foo/bar"),
		Entry("a traversal", "../escape"),
		Entry("a leading dash", "-leading-dash"),
		Entry("a leading underscore", "_leading_underscore"),
		Entry("spaces", "name with spaces"),
		Entry("dots", "name.with.dots"),
		Entry("65 characters", strings.Repeat("a", 65)),
		Entry("unicode", "café"),
		Entry("a trailing newline", "coder\n"),
	)

	It("says why an over-long name is refused", func() {
		Expect(desired.ValidName(strings.Repeat("a", 65))).To(MatchError(ContainSubstring("longer than 64")))
	})
})
