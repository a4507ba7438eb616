package reconcile_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// The packages that read and decide must have nothing to act with: side
// effects live only in backends/ (STYLE, "What this means here" 2 and 6).

const module = "github.com/hermes-reconcile/hermes-reconcile"

// sourceImports parses the non-test Go files of dir (relative to the module
// root) and returns, per file name, the import paths.
func sourceImports(dir string) map[string][]string {
	GinkgoHelper()
	files, err := filepath.Glob(filepath.Join("..", dir, "*.go"))
	Expect(err).NotTo(HaveOccurred())
	out := map[string][]string{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		ast, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		Expect(err).NotTo(HaveOccurred())
		var paths []string
		for _, imp := range ast.Imports {
			p, err := strconv.Unquote(imp.Path.Value)
			Expect(err).NotTo(HaveOccurred())
			paths = append(paths, p)
		}
		out[filepath.Base(f)] = paths
	}
	Expect(out).NotTo(BeEmpty(), "no Go files found in %s", dir)
	return out
}

// listDeps runs `go list -deps` on packages of the module and returns every
// import path they link.
func listDeps(pkgs ...string) []string {
	GinkgoHelper()
	if _, err := exec.LookPath("go"); err != nil {
		Skip("no go command on PATH to list dependencies: " + err.Error())
	}
	args := []string{"list", "-deps", "-json=ImportPath"}
	for _, p := range pkgs {
		args = append(args, module+"/"+p)
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = ".."
	stdout, err := cmd.Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		Fail("go list: " + string(ee.Stderr))
	}
	Expect(err).NotTo(HaveOccurred())
	dec := json.NewDecoder(bytes.NewReader(stdout))
	var deps []string
	for dec.More() {
		var p struct{ ImportPath string }
		Expect(dec.Decode(&p)).To(Succeed())
		deps = append(deps, p.ImportPath)
	}
	return deps
}

var _ = Describe("Purity", func() {
	for _, pkg := range []string{"desired", "actual", "reconcile"} {
		It("keeps os/exec out of every file of "+pkg, func() {
			for file, imports := range sourceImports(pkg) {
				Expect(imports).NotTo(ContainElement("os/exec"), "%s/%s", pkg, file)
				Expect(imports).NotTo(ContainElement(HavePrefix(module+"/backends")), "%s/%s", pkg, file)
			}
		})
	}

	It("keeps os/exec out of what desired, actual and reconcile link, directly or not", func() {
		deps := listDeps("desired", "actual", "reconcile")
		Expect(deps).To(ContainElement(module + "/reconcile"))
		Expect(deps).NotTo(ContainElement("os/exec"))
		Expect(deps).NotTo(ContainElement(HavePrefix(module + "/backends")))
	})

	It("would notice: both checks see os/exec in backends/s6, where exec belongs", func() {
		var all []string
		for _, imports := range sourceImports("backends/s6") {
			all = append(all, imports...)
		}
		Expect(all).To(ContainElement("os/exec"))
		Expect(listDeps("backends/s6")).To(ContainElement("os/exec"))
	})

	It("keeps plan.go free of os, and of context, clocks and loggers", func() {
		imports := sourceImports("reconcile")["plan.go"]
		Expect(imports).To(ContainElement(module + "/desired"))
		for _, banned := range []string{"os", "os/exec", "io/fs", "syscall", "context", "time", "github.com/go-logr/logr"} {
			Expect(imports).NotTo(ContainElement(banned), "plan.go imports %s", banned)
		}
	})
})
