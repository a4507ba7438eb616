package desired_test

import (
	"errors"
	"fmt"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/hermes-reconcile/hermes-reconcile/desired"
)

// multiplexOf renders GatewayConfig.Multiplex as "unset", "true" or "false".
func multiplexOf(c desired.GatewayConfig) string {
	if c.Multiplex == nil {
		return "unset"
	}
	return fmt.Sprint(*c.Multiplex)
}

// configErr asserts err is a *ConfigError and returns it.
func configErr(err error) *desired.ConfigError {
	GinkgoHelper()
	var ce *desired.ConfigError
	Expect(errors.As(err, &ce)).To(BeTrue(), "want a *ConfigError, got %v", err)
	return ce
}

var _ = Describe("ParseConfig", func() {
	DescribeTable("reads multiplex_profiles",
		func(data, want string) {
			cfg, err := desired.ParseConfig([]byte(data))
			Expect(err).NotTo(HaveOccurred())
			Expect(multiplexOf(cfg)).To(Equal(want))
		},
		Entry("an empty file", "", "unset"),
		Entry("only a comment", "# nothing here\n", "unset"),
		Entry("an explicit null document", "~\n", "unset"),
		Entry("unknown keys only", "model: gpt\nplatforms:\n  telegram: {enabled: true}\n", "unset"),
		Entry("top level true", "multiplex_profiles: true\n", "true"),
		Entry("top level false", "multiplex_profiles: false\n", "false"),
		Entry("capitalised True", "multiplex_profiles: True\n", "true"),
		Entry("top level null says nothing", "multiplex_profiles: null\n", "unset"),
		Entry("under gateway:", "gateway:\n  port: 8080\n  multiplex_profiles: true\n", "true"),
		Entry("top level wins over gateway: (false over true)",
			"multiplex_profiles: false\ngateway:\n  multiplex_profiles: true\n", "false"),
		Entry("top level wins over gateway: (true over false)",
			"gateway:\n  multiplex_profiles: false\nmultiplex_profiles: true\n", "true"),
		Entry("a null top level lets gateway: decide",
			"multiplex_profiles: ~\ngateway:\n  multiplex_profiles: true\n", "true"),
		Entry("gateway: through an alias",
			"base: &b {multiplex_profiles: true}\ngateway: *b\n", "true"),
		Entry("gateway: that is not a mapping is ignored", "gateway: 8080\n", "unset"),
	)

	DescribeTable("a wrong type is an error naming its line",
		func(data string, line int, msg string) {
			_, err := desired.ParseConfig([]byte(data))
			ce := configErr(err)
			Expect(ce.Line).To(Equal(line))
			Expect(ce.Error()).To(ContainSubstring(msg))
		},
		Entry("maybe", "model: x\nmultiplex_profiles: maybe\n", 2, `multiplex_profiles must be true or false, got "maybe"`),
		Entry("a quoted true is a string", "multiplex_profiles: \"true\"\n", 1, `got "true"`),
		Entry("a number", "a: 1\nb: 2\nmultiplex_profiles: 1\n", 3, `got "1"`),
		Entry("a sequence under gateway:", "gateway:\n  multiplex_profiles: [1]\n", 2, "gateway.multiplex_profiles must be true or false, got \"a sequence\""),
		Entry("a wrong type under gateway: even when the top level is fine",
			"multiplex_profiles: true\ngateway:\n  multiplex_profiles: maybe\n", 3, "gateway.multiplex_profiles"),
		Entry("a top level that is a list", "- a\n- b\n", 1, "top level must be a mapping"),
	)

	DescribeTable("malformed YAML is an error at its line",
		func(data string, line int, msg string) {
			_, err := desired.ParseConfig([]byte(data))
			ce := configErr(err)
			Expect(ce.Line).To(Equal(line))
			Expect(ce.Error()).To(ContainSubstring(msg))
			Expect(ce.Error()).NotTo(HavePrefix("yaml:"), "the line prefix is parsed out, not repeated")
		},
		Entry("a tab in the indentation", "model: x\ngateway:\n\tport: 1\n", 3, "cannot start any token"),
		Entry("a tab after a mapping", "a: 1\n\tb: 2\n", 2, "tab character"),
		Entry("an unterminated quote", "a: 1\nb: 'open\n", 2, "unexpected end of stream"),
		Entry("a character that cannot start a token", "a: 1\nb: 2\nc: @x\n", 3, "cannot start any token"),
		Entry("a mapping value where none may be", "a: 1\nb: c: d\n", 2, "mapping values are not allowed"),
		// Parser (not scanner) errors: yaml.v3 counts their line from 0.
		Entry("a sequence item inside a mapping", "key: value\n- item\n", 2, "did not find expected key"),
		Entry("a key indented off its siblings", "a:\n  b: 1\n c: 2\n", 3, "did not find expected key"),
		Entry("an unclosed flow sequence", "a: 1\nb: [1, 2\nc: 3\n", 2, "did not find expected ',' or ']'"),
		Entry("an unclosed flow mapping at the end", "a: {\n", 2, "did not find expected node content"),
	)

	It("refuses an alias bomb quickly", func() {
		var b strings.Builder
		b.WriteString("l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
		for i := 1; i <= 9; i++ {
			fmt.Fprintf(&b, "l%d: &l%d [", i, i)
			for j := 0; j < 9; j++ {
				if j > 0 {
					b.WriteString(", ")
				}
				fmt.Fprintf(&b, "*l%d", i-1)
			}
			b.WriteString("]\n")
		}
		b.WriteString("multiplex_profiles: true\n")
		start := time.Now()
		_, err := desired.ParseConfig([]byte(b.String()))
		Expect(time.Since(start)).To(BeNumerically("<", time.Second))
		Expect(configErr(err).Error()).To(ContainSubstring("excessive aliasing"))
	})

	It("accepts modest aliasing", func() {
		cfg, err := desired.ParseConfig([]byte("a: &a [x, y]\nb: [*a, *a, *a]\nmultiplex_profiles: false\n"))
		Expect(err).NotTo(HaveOccurred())
		Expect(multiplexOf(cfg)).To(Equal("false"))
	})
})

var _ = Describe("ParseSwitch", func() {
	DescribeTable("reads clear words in any case and spacing",
		func(s string, value, ok bool) {
			v, k := desired.ParseSwitch(s)
			Expect([]bool{v, k}).To(Equal([]bool{value, ok}))
		},
		Entry("1", "1", true, true),
		Entry("true", "true", true, true),
		Entry("YES", "YES", true, true),
		Entry("On", "On", true, true),
		Entry("padded", "  true\n", true, true),
		Entry("0", "0", false, true),
		Entry("false", "False", false, true),
		Entry("no", "no", false, true),
		Entry("OFF", "OFF", false, true),
		Entry("unset", "", false, false),
		Entry("maybe", "maybe", false, false),
		Entry("2", "2", false, false),
		Entry("y", "y", false, false),
	)
})
