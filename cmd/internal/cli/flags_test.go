package cli

import (
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hermes-reconcile/hermes-reconcile/test/testkit"
)

func TestParseArgs(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		check func(t *testing.T, o Options)
	}{
		{"defaults: watch mode on /opt/data and /run/service", nil, nil, func(t *testing.T, o Options) {
			if o.Once || o.DryRun || o.Status || o.Cfg.Home != "/opt/data" || o.Cfg.Scandir != "/run/service" || !o.HomeDefault {
				t.Errorf("got %+v", o)
			}
		}},
		{"HERMES_HOME and S6_PROFILE_GATEWAY_SCANDIR", nil,
			map[string]string{"HERMES_HOME": "/data", "S6_PROFILE_GATEWAY_SCANDIR": "/run/gw"}, func(t *testing.T, o Options) {
				if o.Cfg.Home != "/data" || o.Cfg.Scandir != "/run/gw" || !o.ScandirGiven {
					t.Errorf("got home %q scandir %q", o.Cfg.Home, o.Cfg.Scandir)
				}
			}},
		{"a twin beats the Hermes variable, a flag beats the twin", []string{"--home", "/flag"},
			map[string]string{"HERMES_HOME": "/hermes", "HERMES_RECONCILE_HOME": "/twin", "HERMES_RECONCILE_SCANDIR": "/twin-scan",
				"S6_PROFILE_GATEWAY_SCANDIR": "/hermes-scan"}, func(t *testing.T, o Options) {
				if o.Cfg.Home != "/flag" || o.Cfg.Scandir != "/twin-scan" {
					t.Errorf("got home %q scandir %q", o.Cfg.Home, o.Cfg.Scandir)
				}
			}},
		{"--dry-run implies --once", []string{"--dry-run"}, nil, func(t *testing.T, o Options) {
			if !o.Once || !o.DryRun {
				t.Errorf("got once=%v dryRun=%v", o.Once, o.DryRun)
			}
		}},
		{"status before the flags", []string{"status", "--output", "json"}, nil, func(t *testing.T, o Options) {
			if !o.Status || o.Cfg.Output != "json" {
				t.Errorf("got status=%v output=%q", o.Status, o.Cfg.Output)
			}
		}},
		{"status after the flags", []string{"--output", "json", "status", "-v", "2"}, nil, func(t *testing.T, o Options) {
			if !o.Status || o.Cfg.Output != "json" || o.Verbosity != 2 {
				t.Errorf("got status=%v output=%q v=%d", o.Status, o.Cfg.Output, o.Verbosity)
			}
		}},
		{"unpark, its profile, then flags", []string{"unpark", "coder", "--scandir", "/s"}, nil, func(t *testing.T, o Options) {
			if o.Unpark != "coder" || o.Status || o.Cfg.Scandir != "/s" {
				t.Errorf("got unpark=%q status=%v scandir=%q", o.Unpark, o.Status, o.Cfg.Scandir)
			}
		}},
		{"flags, then unpark default", []string{"-v", "1", "unpark", "default"}, nil, func(t *testing.T, o Options) {
			if o.Unpark != "default" || o.Verbosity != 1 {
				t.Errorf("got unpark=%q v=%d", o.Unpark, o.Verbosity)
			}
		}},
		{"crash-loop guard flags and twins", []string{"--crash-loop-deaths", "3"}, map[string]string{"HERMES_RECONCILE_CRASH_LOOP_WINDOW": "2m"},
			func(t *testing.T, o Options) {
				if o.Cfg.CrashLoopDeaths != 3 || o.Cfg.CrashLoopWindow != 2*time.Minute {
					t.Errorf("got %d in %s", o.Cfg.CrashLoopDeaths, o.Cfg.CrashLoopWindow)
				}
			}},
		{"crash-loop guard defaults: 5 in 60s", nil, nil, func(t *testing.T, o Options) {
			if o.Cfg.CrashLoopDeaths != 5 || o.Cfg.CrashLoopWindow != time.Minute {
				t.Errorf("got %d in %s", o.Cfg.CrashLoopDeaths, o.Cfg.CrashLoopWindow)
			}
		}},
		{"boolean and duration twins", nil, map[string]string{"HERMES_RECONCILE_ONCE": "true",
			"HERMES_RECONCILE_DETAILED_EXITCODE": "1", "HERMES_RECONCILE_QUIET": "250ms"}, func(t *testing.T, o Options) {
			if !o.Once || !o.Cfg.DetailedExitcode || o.Cfg.Watch.Quiet != 250*time.Millisecond {
				t.Errorf("got %+v", o)
			}
		}},
		{"an empty USER twin means never drop privileges", nil, map[string]string{"HERMES_RECONCILE_USER": ""}, func(t *testing.T, o Options) {
			if o.Cfg.Render.User != "" {
				t.Errorf("user = %q", o.Cfg.Render.User)
			}
		}},
		{"env pairs from flags and the twin's lines", []string{"--env", "A=1", "--env", "B=x=y"},
			map[string]string{}, func(t *testing.T, o Options) {
				if !reflect.DeepEqual(o.Cfg.Render.Env, map[string]string{"A": "1", "B": "x=y"}) {
					t.Errorf("env = %v", o.Cfg.Render.Env)
				}
			}},
		{"env twin lines", nil, map[string]string{"HERMES_RECONCILE_ENV": "A=1\nB=2\n"}, func(t *testing.T, o Options) {
			if !reflect.DeepEqual(o.Cfg.Render.Env, map[string]string{"A": "1", "B": "2"}) {
				t.Errorf("env = %v", o.Cfg.Render.Env)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseArgs(everything, tt.args, tt.env, io.Discard, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, o)
		})
	}
}

