//go:build !linux

package main

import (
	"context"
	"errors"
)

// The Kubernetes engine is built for Linux, where its pods and its
// controller run: its client libraries would triple the cross builds.
func inPod() bool { return false }

func runKube(_ context.Context, _ options, p *printer, _ func(string) string) int {
	return p.fail(errors.New("--backend kube is built for Linux only: run it in the cluster (deploy/kubernetes) or from a Linux machine"))
}
