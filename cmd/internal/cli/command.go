package cli

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/hermes-reconcile/hermes-reconcile/desired"
)

// Commands, the words besides the flags.
const (
	cmdStatus     = "status"
	cmdUnpark     = "unpark"
	cmdExplain    = "explain"
	cmdHelp       = "help"
	cmdVersion    = "version"
	cmdCompletion = "completion"
)

var commands = []string{cmdStatus, cmdUnpark, cmdExplain, cmdHelp, cmdVersion, cmdCompletion}

// pflagValue is an option as pflag sees it: our value, which parses and
// says what it expects, named as --help names it.
type pflagValue struct {
	opt  *option
	text string
}

func (v *pflagValue) Set(s string) error {
	if err := v.opt.value.Set(s); err != nil {
		return err
	}
	v.text = s
	return nil
}
func (v *pflagValue) String() string { return v.text }
func (v *pflagValue) Type() string {
	if v.opt.arg == "" {
		return "bool"
	}
	return v.opt.arg
}

// command is the binary's command tree over o: the root runs watch mode,
// --once and --dry-run; status, explain, unpark, version and completion are
// subcommands with their own --help. Parsing fills o; nothing runs here.
func (b Binary) command(o *Options, table []option, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           b.Name,
		Short:         "keep the gateway services of Hermes profiles in step with the profiles on disk",
		SilenceErrors: true,
		SilenceUsage:  true,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return nil
			}
			if cmd.ArgsLenAtDash() >= 0 && isCommand(args[0]) {
				o.Command = args[0] // `--once -- status`: two modes, said by check
				return nil
			}
			if n := nearest(args[0], commands); n != "" {
				return usagef("unknown command %q (did you mean %s?); the commands are %s", args[0], n, orList(commands))
			}
			return usagef("unexpected argument %q (the commands are %s)", args[0], orList(commands))
		},
		RunE: func(*cobra.Command, []string) error { return nil },
	}
	root.CompletionOptions.DisableDefaultCmd = true
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return flagError(b.Name, err, table) })
	fs := root.PersistentFlags()
	fs.SortFlags = false
	for i := range table {
		opt := &table[i]
		if opt.name == "help" {
			continue // cobra's own, shown by ours
		}
		long, short := opt.name, ""
		if opt.short != "" {
			short = opt.short
		}
		if len(long) == 1 {
			long, short = opt.long, opt.name // -v N is --verbosity
		}
		f := fs.VarPF(&pflagValue{opt: opt}, long, short, opt.help)
		if opt.arg == "" {
			f.NoOptDefVal = "true"
		}
	}
	fs.BoolP("help", "h", false, "print this help and exit")
	root.SetHelpFunc(func(cmd *cobra.Command, _ []string) { b.writeHelp(cmd.OutOrStdout(), cmd, table) })

	profileArg := func(c *cobra.Command, _ []string, prefix string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return completeProfiles(c, prefix), cobra.ShellCompDirectiveNoFileComp
	}
	status := &cobra.Command{
		Use:   "status [PROFILE...]",
		Short: "each profile and its service: intent, want, actual, pid, uptime, last exit, note",
		RunE: func(_ *cobra.Command, args []string) error {
			o.Command, o.Status, o.Profiles = cmdStatus, true, args
			return nil
		},
		ValidArgsFunction: profileArg,
	}
	explain := &cobra.Command{
		Use:   "explain PROFILE",
		Short: "what the loader saw of PROFILE and what a pass would do with it, and why",
		Args:  oneProfile(b.Name, cmdExplain),
		RunE: func(_ *cobra.Command, args []string) error {
			o.Command, o.Explain = cmdExplain, args[0]
			return nil
		},
		ValidArgsFunction: profileArg,
	}
	unpark := &cobra.Command{
		Use:   "unpark PROFILE",
		Short: "start a gateway parked as a crash loop (or failed for good) once more",
		Args:  oneProfile(b.Name, cmdUnpark),
		RunE: func(_ *cobra.Command, args []string) error {
			o.Command, o.Unpark = cmdUnpark, args[0]
			return nil
		},
		ValidArgsFunction: profileArg,
	}
	version := &cobra.Command{
		Use:   "version",
		Short: "the version: module, commit, build time, Go, platform",
		Args:  noArgs(cmdVersion),
		RunE: func(*cobra.Command, []string) error {
			o.Command, o.Version = cmdVersion, true
			return nil
		},
	}
	completion := &cobra.Command{
		Use:       "completion bash|zsh|fish|powershell",
		Short:     "the shell completion script of " + b.Name,
		ValidArgs: []cobra.Completion{"bash", "zsh", "fish", "powershell"},
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef("completion needs the shell: %s completion bash|zsh|fish|powershell", b.Name)
			}
			switch args[0] {
			case "bash", "zsh", "fish", "powershell":
				return nil
			}
			return usagef("completion %q: want bash, zsh, fish or powershell", args[0])
		},
		RunE: func(c *cobra.Command, args []string) error {
			o.Command = cmdCompletion
			out := c.OutOrStdout()
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(out, true)
			case "zsh":
				return root.GenZshCompletion(out)
			case "fish":
				return root.GenFishCompletion(out, true)
			}
			return root.GenPowerShellCompletionWithDesc(out)
		},
	}
	root.AddCommand(status, explain, unpark, version, completion)
	for _, c := range root.Commands() {
		c.SilenceErrors, c.SilenceUsage = true, true
		c.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return flagError(b.Name, err, table) })
	}
	completeChoices(root, table)
	return root
}

func isCommand(word string) bool {
	for _, c := range commands {
		if word == c {
			return true
		}
	}
	return false
}

