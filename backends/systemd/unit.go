package systemd

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"text/template"

	"github.com/hermes-reconcile/hermes-reconcile/backends/host"
	"github.com/hermes-reconcile/hermes-reconcile/desired"
)

// ServiceBase is the unit name of the default profile's gateway; a named
// profile's is ServiceBase-<name>. These are Hermes's names.
const ServiceBase = "hermes-gateway"

// Exit statuses with a meaning to the gateway (Hermes's gateway/restart.py).
const (
	// ExitRestart is EX_TEMPFAIL: the gateway asks to be restarted.
	ExitRestart = 75
	// ExitConfig is EX_CONFIG: a fatal configuration error, do not restart.
	ExitConfig = 78
)

// Name is the unit's name without .service: hermes-gateway or
// hermes-gateway-<profile>.
func Name(profile string) string {
	if profile == desired.DefaultProfile {
		return ServiceBase
	}
	return ServiceBase + "-" + profile
}

// Scope is where a unit is installed: the user's manager or the system's.
type Scope struct {
	// System selects the system manager; RunAs is then the account the
	// gateway runs as (User=), empty for root.
	System bool
	RunAs  string
}

// Unit renders the unit file of svc. Hermes's own unit is the model: the
// same exit policy (Restart=always, 75 forces a restart, 78 prevents one),
// no start rate limit, journal logging, KillMode=mixed.
func Unit(svc host.Service, sc Scope) ([]byte, error) {
	env, err := svc.RenderEnv()
	if err != nil {
		return nil, err
	}
	var data unitData
	for _, a := range svc.Command {
		if strings.ContainsAny(a, "\n\r\x00") {
			return nil, fmt.Errorf("gateway argument %q holds a newline or NUL", a)
		}
	}
	data.ExecStart = execLine(svc.Command)
	for _, kv := range env {
		data.Env = append(data.Env, quoteArg(kv[0]+"="+kv[1], false))
	}
	if strings.ContainsAny(svc.Home, "\n\r\x00") {
		return nil, fmt.Errorf("HERMES_HOME %q holds a newline or NUL", svc.Home)
	}
	if sc.RunAs != "" && !validUser(sc.RunAs) {
		return nil, fmt.Errorf("account %q is not a plain user name", sc.RunAs)
	}
	data.WorkDir = escapeSpecifiers(svc.Home)
	data.RestartSec = svc.Restart()
	data.System, data.User = sc.System, sc.RunAs
	data.WantedBy = "default.target"
	if sc.System {
		data.WantedBy = "multi-user.target"
	}
	data.Description = host.Description
	data.RestartForce, data.RestartPrevent = ExitRestart, ExitConfig
	var b bytes.Buffer
	if err := unitTemplate.Execute(&b, data); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

type unitData struct {
	Description    string
	ExecStart      string
	WorkDir        string
	Env            []string
	RestartSec     int
	RestartForce   int
	RestartPrevent int
	System         bool
	User           string
	WantedBy       string
}

var unitTemplate = template.Must(template.New("unit").Parse(`[Unit]
Description={{.Description}}
After=network-online.target
Wants=network-online.target
StartLimitIntervalSec=0

[Service]
Type=simple
{{- if and .System .User}}
User={{.User}}
{{- end}}
ExecStart={{.ExecStart}}
WorkingDirectory={{.WorkDir}}
{{- range .Env}}
Environment={{.}}
{{- end}}
Restart=always
RestartSec={{.RestartSec}}
RestartForceExitStatus={{.RestartForce}}
SuccessExitStatus={{.RestartForce}}
RestartPreventExitStatus={{.RestartPrevent}}
KillMode=mixed
KillSignal=SIGTERM
TimeoutStopSec=90
StandardOutput=journal
StandardError=journal

[Install]
WantedBy={{.WantedBy}}
`))

// execLine quotes every argument as Hermes's _systemd_command does, so
// systemd takes each as one word and expands neither specifiers nor
// variables in it.
func execLine(argv []string) string {
	parts := make([]string, len(argv))
	for i, a := range argv {
		parts[i] = quoteArg(a, true)
	}
	return strings.Join(parts, " ")
}

// quoteArg double-quotes s for a unit file: \ and " are escaped, % is
// doubled (specifiers), and with dollar also $ (ExecStart expands $VAR;
// Environment= does not).
func quoteArg(s string, dollar bool) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "%", "%%")
	s = r.Replace(s)
	if dollar {
		s = strings.ReplaceAll(s, "$", "$$")
	}
	return `"` + s + `"`
}

func escapeSpecifiers(s string) string { return strings.ReplaceAll(s, "%", "%%") }

func validUser(u string) bool {
	for _, c := range u {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return u != ""
}

// HomeOf returns the HERMES_HOME an installed unit sets, "" when it sets
// none. It reads the Environment= lines this package and Hermes write.
func HomeOf(unit []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(unit))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		v, ok := strings.CutPrefix(line, "Environment=")
		if !ok {
			continue
		}
		for _, w := range envWords(v) {
			if h, ok := strings.CutPrefix(w, "HERMES_HOME="); ok {
				return h
			}
		}
	}
	return ""
}

// envWords splits an Environment= value into its assignments, undoing the
// quoting of quoteArg.
func envWords(v string) []string {
	var words []string
	for v = strings.TrimSpace(v); v != ""; v = strings.TrimSpace(v) {
		if v[0] != '"' && v[0] != '\'' {
			w, rest, _ := strings.Cut(v, " ")
			words, v = append(words, strings.ReplaceAll(w, "%%", "%")), rest
			continue
		}
		q := v[0]
		var b strings.Builder
		i := 1
		for ; i < len(v) && v[i] != q; i++ {
			if v[i] == '\\' && i+1 < len(v) {
				i++
			}
			b.WriteByte(v[i])
		}
		words = append(words, strings.ReplaceAll(b.String(), "%%", "%"))
		if i+1 > len(v) {
			break
		}
		v = v[i+1:]
	}
	return words
}

// props is the output of systemctl show: key=value lines.
type props map[string]string

func parseShow(out string) props {
	p := props{}
	for _, l := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(l), "="); ok {
			p[k] = v
		}
	}
	return p
}

func (p props) int(k string) int {
	n, _ := strconv.Atoi(p[k])
	return n
}