func TestParseArgsErrors(t *testing.T) {
	tests := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--output", "yaml"}, nil, `--output: want text, json or wide; got "yaml"`},
		{[]string{"--log-format", "xml"}, nil, "--log-format: want json or console"},
		{[]string{"--backend", "upstart"}, nil, "--backend: want auto, s6, systemd, launchd, windows or kube"},
		{[]string{"reconcile"}, nil, `unexpected argument "reconcile"`},
		{[]string{"unpark"}, nil, "unpark needs the profile"},
		{[]string{"unpark", "a", "b"}, nil, `unexpected argument "b"`},
		{nil, map[string]string{"HERMES_RECONCILE_QUIET": "soon"}, `HERMES_RECONCILE_QUIET="soon": want a duration such as 500ms`},
		{[]string{"--env", "NOEQUALS"}, nil, "want KEY=VALUE"},
		{[]string{"--dryrun"}, nil, "unknown flag --dryrun (did you mean --dry-run?)"},
		{[]string{"--timeout", "-1s"}, nil, "--timeout: want a duration of at least 1ms; got -1s"},
		{[]string{"--resync", "0"}, nil, "--resync: want a duration of at least 1s"},
		{[]string{"--quiet", "-5ms"}, nil, "--quiet: want a duration from 0 to 1m0s"},
		{[]string{"--quiet", "abc"}, nil, `--quiet: want a duration such as 500ms, 10s or 1m30s (from 0 to 1m0s); got "abc"`},
		{[]string{"--max-services", "-5"}, nil, "--max-services: want a whole number from 0"},
		{[]string{"--restart-sec", "-5"}, nil, "--restart-sec: want a whole number from 0"},
		{[]string{"--max-remove", "150%"}, nil, "--max-remove: want a count (such as 3)"},
		{[]string{"--quiet", "5s", "--max-delay", "1s"}, nil, "--quiet 5s is longer than --max-delay 1s"},
		{[]string{"status", "--once"}, nil, "--once and status are two modes"},
		{[]string{"--once", "--", "status"}, nil, "--once and status are two modes"},
		{[]string{"--dry-run", "unpark", "a"}, nil, "--dry-run and unpark are two modes"},
		{[]string{"--diff"}, nil, "--diff shows what --once or --dry-run would rewrite"},
		{[]string{"--output", "wide"}, nil, "--output wide is status's"},
		{[]string{"--force"}, nil, "--force lets --once run while a controller holds the Lease"},
		{nil, map[string]string{"HERMES_RECONCILE_FORCE": "true"}, "watch mode waits for the Lease itself"},
		{[]string{"stauts"}, nil, `unknown command "stauts" (did you mean status?)`},
		{[]string{"--timeout"}, nil, "--timeout needs a value (DURATION)"},
		{nil, map[string]string{"HERMES_RECONCILE_DRYRUN": "true"}, "HERMES_RECONCILE_DRYRUN is not a setting (did you mean HERMES_RECONCILE_DRY_RUN?)"},
		{nil, map[string]string{"HERMES_RECONCILE_DRY_RUN": "maybe"}, "want a boolean: 1, true, yes, on or 0, false, no, off"},
	}
	for _, tt := range tests {
		_, err := parseArgs(everything, tt.args, tt.env, io.Discard, io.Discard)
		var ue *usageError
		if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.As(err, &ue) {
			t.Errorf("parseArgs(%q, %v) = %v, want a usage error containing %q", tt.args, tt.env, err, tt.want)
		}
	}
}

