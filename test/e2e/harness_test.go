//go:build linux

package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
)

// world is one spec's HERMES_HOME, scandir and s6-svscan.
type world struct {
	home, scandir string
	svscan        *exec.Cmd
	// env is what every reconciler run gets: the rendering points the slots
	// at the stand-in gateway.
	env []string
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// newWorld copies the fixture home and starts s6-svscan on an empty scandir.
func newWorld(fixture string) *world {
	dir := GinkgoT().TempDir()
	w := &world{home: filepath.Join(dir, "home"), scandir: filepath.Join(dir, "scan")}
	Expect(copyTree(filepath.Join(repoRoot(), "test", "fixtures", fixture), w.home)).To(Succeed())
	Expect(os.Mkdir(w.scandir, 0o755)).To(Succeed())
	w.env = append(os.Environ(),
		"HERMES_HOME="+w.home,
		"HERMES_RECONCILE_SCANDIR="+w.scandir,
		"HERMES_RECONCILE_SHEBANG=#!/bin/sh",
		"HERMES_RECONCILE_USER=",
		"HERMES_RECONCILE_GATEWAY_COMMAND="+filepath.Join(repoRoot(), "test", "fake-gateway"),
		"HERMES_RECONCILE_HOME_DIR="+w.home,
		"HERMES_RECONCILE_LOG_HERMES_HOME="+w.home,
		"HERMES_RECONCILE_LOG_FORMAT=json",
		"GATEWAY_MULTIPLEX_PROFILES=",
		"NO_COLOR=1",
	)
	w.startSvscan()
	return w
}

// startSvscan runs s6-svscan in its own process group; the cleanup stops it
// by PID (SIGTERM makes it stop every supervisor and service) and waits.
func (w *world) startSvscan() {
	cmd := exec.Command("s6-svscan", w.scandir)
	cmd.Env = append(os.Environ(), "HERMES_HOME="+w.home)
	cmd.Stdout, cmd.Stderr = GinkgoWriter, GinkgoWriter
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	Expect(cmd.Start()).To(Succeed())
	w.svscan = cmd
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	Eventually(func() error {
		_, err := os.Stat(filepath.Join(w.scandir, ".s6-svscan", "control"))
		return err
	}).Should(Succeed())
	DeferCleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		Eventually(done, 10*time.Second).Should(BeClosed())
	})
}

// stopSvscan stops s6-svscan now (and with it every gateway).
func (w *world) stopSvscan() {
	_ = w.svscan.Process.Signal(syscall.SIGTERM)
	Eventually(func() bool { return processGone(w.svscan.Process.Pid) }).Should(BeTrue())
}

func processGone(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// A zombie (state Z) has exited; only its parent has not reaped it yet.
	fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
	return len(fields) > 0 && fields[0] == "Z"
}

// reconcile runs the binary with args and waits for it to exit.
func (w *world) reconcile(args ...string) *gexec.Session {
	s := w.start(args...)
	Eventually(s, 60*time.Second).Should(gexec.Exit())
	return s
}

func (w *world) start(args ...string) *gexec.Session {
	cmd := exec.Command(binary, args...)
	cmd.Env = w.env
	s, err := gexec.Start(cmd, GinkgoWriter, GinkgoWriter)
	Expect(err).NotTo(HaveOccurred())
	return s
}

func (w *world) slot(profile string) string { return filepath.Join(w.scandir, "gateway-"+profile) }

func (w *world) profileDir(profile string) string {
	if profile == "default" {
		return w.home
	}
	return filepath.Join(w.home, "profiles", profile)
}

// svstat is `s6-svstat -o up,wantedup,pid` of a slot.
type svstat struct {
	Up, WantUp bool
	PID        int
}

func (w *world) status(profile string) (svstat, error) {
	out, err := exec.Command("s6-svstat", "-o", "up,wantedup,pid", w.slot(profile)).CombinedOutput()
	if err != nil {
		return svstat{}, fmt.Errorf("s6-svstat: %v: %s", err, out)
	}
	f := strings.Fields(string(out))
	if len(f) != 3 {
		return svstat{}, fmt.Errorf("s6-svstat printed %q", out)
	}
	pid, _ := strconv.Atoi(f[2])
	return svstat{Up: f[0] == "true", WantUp: f[1] == "true", PID: pid}, nil
}

// upPID waits until profile's gateway is up and returns its pid.
func (w *world) upPID(profile string) int {
	var st svstat
	Eventually(func() (bool, error) {
		var err error
		st, err = w.status(profile)
		return st.Up, err
	}).Should(BeTrue(), "gateway-%s up", profile)
	return st.PID
}

// slots lists the gateway-* entries of the scandir.
func (w *world) slots() []string {
	entries, err := os.ReadDir(w.scandir)
	Expect(err).NotTo(HaveOccurred())
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "gateway-") {
			out = append(out, e.Name())
		}
	}
	return out
}

// supervisors lists the command lines of s6-svscan's children.
func (w *world) supervisors() []string {
	pid := w.svscan.Process.Pid
	var out []string
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, t := range tasks {
		data, _ := os.ReadFile(t)
		for _, c := range strings.Fields(string(data)) {
			cmdline, err := os.ReadFile("/proc/" + c + "/cmdline")
			if err == nil {
				out = append(out, strings.TrimSpace(strings.ReplaceAll(string(cmdline), "\x00", " ")))
			}
		}
	}
	sort.Strings(out)
	return out
}

func (w *world) supervisorsOf(slot string) []string {
	var out []string
	for _, s := range w.supervisors() {
		if s == "s6-supervise "+slot || s == "s6-supervise "+slot+"/log" {
			out = append(out, s)
		}
	}
	return out
}

func writeFile(path, content string) {
	Expect(os.MkdirAll(filepath.Dir(path), 0o755)).To(Succeed())
	Expect(os.WriteFile(path, []byte(content), 0o644)).To(Succeed())
}

// writeAtomic writes like Hermes does: a temp file renamed over the target.
func writeAtomic(path, content string) {
	tmp := path + ".tmp"
	writeFile(tmp, content)
	Expect(os.Rename(tmp, path)).To(Succeed())
}

func readFile(path string) string {
	data, err := os.ReadFile(path)
	Expect(err).NotTo(HaveOccurred())
	return string(data)
}

// treeHash hashes names, modes, symlink targets and contents of a tree,
// leaving out what s6 itself rewrites at run time (supervise/, event/ and
// .s6-svscan/).
func treeHash(root string) string {
	h := sha256.New()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		switch d.Name() {
		case "supervise", "event", ".s6-svscan":
			if d.IsDir() {
				fmt.Fprintf(h, "%s dir(s6)\n", rel)
				return filepath.SkipDir
			}
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s %v\n", rel, info.Mode())
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(path)
			fmt.Fprintf(h, "-> %s\n", target)
		case info.Mode().IsRegular():
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			h.Write(data)
		}
		return nil
	})
	Expect(err).NotTo(HaveOccurred())
	return hex.EncodeToString(h.Sum(nil))
}

func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
}

func regexpQuote(s string) string { return regexp.QuoteMeta(s) }

func itoa(i int) string { return strconv.Itoa(i) }
