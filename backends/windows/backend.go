package windows

import (
	"context"
	"fmt"
	"os"
	"os/user"
	"strings"
	"time"

	"github.com/hermes-reconcile/hermes-reconcile/backends/command"
	"github.com/hermes-reconcile/hermes-reconcile/backends/host"
)

// Options configure the backend.
type Options struct {
	// UserID is the account whose logon starts the task and who runs it
	// (DOMAIN\user). Default the current user.
	UserID string
	// Schtasks is the program. Default "schtasks" from PATH.
	Schtasks string
	// PowerShell is the program that reads a task's run state (its
	// Task Scheduler enumeration, which no locale changes). Default
	// "powershell" from PATH.
	PowerShell string
	// Path is the PATH Schtasks and PowerShell are looked up in. Default
	// the process's own. It does not change their environment (Env does).
	Path string
	// Timeout bounds every schtasks and PowerShell call. Default 30s.
	Timeout time.Duration
	// Env is schtasks's and PowerShell's environment. Default the
	// process's own.
	Env []string
}

type backend struct {
	opt Options
	run command.Runner
	ps  command.Runner
}

var _ host.Manager = (*backend)(nil)

// New returns the Windows backend.
func New(opt Options) (host.Manager, error) {
	if opt.Schtasks == "" {
		opt.Schtasks = "schtasks"
	}
	if opt.PowerShell == "" {
		opt.PowerShell = "powershell"
	}
	if opt.UserID == "" {
		u, err := user.Current()
		if err != nil {
			return nil, fmt.Errorf("current user: %w", err)
		}
		opt.UserID = u.Username
	}
	return &backend{opt: opt,
		run: command.Runner{Prog: opt.Schtasks, Path: opt.Path, Timeout: opt.Timeout, Env: opt.Env},
		ps:  command.Runner{Prog: opt.PowerShell, Path: opt.Path, Timeout: opt.Timeout, Env: opt.Env}}, nil
}

func (b *backend) schtasks(ctx context.Context, args ...string) (int, string, error) {
	code, out, _, err := b.run.Run(ctx, 0, args...)
	return code, out, err
}

// Define renders the task XML and its launcher.
func (b *backend) Define(svc host.Service) (host.Definition, error) {
	task := TaskName(svc.Profile)
	s, err := Render(svc, b.opt.UserID)
	if err != nil {
		return host.Definition{}, fmt.Errorf("task %s: %w", task, err)
	}
	cmd, vbs, x := scriptPaths(svc.Home, task)
	return host.Definition{Name: task, Home: svc.Home, Files: []host.File{
		{Path: x, Mode: 0o644, Data: s.XML},
		{Path: cmd, Mode: 0o644, Data: s.Cmd},
		{Path: vbs, Mode: 0o644, Data: s.VBS},
	}}, nil
}

// Status asks schtasks for the registered task (its XML) and PowerShell for
// its run state (see runState), and compares the launcher files on disk.
// The registered task is stale when its action, trigger or enabled setting
// differ from ours.
func (b *backend) Status(ctx context.Context, def host.Definition) (host.Observed, error) {
	var o host.Observed
	_, _, stale, err := host.StaleFiles(def)
	if err != nil {
		return o, err
	}
	code, out, err := b.schtasks(ctx, "/Query", "/TN", def.Name, "/XML")
	if code < 0 {
		return o, err
	}
	if err != nil {
		// Not registered ("ERROR: The system cannot find the file specified.").
		o.State = "not registered"
		return o, nil
	}
	o.Installed, o.Stale = true, stale
	want, err := ParseTask(def.Files[0].Data)
	if err != nil {
		return o, fmt.Errorf("task %s: our own XML does not parse: %w", def.Name, err)
	}
	got, err := ParseTask([]byte(out))
	switch {
	case err != nil:
		o.Stale = addStale(o.Stale, def)
	case !mentions(got.Actions, def.Home):
		o.Foreign = fmt.Sprintf("task %s does not run a gateway of HERMES_HOME=%s: left as it is", def.Name, def.Home)
	case !sameTask(got, want):
		o.Stale = addStale(o.Stale, def)
	}
	o.State, o.Up, o.Detail, err = b.runState(ctx, def.Name)
	if err != nil {
		return o, err
	}
	o.Enabled = o.Up
	return o, nil
}

func addStale(stale []string, def host.Definition) []string {
	x := def.FileNames()[0]
	for _, s := range stale {
		if s == x {
			return stale
		}
	}
	return append([]string{x}, stale...)
}

// mentions reports whether the task's action refers to home (paths compare
// without case, as on Windows).
func mentions(a Actions, home string) bool {
	h := strings.ToLower(strings.TrimRight(home, `\/`))
	for _, e := range a.Exec {
		text := strings.ToLower(e.Command + " " + e.Arguments + " " + e.WorkingDirectory)
		for i := strings.Index(text, h); i >= 0; i = nextIndex(text, h, i) {
			end := i + len(h)
			if end == len(text) || strings.ContainsRune(`\/" `, rune(text[end])) {
				return true
			}
		}
	}
	return false
}

func nextIndex(s, sub string, i int) int {
	j := strings.Index(s[i+1:], sub)
	if j < 0 {
		return -1
	}
	return i + 1 + j
}

// sameTask compares what matters of a registered task with ours: the
// action, the logon trigger, the restart policy and that it is enabled.
// Task Scheduler rewrites the rest of the XML as it pleases.
func sameTask(got, want Task) bool {
	eq := func(a, b []Exec) bool {
		if len(a) != len(b) {
			return false
		}
		for i := range a {
			if !strings.EqualFold(a[i].Command, b[i].Command) || a[i].Arguments != b[i].Arguments ||
				!strings.EqualFold(a[i].WorkingDirectory, b[i].WorkingDirectory) {
				return false
			}
		}
		return true
	}
	rs := func(t Task) RestartOnFailure {
		if t.Settings.RestartOnFailure == nil {
			return RestartOnFailure{}
		}
		return *t.Settings.RestartOnFailure
	}
	return eq(got.Actions.Exec, want.Actions.Exec) && len(got.Triggers.Logon) == 1 &&
		got.Triggers.Logon[0].Enabled && got.Settings.Enabled && rs(got) == rs(want) &&
		got.Settings.ExecutionTimeLimit == want.Settings.ExecutionTimeLimit
}

// Install writes the task XML and launcher and registers the task; /F
// replaces a registered one, so it never fails because the task exists.
// A running gateway keeps running.
func (b *backend) Install(ctx context.Context, def host.Definition, live bool) error {
	if err := host.WriteFiles(def); err != nil {
		return err
	}
	_, _, err := b.schtasks(ctx, "/Create", "/TN", def.Name, "/XML", def.Files[0].Path, "/F")
	return err
}

// Control runs or ends the task.
func (b *backend) Control(ctx context.Context, def host.Definition, up bool) error {
	verb := "/End"
	if up {
		verb = "/Run"
	}
	_, _, err := b.schtasks(ctx, verb, "/TN", def.Name)
	return err
}

// Uninstall ends and deletes the task and removes its files.
func (b *backend) Uninstall(ctx context.Context, def host.Definition) error {
	// /End fails when the task is not running: nothing to end.
	if code, _, err := b.schtasks(ctx, "/End", "/TN", def.Name); code < 0 {
		return err
	}
	if _, _, err := b.schtasks(ctx, "/Delete", "/TN", def.Name, "/F"); err != nil {
		return err
	}
	if err := host.RemoveFiles(def); err != nil {
		return err
	}
	os.Remove(ScriptDir(def.Home)) // only when empty
	return nil
}
