package cli

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/hermes-reconcile/hermes-reconcile/config"
	"github.com/hermes-reconcile/hermes-reconcile/desired"
)

// EnvPrefix starts the environment twin of every flag: --dry-run is
// HERMES_RECONCILE_DRY_RUN.
const EnvPrefix = "HERMES_RECONCILE_"

// errHelp: --help or help was asked for and printed.
var errHelp = errors.New("help requested")

// usageError is a command line (or twin) that cannot run: exit 64.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// Options is the command line after flags and environment are merged.
type Options struct {
	Cfg     config.Config
	Once    bool
	DryRun  bool
	Diff    bool
	Command string
	// Status: `status [PROFILE…]`; Profiles are its names.
	Status   bool
	Profiles []string
	// Unpark, Explain: the profile `unpark PROFILE`, `explain PROFILE` name.
	Unpark, Explain string
	Version         bool
	Help            bool
	Verbosity       int
	LogFormat       string
	// NoColor: no colour on a terminal either (NO_COLOR does the same).
	NoColor bool
	Backend string
	// MaxRemove and AllowMassRemove are the mass-removal guard.
	MaxRemove       removeLimit
	AllowMassRemove bool
	// environ is the process's environment (what an s6 gateway inherits).
	environ map[string]string
	// RolloutBatch is how many running gateways restart at once.
	RolloutBatch removeLimit
	// Force lets --once apply while another writer holds the lock a
	// controller holds in watch mode (Kubernetes: its Lease).
	Force bool
	// ScandirGiven: --scandir or a scandir variable was set (auto picks s6);
	// HomeDefault: no HERMES_HOME was given (a host then uses ~/.hermes);
	// HermesRootDefault: no --hermes-root (a host then uses
	// ~/.hermes/hermes-agent).
	ScandirGiven, HomeDefault, HermesRootDefault bool
	// Warnings are said on stderr before anything runs (an unknown twin).
	Warnings []string
	// RenderGiven: a rendering flag or twin was given (status otherwise
	// renders with the settings the slots record).
	RenderGiven bool
}

// option is one flag: the one source of --help, the README's table and
// the twin's name.
type option struct {
	name  string
	group string
	// arg names the value in --help ("" for a switch).
	arg  string
	help string
	// def is the default as shown ("" for none).
	def string
	// long is the long name of a one-letter flag (-v is --verbosity);
	// short the one letter of a long one (--output is -o).
	long, short string
	value       value
	// noTwin: no HERMES_RECONCILE_* variable (--help, --version).
	noTwin bool
}

func (o option) twin() string {
	if o.noTwin {
		return ""
	}
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(o.name, "-", "_"))
}

// flag is how the option is written: --name, or -v.
func (o option) flag() string {
	if len(o.name) == 1 {
		return "-" + o.name
	}
	return "--" + o.name
}

// The groups of --help, in order.
const (
	GroupModes  = "Modes"
	GroupPaths  = "Paths"
	GroupOutput = "Output"
	GroupSafety = "Reconciling and safety"
	GroupWatch  = "Watch tuning"
	GroupRender = "Rendering (the s6 slots' scripts)"
	GroupHost   = "Host backends (no s6)"
	GroupKube   = "Kubernetes (hermes-reconcile-kube)"
)

var groups = []string{GroupModes, GroupPaths, GroupOutput, GroupSafety, GroupWatch, GroupRender, GroupHost, GroupKube}

func pollDefault(d time.Duration) string {
	if d <= 0 {
		return "0 (off; hermes-reconcile-kube: " + config.KubePoll.String() + ")"
	}
	return d.String()
}

func metricsDefault(addr string) string {
	if addr == "" || addr == "0" {
		return "off (hermes-reconcile-kube: " + config.KubeMetricsAddr + ")"
	}
	return addr
}

// table is the flags of the binary's groups over o; --backend takes the
// binary's backends.
func (b Binary) table(o *Options) []option {
	var out []option
	for _, opt := range optionTable(o) {
		if opt.name == "backend" {
			opt.value = backendValue{choiceValue{&o.Backend, append([]string{"auto"}, b.Backends...)}}
		}
		if slices.Contains(b.Groups, opt.group) || slices.Contains(b.Flags, opt.name) || opt.group == GroupModes || opt.name == "backend" {
			out = append(out, opt)
		}
	}
	return out
}

