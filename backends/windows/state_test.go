package windows_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/hermes-reconcile/hermes-reconcile/backends/windows"
)

var _ = Describe("the task's run state", func() {
	DescribeTable("ParseTaskState reads PowerShell's TASK_STATE number",
		func(out string, want windows.TaskState, name string, up bool) {
			s, err := windows.ParseTaskState(out)
			Expect(err).NotTo(HaveOccurred())
			Expect(s).To(Equal(want))
			Expect(s.String()).To(Equal(name))
			Expect(s.Up()).To(Equal(up))
		},
		Entry("Unknown", "0\r\n", windows.StateUnknown, "Unknown", false),
		Entry("Disabled", "1\r\n", windows.StateDisabled, "Disabled", false),
		Entry("Queued: up, it is about to run", "2\r\n", windows.StateQueued, "Queued", true),
		Entry("Ready: registered, not running", "3\r\n", windows.StateReady, "Ready", false),
		Entry("Running", "4\r\n", windows.StateRunning, "Running", true),
		Entry("a bare LF and blanks", " 4 \n", windows.StateRunning, "Running", true),
		Entry("no newline", "3", windows.StateReady, "Ready", false),
		Entry("after a UTF-8 BOM", "\xef\xbb\xbf4\r\n", windows.StateRunning, "Running", true),
		Entry("UTF-16LE with a BOM", "\xff\xfe4\x00\r\x00\n\x00", windows.StateRunning, "Running", true),
		Entry("UTF-16LE without a BOM", "3\x00\r\x00\n\x00", windows.StateReady, "Ready", false),
	)

	DescribeTable("ParseTaskState refuses what is not one state",
		func(out string) {
			_, err := windows.ParseTaskState(out)
			Expect(err).To(MatchError(HavePrefix("not a task state")))
		},
		Entry("nothing", ""),
		Entry("blank lines", "\r\n\r\n"),
		Entry("the English word", "Running\r\n"),
		Entry("a localised word", "Wird ausgef\x81hrt\r\n"),
		Entry("two tasks matched", "4\r\n3\r\n"),
		Entry("out of the enumeration", "5\r\n"),
		Entry("negative", "-1\r\n"),
		Entry("signed", "+4\r\n"),
		Entry("not an integer", "4.0\r\n"),
		Entry("a hex number", "0x4\r\n"),
		Entry("an error message", "Get-ScheduledTask : No MSFT_ScheduledTask objects found with property 'TaskName' equal to 'X'.\r\n"),
	)

	DescribeTable("SplitTaskName splits a /TN name into Get-ScheduledTask's folder and name",
		func(tn, path, name string) {
			p, n := windows.SplitTaskName(tn)
			Expect(p).To(Equal(path))
			Expect(n).To(Equal(name))
		},
		Entry("the default profile's task, in the root folder", "Hermes_Gateway", `\`, "Hermes_Gateway"),
		Entry("a profile's task", "Hermes_Gateway_coder", `\`, "Hermes_Gateway_coder"),
		Entry("rooted", `\Hermes_Gateway_coder`, `\`, "Hermes_Gateway_coder"),
		Entry("in a folder", `\Hermes\Hermes_Gateway`, `\Hermes\`, "Hermes_Gateway"),
		Entry("in a folder, not rooted", `Hermes\Sub\T`, `\Hermes\Sub\`, "T"),
	)

	DescribeTable("StateScript names the task in single quotes, quotes doubled",
		func(tn, want string) {
			s, err := windows.StateScript(tn)
			Expect(err).NotTo(HaveOccurred())
			Expect(s).To(Equal("$ErrorActionPreference='Stop'; [int](Get-ScheduledTask " + want + ").State"))
		},
		Entry("a gateway's task", "Hermes_Gateway_coder", `-TaskName 'Hermes_Gateway_coder' -TaskPath '\'`),
		Entry("the default profile's", "Hermes_Gateway", `-TaskName 'Hermes_Gateway' -TaskPath '\'`),
		Entry("in a folder", `\Hermes\Hermes_Gateway`, `-TaskName 'Hermes_Gateway' -TaskPath '\Hermes\'`),
		Entry("a quote", `it's`, `-TaskName 'it''s' -TaskPath '\'`),
		Entry("a quote in the folder", `\o'k\T`, `-TaskName 'T' -TaskPath '\o''k\'`),
		Entry("typographic quotes, which PowerShell also closes a string with",
			"a\u2018b\u2019c\u201ad\u201be", "-TaskName 'a\u2018\u2018b\u2019\u2019c\u201a\u201ad\u201b\u201be' -TaskPath '\\'"),
		Entry("$ and spaces stay literal in single quotes", `a $b (c); d`, `-TaskName 'a $b (c); d' -TaskPath '\'`),
	)

	DescribeTable("StateScript refuses a name no quoting makes safe",
		func(tn string) {
			_, err := windows.StateScript(tn)
			Expect(err).To(MatchError(ContainSubstring("cannot be passed to Get-ScheduledTask")))
		},
		Entry("a wildcard", "Hermes_*"),
		Entry("a wildcard ?", "Hermes_?"),
		Entry("a wildcard range", "Hermes_[ab]"),
		Entry("a backtick", "a`b"),
		Entry("a double quote", `a"b`),
		Entry("a newline", "a\nb"),
		Entry("a wildcard in the folder", `\H*\T`),
	)

	It("StateScript refuses an empty name", func() {
		_, err := windows.StateScript(`\Hermes\`)
		Expect(err).To(MatchError(ContainSubstring("no name")))
	})
})
