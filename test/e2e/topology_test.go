//go:build linux

package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"

	"github.com/hermes-reconcile/hermes-reconcile/test/testkit"
)

// hermesCheckout writes a Hermes checkout of version v (its
// pyproject.toml) and returns its root; "" writes none.
func hermesCheckout(v string) string {
	root := filepath.Join(GinkgoT().TempDir(), "hermes")
	Expect(os.MkdirAll(root, 0o755)).To(Succeed())
	if v != "" {
		writeFile(filepath.Join(root, "pyproject.toml"), "[build-system]\nrequires = [\"setuptools\"]\n\n[project]\nname = \"hermes-agent\"\nversion = \""+v+"\"\n")
	}
	return root
}

// hermesEnv is the stand-in Hermes CLI's environment for a world whose
// slots it writes runnable (the stand-in gateway, no privilege drop), with
// extra lines in the environment.
func (w *world) hermesEnv(extra ...string) []string {
	return append([]string{"HERMES_HOME=" + w.Home, "S6_PROFILE_GATEWAY_SCANDIR=" + w.Scandir,
		"HERMES_CLI_SHEBANG=#!/bin/sh", "HERMES_CLI_COMMAND=" + testkit.FakeGateway(), "HERMES_CLI_HOME_DIR=" + w.Home,
		"HERMES_CLI_USER=", fmt.Sprintf("HERMES_CLI_OWNER=%d:%d", os.Getuid(), os.Getgid())}, extra...)
}

// hermesWith runs the stand-in Hermes CLI with env on top of the process's.
func (w *world) hermesWith(env []string, args ...string) string {
	GinkgoHelper()
	cmd := exec.Command(filepath.Join(repoRoot(), "test", "hermes-cli"), args...)
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	Expect(err).NotTo(HaveOccurred(), "hermes-cli %v: %s%s", args, out, stderr.String())
	return stderr.String()
}

// runState is a slot's run state as s6 has it: up, or down and wanted down.
func (w *world) runState(profile string) string {
	st, err := w.Status(profile)
	switch {
	case err != nil:
		return "unsupervised"
	case st.Up:
		return "up"
	case st.WantUp:
		return "starting"
	}
	return "down"
}

