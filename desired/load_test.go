package desired_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/hermes-reconcile/hermes-reconcile/desired"
)

// home is a HERMES_HOME built in a temp dir.
type home string

func newHome() home {
	root := home(GinkgoT().TempDir())
	root.write("config.yaml", "model: test\n") // an empty root reads as "not mounted"
	return root
}

func (h home) path(rel string) string { return filepath.Join(string(h), filepath.FromSlash(rel)) }

func (h home) write(rel, content string) {
	GinkgoHelper()
	p := h.path(rel)
	Expect(os.MkdirAll(filepath.Dir(p), 0o755)).To(Succeed())
	Expect(os.WriteFile(p, []byte(content), 0o644)).To(Succeed())
}

func (h home) mkdir(rel string) {
	GinkgoHelper()
	Expect(os.MkdirAll(h.path(rel), 0o755)).To(Succeed())
}

// profile makes profiles/<name> with a SOUL.md and, when state is not
// empty, a gateway_state.json.
func (h home) profile(name, state string) {
	GinkgoHelper()
	h.write("profiles/"+name+"/SOUL.md", "# "+name+"\n")
	if state != "" {
		h.write("profiles/"+name+"/gateway_state.json", state)
	}
}

const (
	running       = `{"desired_state":"running","updated_at":1767225600}`
	stopped       = `{"desired_state":"stopped","updated_at":1767225600}`
	legacyRunning = `{"gateway_state":"running","updated_at":"2026-01-01T00:00:00Z"}`
	legacyStopped = `{"gateway_state":"startup_failed"}`
)

// svcLine summarises a desired service on one line.
func svcLine(s desired.Service) string {
	want := "down"
	if s.WantUp {
		want = "up"
	}
	line := fmt.Sprintf("%s %s %s", s.Profile, want, s.Reason)
	if s.Enforce {
		line += " enforced"
	}
	if len(s.Folded) > 0 {
		line += " folds " + strings.Join(s.Folded, ",")
	}
	return line
}

func svcLines(st desired.State) []string {
	out := []string{}
	for _, s := range st.Services {
		out = append(out, svcLine(s))
	}
	return out
}

func diagLines(st desired.State) []string {
	out := []string{}
	for _, d := range st.Diagnostics {
		out = append(out, d.Severity.String()+" "+d.String())
	}
	return out
}

