package systemd_test

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/hermes-reconcile/hermes-reconcile/backends/host"
	"github.com/hermes-reconcile/hermes-reconcile/backends/systemd"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func service(profile, home, command string) host.Service {
	return host.Service{Profile: profile, Home: home, Command: host.GatewayArgs(command, profile)}
}

var _ = Describe("Unit", func() {
	DescribeTable("renders the golden unit",
		func(svc host.Service, sc systemd.Scope, golden string) {
			got, err := systemd.Unit(svc, sc)
			Expect(err).NotTo(HaveOccurred())
			path := filepath.Join("testdata", golden)
			if *update {
				Expect(os.WriteFile(path, got, 0o644)).To(Succeed())
			}
			want, err := os.ReadFile(path)
			Expect(err).NotTo(HaveOccurred())
			Expect(string(got)).To(Equal(string(want)))
		},
		Entry("default, user scope", service("default", "/home/ada/.hermes", "/usr/local/bin/hermes"), systemd.Scope{}, "hermes-gateway.user.service"),
		Entry("named, user scope, env and a restart delay", host.Service{Profile: "coder", Home: "/home/ada/.hermes/profiles/coder",
			Command: host.GatewayArgs("/opt/hermes 2/bin/hermes", "coder"), RestartSec: 12,
			Env: map[string]string{"TZ": "Europe/Paris", "ODD": `50% "quoted" $HOME \n`}}, systemd.Scope{}, "hermes-gateway-coder.user.service"),
		Entry("named, system scope as a user", service("coder", "/srv/hermes/profiles/coder", "/usr/bin/hermes"), systemd.Scope{System: true, RunAs: "hermes"}, "hermes-gateway-coder.system.service"),
	)

	It("names units as Hermes does", func() {
		Expect(systemd.Name("default")).To(Equal("hermes-gateway"))
		Expect(systemd.Name("coder")).To(Equal("hermes-gateway-coder"))
	})

	It("reads back the HERMES_HOME it wrote, quoting undone", func() {
		svc := service("coder", `/srv/50% "odd"\home`, "/usr/bin/hermes")
		u, err := systemd.Unit(svc, systemd.Scope{})
		Expect(err).NotTo(HaveOccurred())
		Expect(systemd.HomeOf(u)).To(Equal(svc.Home))
		Expect(systemd.HomeOf([]byte("[Service]\nEnvironment=\"PATH=/bin\" HERMES_HOME=/a/b\n"))).To(Equal("/a/b"))
	})

	It("refuses what a unit cannot carry", func() {
		_, err := systemd.Unit(host.Service{Profile: "default", Home: "/h"}, systemd.Scope{})
		Expect(err).To(MatchError(ContainSubstring("command is empty")))
		_, err = systemd.Unit(host.Service{Profile: "default", Home: "/h", Command: []string{"/bin/true"}, Env: map[string]string{"A": "x\ny"}}, systemd.Scope{})
		Expect(err).To(MatchError(ContainSubstring("newline")))
		_, err = systemd.Unit(host.Service{Profile: "default", Home: "/h", Command: []string{"/bin/true"}, Env: map[string]string{"HERMES_HOME": "/x"}}, systemd.Scope{})
		Expect(err).To(MatchError(ContainSubstring("may not be overridden")))
	})
})

// Every unit this package renders must pass systemd-analyze verify with no
// output at all: warnings about unknown keys count as failures.
var _ = Describe("systemd-analyze verify", func() {
	var analyze string
	BeforeEach(func() {
		var err error
		analyze, err = exec.LookPath("systemd-analyze")
		if err != nil {
			Skip("systemd-analyze is not installed (apt-get install systemd): units cannot be verified here")
		}
	})

	DescribeTable("passes with no output",
		func(profile string, sc systemd.Scope) {
			dir := GinkgoT().TempDir()
			home := filepath.Join(dir, "home")
			Expect(os.MkdirAll(home, 0o755)).To(Succeed())
			// ExecStart must name an executable that exists.
			svc := host.Service{Profile: profile, Home: home, Command: host.GatewayArgs("/bin/true", profile),
				Env: map[string]string{"TZ": "UTC", "ODD": `50% "q" $x \y`}}
			u, err := systemd.Unit(svc, sc)
			Expect(err).NotTo(HaveOccurred())
			path := filepath.Join(dir, systemd.Name(profile)+".service")
			Expect(os.WriteFile(path, u, 0o644)).To(Succeed())
			args := []string{"verify", "--man=no"}
			env := os.Environ()
			if !sc.System {
				xdg := filepath.Join(dir, "xdg")
				Expect(os.Mkdir(xdg, 0o700)).To(Succeed())
				env = append(env, "XDG_RUNTIME_DIR="+xdg)
				args = append(args, "--user")
			}
			cmd := exec.Command(analyze, append(args, path)...)
			cmd.Env = env
			out, err := cmd.CombinedOutput()
			Expect(string(out)).To(BeEmpty())
			Expect(err).NotTo(HaveOccurred())
		},
		Entry("default, user scope", "default", systemd.Scope{}),
		Entry("named, user scope", "coder", systemd.Scope{}),
		Entry("default, system scope", "default", systemd.Scope{System: true, RunAs: "hermes"}),
		Entry("named, system scope", "coder", systemd.Scope{System: true, RunAs: "hermes"}),
		Entry("named, system scope as root", "coder", systemd.Scope{System: true}),
	)
})
