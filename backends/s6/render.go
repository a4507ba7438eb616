package s6

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/hermes-reconcile/hermes-reconcile/config"
	"github.com/hermes-reconcile/hermes-reconcile/desired"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
)

// The files a slot is made of, in the order they are written and compared.
const (
	FileType   = "type"
	FileRun    = "run"
	FileFinish = "finish"
	FileLogRun = "log/run"
)

var envKeyRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Renderer renders slots from validated settings. Build it once per process:
// what never changes between profiles is rendered once.
type Renderer struct {
	r     config.Render
	envSh string // the export lines of r.Env, sorted
	// logScript is s6-log's script, each word quoted.
	logScript string
	finish    []byte
	typ       []byte
}

// NewRenderer checks the settings: env keys must be shell names and values
// may not hold newlines or NUL (they would survive quoting as surprises).
func NewRenderer(r config.Render) (*Renderer, error) {
	if !strings.HasPrefix(r.Shebang, "#!") || strings.ContainsAny(r.Shebang, "\n\x00") {
		return nil, fmt.Errorf("shebang %q must start with #! and be one line", r.Shebang)
	}
	if r.GatewayCommand == "" || strings.ContainsAny(r.GatewayCommand, "\n\x00") {
		return nil, fmt.Errorf("gateway command %q must be one non-empty line", r.GatewayCommand)
	}
	for _, s := range append([]string{r.HomeDir, r.DefaultHermesHome, r.User, r.LogScript}, r.Prelude...) {
		if strings.ContainsAny(s, "\n\x00") {
			return nil, fmt.Errorf("setting %q must be one line", s)
		}
	}
	if r.User != "" && shellQuote(r.User) != r.User {
		return nil, fmt.Errorf("user %q is not a plain account name", r.User)
	}
	keys := make([]string, 0, len(r.Env))
	for k, v := range r.Env {
		if !envKeyRE.MatchString(k) {
			return nil, fmt.Errorf("env key %q must match %s", k, envKeyRE)
		}
		if strings.ContainsAny(v, "\n\r\x00") {
			return nil, fmt.Errorf("env value of %s holds a newline or NUL", k)
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var env strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&env, "export %s=%s\n", k, shellQuote(r.Env[k]))
	}
	// s6-log's script is words (directives, regexes): each is quoted, so a
	// $( ) or ; in one stays s6-log's, never the shell's.
	words := strings.Fields(r.LogScript)
	for i, w := range words {
		words[i] = shellQuote(w)
	}
	rd := &Renderer{r: r, envSh: env.String(), logScript: strings.Join(words, " "), typ: []byte("longrun\n")}
	rd.finish = []byte(r.Shebang + "\n" + finishBody)
	if n := len(rd.run(desired.DefaultProfile)) + len(rd.logRun(desired.DefaultProfile)); n > MaxSlotFile/2 {
		// What we write we must read back (MaxSlotFile caps every read).
		return nil, fmt.Errorf("the env, prelude and other settings render scripts of %d bytes: more than %d is refused", n, MaxSlotFile/2)
	}
	return rd, nil
}

const finishBody = `# shellcheck shell=sh
# $1 = exit code from the run script.
# Exit 78 (EX_CONFIG) = fatal config error — don't restart.
# Exit 0 (clean stop) = intentional stop — don't restart.
if [ "$1" = "78" ]; then
  exit 125
fi
if [ "$1" = "0" ]; then
  exit 125
fi
exit 0
`

// Render returns the files of profile's slot. s6 reads run at every spawn
// and log/run at every logger spawn: rewriting either must restart what
// runs it; finish and type are read when needed.
func (rd *Renderer) Render(profile desired.Key) reconcile.Spec {
	files := []reconcile.File{
		{Path: FileType, Mode: 0o644, Data: rd.typ},
		{Path: FileRun, Mode: 0o755, Data: rd.run(profile), Effect: reconcile.RestartsService},
		{Path: FileFinish, Mode: 0o755, Data: rd.finish},
		{Path: FileLogRun, Mode: 0o755, Data: rd.logRun(profile), Effect: reconcile.RestartsCompanion},
	}
	return reconcile.Spec{Unit: SlotName(profile), Files: files, Hash: HashFiles(files)}
}