var _ = Describe("Load", func() {
	var (
		h   home
		opt desired.Options
	)
	BeforeEach(func() {
		h = newHome()
		opt = desired.Options{HermesVersion: "0.21.3"}
	})
	load := func() desired.State {
		GinkgoHelper()
		st, err := desired.Load(string(h), opt)
		Expect(err).NotTo(HaveOccurred())
		return st
	}

	It("always has the default profile, the root itself, even without profiles/", func() {
		st := load()
		Expect(st.Root).To(Equal(string(h)))
		Expect(st.Incomplete).To(BeFalse())
		Expect(st.Diagnostics).To(BeEmpty())
		Expect(svcLines(st)).To(Equal([]string{"default down no_intent"}))
		def := st.Services[0]
		Expect(def.Profile).To(Equal("default"))
		Expect(def.Dir).To(Equal(string(h)))
	})

	It("reads each profile's intent: explicit intents are enforced, legacy ones only seed", func() {
		h.write("gateway_state.json", running)
		h.profile("alpha", running)
		h.profile("beta", stopped)
		h.profile("gamma", "")
		h.profile("delta", legacyRunning)
		h.profile("epsilon", legacyStopped)
		st := load()
		Expect(svcLines(st)).To(Equal([]string{
			"default up intent_running enforced",
			"alpha up intent_running enforced",
			"beta down intent_stopped enforced",
			"delta up intent_running",
			"epsilon down intent_stopped",
			"gamma down no_intent",
		}))
		Expect(st.Diagnostics).To(BeEmpty())
		alpha := st.Services[1]
		Expect(alpha.Dir).To(Equal(h.path("profiles/alpha")))
		Expect(alpha.Intent).To(Equal(desired.IntentRecord{Intent: desired.IntentRunning, Explicit: true, Raw: "running"}))
	})

	It("counts a directory as a profile only when it holds SOUL.md or config.yaml", func() {
		h.write("profiles/soul/SOUL.md", "x")
		h.write("profiles/conf/config.yaml", "model: x\n")
		h.write("profiles/stateonly/gateway_state.json", running)
		h.mkdir("profiles/empty")
		h.write("profiles/notes", "a file, not a profile")
		st := load()
		Expect(svcLines(st)).To(Equal([]string{
			"default down no_intent",
			"conf down no_intent",
			"soul down no_intent",
		}))
		Expect(st.Diagnostics).To(BeEmpty())
	})

	It("sorts services: default first, then by name", func() {
		for _, n := range []string{"zeta", "0first", "alpha", "mid-1", "mid_0"} {
			h.profile(n, "")
		}
		var got []string
		for _, s := range load().Services {
			got = append(got, s.Profile)
		}
		Expect(got).To(Equal([]string{"default", "0first", "alpha", "mid-1", "mid_0", "zeta"}))
	})

	It("skips dot entries silently: tombstones and crashed staging dirs", func() {
		h.profile(".coder.staging-4242", running)
		h.write("profiles/.hidden/config.yaml", "multiplex_profiles: maybe\n")
		h.profile("coder", "")
		st := load()
		Expect(svcLines(st)).To(Equal([]string{"default down no_intent", "coder down no_intent"}))
		Expect(st.Diagnostics).To(BeEmpty())
		Expect(st.Held).To(BeEmpty())
	})

	It("skips profiles/default/ with a warning: it would collide with the root slot", func() {
		h.profile("default", running)
		st := load()
		Expect(svcLines(st)).To(Equal([]string{"default down no_intent"}))
		Expect(st.Diagnostics).To(HaveLen(1))
		d := st.Diagnostics[0]
		Expect(d.Severity).To(Equal(desired.Warning))
		Expect(d.Path).To(Equal(h.path("profiles/default")))
		Expect(d.Message).To(ContainSubstring("collide"))
		Expect(st.Held).To(BeEmpty())
	})

	It("diagnoses each invalid name on its own and keeps the rest", func() {
		long := strings.Repeat("x", 65)
		for _, n := range []string{"Coder", "name.with.dots", "café", "-dash", "_under", "with space", long} {
			h.profile(n, running)
		}
		h.profile("good", running)
		st := load()
		Expect(svcLines(st)).To(Equal([]string{"default down no_intent", "good up intent_running enforced"}))
		var paths []string
		for _, d := range st.Diagnostics {
			Expect(d.Severity).To(Equal(desired.Error))
			Expect(d.Message).To(ContainSubstring("invalid profile name"))
			paths = append(paths, filepath.Base(d.Path))
		}
		Expect(paths).To(ConsistOf("Coder", "name.with.dots", "café", "-dash", "_under", "with space", long))
		Expect(st.Incomplete).To(BeFalse())
	})

	It("excludes tombstoned profiles and reports them", func() {
		h.profile("gone", running)
		h.write("profiles/.deleted/gone", "")
		h.write("profiles/.deleted/long-gone", "") // its directory was already removed
		h.profile("kept", running)
		st := load()
		Expect(svcLines(st)).To(Equal([]string{"default down no_intent", "kept up intent_running enforced"}))
		Expect(st.Tombstoned).To(Equal(map[string]bool{"gone": true, "long-gone": true}))
		Expect(st.Held).To(BeEmpty())
		Expect(st.Diagnostics).To(BeEmpty())
	})

	It("holds a symlinked profile without following it", func() {
		target := GinkgoT().TempDir()
		Expect(os.WriteFile(filepath.Join(target, "SOUL.md"), []byte("x"), 0o644)).To(Succeed())
		Expect(os.WriteFile(filepath.Join(target, "gateway_state.json"), []byte(running), 0o644)).To(Succeed())
		h.mkdir("profiles")
		Expect(os.Symlink(target, h.path("profiles/linked"))).To(Succeed())
		st := load()
		Expect(svcLines(st)).To(Equal([]string{"default down no_intent"}))
		Expect(st.Held).To(Equal(map[string]bool{"linked": true}))
		Expect(st.Diagnostics).To(HaveLen(1))
		Expect(st.Diagnostics[0].Severity).To(Equal(desired.Error))
		Expect(st.Diagnostics[0].Profile).To(Equal("linked"))
		Expect(st.Diagnostics[0].Message).To(ContainSubstring("symlinked profile not followed"))
	})

	It("holds a profile whose config.yaml is malformed, naming path:line", func() {
		h.write("profiles/bad/config.yaml", "model: x\nmultiplex_profiles: maybe\n")
		h.profile("good", running)
		st := load()
		Expect(svcLines(st)).To(Equal([]string{"default down no_intent", "good up intent_running enforced"}))
		Expect(st.Held).To(Equal(map[string]bool{"bad": true}))
		Expect(st.Diagnostics).To(HaveLen(1))
		d := st.Diagnostics[0]
		Expect(d.Severity).To(Equal(desired.Error))
		Expect(d.Profile).To(Equal("bad"))
		Expect(d.String()).To(HavePrefix(h.path("profiles/bad/config.yaml") + ":2: multiplex_profiles must be true or false"))
	})

	It("holds a profile whose config.yaml has a YAML syntax error at its line", func() {
		h.write("profiles/tabs/config.yaml", "model: x\ngateway:\n\tport: 1\n")
		st := load()
		Expect(st.Held).To(Equal(map[string]bool{"tabs": true}))
		Expect(diagLines(st)).To(Equal([]string{
			"error " + h.path("profiles/tabs/config.yaml") + ":3: found character that cannot start any token; slot left as it is",
		}))
	})

	It("holds a profile whose config.yaml is over 1 MiB", func() {
		h.write("profiles/huge/config.yaml", "model: x\n"+strings.Repeat("#", 1<<20))
		st := load()
		Expect(st.Held).To(Equal(map[string]bool{"huge": true}))
		Expect(st.Diagnostics).To(HaveLen(1))
		Expect(st.Diagnostics[0].Message).To(ContainSubstring("limit"))
	})

	It("reads a corrupt gateway_state.json as no intent, with a warning at its line", func() {
		h.profile("coder", "{\n  \"desired_state\": \"running\",\n")
		st := load()
		Expect(svcLines(st)).To(Equal([]string{"default down no_intent", "coder down no_intent"}))
		Expect(st.Held).To(BeEmpty())
		Expect(st.Diagnostics).To(HaveLen(1))
		d := st.Diagnostics[0]
		Expect(d.Severity).To(Equal(desired.Warning))
		Expect(d.Path).To(Equal(h.path("profiles/coder/gateway_state.json")))
		Expect(d.Line).To(Equal(3))
		Expect(d.Message).To(ContainSubstring("no intent"))
	})

	It("reads a root gateway_state.json with a BOM", func() {
		h.write("gateway_state.json", "\xef\xbb\xbf"+stopped+"\n")
		Expect(svcLines(load())).To(Equal([]string{"default down intent_stopped enforced"}))
	})

	Context("when the root config.yaml is malformed", func() {
		BeforeEach(func() {
			h.write("config.yaml", "multiplex_profiles: [\n")
			h.write("gateway_state.json", running)
			h.profile("alpha", running)
		})

		It("holds default and touches no named run state: the topology is unknown", func() {
			st := load()
			Expect(st.Held).To(Equal(map[string]bool{"default": true}))
			Expect(svcLines(st)).To(Equal([]string{"alpha down topology_unknown"}))
			Expect(st.Diagnostics).To(HaveLen(1))
			Expect(st.Diagnostics[0].Path).To(Equal(h.path("config.yaml")))
			Expect(st.Diagnostics[0].Profile).To(Equal("default"))
		})

		It("lets a clear GATEWAY_MULTIPLEX_PROFILES decide the topology", func() {
			opt.MultiplexEnv = "false"
			st := load()
			Expect(st.Held).To(Equal(map[string]bool{"default": true}))
			Expect(svcLines(st)).To(Equal([]string{"alpha up intent_running enforced"}))
		})
	})

	Describe("multiplex topology", func() {
		BeforeEach(func() {
			h.profile("alpha", running)
			h.profile("beta", legacyRunning)
			h.profile("gamma", stopped)
			h.profile("delta", "")
		})

		It("registers every named slot down and runs default for any running intent, saying which it folds", func() {
			h.write("config.yaml", "multiplex_profiles: true\n")
			st := load()
			Expect(st.Multiplex).To(BeTrue())
			Expect(svcLines(st)).To(Equal([]string{
				"default up multiplex enforced folds alpha,beta",
				"alpha down multiplex enforced",
				"beta down multiplex enforced",
				"delta down multiplex enforced",
				"gamma down multiplex enforced",
			}))
		})

		It("reads the key under gateway: too", func() {
			h.write("config.yaml", "gateway:\n  multiplex_profiles: true\n")
			Expect(load().Multiplex).To(BeTrue())
		})

		It("keeps default's own reason when its own intent already runs", func() {
			h.write("config.yaml", "multiplex_profiles: true\n")
			h.write("gateway_state.json", running)
			Expect(svcLines(load())[0]).To(Equal("default up intent_running enforced folds alpha,beta"))
		})

		It("leaves default down when no intent runs", func() {
			h.write("config.yaml", "multiplex_profiles: true\n")
			h.write("profiles/alpha/gateway_state.json", stopped)
			h.write("profiles/beta/gateway_state.json", legacyStopped)
			h.write("gateway_state.json", stopped)
			Expect(svcLines(load())[0]).To(Equal("default down intent_stopped enforced"))
		})

		It("does not enforce a legacy default because a named profile was explicitly stopped", func() {
			h.write("config.yaml", "multiplex_profiles: true\n")
			h.write("gateway_state.json", `{"gateway_state":"starting"}`)
			h.write("profiles/alpha/gateway_state.json", stopped)
			h.write("profiles/beta/gateway_state.json", legacyStopped)
			Expect(svcLines(load())[0]).To(Equal("default down intent_stopped"))
		})

		It("does not enforce default when only legacy intents fold into it", func() {
			h.write("config.yaml", "multiplex_profiles: true\n")
			Expect(os.Remove(h.path("profiles/alpha/gateway_state.json"))).To(Succeed())
			Expect(os.Remove(h.path("profiles/gamma/gateway_state.json"))).To(Succeed())
			Expect(svcLines(load())[0]).To(Equal("default up multiplex folds beta"))
		})

		DescribeTable("GATEWAY_MULTIPLEX_PROFILES overrides config.yaml when it is a clear word",
			func(cfg, env string, multiplex bool) {
				h.write("config.yaml", cfg)
				opt.MultiplexEnv = env
				st := load()
				Expect(st.Multiplex).To(Equal(multiplex))
				if multiplex {
					Expect(svcLines(st)[1]).To(Equal("alpha down multiplex enforced"))
				} else {
					Expect(svcLines(st)[1]).To(Equal("alpha up intent_running enforced"))
					Expect(st.Services[0].Folded).To(BeEmpty())
				}
			},
			Entry("env off over config true", "multiplex_profiles: true\n", "0", false),
			Entry("env OFF over config true", "multiplex_profiles: true\n", "OFF", false),
			Entry("env on over config false", "multiplex_profiles: false\n", "yes", true),
			Entry("env True over no key", "model: x\n", "True", true),
			Entry("an unclear env word leaves config true", "multiplex_profiles: true\n", "maybe", true),
			Entry("an unclear env word leaves config false", "multiplex_profiles: false\n", "2", false),
			Entry("neither says: per-profile", "model: x\n", "", false),
		)
	})

	It("finds the root two levels up when HERMES_HOME is a named profile", func() {
		h.profile("coder", running)
		st, err := desired.Load(h.path("profiles/coder"), opt)
		Expect(err).NotTo(HaveOccurred())
		Expect(st.Root).To(Equal(string(h)))
		Expect(svcLines(st)).To(Equal([]string{"default down no_intent", "coder up intent_running enforced"}))
		Expect(desired.Root(h.path("profiles/coder") + "/")).To(Equal(string(h)))
		Expect(desired.Root(string(h))).To(Equal(string(h)))
	})

	It("fails with ErrHomeMissing when HERMES_HOME does not exist", func() {
		_, err := desired.Load(h.path("nope"), opt)
		Expect(err).To(MatchError(desired.ErrHomeMissing))
		Expect(err.Error()).To(ContainSubstring(h.path("nope")))
	})

	It("fails with ErrHomeMissing when HERMES_HOME is a file", func() {
		_, err := desired.Load(h.path("config.yaml"), opt)
		Expect(err).To(MatchError(desired.ErrHomeMissing))
	})

	It("marks an empty HERMES_HOME incomplete: an unmounted volume is not 'every profile deleted'", func() {
		empty := GinkgoT().TempDir()
		st, err := desired.Load(empty, opt)
		Expect(err).NotTo(HaveOccurred())
		Expect(st.Incomplete).To(BeTrue())
		Expect(svcLines(st)).To(Equal([]string{"default down no_intent"}))
		Expect(st.Diagnostics).To(HaveLen(1))
		Expect(st.Diagnostics[0].Message).To(ContainSubstring("empty"))
	})

	Context("with unreadable directories", func() {
		BeforeEach(func() {
			if os.Geteuid() == 0 {
				Skip("running as root: root can read a mode-000 directory, so nothing is unreadable")
			}
		})

		It("marks the state incomplete when profiles/ cannot be listed", func() {
			h.profile("coder", running)
			Expect(os.Chmod(h.path("profiles"), 0)).To(Succeed())
			DeferCleanup(os.Chmod, h.path("profiles"), os.FileMode(0o755))
			st := load()
			Expect(st.Incomplete).To(BeTrue())
			Expect(svcLines(st)).To(Equal([]string{"default down no_intent"}))
			Expect(st.Diagnostics).To(HaveLen(1))
			Expect(st.Diagnostics[0].Severity).To(Equal(desired.Error))
			Expect(st.Diagnostics[0].Path).To(Equal(h.path("profiles")))
		})

		It("holds a profile whose directory cannot be read", func() {
			h.profile("locked", running)
			h.profile("open", running)
			Expect(os.Chmod(h.path("profiles/locked"), 0)).To(Succeed())
			DeferCleanup(os.Chmod, h.path("profiles/locked"), os.FileMode(0o755))
			st := load()
			Expect(st.Held).To(Equal(map[string]bool{"locked": true}))
			Expect(svcLines(st)).To(Equal([]string{"default down no_intent", "open up intent_running enforced"}))
		})
	})
})