// optionTable builds the flags over o; defaults are o's values.
func optionTable(o *Options) []option {
	c := &o.Cfg
	r := &c.Render
	w := &c.Watch
	dur := func(d time.Duration) string { return d.String() }
	return []option{
		{name: "once", group: GroupModes, help: "run one pass, print the plan, apply it and exit (cont-init.d at boot)", value: boolValue{&o.Once}},
		{name: "dry-run", group: GroupModes, help: "print the plan and exit; writes nothing, takes no lock", value: boolValue{&o.DryRun}},
		{name: "diff", group: GroupModes, help: "with --once or --dry-run: show a unified diff of each file an update or adopt rewrites (--env values masked)", value: boolValue{&o.Diff}},
		{name: "help", group: GroupModes, help: "print this help and exit", value: boolValue{&o.Help}, noTwin: true},
		{name: "version", group: GroupModes, help: "print the version (module, commit, build time, Go, platform) and exit", value: boolValue{&o.Version}, noTwin: true},

		{name: "home", group: GroupPaths, arg: "PATH", def: "$HERMES_HOME, else /opt/data (~/.hermes on a host)", help: "HERMES_HOME: the profile root", value: stringValue{&c.Home}},
		{name: "scandir", group: GroupPaths, arg: "PATH", def: "$S6_PROFILE_GATEWAY_SCANDIR, else " + c.Scandir, help: "the s6 scandir of the gateway slots", value: stringValue{&c.Scandir}},
		{name: "hermes-root", group: GroupPaths, arg: "PATH", def: c.HermesRoot + " (~/.hermes/hermes-agent on a host)", help: "the Hermes checkout whose version --topology auto reads (its pyproject.toml, else its package metadata)", value: stringValue{&c.HermesRoot}},
		{name: "hermes-version", group: GroupPaths, arg: "VERSION", def: "read from --hermes-root", help: "the installed Hermes's version, when --hermes-root cannot say (a cluster: the gateway image's; kube reads a version tag of --kube-image)", value: stringValue{&c.HermesVersion}},
		{name: "s6-bindir", group: GroupPaths, arg: "PATH", def: c.S6Bindir, help: "searched for s6 programs before PATH (Debian: /usr/bin)", value: stringValue{&c.S6Bindir}},

		{name: "output", short: "o", group: GroupOutput, arg: "FORMAT", def: c.Output, help: "text, json (NDJSON), or for status wide", value: choiceValue{&c.Output, []string{config.OutputText, config.OutputJSON, outputWide}}},
		{name: "detailed-exitcode", group: GroupOutput, help: "exit 2 when changes were needed (dry-run: drift present)", value: boolValue{&c.DetailedExitcode}},
		{name: "strict", group: GroupOutput, help: "diagnostics (bad profiles) make the run fail (exit 1)", value: boolValue{&c.Strict}},
		{name: "v", long: "verbosity", group: GroupOutput, arg: "N", def: "0", help: "log verbosity: 0 actions and errors, 1 a line per pass, 2 every event", value: intValue{&o.Verbosity, 0, 10}},
		{name: "no-color", group: GroupOutput, help: "no colour, on a terminal too (as NO_COLOR does)", value: boolValue{&o.NoColor}},
		{name: "log-format", group: GroupOutput, arg: "FORMAT", def: "json (console on a terminal)", help: "json or console", value: choiceValue{&o.LogFormat, []string{"json", "console"}}},

		{name: "topology", group: GroupSafety, arg: "MODE", def: c.Topology, help: "auto (as the installed Hermes decides: its version's rule; unknown: multiplex), per-profile or multiplex", value: choiceValue{&c.Topology, desired.TopologyModes()}},
		{name: "lock-timeout", group: GroupSafety, arg: "DURATION", def: dur(c.LockTimeout), help: "how long to wait for another reconciler's lock", value: durationValue{&c.LockTimeout, 0, 0}},
		{name: "timeout", group: GroupSafety, arg: "DURATION", def: dur(c.SuperviseTimeout), help: "bound on each wait for s6 (supervised, down, supervisor gone); a restart's stop past it ends in SIGKILL", value: durationValue{&c.SuperviseTimeout, time.Millisecond, 0}},
		{name: "settle", group: GroupSafety, arg: "DURATION", def: dur(c.Settle), help: "how long another writer (the Hermes CLI) gets to finish a create, delete, start or stop before a pass acts against it; 0: at once", value: durationValue{&c.Settle, 0, time.Hour}},
		{name: "remove-after", group: GroupSafety, arg: "DURATION", def: dur(c.RemoveAfter), help: "how long a profile's directory must be gone (without a tombstone) before its unit is removed; 0: at once", value: durationValue{&c.RemoveAfter, 0, 24 * time.Hour}},
		{name: "max-remove", group: GroupSafety, arg: "N|P%", def: "one, or a quarter of them", help: "the most named units one pass may remove, a count or a share (default: one, or a quarter of them, whichever is more); a pass that would remove more removes none and says why", value: &o.MaxRemove},
		{name: "allow-mass-remove", group: GroupSafety, help: "let a pass remove more named slots than --max-remove (after a deliberate cleanup)", value: boolValue{&o.AllowMassRemove}},
		{name: "conflicts", group: GroupSafety, arg: "MODE", def: c.Conflicts, help: "a gateway that would claim a bot token, account or port another gateway holds: hold (not started, with a reason naming the other) or warn (started anyway)", value: choiceValue{&c.Conflicts, []string{config.ConflictsHold, config.ConflictsWarn}}},
		{name: "rollout-batch", group: GroupSafety, arg: "N|P%", def: "a tenth of the running gateways", help: "how many running gateways a change that restarts them (a new gateway command, environment or image) restarts at once; the next batch waits until these are healthy", value: &o.RolloutBatch},
		{name: "rollout-healthy-after", group: GroupSafety, arg: "DURATION", def: dur(c.RolloutHealthyAfter), help: "a restarted gateway is healthy once up, without a death, this long (Kubernetes: its pod Ready and the Deployment available)", value: durationValue{&c.RolloutHealthyAfter, 0, time.Hour}},
		{name: "rollout-timeout", group: GroupSafety, arg: "DURATION", def: dur(c.RolloutTimeout), help: "a restarted gateway not healthy within this halts the rollout: the others keep what they run", value: durationValue{&c.RolloutTimeout, time.Second, 24 * time.Hour}},
		{name: "max-services", group: GroupSafety, arg: "N", def: "learned", help: "s6-svscan's limit (-c): a warning before applying a plan that needs more (a slot with its logger counts once), and no wait on slots past it; 0: learn it from the running s6-svscan, else 500 (s6 2.11 without -c)", value: intValue{&c.MaxServices, 0, 1 << 20}},
		{name: "crash-loop-deaths", group: GroupSafety, arg: "N", def: fmt.Sprint(c.CrashLoopDeaths), help: "park a gateway after this many deaths (not stops, not clean exits) within --crash-loop-window; 0: no guard", value: intValue{&c.CrashLoopDeaths, 0, 1000}},
		{name: "crash-loop-window", group: GroupSafety, arg: "DURATION", def: dur(c.CrashLoopWindow), help: "the window of --crash-loop-deaths", value: durationValue{&c.CrashLoopWindow, time.Second, 24 * time.Hour}},

		{name: "notify-fd", group: GroupWatch, arg: "FD", def: "none", help: "write a newline here after the first pass that could run (s6 notification-fd)", value: intValue{&w.NotifyFD, 0, 1 << 16}},
		{name: "quiet", group: GroupWatch, arg: "DURATION", def: dur(w.Quiet), help: "quiet period after events before a pass", value: durationValue{&w.Quiet, 0, time.Minute}},
		{name: "max-delay", group: GroupWatch, arg: "DURATION", def: dur(w.MaxDelay), help: "longest wait from the first event of a burst to its pass (at least --quiet)", value: durationValue{&w.MaxDelay, time.Millisecond, 10 * time.Minute}},
		{name: "resync", group: GroupWatch, arg: "DURATION", def: dur(w.Resync), help: "mean period of full passes without events (jittered by up to 10%)", value: durationValue{&w.Resync, time.Second, 0}},
		{name: "poll", group: GroupWatch, arg: "DURATION", def: pollDefault(w.Poll), help: "also stat the profiles this often: inotify does not see writes by other NFS clients or hosts; 0: off", value: durationValue{&w.Poll, 0, time.Hour}},
		{name: "backoff-max", group: GroupWatch, arg: "DURATION", def: dur(w.BackoffMax), help: "longest backoff after failures (it starts at 1s)", value: durationValue{&w.BackoffMax, time.Second, 0}},
		{name: "metrics-addr", group: GroupWatch, arg: "ADDR", def: metricsDefault(w.MetricsAddr), help: "serve /metrics here in watch mode, and /healthz beside it (hermes-reconcile-kube: on --health-addr), which fails while the lock is another's or no pass has succeeded for " + fmt.Sprint(config.Unhealthy) + "× --resync; e.g. 127.0.0.1:9847; empty or 0: off", value: stringValue{&w.MetricsAddr}},

		{name: "shebang", group: GroupRender, arg: "LINE", def: r.Shebang, help: "first line of run, finish and log/run", value: stringValue{&r.Shebang}},
		{name: "home-dir", group: GroupRender, arg: "PATH", def: r.HomeDir, help: "HOME and working directory of the gateway", value: stringValue{&r.HomeDir}},
		{name: "log-hermes-home", group: GroupRender, arg: "PATH", def: r.DefaultHermesHome, help: "log/run's fallback when HERMES_HOME is unset at run time (quoted unless a plain path)", value: stringValue{&r.DefaultHermesHome}},
		{name: "prelude", group: GroupRender, arg: "LINE", def: "none", help: "a shell line run before the gateway (repeatable; the twin takes one per line), e.g. an older image's `. /opt/hermes/.venv/bin/activate`", value: lineList{&r.Prelude}},
		{name: "user", group: GroupRender, arg: "NAME", def: r.User, help: "the account gateway and logger drop to when started as root; empty: never drop. Also owns the supervise skeleton (its uid/gid, else 10000:10000)", value: stringValue{&r.User}},
		{name: "gateway-command", group: GroupRender, arg: "PROGRAM", def: r.GatewayCommand, help: "the program run as `PROGRAM [-p NAME] gateway run --replace`", value: stringValue{&r.GatewayCommand}},
		{name: "log-script", group: GroupRender, arg: "SCRIPT", def: r.LogScript, help: "s6-log's script before the log directory (each word quoted as needed)", value: stringValue{&r.LogScript}},
		{name: "env", group: GroupRender, arg: "KEY=VALUE", def: "none", help: "exported to every gateway (repeatable; the twin takes one per line); values are single-quoted, newlines and NUL refused", value: envList(r.Env)},

		{name: "backend", group: GroupHost, arg: "NAME", def: o.Backend, help: "auto, s6, systemd, launchd or windows (hermes-reconcile-kube: kube)", value: choiceValue{&o.Backend, []string{"auto", "s6", "systemd", "launchd", "windows", "kube"}}},
		{name: "system", group: GroupHost, help: "systemd: a system unit run as --user (root only) instead of a user unit", value: boolValue{&o.Cfg.Host.System}},
		{name: "restart-sec", group: GroupHost, arg: "SECONDS", def: fmt.Sprint(o.Cfg.Host.RestartSec), help: "seconds before an exited gateway restarts (RestartSec, ThrottleInterval)", value: intValue{&o.Cfg.Host.RestartSec, 0, 86400}},
		{name: "kube-namespace", group: GroupKube, arg: "NAME", def: "the pod's namespace", help: "the namespace of the Deployments and the Lease", value: stringValue{&o.Cfg.Kube.Namespace}},
		{name: "kubeconfig", group: GroupKube, arg: "PATH", def: "$KUBECONFIG, ~/.kube/config, else in-cluster", help: "the API server to talk to", value: stringValue{&o.Cfg.Kube.Kubeconfig}},
		{name: "kube-image", group: GroupKube, arg: "IMAGE", def: "none: required", help: "the Hermes image of the gateway pods", value: stringValue{&o.Cfg.Kube.Image}},
		{name: "kube-claim", group: GroupKube, arg: "NAME", def: o.Cfg.Kube.Claim, help: "the PersistentVolumeClaim of the Hermes data volume (ReadWriteMany), mounted in every gateway pod", value: stringValue{&o.Cfg.Kube.Claim}},
		{name: "kube-mount", group: GroupKube, arg: "PATH", def: o.Cfg.Kube.Mount, help: "where the data volume is mounted in the gateway pods (their HERMES_HOME)", value: stringValue{&o.Cfg.Kube.Mount}},
		{name: "kube-requests", group: GroupKube, arg: "LIST", def: "none", help: "the gateway container's resource requests, as cpu=100m,memory=256Mi", value: stringValue{&o.Cfg.Kube.Requests}},
		{name: "kube-qps", group: GroupKube, arg: "N", def: fmt.Sprint(c.Kube.QPS), help: "API requests per second the controller makes at most (client-go's own default, 5, paced a cold pass of 1,000 profiles at 200 s)", value: floatValue{&c.Kube.QPS, 1, 10000}},
		{name: "kube-burst", group: GroupKube, arg: "N", def: fmt.Sprint(c.Kube.Burst), help: "API requests the controller may make at once above --kube-qps", value: intValue{&c.Kube.Burst, 1, 100000}},
		{name: "kube-workers", group: GroupKube, arg: "N", def: fmt.Sprint(c.Kube.Workers), help: "API writes a pass makes at once (each profile's in order)", value: intValue{&c.Kube.Workers, 1, 256}},
		{name: "kube-limits", group: GroupKube, arg: "LIST", def: "none", help: "the gateway container's resource limits, as memory=1Gi", value: stringValue{&o.Cfg.Kube.Limits}},
		{name: "kube-template-patch", group: GroupKube, arg: "PATH", def: "none", help: "a strategic-merge patch (YAML or JSON: metadata and spec of a pod template) applied to every gateway pod template: pull secrets, tolerations, probes, annotations, resources; a change to it rolls the gateways through the rollout budget", value: stringValue{&o.Cfg.Kube.TemplatePatch}},
		{name: "leader-elect", group: GroupKube, def: "on", help: "take a Lease before acting, so several replicas of the reconciler are safe", value: boolValue{&o.Cfg.Kube.LeaderElect}},
		{name: "force", group: GroupKube, help: "--once even while a controller holds the Lease (it is refused otherwise): two writers at once, for a controller that is stuck", value: boolValue{&o.Force}},
		{name: "health-addr", group: GroupKube, arg: "ADDR", def: o.Cfg.Kube.HealthAddr, help: "serve /healthz and /readyz here (as --metrics-addr's /healthz; /readyz also waits for the leader's first pass); 0: off", value: stringValue{&o.Cfg.Kube.HealthAddr}},
	}
}

