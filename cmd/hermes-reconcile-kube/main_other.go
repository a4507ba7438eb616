//go:build !linux

// Command hermes-reconcile-kube is the Kubernetes controller, built for
// Linux, where it runs: its client libraries would triple the cross builds.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "hermes-reconcile-kube is built for Linux only: run it in the cluster (deploy/kubernetes) or from a Linux machine")
	os.Exit(1)
}