// slotInode is the inode of a slot dir, 0 when it is not there.
func (w *world) slotInode(profile string) uint64 {
	fi, err := os.Lstat(w.Slot(profile))
	if err != nil {
		return 0
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

var _ = Describe("beside the newest Hermes", func() {
	Describe("the topology the installed Hermes uses", func() {
		// alpha wants to run, the root's own intent is stopped: one root
		// gateway serving alpha (multiplex) or alpha's own gateway
		// (per-profile), never both.
		DescribeTable("leaves the slots as that Hermes's boot does and says which rule applied",
			func(version, topology, config string, multiplex bool, says string) {
				w := newWorld("topology")
				if config != "" {
					writeFile(filepath.Join(w.Home, "config.yaml"), config)
				}
				root := hermesCheckout(version)
				says = strings.ReplaceAll(says, "HERMES_ROOT", root)
				env := w.with("HERMES_RECONCILE_HERMES_VERSION=", "HERMES_RECONCILE_HERMES_ROOT="+root,
					"HERMES_RECONCILE_TOPOLOGY="+topology)
				s := w.runEnv(env, "--once")
				Expect(s).To(gexec.Exit(0), "%s", s.Err.Contents())
				Expect(strings.SplitN(string(s.Out.Contents()), "\n", 2)[0]).To(Equal(says))

				def, named := "down", "up"
				if multiplex {
					def, named = "up", "down"
				}
				Eventually(func() []string {
					return []string{w.runState("default"), w.runState("alpha"), w.runState("beta")}
				}).Should(Equal([]string{def, named, "down"}))
				Consistently(func() []string {
					return []string{w.runState("default"), w.runState("alpha")}
				}).Should(Equal([]string{def, named}), "never a named gateway beside a root gateway that serves it")

				By("a second pass changes nothing")
				s = w.runEnv(env, "--once", "--detailed-exitcode")
				Expect(s).To(gexec.Exit(0), "%s", s.Out.Contents())
				Expect(string(s.Out.Contents())).To(Equal(says + "\nNo changes. Services match the profiles.\n"))
			},
			Entry("no Hermes version found: multiplex, the safe side", "", "auto", "", true,
				"Topology: multiplex. Hermes version unknown (no HERMES_ROOT/pyproject.toml): the safe side, as a named gateway left down can be seen and started and two on one bot token cannot be undone; set --topology or --hermes-root to decide otherwise."),
			Entry("Hermes before #112854, no key: per-profile", "0.20.6", "auto", "model: {}\n", false,
				"Topology: per-profile. Hermes 0.20.6 (HERMES_ROOT/pyproject.toml): before 0.21.4, multiplex_profiles in the root config.yaml (or GATEWAY_MULTIPLEX_PROFILES) decides; absent: per-profile."),
			Entry("Hermes before #112854, multiplex_profiles: false: per-profile", "0.20.6", "auto", "gateway:\n  multiplex_profiles: false\n", false,
				"Topology: per-profile. Hermes 0.20.6 (HERMES_ROOT/pyproject.toml): before 0.21.4, multiplex_profiles in the root config.yaml (or GATEWAY_MULTIPLEX_PROFILES) decides; absent: per-profile."),
			Entry("Hermes before #112854, multiplex_profiles: true: multiplex", "0.21.3", "auto", "multiplex_profiles: true\n", true,
				"Topology: multiplex. Hermes 0.21.3 (HERMES_ROOT/pyproject.toml): before 0.21.4, multiplex_profiles in the root config.yaml (or GATEWAY_MULTIPLEX_PROFILES) decides; absent: per-profile."),
			Entry("Hermes after #118273, no key: the boot folds", "0.21.4", "auto", "", true,
				"Topology: multiplex. Hermes 0.21.4 (HERMES_ROOT/pyproject.toml): from 0.21.4 (#118273), the container boot folds every named profile into the root gateway, whatever the config says."),
			Entry("Hermes after #118273, multiplex_profiles: false: the boot folds all the same", "0.22.1", "auto", "gateway:\n  multiplex_profiles: false\n", true,
				"Topology: multiplex. Hermes 0.22.1 (HERMES_ROOT/pyproject.toml): from 0.21.4 (#118273), the container boot folds every named profile into the root gateway, whatever the config says."),
			Entry("--topology per-profile forced, multiplex_profiles: false", "0.21.4", "per-profile", "gateway:\n  multiplex_profiles: false\n", false,
				"Topology: per-profile. --topology per-profile: forced by the operator, each profile's gateway follows its own intent."),
			Entry("--topology multiplex forced, no key", "0.20.6", "multiplex", "", true,
				"Topology: multiplex. --topology multiplex: forced by the operator, the root gateway serves every profile."),
			Entry("--topology multiplex forced, multiplex_profiles: false", "", "multiplex", "gateway:\n  multiplex_profiles: false\n", true,
				"Topology: multiplex. --topology multiplex: forced by the operator, the root gateway serves every profile."),
		)

		It("warns when per-profile is forced beside a Hermes that multiplexes unless told not to", func() {
			w := newWorld("topology")
			env := w.with("HERMES_RECONCILE_HERMES_VERSION=0.21.4", "HERMES_RECONCILE_TOPOLOGY=per-profile")
			s := w.runEnv(env, "--dry-run")
			Expect(s).To(gexec.Exit(0))
			Expect(string(s.Err.Contents())).To(Equal("Warning: " + filepath.Join(w.Home, "config.yaml") + ": --topology per-profile beside Hermes 0.21.4, " +
				"whose root gateway multiplexes unless told not to (from 0.21.4, #112854): it may serve the named profiles too, on their bot tokens; " +
				"set gateway.multiplex_profiles: false (and gateway.auto_multiplex_migration: false) here\n"))
			writeFile(filepath.Join(w.Home, "config.yaml"), "gateway:\n  multiplex_profiles: false\n")
			s = w.runEnv(env, "--dry-run")
			Expect(s).To(gexec.Exit(0))
			Expect(string(s.Err.Contents())).To(BeEmpty())
		})

		It("agrees slot by slot with the newest Hermes boot (0.21.4)", func() {
			w := newWorld("home")
			writeFile(filepath.Join(w.Home, "config.yaml"), "model: {}\n")
			boot := filepath.Join(GinkgoT().TempDir(), "boot")
			Expect(os.Mkdir(boot, 0o755)).To(Succeed())
			w.hermesWith([]string{"HERMES_HOME=" + w.Home, "S6_PROFILE_GATEWAY_SCANDIR=" + boot,
				fmt.Sprintf("HERMES_CLI_OWNER=%d:%d", os.Getuid(), os.Getgid())}, "boot")
			s := w.runEnv(w.with("HERMES_RECONCILE_HERMES_VERSION=0.21.4"), "--once")
			Expect(s).To(gexec.Exit(0), "%s", s.Err.Contents())
			down := func(scandir string) map[string]bool {
				out := map[string]bool{}
				for _, slot := range testkit.Slots(scandir) {
					_, err := os.Stat(filepath.Join(scandir, slot, "down"))
					out[slot] = err == nil
				}
				return out
			}
			// broken and Upper are held or invalid here, and the boot
			// registers whatever has a SOUL.md: compare what both made.
			ours, theirs := down(w.Scandir), down(boot)
			Expect(ours).NotTo(BeEmpty())
			for slot, d := range ours {
				Expect(theirs).To(HaveKeyWithValue(slot, d), "%s: down in ours %v, in the boot's %v", slot, d, theirs[slot])
			}
			Expect(ours).To(HaveKeyWithValue("gateway-default", false), "the root gateway serves the running profiles")
			Expect(ours).To(HaveKeyWithValue("gateway-alpha", true))
		})
	})

	It("adopts a slot Hermes wrote without restarting it, then, or ever after", func() {
		w := newWorld("home")
		By("Hermes registers and starts alpha, with an extra environment line")
		Expect(w.hermesWith(w.hermesEnv("HERMES_CLI_EXTRA_ENV=EXTRA_FLAG=1"), "gateway", "start", "alpha")).
			To(ContainSubstring("registered the s6 gateway slot for profile 'alpha'"))
		pid := w.UpPID("alpha")
		Expect(readFile(filepath.Join(w.Slot("alpha"), "run"))).To(ContainSubstring("export EXTRA_FLAG='1'\n"))

		By("--once adopts it: same pid")
		s := w.Run("--once")
		Expect(s).To(gexec.Exit(0), "%s", s.Err.Contents())
		Expect(string(s.Out.Contents())).To(ContainSubstring("~ gateway-alpha  adopt run  adopted\n"))
		Expect(readFile(filepath.Join(w.Slot("alpha"), "run"))).NotTo(ContainSubstring("EXTRA_FLAG"))
		Expect(w.UpPID("alpha")).To(Equal(pid))
		s = w.Run("status", "alpha")
		Expect(string(s.Out.Contents())).To(ContainSubstring("adopted as it runs: what we wrote takes effect at its next start"))

		By("a second and a third --once change nothing")
		for range 2 {
			s = w.Run("--once", "--detailed-exitcode")
			Expect(s).To(gexec.Exit(0), "%s", s.Out.Contents())
			Expect(w.UpPID("alpha")).To(Equal(pid))
		}

		By("watch mode started afterwards leaves it alone for a minute")
		wt := w.watch()
		Consistently(func() int { return w.UpPID("alpha") }, time.Minute, 250*time.Millisecond).Should(Equal(pid))
		Expect(wt.actionsOf("alpha")).To(BeEmpty())

		By("its next start runs what we wrote")
		Expect(exec.Command("s6-svc", "-r", w.Slot("alpha")).Run()).To(Succeed())
		Eventually(func() int { return w.UpPID("alpha") }).ShouldNot(Equal(pid))
		Expect(wt.actionsOf("alpha")).To(BeEmpty())
	})

	It("starts a profile that `hermes -p X gateway start` registers, beside watch mode, once each and without a fight", func() {
		w := newWorld("home")
		starts := GinkgoT().TempDir()
		w.Env = w.with("HERMES_RECONCILE_ENV=FAKE_GATEWAY_DIR=" + starts)
		wt := w.watch()
		Eventually(w.Slots).Should(HaveLen(4))
		names := make([]string, 10)
		for i := range names {
			names[i] = fmt.Sprintf("bind-%02d", i)
		}

		// Sample every slot's inode: one that appeared must never be
		// replaced by another writer.
		first := map[string]uint64{}
		var mu sync.Mutex
		done := make(chan struct{})
		sampled := make(chan struct{})
		go func() {
			defer GinkgoRecover()
			defer close(sampled)
			for {
				mu.Lock()
				for _, n := range names {
					ino := w.slotInode(n)
					switch old, seen := first[n]; {
					case ino == 0:
					case !seen:
						first[n] = ino
					default:
						Expect(ino).To(Equal(old), "gateway-%s replaced after it appeared", n)
					}
				}
				mu.Unlock()
				select {
				case <-done:
					return
				case <-time.After(10 * time.Millisecond):
				}
			}
		}()

		By("profiles made on a bind mount, no slot; then `gateway start` of each")
		for _, n := range names {
			w.createProfile(n, "")
		}
		env := w.hermesEnv("HERMES_CLI_EXTRA_ENV=FAKE_GATEWAY_DIR=" + starts)
		for _, n := range names {
			w.hermesWith(env, "gateway", "start", n)
		}
		for _, n := range names {
			w.UpPID(n)
			Eventually(filepath.Join(w.Slot(n), "data", "hermes-reconcile.hash")).Should(BeAnExistingFile(), "adopted: %s", n)
		}
		By("each started once, and left alone by the passes that follow")
		wt.askedPass()
		Consistently(func() map[string]int {
			out := map[string]int{}
			for _, n := range names {
				data, _ := os.ReadFile(filepath.Join(starts, n+".starts"))
				out[n] = strings.Count(string(data), "\n")
			}
			return out
		}, 5*time.Second, 100*time.Millisecond).Should(HaveEach(1))
		close(done)
		<-sampled
		mu.Lock()
		Expect(first).To(HaveLen(len(names)))
		mu.Unlock()
		for _, n := range names {
			Expect(wt.actionsOf(n)).NotTo(ContainElement(BeElementOf("update", "remove")), n)
		}
		Expect(wt.logLines("action failed")).To(BeEmpty())
	})
})
