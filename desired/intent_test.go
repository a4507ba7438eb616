package desired_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/hermes-reconcile/hermes-reconcile/desired"
)

var _ = Describe("ParseIntent", func() {
	DescribeTable("reads what gateway_state.json says",
		func(data string, intent desired.Intent, explicit bool, raw string) {
			rec, _, err := desired.ParseIntent([]byte(data))
			Expect(err).NotTo(HaveOccurred())
			Expect(rec).To(Equal(desired.IntentRecord{Intent: intent, Explicit: explicit, Raw: raw}))
		},
		Entry("explicit running", `{"desired_state":"running"}`, desired.IntentRunning, true, "running"),
		Entry("explicit stopped", `{"desired_state":"stopped"}`, desired.IntentStopped, true, "stopped"),
		Entry("desired_state wins over gateway_state",
			`{"gateway_state":"running","desired_state":"stopped"}`, desired.IntentStopped, true, "stopped"),
		Entry("legacy running", `{"gateway_state":"running"}`, desired.IntentRunning, false, "running"),
		Entry("legacy draining is running", `{"gateway_state":"draining"}`, desired.IntentRunning, false, "draining"),
		Entry("legacy degraded is running", `{"gateway_state":"degraded"}`, desired.IntentRunning, false, "degraded"),
		Entry("legacy starting is not running", `{"gateway_state":"starting"}`, desired.IntentStopped, false, "starting"),
		Entry("legacy startup_failed is not running", `{"gateway_state":"startup_failed"}`, desired.IntentStopped, false, "startup_failed"),
		Entry("legacy stopped", `{"gateway_state":"stopped"}`, desired.IntentStopped, false, "stopped"),
		Entry("neither key: no intent", `{"pid":12}`, desired.IntentNone, false, ""),
		Entry("a UTF-8 BOM", "\xef\xbb\xbf{\"desired_state\":\"running\"}\n", desired.IntentRunning, true, "running"),
		Entry("updated_at as an int (the s6 manager)",
			`{"desired_state":"running","updated_at":1767225600}`, desired.IntentRunning, true, "running"),
		Entry("updated_at as a string (the gateway runtime)",
			`{"gateway_state":"degraded","updated_at":"2026-01-01T00:00:00+00:00"}`, desired.IntentRunning, false, "degraded"),
		Entry("both writers in one file",
			`{"gateway_state":"starting","desired_state":"running","updated_at":1767225600,"timestamp":1}`, desired.IntentRunning, true, "running"),
	)

	DescribeTable("refuses a corrupt file, naming the line",
		func(data string, line int, msg string) {
			rec, gotLine, err := desired.ParseIntent([]byte(data))
			Expect(err).To(MatchError(ContainSubstring(msg)))
			Expect(gotLine).To(Equal(line))
			Expect(rec).To(Equal(desired.IntentRecord{}))
		},
		Entry("truncated JSON", "{\n  \"desired_state\": \"running\",\n", 3, "invalid JSON"),
		Entry("a trailing comma on line 3", "{\n\"desired_state\": \"running\",\n}", 3, "invalid JSON"),
		Entry("an empty file", "", 1, "invalid JSON"),
		Entry("null", "null", 1, "expected an object"),
		Entry("desired_state a number", "{\n  \"updated_at\": 1,\n  \"desired_state\": 5\n}", 3, "desired_state must be a string"),
		Entry("desired_state a bool", `{"desired_state": true}`, 1, "desired_state must be a string"),
		Entry("desired_state an unknown word", "{\n\"desired_state\": \"paused\"}", 2, `got "paused"`),
		Entry("gateway_state a number", "{\n\n\"gateway_state\": 1}", 3, "gateway_state must be a string"),
	)

	It("refuses a JSON value that is not an object", func() {
		rec, _, err := desired.ParseIntent([]byte(`["running"]`))
		Expect(err).To(MatchError(ContainSubstring("invalid JSON")))
		Expect(rec.Intent).To(Equal(desired.IntentNone))
	})

	It("names intents for status", func() {
		Expect(desired.IntentRunning.String()).To(Equal("running"))
		Expect(desired.IntentStopped.String()).To(Equal("stopped"))
		Expect(desired.IntentNone.String()).To(Equal("none"))
	})
})
