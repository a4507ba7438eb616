package s6_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/hermes-reconcile/hermes-reconcile/backends/s6"
	"github.com/hermes-reconcile/hermes-reconcile/config"
	"github.com/hermes-reconcile/hermes-reconcile/desired"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
)

// The DESIGN.md appendix, byte for byte: what Hermes's S6ServiceManager
// writes for profile coder, and default's run. test/e2e checks the binary
// against the same files.
var (
	appendixType        = appendix("coder/type")
	appendixRunCoder    = appendix("coder/run")
	appendixRunDefault  = appendix("default/run")
	appendixFinish      = appendix("coder/finish")
	appendixLogRunCoder = appendix("coder/log/run")
)

// appendix reads a file of testdata/appendix.
func appendix(name string) string {
	data, err := os.ReadFile(filepath.Join("testdata", "appendix", filepath.FromSlash(name)))
	if err != nil {
		panic(err)
	}
	return string(data)
}

func mustRenderer(r config.Render) *s6.Renderer {
	GinkgoHelper()
	rd, err := s6.NewRenderer(r)
	Expect(err).NotTo(HaveOccurred())
	return rd
}

// fileOf returns the rendered file at path, failing when it is absent.
func fileOf(spec reconcile.Spec, path string) reconcile.File {
	GinkgoHelper()
	for _, f := range spec.Files {
		if f.Path == path {
			return f
		}
	}
	Fail("no rendered file " + path)
	return reconcile.File{}
}

func withEnv(env map[string]string) config.Render {
	r := config.DefaultRender()
	r.Env = env
	return r
}

