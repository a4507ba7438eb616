package main

import (
	"io"
	"reflect"
	"strings"
	"testing"
	"time"
)

func lookup(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}

func TestParseArgs(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		check func(t *testing.T, o options)
	}{
		{"defaults: watch mode on /opt/data and /run/service", nil, nil, func(t *testing.T, o options) {
			if o.once || o.dryRun || o.status || o.cfg.Home != "/opt/data" || o.cfg.Scandir != "/run/service" || !o.homeDefault {
				t.Errorf("got %+v", o)
			}
		}},
		{"HERMES_HOME and S6_PROFILE_GATEWAY_SCANDIR", nil,
			map[string]string{"HERMES_HOME": "/data", "S6_PROFILE_GATEWAY_SCANDIR": "/run/gw"}, func(t *testing.T, o options) {
				if o.cfg.Home != "/data" || o.cfg.Scandir != "/run/gw" || !o.scandirGiven {
					t.Errorf("got home %q scandir %q", o.cfg.Home, o.cfg.Scandir)
				}
			}},
		{"a twin beats the Hermes variable, a flag beats the twin", []string{"--home", "/flag"},
			map[string]string{"HERMES_HOME": "/hermes", "HERMES_RECONCILE_HOME": "/twin", "HERMES_RECONCILE_SCANDIR": "/twin-scan",
				"S6_PROFILE_GATEWAY_SCANDIR": "/hermes-scan"}, func(t *testing.T, o options) {
				if o.cfg.Home != "/flag" || o.cfg.Scandir != "/twin-scan" {
					t.Errorf("got home %q scandir %q", o.cfg.Home, o.cfg.Scandir)
				}
			}},
		{"--dry-run implies --once", []string{"--dry-run"}, nil, func(t *testing.T, o options) {
			if !o.once || !o.dryRun {
				t.Errorf("got once=%v dryRun=%v", o.once, o.dryRun)
			}
		}},
		{"status before the flags", []string{"status", "--output", "json"}, nil, func(t *testing.T, o options) {
			if !o.status || o.cfg.Output != "json" {
				t.Errorf("got status=%v output=%q", o.status, o.cfg.Output)
			}
		}},
		{"status after the flags", []string{"--output", "json", "status", "-v", "2"}, nil, func(t *testing.T, o options) {
			if !o.status || o.cfg.Output != "json" || o.verbosity != 2 {
				t.Errorf("got status=%v output=%q v=%d", o.status, o.cfg.Output, o.verbosity)
			}
		}},
		{"unpark, its profile, then flags", []string{"unpark", "coder", "--scandir", "/s"}, nil, func(t *testing.T, o options) {
			if o.unpark != "coder" || o.status || o.cfg.Scandir != "/s" {
				t.Errorf("got unpark=%q status=%v scandir=%q", o.unpark, o.status, o.cfg.Scandir)
			}
		}},
		{"flags, then unpark default", []string{"-v", "1", "unpark", "default"}, nil, func(t *testing.T, o options) {
			if o.unpark != "default" || o.verbosity != 1 {
				t.Errorf("got unpark=%q v=%d", o.unpark, o.verbosity)
			}
		}},
		{"crash-loop guard flags and twins", []string{"--crash-loop-deaths", "3"}, map[string]string{"HERMES_RECONCILE_CRASH_LOOP_WINDOW": "2m"},
			func(t *testing.T, o options) {
				if o.cfg.CrashLoopDeaths != 3 || o.cfg.CrashLoopWindow != 2*time.Minute {
					t.Errorf("got %d in %s", o.cfg.CrashLoopDeaths, o.cfg.CrashLoopWindow)
				}
			}},
		{"crash-loop guard defaults: 5 in 60s", nil, nil, func(t *testing.T, o options) {
			if o.cfg.CrashLoopDeaths != 5 || o.cfg.CrashLoopWindow != time.Minute {
				t.Errorf("got %d in %s", o.cfg.CrashLoopDeaths, o.cfg.CrashLoopWindow)
			}
		}},
		{"boolean and duration twins", nil, map[string]string{"HERMES_RECONCILE_ONCE": "true",
			"HERMES_RECONCILE_DETAILED_EXITCODE": "1", "HERMES_RECONCILE_QUIET": "250ms"}, func(t *testing.T, o options) {
			if !o.once || !o.cfg.DetailedExitcode || o.cfg.Watch.Quiet != 250*time.Millisecond {
				t.Errorf("got %+v", o)
			}
		}},
		{"an empty USER twin means never drop privileges", nil, map[string]string{"HERMES_RECONCILE_USER": ""}, func(t *testing.T, o options) {
			if o.cfg.Render.User != "" {
				t.Errorf("user = %q", o.cfg.Render.User)
			}
		}},
		{"env pairs from flags and the twin's lines", []string{"--env", "A=1", "--env", "B=x=y"},
			map[string]string{}, func(t *testing.T, o options) {
				if !reflect.DeepEqual(o.cfg.Render.Env, map[string]string{"A": "1", "B": "x=y"}) {
					t.Errorf("env = %v", o.cfg.Render.Env)
				}
			}},
		{"env twin lines", nil, map[string]string{"HERMES_RECONCILE_ENV": "A=1\nB=2\n"}, func(t *testing.T, o options) {
			if !reflect.DeepEqual(o.cfg.Render.Env, map[string]string{"A": "1", "B": "2"}) {
				t.Errorf("env = %v", o.cfg.Render.Env)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseArgs(tt.args, lookup(tt.env), io.Discard, io.Discard)
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
		{[]string{"--output", "yaml"}, nil, "--output must be text or json"},
		{[]string{"--log-format", "xml"}, nil, "--log-format must be json or console"},
		{[]string{"--backend", "upstart"}, nil, "--backend must be"},
		{[]string{"reconcile"}, nil, `unexpected argument "reconcile"`},
		{[]string{"unpark"}, nil, "unpark needs the profile"},
		{[]string{"unpark", "../etc"}, nil, `unpark "../etc"`},
		{[]string{"unpark", "a", "b"}, nil, `unexpected argument "b"`},
		{[]string{"status", "unpark", "a"}, nil, `unexpected argument "unpark"`},
		{nil, map[string]string{"HERMES_RECONCILE_QUIET": "soon"}, "HERMES_RECONCILE_QUIET"},
		{[]string{"--env", "NOEQUALS"}, nil, "want KEY=VALUE"},
	}
	for _, tt := range tests {
		_, err := parseArgs(tt.args, lookup(tt.env), io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("parseArgs(%q, %v) = %v, want an error containing %q", tt.args, tt.env, err, tt.want)
		}
	}
}

func TestHelpDocumentsEveryFlagAndTheExitCodes(t *testing.T) {
	var out strings.Builder
	_, err := parseArgs([]string{"--help"}, lookup(nil), &out, io.Discard)
	if err == nil {
		t.Fatal("want flag.ErrHelp")
	}
	for _, want := range []string{"-once", "-dry-run", "-detailed-exitcode", "-notify-fd", "-resync", "Exit codes:", "HERMES_RECONCILE_", "SIGHUP", "backoff"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("--help lacks %q", want)
		}
	}
}
