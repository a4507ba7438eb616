package testkit

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/onsi/gomega/gexec"
)

// Cmd is the import path of the hermes-reconcile binary.
const Cmd = "github.com/hermes-reconcile/hermes-reconcile/cmd/hermes-reconcile"

// Build is the one way the suites build a binary: go build of pkg (an
// import path) with flags ("-race", "-tags", "crashpoint"), into a
// directory of gexec's that gexec.CleanupBuildArtifacts removes. It returns
// the binary's path. The directories on the way are opened to every user,
// so a spec can run the binary as another. A failed build panics with go
// build's output, which fails the Ginkgo suite or the benchmark that asked.
func Build(pkg string, flags ...string) (path string) {
	return BuildWith(nil, pkg, flags...)
}

// Shipped is the environment the Makefile builds the shipped binaries in:
// static, without cgo. Benchmarks build with it, to time what ships.
var Shipped = []string{"CGO_ENABLED=0"}

// BuildWith is Build with env added to go build's environment.
func BuildWith(env []string, pkg string, flags ...string) (path string) {
	path, err := gexec.BuildWithEnvironment(pkg, env, flags...)
	if err != nil {
		panic(fmt.Sprintf("build %s %s: %v", pkg, strings.Join(flags, " "), err))
	}
	// gexec_artifacts*/g*/<binary>: the directories are 0700.
	for d := filepath.Dir(path); strings.HasPrefix(filepath.Base(d), "g"); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			panic(err)
		}
	}
	return path
}
