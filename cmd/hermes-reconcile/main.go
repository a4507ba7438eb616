// Command hermes-reconcile keeps the s6 gateway slots of a Hermes container
// (or the single host service of systemd, launchd or Windows) in step with
// the profiles on disk. It is what a Hermes image carries: no Kubernetes
// package is linked in (hermes-reconcile-kube is the controller). See
// --help.
package main

import (
	"github.com/hermes-reconcile/hermes-reconcile/backends/host"
	"github.com/hermes-reconcile/hermes-reconcile/cmd/internal/cli"
)

// Binary is hermes-reconcile: s6 and the host service managers.
var Binary = cli.Binary{
	Name:     "hermes-reconcile",
	Backends: []string{host.S6, host.Systemd, host.Launchd, host.Windows},
	Groups:   []string{cli.GroupPaths, cli.GroupOutput, cli.GroupSafety, cli.GroupWatch, cli.GroupRender, cli.GroupHost},
	Detect:   detectBackend,
	Build:    build,
}

func main() { cli.Main(Binary) }
