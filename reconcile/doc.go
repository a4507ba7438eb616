// Package reconcile decides and carries out, for every engine alike.
//
// Engine is the contract a service manager implements (s6, systemd,
// launchd, Windows): Render a desired service, Observe units, Schedule a
// plan into steps, Do one step. Decide compares the desired state with the
// observed units and returns the Plan, a pure function with reasons; Execute
// walks the steps and skips the later steps of a unit that failed; Pass is
// one way through, for every profile or for some keys; Watch runs passes as
// profiles and units change, with a per-key Retry.
package reconcile