// outputWide is status's wide table.
const outputWide = "wide"

func defaultOptions() Options {
	o := Options{Cfg: config.Default(), Backend: "auto"}
	o.Cfg.Render.Env = map[string]string{}
	return o
}

// applyTwins reads HERMES_RECONCILE_* for every flag the command line did
// not give, and refuses an unknown twin that is near a known one: a
// mistyped HERMES_RECONCILE_DRYRUN must not let a dry run apply changes.
func applyTwins(o *Options, table []option, set map[string]bool, env map[string]string) error {
	known := map[string]*option{}
	var twins []string
	for i := range table {
		if t := table[i].twin(); t != "" {
			known[t] = &table[i]
			twins = append(twins, strings.TrimPrefix(t, EnvPrefix))
		}
	}
	names := make([]string, 0, len(env))
	for k := range env {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if !strings.HasPrefix(k, EnvPrefix) {
			continue
		}
		opt := known[k]
		if opt == nil {
			if n := nearest(strings.TrimPrefix(k, EnvPrefix), twins); n != "" {
				return usagef("%s is not a setting (did you mean %s%s?); nothing was done", k, EnvPrefix, n)
			}
			o.Warnings = append(o.Warnings, fmt.Sprintf("%s is not a setting of hermes-reconcile: ignored", k))
			continue
		}
		if set[opt.name] {
			continue
		}
		if err := opt.value.Set(env[k]); err != nil {
			return usagef("%s=%q: %v", k, env[k], err)
		}
		set[opt.name] = true
	}
	for _, opt := range table {
		if set[opt.name] && opt.group == GroupRender {
			o.RenderGiven = true
		}
	}
	return nil
}

