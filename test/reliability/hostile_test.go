//go:build linux

package reliability

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"

	"github.com/hermes-reconcile/hermes-reconcile/backends/s6"
	"github.com/hermes-reconcile/hermes-reconcile/config"
	"github.com/hermes-reconcile/hermes-reconcile/desired"
)

// hostileValues are env values written to break out of quoting. Each
// payload that would run touches a file under $CANARY.
var hostileValues = []string{
	"", "plain", "it's", `"double"`, `'single'`, `'"'"'`, `\`, `a\'b`, "$HOME", "${PATH}", "$$", "$0 $1 $@",
	`$(touch "$CANARY/dollar-paren")`, "`touch \"$CANARY/backtick\"`", `'; touch "$CANARY/semi"; '`,
	`"; touch "$CANARY/dq-semi"; "`, `$(printf x > "$CANARY/printf")`, `a && touch "$CANARY/and"`,
	`| touch "$CANARY/pipe"`, `> "$CANARY/redirect"`, `< /etc/passwd`, "*", "?", "[a-z]*", "~root", "#comment",
	"!", "{a,b}", "a=b=c", "  spaced  ", "\ttab", "naïve ☃ 🚀", "\x01\x7f control", `'$(touch "$CANARY/sq")'`,
	strings.Repeat("'", 50), strings.Repeat(`\`, 33), "-p evil", "--replace", `%s%n`,
}

// refusedValues cannot be quoted as one line: NewRenderer refuses them.
var refusedValues = []string{"line1\nline2", "a\rb", "nul\x00byte", "\n", "$(touch x)\n"}

// randomValue is printable ASCII and a little UTF-8, biased to shell
// metacharacters.
func randomValue(rng *rand.Rand) string {
	const meta = "'\"`$\\;&|<>(){}[]*?~#!= \t%"
	var b strings.Builder
	for range rng.IntN(24) {
		switch rng.IntN(4) {
		case 0:
			b.WriteByte(meta[rng.IntN(len(meta))])
		case 1:
			b.WriteRune([]rune("éß☃🚀")[rng.IntN(4)])
		default:
			b.WriteByte(byte(0x20 + rng.IntN(0x5f)))
		}
	}
	return b.String()
}

func randomName(rng *rand.Rand) string {
	const first, rest = "abcdefghijklmnopqrstuvwxyz0123456789", "abcdefghijklmnopqrstuvwxyz0123456789_-"
	b := []byte{first[rng.IntN(len(first))]}
	for range rng.IntN(64) {
		b = append(b, rest[rng.IntN(len(rest))])
	}
	return string(b)
}

// runRendered executes a rendered run under sh, as s6-supervise would, with
// the stand-in gateway; it returns what the gateway recorded, and stops it.
func runRendered(dir string, run []byte, canary string) string {
	script := filepath.Join(dir, "run")
	Expect(os.WriteFile(script, run, 0o755)).To(Succeed())
	record := filepath.Join(dir, "record")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", script)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=/usr/bin:/bin", "FAKE_GATEWAY_RECORD=" + record, "CANARY=" + canary}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out := gbytes.NewBuffer() // safe to read while sh writes
	cmd.Stdout, cmd.Stderr = out, out
	Expect(cmd.Start()).To(Succeed())
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	var data []byte
	Eventually(func() (bool, error) {
		var err error
		if data, err = os.ReadFile(record); err == nil {
			return true, nil
		}
		select {
		case <-exited:
			return false, StopTrying("run exited before exec'ing the gateway: " + string(out.Contents()))
		default:
			return false, nil
		}
	}, 20*time.Second, 5*time.Millisecond).Should(BeTrue(), "the gateway never started")
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-exited
	return string(data)
}

