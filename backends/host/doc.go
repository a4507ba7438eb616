// Package host is what the host backends (systemd, launchd, Windows
// Scheduled Tasks) share, used where no s6 supervises the container: on a
// host only the active profile's single gateway service is reconciled.
//
// A host backend is a Manager: it renders a service definition (Define),
// reports what is installed and running (Status), and has three verbs.
// Engine makes any Manager an engine of the one planner in reconcile, so a
// host plans with the same rules and vocabulary as s6. Beside it: the
// bounded file writes every backend needs, and detection, an ordered table:
// s6, windows, launchd, systemd, none.
package host
