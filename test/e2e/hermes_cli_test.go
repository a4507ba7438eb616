//go:build linux

package e2e

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"

	"github.com/hermes-reconcile/hermes-reconcile/test/testkit"
)

// hermes runs the stand-in of the Hermes CLI (test/hermes-cli) on the
// world, as the person at the container's shell would, and returns what it
// said on stderr.
func (w *world) hermes(args ...string) string {
	GinkgoHelper()
	cmd := exec.Command(filepath.Join(repoRoot(), "test", "hermes-cli"), args...)
	cmd.Env = append(os.Environ(), "HERMES_HOME="+w.Home, "S6_PROFILE_GATEWAY_SCANDIR="+w.Scandir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	Expect(err).NotTo(HaveOccurred(), "hermes-cli %v: %s%s", args, out, stderr.String())
	return stderr.String()
}

// cpu is the reconciler's CPU time so far (utime + stime).
func (wt watcher) cpu() time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", wt.Command.Process.Pid))
	Expect(err).NotTo(HaveOccurred())
	f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond // USER_HZ is 100 here
}

// actionsOf are the reconciler's action log lines for profile.
func (wt watcher) actionsOf(profile string) []string {
	var out []string
	for _, msg := range []string{"action done", "action failed", "action superseded"} {
		for _, l := range wt.logLines(msg) {
			if l["profile"] == profile {
				out = append(out, fmt.Sprint(l["action"]))
			}
		}
	}
	return out
}

