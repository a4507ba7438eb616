package windows

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/hermes-reconcile/hermes-reconcile/backends/command"
)

// TaskState is a registered task's run state as the Task Scheduler
// enumerates it (TASK_STATE, the State of Get-ScheduledTask and of the COM
// IRegisteredTask): a number, the same in every locale, unlike the status
// word schtasks /Query prints.
type TaskState int

// The TASK_STATE values.
const (
	StateUnknown  TaskState = 0
	StateDisabled TaskState = 1
	StateQueued   TaskState = 2
	StateReady    TaskState = 3
	StateRunning  TaskState = 4
)

// String is the state's English name, as an English Task Scheduler shows it.
func (s TaskState) String() string {
	switch s {
	case StateUnknown:
		return "Unknown"
	case StateDisabled:
		return "Disabled"
	case StateQueued:
		return "Queued"
	case StateReady:
		return "Ready"
	case StateRunning:
		return "Running"
	}
	return fmt.Sprintf("TaskState(%d)", int(s))
}

// Up is true when the task runs or is queued to run.
func (s TaskState) Up() bool { return s == StateRunning || s == StateQueued }

// ParseTaskState reads what StateScript prints: one TASK_STATE number on a
// line (in any encoding DecodeText knows). Anything else, two numbers (two
// tasks), a word or an error message, is an error.
func ParseTaskState(out string) (TaskState, error) {
	text := strings.TrimSpace(DecodeText([]byte(out)))
	n, err := strconv.Atoi(text)
	if err != nil || n < int(StateUnknown) || n > int(StateRunning) || strings.ContainsAny(text, "+-") {
		return StateUnknown, fmt.Errorf("not a task state: %q", text)
	}
	return TaskState(n), nil
}

// SplitTaskName splits a schtasks /TN name into the folder and the name
// Get-ScheduledTask takes: "Hermes_Gateway" is the task Hermes_Gateway in
// the root folder `\`; `\A\B\T` is T in `\A\B\` (a folder ends in `\`).
func SplitTaskName(tn string) (path, name string) {
	i := strings.LastIndex(tn, `\`)
	if i < 0 {
		return `\`, tn
	}
	path, name = tn[:i+1], tn[i+1:]
	if !strings.HasPrefix(path, `\`) {
		path = `\` + path
	}
	return path, name
}

// StateScript is the PowerShell command that prints the TASK_STATE number
// of the task tn, locale-independent:
//
//	$ErrorActionPreference='Stop'; [int](Get-ScheduledTask -TaskName '<name>' -TaskPath '<folder>').State
//
// A missing task is an error (exit 1), and so are two tasks matched (the
// cast of an array fails). The name and folder are single-quoted strings,
// quotes doubled (PowerShell counts the typographic ones as quotes too). A
// name holding what Get-ScheduledTask would read as a wildcard (* ? [ ]),
// a backtick, a double quote (Go's command line escapes it as \" for
// powershell.exe to parse again) or a control character is refused: no
// quoting makes it safe. Task names from profile names never hold one.
func StateScript(tn string) (string, error) {
	path, name := SplitTaskName(tn)
	if name == "" {
		return "", fmt.Errorf("task %q: no name", tn)
	}
	for _, s := range []string{path, name} {
		for _, r := range s {
			if strings.ContainsRune("*?[]`\"", r) || r < 0x20 || r == 0x7f {
				return "", fmt.Errorf("task %q: %q cannot be passed to Get-ScheduledTask", tn, r)
			}
		}
	}
	return "$ErrorActionPreference='Stop'; [int](Get-ScheduledTask -TaskName " + psQuote(name) +
		" -TaskPath " + psQuote(path) + ").State", nil
}

// psQuote is s as a PowerShell single-quoted string: every quote, ASCII or
// typographic (‘ ’ ‚ ‛, which PowerShell also takes for '), doubled.
func psQuote(s string) string {
	var b strings.Builder
	b.WriteByte('\'')
	for _, r := range s {
		switch r {
		case '\'', '\u2018', '\u2019', '\u201a', '\u201b':
			b.WriteRune(r)
		}
		b.WriteRune(r)
	}
	b.WriteByte('\'')
	return b.String()
}

// runState reads the run state of the registered task tn: the state word
// shown to users (the enumeration's English name, whatever the locale),
// whether it is up, and a note when it came from the fallback.
//
// It asks PowerShell for the TASK_STATE number. When PowerShell cannot give
// one (not installed, blocked, a Windows without Get-ScheduledTask, output
// that is no state), it falls back to schtasks /Query /FO CSV, whose Status
// column is a localised word ("Running" in English, "Wird ausgeführt" in
// German, printed in the console's code page). Only the English words are
// trusted: any other word is an error rather than a guess, since taking an
// unknown word for "down" is how a non-English Windows saw every gateway
// down (needless starts, stops never made). A PowerShell that does not
// answer in time is an error too, not a fallback: the host is stuck or
// overloaded, and a second call would only double the wait.
func (b *backend) runState(ctx context.Context, tn string) (state string, up bool, note string, err error) {
	var why error
	if script, serr := StateScript(tn); serr != nil {
		why = serr
	} else {
		_, out, _, perr := b.ps.Run(ctx, 0, "-NoProfile", "-NonInteractive", "-Command", script)
		var ce *command.Error
		if errors.As(perr, &ce) && ce.TimedOut {
			return "", false, "", perr
		}
		if perr == nil {
			s, perr2 := ParseTaskState(out)
			if perr2 == nil {
				return s.String(), s.Up(), "", nil
			}
			perr = fmt.Errorf("%s: %w", b.ps.Prog, perr2)
		}
		why = perr
	}
	if ctx.Err() != nil {
		return "", false, "", ctx.Err()
	}
	_, out, err := b.schtasks(ctx, "/Query", "/TN", tn, "/FO", "CSV", "/NH")
	if err != nil {
		return "", false, "", err
	}
	word := csvStatus(out)
	switch word {
	case "Running", "Queued":
		up = true
	case "Ready", "Disabled":
	default:
		return "", false, "", fmt.Errorf("task %s: cannot tell whether it runs: no task state from PowerShell (%v), "+
			"and schtasks's status %q is not an English word (a localised one is not trusted)", tn, why, word)
	}
	return word, up, "state from schtasks's status word: no task state from PowerShell", nil
}

// csvStatus is the Status column of `schtasks /Query /FO CSV /NH`:
// "TaskName","Next Run Time","Status". The word is localised.
func csvStatus(out string) string {
	recs, err := csv.NewReader(strings.NewReader(strings.TrimSpace(out))).ReadAll()
	if err != nil || len(recs) == 0 || len(recs[0]) < 3 {
		return "unknown"
	}
	return recs[0][2]
}
