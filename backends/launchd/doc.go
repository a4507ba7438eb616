// Package launchd is the host backend for macOS: the active profile's
// gateway as the LaunchAgent ai.hermes.gateway[-<profile>] (a plist in
// ~/Library/LaunchAgents), loaded with launchctl bootstrap / bootout /
// kickstart in the gui/<uid> domain, or user/<uid> where there is no GUI
// session, as Hermes chooses. The plist is rendered in plist.go (it parses
// back with a real plist parser); every launchctl call goes through one
// bounded helper.
package launchd