func (rd *Renderer) run(profile string) []byte {
	r := rd.r
	home := shellQuote(r.HomeDir)
	cmd := shellQuote(r.GatewayCommand)
	for _, a := range (desired.Service{Profile: profile}).GatewayArgs() {
		cmd += " " + shellQuote(a)
	}
	var b strings.Builder
	b.Grow(512)
	b.WriteString(r.Shebang + "\n# shellcheck shell=sh\nset -e\n")
	b.WriteString("export HOME=" + home + "\ncd " + home + "\n")
	for _, l := range r.Prelude {
		b.WriteString(l + "\n")
	}
	b.WriteString(rd.envSh)
	b.WriteString("export HERMES_S6_SUPERVISED_CHILD=1\nexport HERMES_SUPERVISED_CHILD=1\n")
	if r.User == "" {
		b.WriteString("exec " + cmd + "\n")
	} else {
		b.WriteString(`[ "$(id -u)" = 0 ] || exec ` + cmd + "\n")
		b.WriteString("exec s6-setuidgid " + r.User + " " + cmd + "\n")
	}
	return []byte(b.String())
}

func (rd *Renderer) logRun(profile string) []byte {
	r := rd.r
	var b strings.Builder
	b.Grow(512)
	b.WriteString(r.Shebang + "\n# shellcheck shell=sh\n")
	// HERMES_HOME is expanded when the logger starts, never baked in: the
	// same slot must follow the container's HERMES_HOME. Hermes's own line
	// for a plain path; the fallback quoted otherwise (inside "${:=}" a
	// $( ) of the setting would run, and quotes there differ by shell).
	if home := shellQuote(r.DefaultHermesHome); home == r.DefaultHermesHome {
		b.WriteString(`: "${HERMES_HOME:=` + home + "}\"\n")
	} else {
		b.WriteString(`[ -n "${HERMES_HOME:-}" ] || HERMES_HOME=` + home + "\n")
	}
	b.WriteString(`log_dir="$HERMES_HOME/logs/gateways/` + profile + "\"\n")
	if r.User == "" {
		b.WriteString("mkdir -p \"$log_dir\"\nrm -f \"$log_dir/lock\"\n")
		b.WriteString("exec s6-log " + rd.logScript + " \"$log_dir\"\n")
		return []byte(b.String())
	}
	u := r.User
	b.WriteString(`if [ "$(id -u)" = 0 ]; then` + "\n")
	b.WriteString("  s6-setuidgid " + u + " mkdir -p \"$log_dir\"\n")
	b.WriteString("  s6-setuidgid " + u + " rm -f \"$log_dir/lock\"\n")
	b.WriteString("else\n  mkdir -p \"$log_dir\"\n  rm -f \"$log_dir/lock\"\nfi\n")
	b.WriteString(`[ "$(id -u)" = 0 ] || exec s6-log ` + rd.logScript + " \"$log_dir\"\n")
	b.WriteString("exec s6-setuidgid " + u + " s6-log " + rd.logScript + " \"$log_dir\"\n")
	return []byte(b.String())
}

// HashFiles is the spec hash of a set of slot files: paths, modes and bytes.
// It must not change: the hash in every live slot's data/ was made by it.
func HashFiles(files []reconcile.File) string {
	h := sha256.New()
	for _, f := range files {
		fmt.Fprintf(h, "%s\x00%o\x00%d\x00", f.Path, f.Mode.Perm(), len(f.Data))
		h.Write(f.Data)
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

var shellSafeRE = regexp.MustCompile(`^[A-Za-z0-9_@%+=:,./-]+$`)

// shellQuote quotes s for sh the way Python's shlex.quote does, so slots
// match the ones Hermes renders: safe words stay bare, the rest go in single
// quotes with ' written as '"'"'.
func shellQuote(s string) string {
	if s == "" {
		return "''"
	}
	if shellSafeRE.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'"'"'`) + "'"
}
