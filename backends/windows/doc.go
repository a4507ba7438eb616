// Package windows is the host backend for Windows: the active profile's
// gateway as the Scheduled Task Hermes_Gateway[_<profile>], registered from
// task XML (a logon trigger, restart on failure, no execution time limit)
// with schtasks /Create /XML /F and driven with /Run, /End, /Query and
// /Delete. Its run state is the Task Scheduler's enumerated state, read
// through PowerShell's Get-ScheduledTask (state.go): schtasks's status word
// is localised. The task starts a console-less launcher (a .vbs that runs a
// .cmd hidden, as Hermes does since logon CTRL_CLOSE_EVENTs killed
// cmd-hosted gateways, #45599) which sets HERMES_HOME and runs the gateway;
// the three files live in HERMES_HOME/gateway-service. Rendering is in
// task.go (parsed back in tests); every schtasks and PowerShell call is
// bounded.
package windows
