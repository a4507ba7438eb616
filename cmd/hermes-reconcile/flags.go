package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hermes-reconcile/hermes-reconcile/config"
	"github.com/hermes-reconcile/hermes-reconcile/desired"
)

// EnvPrefix starts the environment twin of every flag: --dry-run is
// HERMES_RECONCILE_DRY_RUN.
const EnvPrefix = "HERMES_RECONCILE_"

// options is the command line after flags and environment are merged.
type options struct {
	cfg    config.Config
	once   bool
	dryRun bool
	status bool
	// unpark is the profile `unpark PROFILE` names.
	unpark    string
	version   bool
	verbosity int
	logFormat string
	backend   string
	// system, restartSec: host backends (host.go).
	system     bool
	restartSec int
	// scandirGiven: --scandir or a scandir variable was set (auto picks s6);
	// homeDefault: no HERMES_HOME was given (a host then uses ~/.hermes).
	scandirGiven, homeDefault bool
}

// envList is a repeatable K=V flag.
type envList map[string]string

func (e envList) String() string {
	keys := make([]string, 0, len(e))
	for k := range e {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return strings.Join(keys, ",")
}

func (e envList) Set(s string) error {
	// The environment twin holds several K=V separated by newlines.
	for _, kv := range strings.Split(s, "\n") {
		if strings.TrimSpace(kv) == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return fmt.Errorf("want KEY=VALUE, got %q", kv)
		}
		e[k] = v
	}
	return nil
}

type lineList struct{ l *[]string }

func (p lineList) String() string {
	if p.l == nil {
		return ""
	}
	return strings.Join(*p.l, "\\n")
}

func (p lineList) Set(s string) error {
	*p.l = append(*p.l, strings.Split(s, "\n")...)
	return nil
}