var _ = Describe("Render", func() {
	var rd *s6.Renderer
	BeforeEach(func() { rd = mustRenderer(config.DefaultRender()) })

	Context("with the default settings", func() {
		It("renders coder exactly as the appendix", func() {
			spec := rd.Render("coder")
			Expect(string(fileOf(spec, s6.FileType).Data)).To(Equal(appendixType))
			Expect(string(fileOf(spec, s6.FileRun).Data)).To(Equal(appendixRunCoder))
			Expect(string(fileOf(spec, s6.FileFinish).Data)).To(Equal(appendixFinish))
			Expect(string(fileOf(spec, s6.FileLogRun).Data)).To(Equal(appendixLogRunCoder))
		})

		It("renders default without -p default, and its logs under gateways/default", func() {
			spec := rd.Render(desired.DefaultProfile)
			Expect(string(fileOf(spec, s6.FileType).Data)).To(Equal(appendixType))
			Expect(string(fileOf(spec, s6.FileRun).Data)).To(Equal(appendixRunDefault))
			Expect(string(fileOf(spec, s6.FileFinish).Data)).To(Equal(appendixFinish))
			Expect(string(fileOf(spec, s6.FileLogRun).Data)).To(Equal(
				strings.ReplaceAll(appendixLogRunCoder, "/gateways/coder", "/gateways/default")))
			Expect(string(fileOf(spec, s6.FileRun).Data)).NotTo(ContainSubstring("-p default"))
		})

		It("writes the files in a fixed order with the appendix modes", func() {
			spec := rd.Render("coder")
			var got []string
			modes := map[string]fs.FileMode{}
			for _, f := range spec.Files {
				got = append(got, f.Path)
				modes[f.Path] = f.Mode
			}
			Expect(got).To(Equal([]string{s6.FileType, s6.FileRun, s6.FileFinish, s6.FileLogRun}))
			Expect(modes[s6.FileRun]).To(Equal(fs.FileMode(0o755)))
			Expect(modes[s6.FileFinish]).To(Equal(fs.FileMode(0o755)))
			Expect(modes[s6.FileLogRun]).To(Equal(fs.FileMode(0o755)))
			Expect(modes[s6.FileType] & 0o111).To(BeZero())
		})

		It("never bakes the log directory in: HERMES_HOME is expanded at run time", func() {
			for _, p := range []string{"coder", desired.DefaultProfile, "my-profile"} {
				logRun := string(fileOf(rd.Render(p), s6.FileLogRun).Data)
				Expect(logRun).NotTo(ContainSubstring("/opt/data/logs/gateways/" + p))
				Expect(logRun).To(ContainSubstring(`"$HERMES_HOME/logs/gateways/` + p + `"`))
			}
		})

		It("is deterministic, and the hash tells profiles apart", func() {
			a, b := rd.Render("coder"), mustRenderer(config.DefaultRender()).Render("coder")
			Expect(a).To(Equal(b))
			Expect(a.Hash).To(Equal(s6.HashFiles(a.Files)))
			Expect(a.Hash).NotTo(Equal(rd.Render("writer").Hash))
		})
	})

	It("puts extra env lines, sorted and shell-quoted, right before HERMES_S6_SUPERVISED_CHILD", func() {
		rd := mustRenderer(withEnv(map[string]string{
			"QUOTED": "a'b",
			"FOO":    "bar baz",
			"PLAIN":  "value",
			"EMPTY":  "",
			"SUBST":  "$(reboot) `id`",
		}))
		run := string(fileOf(rd.Render("coder"), s6.FileRun).Data)
		Expect(run).To(Equal(strings.Replace(appendixRunCoder,
			"export HERMES_S6_SUPERVISED_CHILD=1\n",
			"export EMPTY=''\n"+
				"export FOO='bar baz'\n"+
				"export PLAIN=value\n"+
				"export QUOTED='a'\"'\"'b'\n"+
				"export SUBST='$(reboot) `id`'\n"+
				"export HERMES_S6_SUPERVISED_CHILD=1\n", 1)))
	})

	It("lets every installation-specific part be a setting", func() {
		r := config.DefaultRender()
		r.Shebang = "#!/bin/sh"
		r.HomeDir = "/home/h"
		r.DefaultHermesHome = "/srv/hermes"
		r.Prelude = []string{". /opt/hermes/.venv/bin/activate"}
		r.User = ""
		r.GatewayCommand = "/usr/local/bin/fake-gateway"
		r.LogScript = "1 n3 s100000"
		spec := mustRenderer(r).Render("coder")
		Expect(string(fileOf(spec, s6.FileRun).Data)).To(Equal(`#!/bin/sh
# shellcheck shell=sh
set -e
export HOME=/home/h
cd /home/h
. /opt/hermes/.venv/bin/activate
export HERMES_S6_SUPERVISED_CHILD=1
export HERMES_SUPERVISED_CHILD=1
exec /usr/local/bin/fake-gateway -p coder gateway run --replace
`))
		Expect(string(fileOf(spec, s6.FileLogRun).Data)).To(Equal(`#!/bin/sh
# shellcheck shell=sh
: "${HERMES_HOME:=/srv/hermes}"
log_dir="$HERMES_HOME/logs/gateways/coder"
mkdir -p "$log_dir"
rm -f "$log_dir/lock"
exec s6-log 1 n3 s100000 "$log_dir"
`))
		Expect(string(fileOf(spec, s6.FileFinish).Data)).To(HavePrefix("#!/bin/sh\n# shellcheck"))
	})

	It("quotes a home dir that needs it", func() {
		r := config.DefaultRender()
		r.HomeDir = "/data/my home"
		run := string(fileOf(mustRenderer(r).Render("coder"), s6.FileRun).Data)
		Expect(run).To(ContainSubstring("export HOME='/data/my home'\ncd '/data/my home'\n"))
	})

	DescribeTable("refuses settings that would not survive as one shell line",
		func(mutate func(*config.Render), msg string) {
			r := config.DefaultRender()
			mutate(&r)
			_, err := s6.NewRenderer(r)
			Expect(err).To(MatchError(ContainSubstring(msg)))
		},
		Entry("an env key with a dash", func(r *config.Render) { r.Env = map[string]string{"BAD-KEY": "x"} }, "env key"),
		Entry("an env key with a leading digit", func(r *config.Render) { r.Env = map[string]string{"1X": "x"} }, "env key"),
		Entry("an empty env key", func(r *config.Render) { r.Env = map[string]string{"": "x"} }, "env key"),
		Entry("an env key with a space", func(r *config.Render) { r.Env = map[string]string{"A B": "x"} }, "env key"),
		Entry("an env key with =", func(r *config.Render) { r.Env = map[string]string{"A=B": "x"} }, "env key"),
		Entry("an env value with a newline", func(r *config.Render) { r.Env = map[string]string{"TOKEN": "a\nreboot"} }, "newline or NUL"),
		Entry("an env value with a carriage return", func(r *config.Render) { r.Env = map[string]string{"TOKEN": "a\rb"} }, "newline or NUL"),
		Entry("an env value with NUL", func(r *config.Render) { r.Env = map[string]string{"TOKEN": "a\x00b"} }, "newline or NUL"),
		Entry("a shebang without #!", func(r *config.Render) { r.Shebang = "/bin/sh" }, "shebang"),
		Entry("an empty gateway command", func(r *config.Render) { r.GatewayCommand = "" }, "gateway command"),
		Entry("a two-line gateway command", func(r *config.Render) { r.GatewayCommand = "hermes\nreboot" }, "gateway command"),
		Entry("a two-line prelude entry", func(r *config.Render) { r.Prelude = []string{"true\nreboot"} }, "one line"),
		Entry("a user that needs quoting", func(r *config.Render) { r.User = "her mes" }, "plain account name"),
	)

	It("accepts the env keys the rule allows", func() {
		_, err := s6.NewRenderer(withEnv(map[string]string{"_x": "1", "A_1": "2", "lower": "3"}))
		Expect(err).NotTo(HaveOccurred())
	})
})

var _ = Describe("slot names", func() {
	It("maps profiles to slots and back, refusing what no profile can be", func() {
		Expect(s6.SlotName("coder")).To(Equal("gateway-coder"))
		p, ok := s6.ProfileOfSlot("gateway-coder")
		Expect(ok).To(BeTrue())
		Expect(p).To(Equal("coder"))
		for _, s := range []string{"gateway-", "gateway-Coder", "gateway-../x", "dashboard", "gatewaycoder"} {
			_, ok := s6.ProfileOfSlot(s)
			Expect(ok).To(BeFalse(), s)
		}
	})
})