// gatewaysOf lists the pids of stand-in gateways running for profile.
func gatewaysOf(profile string) []int {
	var pids []int
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		args := strings.Split(string(data), "\x00")
		for i := 0; i+1 < len(args); i++ {
			if args[i] == "-p" && args[i+1] == profile && strings.Contains(string(data), "gateway") {
				pid, _ := strconv.Atoi(strings.Split(p, "/")[2])
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

var _ = Describe("beside the Hermes CLI", func() {
	var (
		w  *world
		wt watcher
	)
	BeforeEach(func() {
		w = newWorld("home")
		wt = w.watch()
		Eventually(w.Slots).Should(HaveLen(4))
	})

	It("leaves `hermes profile create` its slots: 20 creates, no warning, no fight, no pass storm", func() {
		passesBefore := wt.passes()
		var warnings []string
		for i := range 20 {
			if msg := w.hermes("profile", "create", fmt.Sprintf("new-%02d", i)); msg != "" {
				warnings = append(warnings, msg)
			}
		}
		Expect(warnings).To(BeEmpty(), "the stand-in found slots already registered")
		for i := range 20 {
			name := fmt.Sprintf("new-%02d", i)
			Eventually(func() bool { return w.supervised(name) }).Should(BeTrue(), name)
			Eventually(func() string { return filepath.Join(w.Slot(name), "data", "hermes-reconcile.hash") }).Should(BeAnExistingFile(), "adopted: "+name)
			for _, f := range []string{"supervise/control", "log/supervise/control"} {
				fi, err := os.Stat(filepath.Join(w.Slot(name), f))
				Expect(err).NotTo(HaveOccurred())
				Expect(fi.Mode()&os.ModeNamedPipe).NotTo(BeZero(), "%s/%s", name, f)
				Expect(fi.Mode().Perm()).To(Equal(os.FileMode(0o660)), "%s/%s", name, f)
				Expect(fi.Sys().(*syscall.Stat_t).Uid).To(BeNumerically("==", 10000), "%s/%s is the service user's", name, f)
			}
			Eventually(func() []string { return wt.actionsOf(name) }).Should(Equal([]string{"adopt"}), "%s: adopted, never created over Hermes", name)
		}
		Expect(wt.logLines("action failed")).To(BeEmpty())

		By("holding every slot byte for byte as rendered")
		Expect(w.Run("--dry-run", "--detailed-exitcode")).To(gexec.Exit(0))

		By("going quiet: no pass storm, no CPU")
		Expect(wt.askedPass()["actions"]).To(Equal(0.0))
		passes, cpu := wt.passes(), wt.cpu()
		Consistently(wt.passes, 5*time.Second, 250*time.Millisecond).Should(Equal(passes), "passes in 5 idle seconds")
		Expect(wt.cpu()-cpu).To(BeNumerically("<=", 50*time.Millisecond), "CPU in 5 idle seconds")
		GinkgoWriter.Printf("20 creates: %d passes, then %v CPU in 5 idle seconds\n", passes-passesBefore, wt.cpu()-cpu)
	})

	It("lets `hermes profile delete` stop and unregister: 10 deletes of running gateways, none started again", func() {
		var names []string
		for i := range 10 {
			name := fmt.Sprintf("del-%02d", i)
			names = append(names, name)
			Expect(w.hermes("profile", "create", name)).To(BeEmpty())
		}
		for _, name := range names {
			Eventually(func() string { return filepath.Join(w.Slot(name), "data", "hermes-reconcile.hash") }).Should(BeAnExistingFile())
			Expect(w.hermes("gateway", "start", name)).To(BeEmpty())
			w.UpPID(name)
		}
		// What the reconciler did so far: adopted each, and made its start
		// durable (the down marker gone). From here on it must do nothing.
		Expect(wt.askedPass()["actions"]).To(Equal(0.0))
		done := map[string][]string{}
		for _, name := range names {
			done[name] = wt.actionsOf(name)
		}
		for _, name := range names {
			Expect(w.hermes("profile", "delete", name)).To(BeEmpty())
		}
		// Longer than the settle window: a slot recreated, or a gateway
		// started again, would show.
		Consistently(func() []int {
			var pids []int
			for _, name := range names {
				pids = append(pids, gatewaysOf(name)...)
			}
			return pids
		}, 4*time.Second, 50*time.Millisecond).Should(BeEmpty(), "gateways of deleted profiles running")
		for _, name := range names {
			Expect(wt.actionsOf(name)).To(Equal(done[name]), "%s: nothing recreated, nothing started once the delete began", name)
		}
		entries, err := os.ReadDir(w.Scandir)
		Expect(err).NotTo(HaveOccurred())
		for _, e := range entries {
			Expect(e.Name()).NotTo(ContainSubstring("del-"), "left in the scandir")
		}
		Expect(testkit.Leftovers(w.Scandir)).To(BeEmpty())
		Expect(wt.logLines("action failed")).To(BeEmpty())
	})

	It("never reverses `hermes gateway start|stop|restart`: 30 operations beside 200 status writes a second", func() {
		for _, name := range []string{"ops", "noise1", "noise2"} {
			Expect(w.hermes("profile", "create", name)).To(BeEmpty())
		}
		for _, name := range []string{"ops", "noise1", "noise2"} {
			Eventually(func() string { return filepath.Join(w.Slot(name), "data", "hermes-reconcile.hash") }).Should(BeAnExistingFile())
			Expect(w.hermes("gateway", "start", name)).To(BeEmpty())
			w.UpPID(name)
		}
		w.churn(200, "noise1", "noise2")

		// A sampler of s6's view of ops, every 10 ms.
		type sample struct {
			st svstat
			op int // the operation it was taken after
		}
		var (
			mu      sync.Mutex
			samples []sample
			op      int
			stop    = make(chan struct{})
			done    = make(chan struct{})
		)
		go func() {
			defer close(done)
			t := time.NewTicker(10 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
				}
				st, err := w.Status("ops")
				mu.Lock()
				if err == nil {
					samples = append(samples, sample{st, op})
				}
				mu.Unlock()
			}
		}()

		rng := rand.New(rand.NewPCG(3, 30))
		verbs := make([]string, 30)
		up := true
		for i := range verbs {
			verbs[i] = []string{"start", "stop", "restart"}[rng.IntN(3)]
			if verbs[i] == "restart" && !up {
				verbs[i] = "start"
			}
			up = verbs[i] != "stop"
		}
		setOp := func(n int) {
			mu.Lock()
			op = n
			mu.Unlock()
		}
		for i, verb := range verbs {
			before, _ := w.Status("ops")
			setOp(-1) // in transition: samples not judged
			Expect(w.hermes("gateway", verb, "ops")).To(BeEmpty())
			target := func() (bool, error) {
				st, err := w.Status("ops")
				switch verb {
				case "stop":
					return !st.Up && !st.WantUp, err
				case "restart":
					return st.Up && st.WantUp && st.PID != before.PID, err
				}
				return st.Up && st.WantUp, err
			}
			Eventually(target).Should(BeTrue(), "operation %d (%s) took effect", i+1, verb)
			setOp(i + 1)
			// The window a reversal would fall in: the reconciler's pass
			// over the intent Hermes wrote, inside the settle window.
			Consistently(target, 300*time.Millisecond, 10*time.Millisecond).Should(BeTrue(), "operation %d (%s) held", i+1, verb)
		}
		close(stop)
		<-done

		By("checking every sample against the operation before it")
		reversals := 0
		pids := map[int]map[int]bool{}
		for _, s := range samples {
			if s.op <= 0 {
				continue
			}
			verb := verbs[s.op-1]
			if pids[s.op] == nil {
				pids[s.op] = map[int]bool{}
			}
			if s.st.PID > 0 {
				pids[s.op][s.st.PID] = true
			}
			switch {
			case verb == "stop" && s.st.WantUp:
				reversals++
			case verb != "stop" && !s.st.WantUp:
				reversals++
			}
		}
		Expect(reversals).To(BeZero(), "samples against the operation before them")
		for i, verb := range verbs {
			if verb == "restart" {
				Expect(len(pids[i+1])).To(BeNumerically("<=", 2), "operation %d, a restart: one pid change, not more", i+1)
			}
		}
		GinkgoWriter.Printf("30 operations, %d samples, 0 reversals\n", len(samples))
	})
})
