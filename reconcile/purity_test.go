package reconcile_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
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
	return listDepsFor("", pkgs...)
}

// listDepsFor is listDeps for another GOOS ("": this one).
func listDepsFor(goos string, pkgs ...string) []string {
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
	if goos != "" {
		cmd.Env = append(os.Environ(), "GOOS="+goos)
	}
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

// pureFiles are the planner and the types it decides from: data in, data
// out. The reader and the engines feed them; nothing in them reads, writes,
// watches or looks at the clock.
var pureFiles = map[string][]string{
	"reconcile": {"plan.go", "decide.go", "unit.go", "render.go", "engine.go"},
	"desired": {"state.go", "reason.go", "layout.go", "intent.go", "yamlconf.go", "name.go", "diagnostic.go",
		"dotenv.go", "secret.go", "claims.go", "claimrules.go", "claiminput.go", "gatewayenv.go", "platforms.go"},
}

// callsTimeNow reports the lines of file that call time.Now.
func callsTimeNow(file string) []int {
	GinkgoHelper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, file, nil, 0)
	Expect(err).NotTo(HaveOccurred())
	var lines []int
	ast.Inspect(f, func(n ast.Node) bool {
		if sel, ok := n.(*ast.SelectorExpr); ok {
			if id, ok := sel.X.(*ast.Ident); ok && id.Name == "time" && sel.Sel.Name == "Now" {
				lines = append(lines, fset.Position(n.Pos()).Line)
			}
		}
		return true
	})
	return lines
}

var _ = Describe("Purity", func() {
	for _, pkg := range []string{"desired", "reconcile"} {
		It("keeps os/exec and the backends out of every file of "+pkg, func() {
			for file, imports := range sourceImports(pkg) {
				Expect(imports).NotTo(ContainElement("os/exec"), "%s/%s", pkg, file)
				Expect(imports).NotTo(ContainElement(HavePrefix(module+"/backends")), "%s/%s", pkg, file)
			}
		})
	}

	It("keeps os/exec out of what desired and reconcile link, directly or not", func() {
		deps := listDeps("desired", "reconcile")
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

	for pkg, files := range pureFiles {
		It("keeps the planner's files in "+pkg+" free of os, syscall, fsnotify, loggers and the clock", func() {
			imports := sourceImports(pkg)
			for _, file := range files {
				Expect(imports).To(HaveKey(file), "%s/%s is gone: update pureFiles", pkg, file)
				for _, banned := range []string{"os", "os/exec", "syscall", "golang.org/x/sys/unix",
					"github.com/fsnotify/fsnotify", "github.com/go-logr/logr"} {
					Expect(imports[file]).NotTo(ContainElement(banned), "%s/%s imports %s", pkg, file, banned)
				}
				Expect(callsTimeNow(filepath.Join("..", pkg, file))).To(BeEmpty(), "%s/%s calls time.Now at these lines", pkg, file)
			}
		})
	}

	for _, goos := range []string{"linux", "darwin", "windows"} {
		It("keeps Kubernetes out of the binary a Hermes image carries, for "+goos, func() {
			deps := listDepsFor(goos, "cmd/hermes-reconcile")
			Expect(deps).To(ContainElement(module + "/backends/s6"))
			Expect(deps).NotTo(ContainElement(Or(HavePrefix("k8s.io/"), HavePrefix("sigs.k8s.io/"),
				HavePrefix("github.com/google/go-containerregistry/"))))
			// Its metrics are written by the metrics package itself:
			// client_golang and the protobuf runtime it brings would add a
			// quarter to its size and a millisecond to every start.
			Expect(deps).To(ContainElement(module + "/metrics"))
			Expect(deps).NotTo(ContainElement(Or(HavePrefix("github.com/prometheus/"), HavePrefix("google.golang.org/protobuf"))))
		})
	}

	It("keeps the image builder out of both binaries", func() {
		for _, bin := range []string{"cmd/hermes-reconcile", "cmd/hermes-reconcile-kube"} {
			Expect(listDepsFor("linux", bin)).NotTo(ContainElement(HavePrefix("github.com/google/go-containerregistry/")), bin)
		}
		Expect(listDepsFor("linux", "deploy/image")).To(ContainElement(HavePrefix("github.com/google/go-containerregistry/")))
	})

	It("would notice Kubernetes and client_golang: the controller's binary links them", func() {
		deps := listDepsFor("linux", "cmd/hermes-reconcile-kube")
		Expect(deps).To(ContainElement(HavePrefix("sigs.k8s.io/controller-runtime")))
		Expect(deps).To(ContainElement(module + "/metrics/collector"))
		Expect(deps).To(ContainElement("github.com/prometheus/client_golang/prometheus"))
	})

	It("keeps the package graph layered: data, then the planner, then the loop, then engines, then the binaries", func() {
		// Each package may import only these of the module's (and, for the
		// binaries, anything): nothing imports upwards, engines do not
		// import each other but through host, and the shared CLI knows no
		// engine.
		allowed := map[string][]string{
			"config":            nil,
			"desired":           nil,
			"reconcile":         {"desired"},
			"reconcile/loop":    {"config", "desired", "reconcile"},
			"backends/command":  nil,
			"backends/filelock": nil,
			"backends/host":     {"config", "desired", "reconcile"},
			"backends/systemd":  {"backends/command", "backends/host", "config", "desired"},
			"backends/launchd":  {"backends/command", "backends/host", "config", "desired"},
			"backends/windows":  {"backends/command", "backends/host", "config", "desired"},
			"backends/s6":       {"backends/command", "backends/filelock", "config", "desired", "reconcile", "reconcile/loop"},
			"backends/kube":     {"config", "desired", "reconcile", "reconcile/loop"},
			"metrics":           {"desired", "reconcile", "reconcile/loop"},
			"metrics/collector": {"metrics"},
			"cmd/internal/cli":  {"config", "desired", "metrics", "reconcile", "reconcile/loop"},
		}
		cmd := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "./...")
		cmd.Dir = ".."
		out, err := cmd.Output()
		Expect(err).NotTo(HaveOccurred())
		seen := 0
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			f := strings.Fields(line)
			pkg := strings.TrimPrefix(f[0], module+"/")
			ok, layered := allowed[pkg]
			if !layered {
				continue // the binaries and the test suites
			}
			seen++
			for _, imp := range f[1:] {
				if p, ours := strings.CutPrefix(imp, module+"/"); ours {
					Expect(ok).To(ContainElement(p), "%s imports %s", pkg, p)
				}
			}
		}
		Expect(seen).To(Equal(len(allowed)), "every layered package was listed")
	})

	It("would notice a clock: retry.go and pass.go read time.Now, behind their seams", func() {
		Expect(callsTimeNow(filepath.Join("..", "reconcile", "retry.go"))).NotTo(BeEmpty())
		Expect(callsTimeNow(filepath.Join("..", "reconcile", "pass.go"))).NotTo(BeEmpty())
	})
})
