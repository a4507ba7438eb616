package main

import (
	"context"
	"fmt"
	"os"

	"github.com/hermes-reconcile/hermes-reconcile/backends/s6"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
)

func runWatch(ctx context.Context, o options, src reconcile.Sources, be *s6.Backend) int {
	fmt.Fprintln(os.Stderr, "hermes-reconcile: watch mode is not built yet; use --once")
	return exitError
}
