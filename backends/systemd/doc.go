// Package systemd is the host backend for Linux with systemd: the active
// profile's gateway as the unit hermes-gateway[-<profile>].service, a user
// unit in ~/.config/systemd/user (or, as root with --system, a system unit
// in /etc/systemd/system), driven with systemctl. The unit is rendered in
// unit.go (golden-tested, and every rendering passes systemd-analyze
// verify); every systemctl call goes through one bounded helper.
package systemd