func oneProfile(bin, cmd string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		switch {
		case len(args) == 0:
			return usagef("%s needs the profile: %s %s PROFILE", cmd, bin, cmd)
		case len(args) > 1:
			return usagef("unexpected argument %q: %s takes one profile", args[1], cmd)
		}
		return nil
	}
}

func noArgs(cmd string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) > 0 {
			return usagef("unexpected argument %q: %s takes none", args[0], cmd)
		}
		return nil
	}
}

// flagError is pflag's error as one line of ours: the flag, and the one it
// is near when there is one.
func flagError(bin string, err error, table []option) error {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "unknown flag: "); ok {
		return unknownFlag(bin, name, table)
	}
	if short, ok := strings.CutPrefix(msg, "unknown shorthand flag: "); ok {
		short, _, _ = strings.Cut(short, " ")
		return unknownFlag(bin, "-"+strings.Trim(short, "'"), table)
	}
	if rest, ok := strings.CutPrefix(msg, "flag needs an argument: "); ok {
		name := strings.TrimLeft(rest, "-")
		if i := strings.Index(rest, " in -"); i >= 0 {
			name = strings.Trim(rest[:i], "'")
		}
		for _, o := range table {
			if o.name == name || o.long == name || o.short == name {
				return usagef("%s needs a value (%s)", o.flag(), o.arg)
			}
		}
	}
	var ie *pflag.InvalidValueError
	if errors.As(err, &ie) {
		f := ie.GetFlag()
		inner := errors.Unwrap(err)
		for i := range table {
			if table[i].name == f.Name || table[i].long == f.Name {
				return usagef("%s: %v", table[i].flag(), inner)
			}
		}
	}
	return usagef("%s", msg)
}

func unknownFlag(bin, a string, table []option) error {
	name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
	var names []string
	for _, o := range table {
		names = append(names, o.name)
	}
	if n := nearest(name, names); n != "" {
		flag := "--" + n
		if len(n) == 1 {
			flag = "-" + n
		}
		return usagef("unknown flag %s (did you mean %s?); see %s --help", a, flag, bin)
	}
	return usagef("unknown flag %s; see %s --help", a, bin)
}

// completeChoices completes the values of the flags that take one of a few
// words.
func completeChoices(root *cobra.Command, table []option) {
	for _, opt := range table {
		var words []string
		switch v := opt.value.(type) {
		case choiceValue:
			words = v.choices
		case backendValue:
			words = v.choices
		default:
			continue
		}
		name := opt.name
		if len(name) == 1 {
			name = opt.long
		}
		_ = root.RegisterFlagCompletionFunc(name, func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
			return words, cobra.ShellCompDirectiveNoFileComp
		})
	}
}

// completeProfiles lists the profiles under HERMES_HOME (or --home) for
// status, explain and unpark: a completion reads, never writes.
func completeProfiles(c *cobra.Command, prefix string) []cobra.Completion {
	home := os.Getenv("HERMES_HOME")
	if f := c.Flag("home"); f != nil && f.Changed {
		home = f.Value.String()
	}
	if home == "" {
		home = "/opt/data"
	}
	out := []cobra.Completion{desired.DefaultProfile}
	entries, _ := os.ReadDir(filepath.Join(desired.Root(home), "profiles"))
	for _, e := range entries {
		if e.IsDir() && desired.ValidName(e.Name()) == nil && e.Name() != desired.DefaultProfile {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out[1:])
	var match []cobra.Completion
	for _, p := range out {
		if strings.HasPrefix(p, prefix) {
			match = append(match, p)
		}
	}
	return match
}

// parseArgs merges flags, their HERMES_RECONCILE_* twins and the defaults,
// in that order of precedence. env is the environment: a twin set to ""
// counts (--user "" means never drop privileges).
func parseArgs(b Binary, args []string, env map[string]string, stdout, stderr io.Writer) (Options, error) {
	o := defaultOptions()
	if b.Defaults != nil {
		b.Defaults(&o)
	}
	table := b.table(&o)
	root := b.command(&o, table, stdout, stderr)
	root.SetArgs(longDashes(args, table))
	cmd, err := root.ExecuteC()
	if err != nil {
		var ue *usageError
		if !errors.As(err, &ue) {
			err = usagef("%v", err) // cobra's own words: a usage error too
		}
		return o, err
	}
	if h, _ := cmd.Flags().GetBool("help"); h || cmd.Name() == cmdHelp {
		return o, errHelp
	}
	if o.Command == cmdCompletion || cmd.Name() == cobra.ShellCompRequestCmd || cmd.Name() == cobra.ShellCompNoDescRequestCmd {
		return o, errHelp // printed: a completion script, or a shell's completions
	}
	set := map[string]bool{}
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if f.Name == "verbosity" {
			set["v"] = true
			return
		}
		set[f.Name] = true
	})
	if err := applyTwins(&o, table, set, env); err != nil {
		return o, err
	}
	o.resolvePaths(set, env)
	if err := o.check(); err != nil {
		return o, err
	}
	if o.DryRun {
		o.Once = true
	}
	return o, nil
}

// longDashes writes a long flag given with one dash (-once, Go's flag
// package's style, which this command line took before) with two, as pflag
// wants them; a one-letter flag and anything after -- stay as they are.
func longDashes(args []string, table []option) []string {
	long := map[string]bool{}
	for _, o := range table {
		if len(o.name) > 1 {
			long[o.name] = true
		}
		if o.long != "" {
			long[o.long] = true
		}
	}
	out := make([]string, len(args))
	copy(out, args)
	for i, a := range out {
		if a == "--" {
			break
		}
		if name, _, _ := strings.Cut(strings.TrimPrefix(a, "-"), "="); strings.HasPrefix(a, "-") && !strings.HasPrefix(a, "--") && long[name] {
			out[i] = "-" + a
		}
	}
	return out
}