var _ = Describe("Reader.Load for some keys", func() {
	var h home
	BeforeEach(func() {
		h = newHome()
		h.write("gateway_state.json", running)
		h.profile("alpha", running)
		h.profile("beta", stopped)
		h.profile("gamma", legacyRunning)
	})
	loadKeys := func(r *desired.Reader, keys ...string) desired.State {
		GinkgoHelper()
		st, err := r.Load(keys)
		Expect(err).NotTo(HaveOccurred())
		return st
	}

	It("reads only the profiles asked for, and says so", func() {
		r := desired.NewReader(string(h), desired.Options{HermesVersion: "0.21.3"})
		st := loadKeys(r, "beta")
		Expect(st.Keys).To(Equal([]string{"beta"}))
		Expect(svcLines(st)).To(Equal([]string{"beta down intent_stopped enforced"}))
		Expect(st.Covers("beta")).To(BeTrue())
		Expect(st.Covers("alpha")).To(BeFalse())
		Expect(st.Covers("default")).To(BeFalse())
	})

	It("decides for its keys exactly what a full load decides", func() {
		full, err := desired.Load(string(h), desired.Options{HermesVersion: "0.21.3"})
		Expect(err).NotTo(HaveOccurred())
		r := desired.NewReader(string(h), desired.Options{HermesVersion: "0.21.3"})
		for _, k := range []string{"default", "alpha", "beta", "gamma"} {
			st := loadKeys(r, k)
			Expect(st.Services).To(HaveLen(1), k)
			Expect(st.Services[0]).To(Equal(*full.Service(k)), k)
		}
	})

	It("reports a profile gone or tombstoned as no service, and a bad one as held", func() {
		r := desired.NewReader(string(h), desired.Options{HermesVersion: "0.21.3"})
		h.write("profiles/.deleted/beta", "")
		Expect(os.RemoveAll(h.path("profiles/gamma"))).To(Succeed())
		h.write("profiles/alpha/config.yaml", "multiplex_profiles: maybe\n")
		st := loadKeys(r, "alpha", "beta", "gamma", "nobody")
		Expect(st.Services).To(BeEmpty())
		Expect(st.Tombstoned).To(Equal(map[string]bool{"beta": true}))
		Expect(st.Held).To(Equal(map[string]bool{"alpha": true}))
		Expect(diagLines(st)).To(HaveLen(1))
	})

	It("folds every named running intent into default under multiplex, without being asked for them", func() {
		h.write("config.yaml", "multiplex_profiles: true\n")
		r := desired.NewReader(string(h), desired.Options{HermesVersion: "0.21.3"})
		Expect(svcLines(loadKeys(r, "default"))).To(Equal([]string{"default up intent_running enforced folds alpha,gamma"}))
		// A host whose HERMES_HOME is a named profile under a multiplexed
		// root holds its own gateway down: the root one serves it.
		Expect(svcLines(loadKeys(r, "alpha"))).To(Equal([]string{"alpha down multiplex enforced"}))
		// A keyed read of a named profile keeps the fold current.
		h.write("profiles/beta/gateway_state.json", running)
		loadKeys(r, "beta")
		Expect(svcLines(loadKeys(r, "default"))).To(Equal([]string{"default up intent_running enforced folds alpha,beta,gamma"}))
	})
})

var _ = Describe("Diagnostic", func() {
	It("prints path:line: message, or path: message without a line", func() {
		d := desired.Diagnostic{Severity: desired.Error, Path: "/h/config.yaml", Line: 4, Message: "bad"}
		Expect(d.String()).To(Equal("/h/config.yaml:4: bad"))
		d.Line = 0
		Expect(d.String()).To(Equal("/h/config.yaml: bad"))
		Expect(desired.Error.String()).To(Equal("error"))
		Expect(desired.Warning.String()).To(Equal("warning"))
	})
})