// parseArgs merges flags, their HERMES_RECONCILE_* twins and the defaults,
// in that order of precedence. lookupEnv is os.LookupEnv in production: a
// twin set to "" counts (--user "" means never drop privileges).
func parseArgs(args []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) (options, error) {
	getenv := func(k string) string { v, _ := lookupEnv(k); return v }
	o := options{cfg: config.Default()}
	c := &o.cfg
	c.Render.Env = map[string]string{}
	fs := flag.NewFlagSet("hermes-reconcile", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { usage(fs, stderr) }

	fs.BoolVar(&o.once, "once", false, "run one pass and exit (for cont-init.d at boot)")
	fs.BoolVar(&o.dryRun, "dry-run", false, "print the plan and exit; writes nothing (implies --once)")
	fs.StringVar(&c.Home, "home", "", "HERMES_HOME (default $HERMES_HOME, else /opt/data, or ~/.hermes with a host backend)")
	fs.StringVar(&c.Scandir, "scandir", c.Scandir, "s6 scandir of the gateway slots (also $S6_PROFILE_GATEWAY_SCANDIR)")
	fs.StringVar(&c.S6Bindir, "s6-bindir", c.S6Bindir, "directory searched for s6 programs before PATH")
	fs.StringVar(&o.backend, "backend", "auto", "service backend: auto, s6, systemd, launchd or windows")
	fs.BoolVar(&o.system, "system", false, "systemd: a system unit in /etc/systemd/system run as --user (needs root); default a user unit")
	fs.IntVar(&o.restartSec, "restart-sec", 5, "host backends: seconds before an exited gateway restarts (RestartSec, ThrottleInterval)")
	fs.StringVar(&c.Output, "output", c.Output, "output format: text or json (NDJSON)")
	fs.BoolVar(&c.DetailedExitcode, "detailed-exitcode", false, "exit 2 when changes were needed (dry-run: drift present)")
	fs.BoolVar(&c.Strict, "strict", false, "diagnostics (bad profiles) make the pass fail")
	fs.IntVar(&o.verbosity, "v", 0, "log verbosity: 0 actions and errors, 1 pass detail, 2 more")
	fs.StringVar(&o.logFormat, "log-format", "", "log format: json (default) or console (default on a terminal)")
	fs.BoolVar(&o.version, "version", false, "print the version and exit")

	fs.DurationVar(&c.LockTimeout, "lock-timeout", c.LockTimeout, "how long to wait for another reconciler's lock")
	fs.DurationVar(&c.SuperviseTimeout, "timeout", c.SuperviseTimeout, "bound on each wait for s6 (supervised, down, supervisor gone)")
	fs.IntVar(&c.MaxServices, "max-services", c.MaxServices, "services s6-svscan can supervise (its -c; a slot and its logger count once); warn when a plan needs more, and never wait for slots past it; 0: learn it from the running s6-svscan, else 500")
	fs.DurationVar(&c.Settle, "settle", c.Settle, "how long another writer (the Hermes CLI) gets to finish a create, delete, start or stop before a pass acts against it; 0: at once")
	fs.IntVar(&c.CrashLoopDeaths, "crash-loop-deaths", c.CrashLoopDeaths, "park a gateway down after this many deaths (not stops) within --crash-loop-window; 0: never")
	fs.DurationVar(&c.CrashLoopWindow, "crash-loop-window", c.CrashLoopWindow, "the window of --crash-loop-deaths")

	r := &c.Render
	fs.StringVar(&r.Shebang, "shebang", r.Shebang, "first line of run, finish and log/run")
	fs.StringVar(&r.HomeDir, "home-dir", r.HomeDir, "HOME and working directory of the gateway")
	fs.StringVar(&r.DefaultHermesHome, "log-hermes-home", r.DefaultHermesHome, "HERMES_HOME log/run falls back to when unset at run time")
	fs.Var(lineList{&r.Prelude}, "prelude", "a line run before the gateway starts (repeatable)")
	fs.StringVar(&r.User, "user", r.User, "account the gateway drops to when started as root; empty: never drop")
	fs.StringVar(&r.GatewayCommand, "gateway-command", r.GatewayCommand, "the Hermes program")
	fs.StringVar(&r.LogScript, "log-script", r.LogScript, "s6-log logging script before the log directory")
	fs.Var(envList(r.Env), "env", "KEY=VALUE exported to every gateway (repeatable)")

	w := &c.Watch
	fs.IntVar(&w.NotifyFD, "notify-fd", w.NotifyFD, "write a newline to this fd after the first complete pass (s6 notification-fd)")
	fs.DurationVar(&w.Quiet, "quiet", w.Quiet, "watch: quiet period after events before a pass")
	fs.DurationVar(&w.MaxDelay, "max-delay", w.MaxDelay, "watch: longest wait after the first event of a burst")
	fs.DurationVar(&w.Resync, "resync", w.Resync, "watch: mean period of full passes without events (jittered)")
	fs.DurationVar(&w.BackoffMax, "backoff-max", w.BackoffMax, "watch: longest backoff after failures")

	for _, a := range args {
		if a == "--" {
			break
		}
		if a == "-h" || a == "-help" || a == "--help" {
			usage(fs, stdout)
			return o, flag.ErrHelp
		}
	}
	// The command (status, unpark PROFILE) may come before, between or
	// after the flags.
	command := ""
	rest := args
	for {
		if len(rest) > 0 && command == "" && (rest[0] == "status" || rest[0] == "unpark") {
			command, rest = rest[0], rest[1:]
		}
		if err := fs.Parse(rest); err != nil {
			return o, err
		}
		rest = fs.Args()
		switch {
		case len(rest) == 0:
		case command == "" && (rest[0] == "status" || rest[0] == "unpark"):
			continue
		case command == "unpark" && o.unpark == "":
			o.unpark, rest = rest[0], rest[1:]
			continue
		default:
			return o, fmt.Errorf("unexpected argument %q (the commands are status and unpark PROFILE)", rest[0])
		}
		break
	}
	o.status = command == "status"
	if command == "unpark" {
		if o.unpark == "" {
			return o, errors.New("unpark needs the profile: hermes-reconcile unpark PROFILE")
		}
		if err := desired.ValidName(o.unpark); err != nil && o.unpark != desired.DefaultProfile {
			return o, fmt.Errorf("unpark %q: %w", o.unpark, err)
		}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || envErr != nil {
			return
		}
		name := EnvPrefix + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := lookupEnv(name); ok {
			if err := f.Value.Set(v); err != nil {
				envErr = fmt.Errorf("%s=%q: %w", name, v, err)
			}
		}
	})
	if envErr != nil {
		return o, envErr
	}
	if _, twin := lookupEnv(EnvPrefix + "HOME"); !set["home"] && !twin {
		c.Home = getenv("HERMES_HOME")
	}
	if c.Home == "" {
		c.Home, o.homeDefault = "/opt/data", true
	}
	_, twin := lookupEnv(EnvPrefix + "SCANDIR")
	o.scandirGiven = set["scandir"] || twin
	if !set["scandir"] && !twin {
		if v := getenv("S6_PROFILE_GATEWAY_SCANDIR"); v != "" {
			c.Scandir, o.scandirGiven = v, true
		}
	}
	if c.Output != config.OutputText && c.Output != config.OutputJSON {
		return o, fmt.Errorf("--output must be text or json, got %q", c.Output)
	}
	if o.logFormat != "" && o.logFormat != "json" && o.logFormat != "console" {
		return o, fmt.Errorf("--log-format must be json or console, got %q", o.logFormat)
	}
	switch o.backend {
	case "auto", "s6", "systemd", "launchd", "windows":
	default:
		return o, fmt.Errorf("--backend must be auto, s6, systemd, launchd or windows, got %q", o.backend)
	}
	if o.dryRun {
		o.once = true
	}
	c.Home = absPath(c.Home)
	c.Scandir = absPath(c.Scandir)
	return o, nil
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

func usage(fs *flag.FlagSet, w io.Writer) {
	fmt.Fprint(w, `hermes-reconcile keeps the s6 gateway slots of a Hermes container in step
with the profiles on disk.

Usage:
  hermes-reconcile [flags]            watch mode: a long-running control loop (an s6 longrun)
  hermes-reconcile --once [flags]     one pass, then exit (cont-init.d at boot)
  hermes-reconcile --dry-run [flags]  print the plan; write nothing
  hermes-reconcile status [flags]     every profile and slot: intent, want, actual, pid, uptime
  hermes-reconcile unpark PROFILE     start a gateway parked as a crash loop (or failed for good) again

Flags (each also read from HERMES_RECONCILE_<NAME>, e.g. --dry-run from
HERMES_RECONCILE_DRY_RUN=true; a flag given on the command line wins):
`)
	out := fs.Output()
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(out)
	fmt.Fprint(w, `
Exit codes:
  0  success (with --detailed-exitcode: nothing needed changing)
  1  error: a pass could not run, or an action failed, or (with --strict) a diagnostic
  2  with --detailed-exitcode: changes were needed (dry-run: drift present)
  3  status: a gateway that should run is held down (parked as a crash loop,
     or failed for good); its NOTE says why and what starts it again

Watch mode: an event on a profile or its slot runs a pass over that profile
alone: at once when no pass is pending, then after a quiet period (--quiet,
at most --max-delay after the first event of a burst). An intent file
rewritten with the same intent runs none. A full pass runs at start, every
--resync (jittered by up to 10%), on an event queue overflow, on SIGHUP,
after a failed pass, and when profiles/, the scandir or the topology change.
The Hermes CLI gets --settle to finish a create, delete, start or stop
before a pass acts against it. A gateway that dies --crash-loop-deaths times
within --crash-loop-window is parked down; one whose finish asked s6 not to
restart it (exit 0 or 78) stays down. Either is started again once when its
config.yaml, .env or intent is written after that, or by unpark; a gateway
parked again waits longer each time (1 min doubling to 1 h) before its
changed inputs start it. A restart whose stop outlasts --timeout is finished
with SIGKILL, and said so. A profile whose actions fail is retried with
exponential backoff (1s doubling to --backoff-max) without delaying the
others; when the whole pass fails (scandir missing, s6-svscan down) the loop
backs off the same way and logs once per change of state. SIGTERM/SIGINT
finish the pass in flight and exit 0, leaving every gateway as it is.
`)
}
