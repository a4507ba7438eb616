package cli

import (
	"context"
	"fmt"
	"net"

	"github.com/go-logr/logr"

	"github.com/hermes-reconcile/hermes-reconcile/metrics"
)

// serve serves m's /metrics and /healthz on addr until stop is called. An
// address that cannot be listened on is an error at once, not a reconciler
// that runs unobserved.
func serve(log logr.Logger, addr string, m *metrics.Metrics) (stop func(), err error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-addr %s: %w", addr, err)
	}
	log.Info("serving metrics", "addr", l.Addr().String(), "paths", "/metrics /healthz")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := metrics.Serve(ctx, l, m); err != nil {
			log.Error(err, "metrics server stopped", "addr", l.Addr().String())
		}
	}()
	return func() { cancel(); <-done }, nil
}