func TestHelpDocumentsEveryFlagAndTheExitCodes(t *testing.T) {
	var out strings.Builder
	_, err := parseArgs(everything, []string{"--help"}, nil, &out, io.Discard)
	if err == nil {
		t.Fatal("want flag.ErrHelp")
	}
	for _, want := range []string{"--once", "--dry-run", "--detailed-exitcode", "--notify-fd FD", "--resync DURATION", "Exit codes:",
		"env: HERMES_RECONCILE_DRY_RUN", "default: 5m0s", "SIGHUP", "backoff", "Watch tuning:", "Rendering", "64  usage"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("--help lacks %q", want)
		}
	}
}

func TestParseArgsTwinsAndWords(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		check func(o Options) bool
	}{
		{"one boolean vocabulary: yes", nil, map[string]string{"HERMES_RECONCILE_DRY_RUN": "yes"}, func(o Options) bool { return o.DryRun && o.Once }},
		{"one boolean vocabulary: off", []string{"--strict=off"}, nil, func(o Options) bool { return !o.Cfg.Strict }},
		{"a far unknown twin is a warning", nil, map[string]string{"HERMES_RECONCILE_SOMETHING_ELSE": "1"}, func(o Options) bool {
			return len(o.Warnings) == 1 && strings.Contains(o.Warnings[0], "HERMES_RECONCILE_SOMETHING_ELSE is not a setting")
		}},
		{"status with profiles", []string{"status", "coder", "default", "--output", "wide"}, nil, func(o Options) bool {
			return o.Status && reflect.DeepEqual(o.Profiles, []string{"coder", "default"}) && o.Cfg.Output == outputWide
		}},
		{"explain PROFILE", []string{"explain", "coder"}, nil, func(o Options) bool { return o.Explain == "coder" }},
		{"version as a word", []string{"version"}, nil, func(o Options) bool { return o.Version }},
		{"max-remove as a share", []string{"--max-remove", "50%"}, nil, func(o Options) bool {
			return o.MaxRemove == removeLimit{set: true, n: 50, percent: true}
		}},
		{"single-dash flags still parse", []string{"-v", "2", "-once"}, nil, func(o Options) bool { return o.Verbosity == 2 && o.Once }},
		{"--once --force", []string{"--once", "--force"}, nil, func(o Options) bool { return o.Once && o.Force }},
		{"--force's twin", []string{"--once"}, map[string]string{"HERMES_RECONCILE_FORCE": "1"}, func(o Options) bool { return o.Once && o.Force }},
		{"--force with --dry-run: nothing to force, no harm", []string{"--dry-run", "--force"}, nil, func(o Options) bool { return o.DryRun && o.Force }},
		{"a FORCE twin left in the shell does not stop status", []string{"status"}, map[string]string{"HERMES_RECONCILE_FORCE": "1"}, func(o Options) bool { return o.Status && o.Force }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseArgs(everything, tt.args, tt.env, io.Discard, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(o) {
				t.Errorf("got %+v", o)
			}
		})
	}
}

// everything is a binary with every engine and flag, as the README
// documents them.
var everything = Binary{Name: "hermes-reconcile", Backends: []string{"s6", "systemd", "launchd", "windows", BackendKube}, Groups: groups}

// The README's table of flags is flagsMarkdown: one source with --help.
func TestREADMEFlagsTableIsTheHelp(t *testing.T) {
	stale, err := testkit.Generated("../../../README.md", "<!-- flags:begin -->\n", "<!-- flags:end -->", flagsMarkdown())
	if err != nil {
		t.Fatal(err)
	}
	if stale {
		t.Errorf("the README's flags table is not --help's (UPDATE_DOCS=1 go test ./cmd/internal/cli/ rewrites it)")
	}
}

func TestNearest(t *testing.T) {
	names := []string{"default", "alpha", "beta", "gamma"}
	for _, tt := range []struct{ word, want string }{
		{"alpah", "alpha"}, // two neighbours swapped: one edit
		{"alph", "alpha"},
		{"gamm", "gamma"},
		{"Beta", "beta"},
		{"zeta", "beta"},
		{"nobody-at-all", ""},
		{"x", ""},
	} {
		if got := nearest(tt.word, names); got != tt.want {
			t.Errorf("nearest(%q) = %q, want %q", tt.word, got, tt.want)
		}
	}
}
