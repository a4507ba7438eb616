package windows

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"unicode/utf16"

	"github.com/hermes-reconcile/hermes-reconcile/backends/host"
	"github.com/hermes-reconcile/hermes-reconcile/desired"
)

// TaskBase is the task name of the default profile's gateway; a named
// profile's is TaskBase_<name>. These are Hermes's names.
const TaskBase = "Hermes_Gateway"

// TaskName is the Scheduled Task of a profile's gateway.
func TaskName(profile string) string {
	if profile == desired.DefaultProfile {
		return TaskBase
	}
	return TaskBase + "_" + profile
}

// ScriptDir holds a gateway's launcher and task XML: HERMES_HOME/gateway-service.
func ScriptDir(home string) string { return filepath.Join(home, "gateway-service") }

// TaskNS is the task XML namespace.
const TaskNS = "http://schemas.microsoft.com/windows/2004/02/mit/task"

// Task is the task XML (schema 1.2), the elements Hermes's task uses.
type Task struct {
	XMLName          xml.Name         `xml:"http://schemas.microsoft.com/windows/2004/02/mit/task Task"`
	Version          string           `xml:"version,attr"`
	RegistrationInfo RegistrationInfo `xml:"RegistrationInfo"`
	Triggers         Triggers         `xml:"Triggers"`
	Principals       Principals       `xml:"Principals"`
	Settings         Settings         `xml:"Settings"`
	Actions          Actions          `xml:"Actions"`
}

type RegistrationInfo struct {
	Description string `xml:"Description"`
	URI         string `xml:"URI,omitempty"`
}

type Triggers struct {
	Logon []LogonTrigger `xml:"LogonTrigger"`
}

// LogonTrigger starts the task when UserID logs on, after Delay.
type LogonTrigger struct {
	Enabled bool   `xml:"Enabled"`
	UserID  string `xml:"UserId,omitempty"`
	Delay   string `xml:"Delay,omitempty"`
}

type Principals struct {
	Principal []Principal `xml:"Principal"`
}

type Principal struct {
	ID        string `xml:"id,attr"`
	UserID    string `xml:"UserId,omitempty"`
	LogonType string `xml:"LogonType"`
	RunLevel  string `xml:"RunLevel"`
}

// Settings are the task's policies. ExecutionTimeLimit PT0S is "no limit".
type Settings struct {
	MultipleInstancesPolicy    string            `xml:"MultipleInstancesPolicy"`
	DisallowStartIfOnBatteries bool              `xml:"DisallowStartIfOnBatteries"`
	StopIfGoingOnBatteries     bool              `xml:"StopIfGoingOnBatteries"`
	AllowHardTerminate         bool              `xml:"AllowHardTerminate"`
	StartWhenAvailable         bool              `xml:"StartWhenAvailable"`
	RunOnlyIfNetworkAvailable  bool              `xml:"RunOnlyIfNetworkAvailable"`
	AllowStartOnDemand         bool              `xml:"AllowStartOnDemand"`
	Enabled                    bool              `xml:"Enabled"`
	Hidden                     bool              `xml:"Hidden"`
	RunOnlyIfIdle              bool              `xml:"RunOnlyIfIdle"`
	WakeToRun                  bool              `xml:"WakeToRun"`
	ExecutionTimeLimit         string            `xml:"ExecutionTimeLimit"`
	Priority                   int               `xml:"Priority"`
	RestartOnFailure           *RestartOnFailure `xml:"RestartOnFailure"`
}

// RestartOnFailure restarts a failed task every Interval, up to Count times.
type RestartOnFailure struct {
	Interval string `xml:"Interval"`
	Count    int    `xml:"Count"`
}

type Actions struct {
	Context string `xml:"Context,attr,omitempty"`
	Exec    []Exec `xml:"Exec"`
}

// Exec is a program the task runs.
type Exec struct {
	Command          string `xml:"Command"`
	Arguments        string `xml:"Arguments,omitempty"`
	WorkingDirectory string `xml:"WorkingDirectory,omitempty"`
}

// Scripts are the files a gateway task is made of.
type Scripts struct {
	// Cmd sets the environment and runs the gateway (UTF-8, CRLF).
	Cmd []byte
	// VBS runs Cmd without a console window and waits for it (UTF-16).
	VBS []byte
	// XML is the task (UTF-16 with a BOM, as schtasks /XML reads it).
	XML []byte
}

// Paths of a task's files, in ScriptDir(home).
func scriptPaths(home, task string) (cmd, vbs, xmlPath string) {
	dir := ScriptDir(home)
	return filepath.Join(dir, task+".cmd"), filepath.Join(dir, task+".vbs"), filepath.Join(dir, task+".task.xml")
}