var _ = Describe("hostile input", func() {
	It("passes any env value and profile name to the gateway exactly, executing nothing else", func() {
		rng := rand.New(rand.NewPCG(5, 5))
		type tcase struct{ name, value string }
		var cases []tcase
		for i, v := range hostileValues {
			cases = append(cases, tcase{[]string{"coder", "default", "a_b-c", "0"}[i%4], v})
		}
		for range 160 {
			cases = append(cases, tcase{randomName(rng), randomValue(rng)})
		}
		canary, casesRoot := GinkgoT().TempDir(), GinkgoT().TempDir()
		render := func(value string) (*s6.Renderer, error) {
			r := config.DefaultRender()
			r.Shebang, r.User, r.HomeDir = "#!/bin/sh", "", canary
			r.GatewayCommand = fakeGateway()
			r.Env = map[string]string{"HOSTILE": value}
			return s6.NewRenderer(r)
		}

		By("refusing values that cannot be one quoted line")
		for _, v := range refusedValues {
			_, err := render(v)
			Expect(err).To(MatchError(ContainSubstring("newline or NUL")), "%q", v)
		}
		By("refusing names that are not profile names")
		for _, n := range []string{"..", "a/b", "$(id)", "`id`", "a b", "A", "-p", "a;b", "é", strings.Repeat("a", 65)} {
			Expect(desired.ValidName(n)).To(HaveOccurred(), "%q", n)
		}

		By(fmt.Sprintf("running %d renderings under sh with the stand-in gateway", len(cases)))
		sem := make(chan struct{}, 4)
		var wg sync.WaitGroup
		for i, c := range cases {
			Expect(desired.ValidName(c.name)).To(Succeed())
			rd, err := render(c.value)
			Expect(err).NotTo(HaveOccurred(), "%q", c.value)
			run := rd.Render(c.name).Files[1]
			Expect(run.Path).To(Equal(s6.FileRun))
			wantArgv := "argv:"
			if c.name != desired.DefaultProfile {
				wantArgv += " [-p] [" + c.name + "]"
			}
			wantArgv += " [gateway] [run] [--replace]"
			dir := filepath.Join(casesRoot, fmt.Sprintf("case-%d", i))
			Expect(os.MkdirAll(dir, 0o755)).To(Succeed())
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer GinkgoRecover()
				defer wg.Done()
				defer func() { <-sem }()
				rec := runRendered(dir, run.Data, canary)
				lines := strings.Split(strings.TrimSuffix(rec, "\n"), "\n")
				Expect(lines[0]).To(Equal(wantArgv), "argv for %q", c.name)
				Expect(lines).To(ContainElement("HOSTILE="+c.value), "the value %q, exactly", c.value)
				Expect(lines).To(ContainElements("HERMES_S6_SUPERVISED_CHILD=1", "HERMES_SUPERVISED_CHILD=1", "HOME="+canary))
			}()
		}
		wg.Wait()
		entries, err := os.ReadDir(canary)
		Expect(err).NotTo(HaveOccurred())
		Expect(entries).To(BeEmpty(), "a payload ran")
		record("4.1", "env values with quotes, `$()`, backticks, globs, control bytes and random shell metacharacters, under random valid profile names: the rendered `run` executed by `sh` with the stand-in gateway", len(cases)+len(refusedValues),
			"held: the gateway got exactly `-p <name> gateway run --replace` and the value byte for byte, no payload ran; values with a newline, CR or NUL were refused by NewRenderer")
	})

	It("refuses alias bombs and oversized files fast, with a diagnostic, leaving their slots as they are", func() {
		w := newWorld("")
		w.profile("bomb", "running")
		w.profile("huge", "running")
		w.profile("bad", "running")
		w.StartSvscan()
		w.converge()
		pids := map[string]int{"bomb": w.UpPID("bomb"), "huge": w.UpPID("huge"), "bad": w.UpPID("bad")}
		tree := w.slotsHash()

		var bomb strings.Builder
		bomb.WriteString("l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
		for i := 1; i <= 12; i++ {
			fmt.Fprintf(&bomb, "l%d: &l%d [*l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d]\n", i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
		}
		writeFile(filepath.Join(w.ProfileDir("bomb"), "config.yaml"), bomb.String())
		writeFile(filepath.Join(w.ProfileDir("huge"), "config.yaml"), "model: x\n"+strings.Repeat("# padding\n", 200<<10))
		writeFile(filepath.Join(w.ProfileDir("bad"), "gateway_state.json"), "{\"desired_state\": \"stop")
		// Each profile's intent now says stopped, so any action would stop it.
		for _, p := range []string{"bomb", "huge"} {
			writeFile(filepath.Join(w.ProfileDir(p), "gateway_state.json"), `{"desired_state":"stopped"}`)
		}

		start := time.Now()
		s := w.Run("--once")
		took := time.Since(start)
		Expect(s).To(gexec.Exit(0), "diagnostics alone do not fail a pass")
		Expect(took).To(BeNumerically("<", 5*time.Second))
		out := string(s.Err.Contents())
		Expect(out).To(MatchRegexp(regexp.QuoteMeta(filepath.Join(w.ProfileDir("bomb"), "config.yaml")) + `:1: document contains excessive aliasing`))
		Expect(out).To(MatchRegexp(regexp.QuoteMeta(filepath.Join(w.ProfileDir("huge"), "config.yaml")) + `: file is \d+ bytes, over the 1048576 byte limit`))
		Expect(out).To(MatchRegexp(regexp.QuoteMeta(filepath.Join(w.ProfileDir("bad"), "gateway_state.json")) + `:1: invalid JSON`))
		Expect(w.slotsHash()).To(Equal(tree), "held slots untouched")
		for p, pid := range pids {
			Expect(w.State(p).PID).To(Equal(pid), "gateway-%s left running", p)
		}
		GinkgoWriter.Printf("alias bomb + 2 MiB config: pass took %v\n", took)
		record("4.2", "a billion-laughs alias bomb and a 2 MiB config.yaml, with a stop intent behind each, and a truncated gateway_state.json, all on running slots", 1,
			"held: the pass finished in under 5 s with a `path:line:` diagnostic for each (`excessive aliasing`, `over the 1048576 byte limit`, `invalid JSON`); the slots and gateways were left as they were")
	})

	It("runs the scripts rendered from hostile settings under sh, executing nothing of them", func() {
		canary, root := GinkgoT().TempDir(), GinkgoT().TempDir()
		// Stand-ins on PATH record how they were called: s6-log (the
		// logger), and the gateway command resolved through PATH.
		bin := filepath.Join(root, "bin")
		recorder := "#!/bin/sh\n{ printf '%s\\n' \"$0\"; for a in \"$@\"; do printf '[%s]\\n' \"$a\"; done; } > \"$RECORD\"\n"
		for _, prog := range []string{"s6-log", "hermes"} {
			writeFile(filepath.Join(bin, prog), recorder)
			Expect(os.Chmod(filepath.Join(bin, prog), 0o755)).To(Succeed())
		}
		// log/run's mkdir and rm of the log dir do nothing: a hostile path
		// must not be made on this machine.
		for _, prog := range []string{"mkdir", "rm"} {
			writeFile(filepath.Join(bin, prog), "#!/bin/sh\nexit 0\n")
			Expect(os.Chmod(filepath.Join(bin, prog), 0o755)).To(Succeed())
		}
		values := append([]string{"/plain/path"}, hostileValues...)
		execd := 0
		sh := func(script []byte, env ...string) string {
			dir, err := os.MkdirTemp(root, "case-")
			Expect(err).NotTo(HaveOccurred())
			path, record := filepath.Join(dir, "script"), filepath.Join(dir, "record")
			Expect(os.WriteFile(path, script, 0o755)).To(Succeed())
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, "sh", path)
			cmd.Dir = dir
			cmd.Env = append([]string{"PATH=" + bin + ":/usr/bin:/bin", "RECORD=" + record, "CANARY=" + canary}, env...)
			_ = cmd.Run() // a cd to a hostile path fails: set -e ends run, which is fine
			execd++
			data, _ := os.ReadFile(record)
			return string(data)
		}
		for _, v := range values {
			if strings.TrimSpace(v) == "" {
				continue
			}
			By(fmt.Sprintf("setting value %q", v))
			for _, setting := range []string{"log-hermes-home", "log-script", "home-dir", "gateway-command"} {
				r := config.DefaultRender()
				r.Shebang, r.User, r.GatewayCommand, r.HomeDir, r.DefaultHermesHome = "#!/bin/sh", "", "hermes", root, root
				switch setting {
				case "log-hermes-home":
					r.DefaultHermesHome = v
				case "log-script":
					r.LogScript = v
				case "home-dir":
					r.HomeDir = v
				case "gateway-command":
					r.GatewayCommand = v
				}
				rd, err := s6.NewRenderer(r)
				Expect(err).NotTo(HaveOccurred(), "--%s %q", setting, v)
				spec := rd.Render("coder")
				for _, f := range spec.Files {
					switch f.Path {
					case s6.FileLogRun:
						got := sh(f.Data) // HERMES_HOME unset: the fallback is used
						if setting == "log-hermes-home" {
							Expect(got).To(HaveSuffix("["+v+"/logs/gateways/coder]\n"), "--log-hermes-home %q: s6-log's dir", v)
						}
						if setting == "log-script" {
							want := ""
							for _, w := range strings.Fields(v) {
								want += "[" + w + "]\n"
							}
							Expect(got).To(HaveSuffix(want+"["+root+"/logs/gateways/coder]\n"), "--log-script %q: s6-log's words", v)
						}
					case s6.FileRun:
						got := sh(f.Data)
						if setting == "gateway-command" && got != "" {
							Expect(got).To(HavePrefix(bin+"/hermes\n[-p]\n[coder]\n"), "--gateway-command %q", v)
						}
					}
				}
				entries, err := os.ReadDir(canary)
				Expect(err).NotTo(HaveOccurred())
				Expect(entries).To(BeEmpty(), "--%s %q executed a payload", setting, v)
			}
		}
		GinkgoWriter.Printf("hostile settings: %d scripts run under sh\n", execd)
		record("4.8", "hostile values (quotes, `$()`, backticks, `;`, globs, control bytes) as each setting that reaches a script: --log-hermes-home, --log-script, --home-dir, --gateway-command; the rendered run and log/run executed by sh", execd,
			"held: no payload ran; log/run's fallback HERMES_HOME and every s6-log word arrived as the exact value, the gateway command as one word")
	})

	It("fuzzes every reader of hostile input from a committed seed corpus in `make test`", func() {
		makefile := readFile(filepath.Join(repoRoot(), "Makefile"))
		for i, t := range []struct{ pkg, target, what string }{
			{"desired", "FuzzParseConfig", "config.yaml reader (ParseConfig)"},
			{"desired", "FuzzParseIntent", "gateway_state.json reader (ParseIntent)"},
			{"desired", "FuzzValidName", "profile-name validation (ValidName)"},
			{"backends/s6", "FuzzRender", "rendering (NewRenderer + Render) for any name and env entry"},
			{"backends/s6", "FuzzRenderSettings", "rendering of every setting that reaches a script (home dir, log/run's HERMES_HOME fallback, gateway command, s6-log script, user)"},
		} {
			src := readFile(filepath.Join(repoRoot(), t.pkg, "fuzz_test.go"))
			Expect(src).To(ContainSubstring("func "+t.target+"(f *testing.F)"), "fuzz target")
			Expect(makefile).To(MatchRegexp(`FUZZ +:=.*\b`+regexp.QuoteMeta(t.pkg+":"+t.target)+`\b`), "`make test` fuzzes %s", t.target)
			seeds, err := os.ReadDir(filepath.Join(repoRoot(), t.pkg, "testdata", "fuzz", t.target))
			Expect(err).NotTo(HaveOccurred())
			Expect(len(seeds)).To(BeNumerically(">=", 10), "seed corpus of %s", t.target)
			record(fmt.Sprintf("4.%d", i+3), "fuzz target "+t.target+": "+t.what+"; runs = committed seed inputs", len(seeds),
				"held: every seed passes its properties; `make test` fuzzes it for 5 s more (`make fuzz FUZZTIME=…` for longer)")
		}
	})
})
