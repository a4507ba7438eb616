// Package host is the contract shared by the host backends (systemd,
// launchd, Windows Scheduled Tasks), used where no s6 supervises the
// container: on a host only the active profile's single gateway service is
// reconciled.
//
// The flow is the s6 one in small: Active reads the desired state of the
// active profile (pure reads), a Manager renders the service definition
// (Define) and reports what is installed and running (Status), Plan turns
// the two into reconcile.Actions with the s6 vocabulary (create, update,
// start, stop, remove), and Apply hands each action to one Manager verb.
// Detection picks the manager from an ordered table: s6, windows, launchd,
// systemd, none.
package host
