//go:build linux

package testkit

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"
)

// S6Programs are the s6 programs the suites run or the binary needs.
var S6Programs = []string{"s6-svscan", "s6-svscanctl", "s6-svstat", "s6-svc", "s6-svok", "s6-log"}

// RequireS6 fails the suite at once, with the fix, when s6 is missing.
func RequireS6() {
	for _, prog := range S6Programs {
		_, err := exec.LookPath(prog)
		Expect(err).NotTo(HaveOccurred(), "%s must be installed (Debian package s6; `make test` installs it)", prog)
	}
}

// Svscan is a real s6-svscan on a scandir, in its own process group.
type Svscan struct {
	cmd  *exec.Cmd
	done chan struct{}
	once sync.Once
	t    T
	// within bounds Stop's wait for s6-svscan's exit; group makes Stop wait
	// for its whole process group too.
	within time.Duration
	group  bool
}

// StartSvscan runs s6-svscan with flags on the scandir and waits until it
// listens on its control FIFO; the cleanup stops it. Pdeathsig: should the
// test process die without its cleanups (a timeout), s6-svscan and its
// gateways still go.
func (w *World) StartSvscan(flags ...string) *Svscan {
	w.t.Helper()
	cmd := exec.Command("s6-svscan", append(flags, w.Scandir)...)
	cmd.Env = append(os.Environ(), "HERMES_HOME="+w.Home)
	cmd.Stdout, cmd.Stderr = w.out, w.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	// Supervisors orphaned by a killed s6-svscan keep its output pipe open;
	// its exit, not their end, is what Stop waits for.
	cmd.WaitDelay = time.Second
	w.g.Expect(cmd.Start()).To(Succeed())
	s := &Svscan{cmd: cmd, done: make(chan struct{}), t: w.t, within: w.svscanWithin, group: w.svscanGroup}
	go func() { _ = cmd.Wait(); close(s.done) }()
	w.t.Cleanup(s.Stop)
	w.g.Eventually(func() (bool, error) {
		return FIFOListening(filepath.Join(w.Scandir, ".s6-svscan", "control"))
	}).Should(BeTrue(), "s6-svscan listening")
	w.Sv = s
	return s
}

// StopSvscan stops s6-svscan now (and with it every gateway).
func (w *World) StopSvscan() { w.Sv.Stop() }

// Stop stops s6-svscan (SIGTERM makes it stop every supervisor and
// service) and waits until it has exited, killing it past its bound; in a
// benchmark's world, then until nothing of its process group runs, so the
// scandir can go. A second Stop does nothing.
func (s *Svscan) Stop() {
	s.once.Do(func() {
		pid := s.cmd.Process.Pid
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(s.within):
			_ = s.cmd.Process.Kill()
			<-s.done
			s.t.Errorf("s6-svscan %d did not exit within %s of SIGTERM; killed it", pid, s.within)
			return
		}
		if s.group && !poll(s.within, 10*time.Millisecond, func() bool { return !groupAlive(pid) }) {
			s.t.Errorf("supervisors of s6-svscan %d still running %s after it exited", pid, s.within)
		}
	})
}

// groupAlive reports whether a process of group pgid still runs (zombies
// count as gone: PID 1 here may never reap them).
func groupAlive(pgid int) bool {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		data, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i := strings.LastIndexByte(string(data), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(data[i+1:]))
		// state ppid pgrp
		if len(f) > 2 && f[2] == strconv.Itoa(pgid) && f[0] != "Z" {
			return true
		}
	}
	return false
}

// poll checks cond every interval until it holds (true) or bound passes
// (false).
func poll(bound, every time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(every)
	}
	return true
}

// Pid is s6-svscan's process id.
func (s *Svscan) Pid() int { return s.cmd.Process.Pid }

// Supervisors lists the service directories of s6-svscan's children, as
// their s6-supervise command lines name them (relative to the scandir).
func (s *Svscan) Supervisors() []string {
	var out []string
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", s.Pid()))
	for _, t := range tasks {
		data, _ := os.ReadFile(t)
		for _, c := range strings.Fields(string(data)) {
			cmdline, err := os.ReadFile("/proc/" + c + "/cmdline")
			if err != nil {
				continue
			}
			args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
			if len(args) == 2 && args[0] == "s6-supervise" {
				out = append(out, args[1])
			}
		}
	}
	sort.Strings(out)
	return out
}

// SupervisorsOf lists the supervisors of slot and of its logger.
func (s *Svscan) SupervisorsOf(slot string) []string {
	var out []string
	for _, d := range s.Supervisors() {
		if d == slot || d == slot+"/log" {
			out = append(out, d)
		}
	}
	return out
}

// LockHeld is s6-svok's test: an s6-supervise holds the lock on
// slotDir/supervise/lock.
func LockHeld(slotDir string) bool {
	f, err := os.Open(filepath.Join(slotDir, "supervise", "lock"))
	if err != nil {
		return false
	}
	defer f.Close()
	lk := unix.Flock_t{Type: unix.F_WRLCK}
	if err := unix.FcntlFlock(f.Fd(), unix.F_GETLK, &lk); err != nil {
		return false
	}
	return lk.Type != unix.F_UNLCK
}

// Slots lists the gateway-* entries of scandir, sorted.
func Slots(scandir string) []string { return entriesWithPrefix(scandir, "gateway-") }

// Leftovers lists our dot-named staging and removal dirs in scandir.
func Leftovers(scandir string) []string {
	return entriesWithPrefix(scandir, ".hermes-reconcile.gateway-")
}

// Staging is where the reconciler builds a new slot before it publishes it.
func Staging(slot string) string { return ".hermes-reconcile." + slot + ".tmp" }

func entriesWithPrefix(dir, prefix string) []string {
	entries, err := os.ReadDir(dir)
	Expect(err).NotTo(HaveOccurred())
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			out = append(out, e.Name())
		}
	}
	return out
}

// FIFOListening reports whether something reads the FIFO at path.
func FIFOListening(path string) (bool, error) {
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENXIO) || errors.Is(err, unix.ENOENT) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	unix.Close(fd)
	return true, nil
}

// TreeHash hashes names, types, modes, owners, symlink targets and contents
// of a tree, leaving out what s6 itself rewrites at run time (supervise/,
// event/, .s6-svscan/) when skipS6 is set.
func TreeHash(root string, skipS6 bool) string {
	h := sha256.New()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if skipS6 && d.IsDir() {
			switch d.Name() {
			case "supervise", "event", ".s6-svscan":
				fmt.Fprintf(h, "%s dir(s6)\n", rel)
				return filepath.SkipDir
			}
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		st := info.Sys().(*syscall.Stat_t)
		fmt.Fprintf(h, "%s %v %d:%d\n", rel, info.Mode(), st.Uid, st.Gid)
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
