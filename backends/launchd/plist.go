package launchd

import (
	"path/filepath"

	"howett.net/plist"

	"github.com/hermes-reconcile/hermes-reconcile/backends/host"
	"github.com/hermes-reconcile/hermes-reconcile/desired"
)

// LabelBase is the launchd label of the default profile's gateway; a named
// profile's is LabelBase-<name>. These are Hermes's labels.
const LabelBase = "ai.hermes.gateway"

// Label is the job label of a profile's gateway.
func Label(profile string) string {
	if profile == desired.DefaultProfile {
		return LabelBase
	}
	return LabelBase + "-" + profile
}

// Job is a LaunchAgent plist, the keys Hermes's generate_launchd_plist
// writes (the gateway runs directly, without its stderr timestamp wrapper).
type Job struct {
	Label                  string            `plist:"Label"`
	ProgramArguments       []string          `plist:"ProgramArguments"`
	WorkingDirectory       string            `plist:"WorkingDirectory"`
	EnvironmentVariables   map[string]string `plist:"EnvironmentVariables"`
	LimitLoadToSessionType []string          `plist:"LimitLoadToSessionType"`
	RunAtLoad              bool              `plist:"RunAtLoad"`
	KeepAlive              bool              `plist:"KeepAlive"`
	ThrottleInterval       int               `plist:"ThrottleInterval"`
	StandardOutPath        string            `plist:"StandardOutPath"`
	StandardErrorPath      string            `plist:"StandardErrorPath"`
}

// LogDir is where a gateway's launchd logs go: HERMES_HOME/logs.
func LogDir(home string) string { return filepath.Join(home, "logs") }

// NewJob is the job of svc: loaded at login (RunAtLoad), kept alive, at
// most one spawn per ThrottleInterval (the restart delay), logs under
// HERMES_HOME/logs. It loads in an Aqua (GUI) session and in the
// Background one, so both gui/<uid> and user/<uid> take it.
func NewJob(svc host.Service) (Job, error) {
	env, err := svc.RenderEnv()
	if err != nil {
		return Job{}, err
	}
	j := Job{
		Label:                  Label(svc.Profile),
		ProgramArguments:       svc.Command,
		WorkingDirectory:       svc.Home,
		EnvironmentVariables:   make(map[string]string, len(env)),
		LimitLoadToSessionType: []string{"Aqua", "Background"},
		RunAtLoad:              true,
		KeepAlive:              true,
		ThrottleInterval:       svc.Restart(),
		StandardOutPath:        filepath.Join(LogDir(svc.Home), "gateway.log"),
		StandardErrorPath:      filepath.Join(LogDir(svc.Home), "gateway.error.log"),
	}
	for _, kv := range env {
		j.EnvironmentVariables[kv[0]] = kv[1]
	}
	return j, nil
}

// Plist renders the job as an XML property list (keys sorted, so the same
// job gives the same bytes).
func Plist(j Job) ([]byte, error) {
	b, err := plist.MarshalIndent(j, plist.XMLFormat, "\t")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// ParsePlist reads a job back from plist bytes (any plist format).
func ParsePlist(data []byte) (Job, error) {
	var j Job
	_, err := plist.Unmarshal(data, &j)
	return j, err
}
