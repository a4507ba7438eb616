package cli

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"
)

const helpIntro = `hermes-reconcile keeps the s6 gateway slots of a Hermes container (or the
single host service of systemd, launchd or Windows) in step with the
profiles on disk.

Usage:
  hermes-reconcile [flags]                  watch mode: a long-running control loop (an s6 longrun)
  hermes-reconcile --once [flags]           one pass: the plan, then its apply (cont-init.d at boot)
  hermes-reconcile --dry-run [flags]        print the plan; write nothing
  hermes-reconcile status [PROFILE...]      each profile and slot: intent, want, actual, pid, uptime
  hermes-reconcile explain PROFILE          what the loader saw for PROFILE and what a pass would do
  hermes-reconcile unpark PROFILE           start a gateway parked as a crash loop (or failed for good)
  hermes-reconcile completion SHELL         the completion script of bash, zsh, fish or powershell
  hermes-reconcile help [COMMAND] | version

Each flag is also read from its environment twin, HERMES_RECONCILE_<NAME>
(--dry-run: HERMES_RECONCILE_DRY_RUN=1); a flag on the command line wins, a
twin set to the empty string counts. Booleans take 1, true, yes, on or 0,
false, no, off. Every flag applies to every command that can use it.
`

const exitCodes = `
Exit codes:
  0   success (with --detailed-exitcode: nothing needed changing); status:
      every gateway that should run is up and supervised
  1   error: a pass could not run, an action failed, a permission error on
      the profiles, or (with --strict) a diagnostic
  2   with --detailed-exitcode: changes were needed (dry-run: drift present)
  3   status: a gateway that should run is not running (down, unsupervised,
      parked as a crash loop, failed for good, held); its NOTE says why
  4   status, explain, unpark: no such profile or unit
  64  usage: a flag, twin or argument that cannot run; nothing was done
`

const helpTail = exitCodes + `
Watch mode: an event on a profile or its slot runs a pass over that profile
alone: at once when no pass is pending, then after a quiet period (--quiet,
at most --max-delay after the first event of a burst). An intent file
rewritten with the same intent runs none. A full pass runs at start, every
--resync, on an event queue overflow, on SIGHUP, after a failed pass, and
when profiles/, the scandir or the topology change. The Hermes CLI gets
--settle to finish a create, delete, start or stop before a pass acts
against it. A gateway that dies --crash-loop-deaths times within
--crash-loop-window is parked down; one whose finish asked s6 not to restart
it (exit 0 or 78) stays down. Either is started again once when its
config.yaml, .env or intent is written after that, or by unpark. A profile
whose actions fail is retried with backoff (1s doubling to --backoff-max)
without delaying the others. A HERMES_HOME with no Hermes data (not
mounted?) removes nothing, and neither does a pass that would remove more
than --max-remove. SIGTERM/SIGINT finish the pass in flight and exit 0,
leaving every gateway as it is.
`

// helpWidth is where help wraps: the terminal's width, else 80 columns.
func helpWidth(w io.Writer) int {
	if f, ok := w.(*os.File); ok && isTerminal(w) {
		if cols, _, err := term.GetSize(int(f.Fd())); err == nil && cols >= 40 {
			return cols
		}
	}
	return 80
}

// wrap breaks text into lines of at most width columns after an indent of
// indent spaces (the first line's indent is the caller's).
func wrap(text string, indent, width int) string {
	room := max(width-indent, 20)
	var b strings.Builder
	line := 0
	for i, word := range strings.Fields(text) {
		if i > 0 && line+1+len(word) > room {
			b.WriteString("\n" + strings.Repeat(" ", indent))
			line = 0
		} else if i > 0 {
			b.WriteByte(' ')
			line++
		}
		b.WriteString(word)
		line += len(word)
	}
	return b.String()
}

