package command_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/hermes-reconcile/hermes-reconcile/backends/command"
)

var _ = Describe("Runner", func() {
	script := func(body string) string {
		p := filepath.Join(GinkgoT().TempDir(), "prog")
		Expect(os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755)).To(Succeed())
		return p
	}

	It("returns exit code, stdout and stderr, and names the call in its error", func() {
		r := command.Runner{Prog: script("echo out; echo err >&2; exit 3\n")}
		code, out, errOut, err := r.Run(context.Background(), 0, "a", "b")
		Expect(code).To(Equal(3))
		Expect(out).To(Equal("out\n"))
		Expect(errOut).To(Equal("err\n"))
		Expect(err).To(MatchError(HaveSuffix("prog a b: exit 3: err")))
		var ce *command.Error
		Expect(errors.As(err, &ce)).To(BeTrue())
		Expect(ce.Code).To(Equal(3))
	})

	It("kills a call that hangs at its deadline, children and all", func() {
		r := command.Runner{Prog: script("sleep 600 & sleep 600\n"), Timeout: 200 * time.Millisecond}
		start := time.Now()
		_, _, _, err := r.Run(context.Background(), 0, "show")
		Expect(time.Since(start)).To(BeNumerically("<", 5*time.Second))
		var ee *command.Error
		Expect(err).To(BeAssignableToTypeOf(ee))
		Expect(err.Error()).To(ContainSubstring("prog show: no answer in time, killed (after 200ms)"))
	})

	It("says when the program is missing", func() {
		r := command.Runner{Prog: "no-such-program-here"}
		code, _, _, err := r.Run(context.Background(), 0, "x")
		Expect(code).To(Equal(-1))
		Expect(err).To(MatchError(ContainSubstring("no-such-program-here x: exec: ")))
	})

	Describe("with a Path", func() {
		var dir string
		BeforeEach(func() {
			dir = filepath.Dir(script("echo \"found $*\"\n"))
		})

		It("looks the program up there, not in $PATH", func() {
			Expect(os.Getenv("PATH")).NotTo(ContainSubstring(dir))
			r := command.Runner{Prog: "prog", Path: "/nonexistent" + string(os.PathListSeparator) + dir}
			_, out, _, err := r.Run(context.Background(), 0, "a")
			Expect(err).NotTo(HaveOccurred())
			Expect(out).To(Equal("found a\n"))
		})

		It("says when the program is not there, naming the call", func() {
			r := command.Runner{Prog: "sh", Path: dir}
			code, _, _, err := r.Run(context.Background(), 0, "x")
			Expect(code).To(Equal(-1))
			Expect(err).To(MatchError(ContainSubstring(`sh x: exec: "sh": executable file not found in $PATH`)))
		})

		It("refuses a program found through a relative directory", func() {
			DeferCleanup(os.Chdir, must(os.Getwd()))
			Expect(os.Chdir(dir)).To(Succeed())
			r := command.Runner{Prog: "prog", Path: "."}
			_, _, _, err := r.Run(context.Background(), 0)
			Expect(errors.Is(err, exec.ErrDot)).To(BeTrue(), "%v", err)
		})

		It("does not look up a program given as a path", func() {
			p, err := command.LookPath(filepath.Join(dir, "prog"), "/nonexistent")
			Expect(err).NotTo(HaveOccurred())
			Expect(p).To(Equal(filepath.Join(dir, "prog")))
		})
	})
})

func must[T any](v T, err error) T {
	Expect(err).NotTo(HaveOccurred())
	return v
}

func TestCommand(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "backends/command")
}
