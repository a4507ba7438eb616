package host_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/hermes-reconcile/hermes-reconcile/backends/host"
)

var _ = Describe("Detect", func() {
	var (
		dir    string
		probes host.Probes
	)
	BeforeEach(func() {
		dir = GinkgoT().TempDir()
		probes = host.Probes{
			ProcComm:  filepath.Join(dir, "comm"),
			S6Basedir: filepath.Join(dir, "basedir"),
			GOOS:      "linux",
			Systemd:   func(context.Context) error { return errors.New("systemctl not found") },
		}
		Expect(os.WriteFile(probes.ProcComm, []byte("bash\n"), 0o644)).To(Succeed())
	})
	detect := func() (string, error) { return host.Detect(context.Background(), host.Table(probes)) }

	It("orders the table s6, windows, launchd, systemd", func() {
		var names []string
		for _, d := range host.Table(probes) {
			names = append(names, d.Name)
		}
		Expect(names).To(Equal([]string{"s6", "windows", "launchd", "systemd"}))
	})

	It("picks s6 when PID 1 is s6-svscan and /run/s6/basedir is a directory", func() {
		Expect(os.WriteFile(probes.ProcComm, []byte("s6-svscan\n"), 0o644)).To(Succeed())
		Expect(os.Mkdir(probes.S6Basedir, 0o755)).To(Succeed())
		probes.GOOS = "windows" // s6 comes first
		Expect(detect()).To(Equal("s6"))
	})

	It("does not pick s6 when the basedir is missing", func() {
		Expect(os.WriteFile(probes.ProcComm, []byte("s6-svscan\n"), 0o644)).To(Succeed())
		probes.Systemd = func(context.Context) error { return nil }
		Expect(detect()).To(Equal("systemd"))
	})

	It("picks windows, then launchd, by OS", func() {
		probes.GOOS = "windows"
		Expect(detect()).To(Equal("windows"))
		probes.GOOS = "darwin"
		Expect(detect()).To(Equal("launchd"))
	})

	It("picks systemd on Linux when the manager answers", func() {
		probes.Systemd = func(context.Context) error { return nil }
		Expect(detect()).To(Equal("systemd"))
	})

	It("ends at none with every reason when nothing matches", func() {
		name, err := detect()
		Expect(name).To(Equal("none"))
		Expect(err).To(MatchError(host.ErrNoManager))
		Expect(err.Error()).To(ContainSubstring(`s6: PID 1 is "bash", not s6-svscan`))
		Expect(err.Error()).To(ContainSubstring("systemd: systemctl not found"))
		Expect(err.Error()).To(ContainSubstring("--backend"))
	})
})