// writeHelp is --help and help: for the root, every group of flags with
// its twins and defaults and the exit codes; for a command, its usage and
// the flags it takes. Lines wrap at the terminal's width.
func (b Binary) writeHelp(w io.Writer, cmd *cobra.Command, table []option) {
	width := helpWidth(w)
	groupsShown := groups
	if cmd != nil && cmd.HasParent() {
		fmt.Fprintf(w, "Usage:\n  %s %s [flags]\n\n%s\n", b.Name, cmd.Use, wrap(upper(cmd.Short)+".", 0, width))
		switch cmd.Name() {
		case cmdStatus, cmdExplain, cmdUnpark:
			groupsShown = []string{GroupPaths, GroupOutput, GroupRender, GroupHost, GroupKube}
		default:
			groupsShown = nil
		}
	} else {
		fmt.Fprint(w, strings.ReplaceAll(helpIntro, "hermes-reconcile", b.Name))
	}
	for _, g := range groupsShown {
		if !slices.ContainsFunc(table, func(o option) bool { return o.group == g }) {
			continue
		}
		fmt.Fprintf(w, "\n%s:\n", g)
		for _, o := range table {
			if o.group != g {
				continue
			}
			fmt.Fprintf(w, "  %-26s %s\n", o.head(), wrap(o.help, 29, width))
			var notes []string
			if o.def != "" {
				notes = append(notes, "default: "+o.def)
			}
			if t := o.twin(); t != "" {
				notes = append(notes, "env: "+t)
			}
			if len(notes) > 0 {
				fmt.Fprintf(w, "  %-26s %s\n", "", wrap("["+strings.Join(notes, "; ")+"]", 29, width))
			}
		}
	}
	if cmd != nil && cmd.HasParent() {
		if len(groupsShown) > 0 {
			fmt.Fprint(w, exitCodes)
		}
		return
	}
	fmt.Fprint(w, helpTail)
}

func upper(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// head is how help shows the flag: its names and its argument.
func (o option) head() string {
	head := o.flag()
	switch {
	case o.short != "":
		head = "-" + o.short + ", " + head
	case o.long != "":
		head += ", --" + o.long
	}
	if o.arg != "" {
		head += " " + o.arg
	}
	return head
}

// ManPage is the binary's man page (section 1, roff), from the same table
// as --help.
func (b Binary) ManPage() string {
	o := defaultOptions()
	if b.Defaults != nil {
		b.Defaults(&o)
	}
	return b.manPage(b.table(&o))
}

func (b Binary) manPage(table []option) string {
	esc := func(s string) string {
		s = strings.ReplaceAll(s, `\`, `\e`)
		s = strings.ReplaceAll(s, "-", `\-`)
		if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
			s = `\&` + s
		}
		return s
	}
	var m strings.Builder
	fmt.Fprintf(&m, ".TH %s 1 \"\" \"%s\" \"User Commands\"\n", strings.ToUpper(b.Name), b.Name)
	fmt.Fprintf(&m, ".SH NAME\n%s \\- keep the gateway services of Hermes profiles in step with the profiles on disk\n", esc(b.Name))
	m.WriteString(".SH SYNOPSIS\n")
	for _, u := range []string{"[flags]", "\\-\\-once [flags]", "\\-\\-dry\\-run [flags]", "status [PROFILE...]", "explain PROFILE", "unpark PROFILE",
		"completion bash|zsh|fish|powershell", "help [COMMAND]", "version"} {
		fmt.Fprintf(&m, ".B %s\n%s\n.br\n", esc(b.Name), u)
	}
	m.WriteString(".SH DESCRIPTION\nEach flag is also read from its environment twin, HERMES_RECONCILE_<NAME>; a flag on the command line wins, a twin set to the empty string counts.\n")
	for _, g := range groups {
		if !slices.ContainsFunc(table, func(o option) bool { return o.group == g }) {
			continue
		}
		fmt.Fprintf(&m, ".SH %s\n", esc(strings.ToUpper(g)))
		for _, o := range table {
			if o.group != g {
				continue
			}
			fmt.Fprintf(&m, ".TP\n.B %s\n%s\n", esc(o.head()), esc(o.help))
			if o.def != "" {
				fmt.Fprintf(&m, "Default: %s.\n", esc(o.def))
			}
			if t := o.twin(); t != "" {
				fmt.Fprintf(&m, "Environment: %s.\n", esc(t))
			}
		}
	}
	m.WriteString(".SH EXIT STATUS\n.nf\n" + esc(strings.TrimSpace(exitCodes)) + "\n.fi\n")
	return m.String()
}