// resolvePaths fills HERMES_HOME and the scandir from Hermes's own
// variables when neither flag nor twin gave them.
func (o *Options) resolvePaths(set map[string]bool, env map[string]string) {
	c := &o.Cfg
	if _, twin := env[EnvPrefix+"HOME"]; !set["home"] && !twin {
		c.Home = env["HERMES_HOME"]
	}
	if c.Home == "" {
		c.Home, o.HomeDefault = "/opt/data", true
	}
	_, twin := env[EnvPrefix+"SCANDIR"]
	o.ScandirGiven = set["scandir"] || twin
	if !o.ScandirGiven {
		if v := env["S6_PROFILE_GATEWAY_SCANDIR"]; v != "" {
			c.Scandir, o.ScandirGiven = v, true
		}
	}
	o.HermesRootDefault = !set["hermes-root"]
	c.Home = absPath(c.Home)
	c.Scandir = absPath(c.Scandir)
}

// check refuses settings that contradict each other.
func (o *Options) check() error {
	w := o.Cfg.Watch
	if w.Quiet > w.MaxDelay {
		return usagef("--quiet %s is longer than --max-delay %s: a burst would wait past its bound; make --quiet shorter or --max-delay longer", w.Quiet, w.MaxDelay)
	}
	if o.Command != "" && o.Command != cmdVersion && (o.Once || o.DryRun) {
		mode := "--once"
		if o.DryRun {
			mode = "--dry-run"
		}
		return usagef("%s and %s are two modes: give one (%s never changes anything; unpark is a pass of its own)", mode, o.Command, cmdStatus)
	}
	if o.Force && !o.Once && !o.DryRun && o.Command == "" {
		return usagef("--force lets --once run while a controller holds the Lease; watch mode waits for the Lease itself: drop --force (HERMES_RECONCILE_FORCE)")
	}
	if o.Diff && !o.Once && !o.DryRun {
		return usagef("--diff shows what --once or --dry-run would rewrite: add one of them")
	}
	if o.Cfg.Output == outputWide && !o.Status {
		return usagef("--output wide is status's wide table; runs print text or json")
	}
	if v := o.Cfg.HermesVersion; v != "" {
		if _, err := desired.ParseVersion(v); err != nil {
			return usagef("--hermes-version: %v; give a release such as 0.21.4", err)
		}
	}
	if o.Unpark != "" && o.Backend != "auto" && o.Backend != "s6" {
		return usagef("unpark applies to s6 slots; the %s backend restarts its service itself", o.Backend)
	}
	return nil
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// flagsMarkdown is the README's table of flags, from the same table as
// --help.
func flagsMarkdown() string {
	o := defaultOptions()
	table := optionTable(&o)
	var b strings.Builder
	for _, g := range groups {
		fmt.Fprintf(&b, "\n**%s**\n\n| Flag | Environment | Default | |\n|---|---|---|---|\n", g)
		for _, o := range table {
			if o.group != g {
				continue
			}
			head := o.head()
			twin, def := o.twin(), o.def
			if twin != "" {
				twin = "`" + twin + "`"
			}
			if def != "" {
				def = "`" + def + "`"
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", head, twin, def, strings.ReplaceAll(o.help, "|", `\|`))
		}
	}
	return b.String()
}