// NewTask is the task of svc for the account userID (DOMAIN\user): it
// starts 30s after userID logs on, runs with least privilege while they
// are logged on, never times out, ignores a second start while running,
// and is restarted on failure (every RestartSec rounded up to Task
// Scheduler's one-minute minimum, 999 times).
func NewTask(svc host.Service, userID string) Task {
	task := TaskName(svc.Profile)
	_, vbs, _ := scriptPaths(svc.Home, task)
	minutes := (svc.Restart() + 59) / 60
	return Task{
		XMLName: xml.Name{Space: TaskNS, Local: "Task"},
		Version: "1.2",
		RegistrationInfo: RegistrationInfo{
			Description: host.Description + " (profile " + svc.Profile + ")",
			URI:         `\` + task,
		},
		Triggers:   Triggers{Logon: []LogonTrigger{{Enabled: true, UserID: userID, Delay: "PT30S"}}},
		Principals: Principals{Principal: []Principal{{ID: "Author", UserID: userID, LogonType: "InteractiveToken", RunLevel: "LeastPrivilege"}}},
		Settings: Settings{
			MultipleInstancesPolicy: "IgnoreNew",
			AllowHardTerminate:      true,
			StartWhenAvailable:      true,
			AllowStartOnDemand:      true,
			Enabled:                 true,
			ExecutionTimeLimit:      "PT0S",
			Priority:                7,
			RestartOnFailure:        &RestartOnFailure{Interval: fmt.Sprintf("PT%dM", minutes), Count: 999},
		},
		Actions: Actions{Context: "Author", Exec: []Exec{{
			Command:          "wscript.exe",
			Arguments:        `//B //Nologo "` + vbs + `"`,
			WorkingDirectory: svc.Home,
		}}},
	}
}

// Render returns the three files of svc's task.
func Render(svc host.Service, userID string) (Scripts, error) {
	env, err := svc.RenderEnv()
	if err != nil {
		return Scripts{}, err
	}
	for _, kv := range env {
		if strings.Contains(kv[1], `"`) {
			return Scripts{}, fmt.Errorf("env %s: a double quote cannot be set from a .cmd launcher", kv[0])
		}
	}
	for _, a := range svc.Command {
		if strings.ContainsAny(a, "\"\n\r\x00") {
			return Scripts{}, fmt.Errorf("gateway argument %q holds a double quote or newline", a)
		}
	}
	task := TaskName(svc.Profile)
	cmdPath, _, _ := scriptPaths(svc.Home, task)
	var s Scripts
	s.Cmd = launcherCmd(svc, env)
	s.VBS = utf16File("' hermes-reconcile: runs " + task + ".cmd without a console window and waits for it.\r\n" +
		"Set sh = CreateObject(\"WScript.Shell\")\r\n" +
		"WScript.Quit sh.Run(\"cmd.exe /d /c \"\"" + cmdPath + "\"\"\", 0, True)\r\n")
	x, err := xml.MarshalIndent(NewTask(svc, userID), "", "  ")
	if err != nil {
		return Scripts{}, err
	}
	body := `<?xml version="1.0" encoding="UTF-16"?>` + "\n" + string(x) + "\n"
	s.XML = utf16File(strings.ReplaceAll(body, "\n", "\r\n"))
	return s, nil
}

// launcherCmd is the batch file: % is doubled so nothing expands.
func launcherCmd(svc host.Service, env [][2]string) []byte {
	pct := strings.NewReplacer("%", "%%")
	var b strings.Builder
	b.WriteString("@echo off\r\n")
	b.WriteString("rem hermes-reconcile: the gateway of profile " + svc.Profile + ". Rewritten when it differs.\r\n")
	b.WriteString("chcp 65001 >nul\r\n")
	b.WriteString(`cd /d "` + pct.Replace(svc.Home) + "\"\r\n")
	for _, kv := range env {
		b.WriteString(`set "` + kv[0] + "=" + pct.Replace(kv[1]) + "\"\r\n")
	}
	for i, a := range svc.Command {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(`"` + pct.Replace(a) + `"`)
	}
	b.WriteString("\r\nexit /b %ERRORLEVEL%\r\n")
	return []byte(b.String())
}

// utf16File encodes s as UTF-16LE with a byte-order mark.
func utf16File(s string) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2, 2+2*len(u))
	b[0], b[1] = 0xff, 0xfe
	for _, c := range u {
		b = append(b, byte(c), byte(c>>8))
	}
	return b
}

// DecodeText returns data as a string, decoding UTF-16 (with a BOM, or
// little-endian without one, as schtasks may print it) and dropping a
// UTF-8 BOM.
func DecodeText(data []byte) string {
	switch {
	case bytes.HasPrefix(data, []byte{0xff, 0xfe}):
		return decode16(data[2:], false)
	case bytes.HasPrefix(data, []byte{0xfe, 0xff}):
		return decode16(data[2:], true)
	case len(data) >= 2 && data[0] != 0 && data[1] == 0:
		return decode16(data, false)
	}
	return string(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")))
}

func decode16(b []byte, bigEndian bool) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		if bigEndian {
			u[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
		} else {
			u[i] = uint16(b[2*i]) | uint16(b[2*i+1])<<8
		}
	}
	return string(utf16.Decode(u))
}

// ParseTask reads task XML in any of the encodings DecodeText knows.
func ParseTask(data []byte) (Task, error) {
	var t Task
	dec := xml.NewDecoder(strings.NewReader(DecodeText(data)))
	// The text is decoded already, whatever the declaration says.
	dec.CharsetReader = func(_ string, r io.Reader) (io.Reader, error) { return r, nil }
	err := dec.Decode(&t)
	return t, err
}
