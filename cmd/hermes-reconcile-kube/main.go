//go:build linux

// Command hermes-reconcile-kube keeps one Deployment per Hermes profile in
// step with the profiles on a shared volume: --once, --dry-run, status and
// explain against the API server, and watch mode as a controller with a
// Lease. It is the controller's image; Hermes images carry
// hermes-reconcile. See --help.
package main

import (
	"github.com/hermes-reconcile/hermes-reconcile/cmd/internal/cli"
	"github.com/hermes-reconcile/hermes-reconcile/config"
)

// Binary is hermes-reconcile-kube: the Kubernetes engine.
var Binary = cli.Binary{
	Name:     "hermes-reconcile-kube",
	Backends: []string{cli.BackendKube},
	Groups:   []string{cli.GroupPaths, cli.GroupOutput, cli.GroupSafety, cli.GroupWatch, cli.GroupKube},
	Flags:    []string{"gateway-command", "env"},
	Build:    build,
	Defaults: func(o *cli.Options) {
		o.Cfg.Watch.Poll, o.Cfg.Watch.MetricsAddr = config.KubePoll, config.KubeMetricsAddr
	},
}

func main() { cli.Main(Binary) }
