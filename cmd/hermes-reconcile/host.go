package main

import (
	"context"
	"fmt"
)

// detectBackend resolves --backend auto. Only s6 is built so far.
func detectBackend(o options) (string, error) {
	if o.backend == "auto" || o.backend == "s6" {
		return "s6", nil
	}
	return "", fmt.Errorf("backend %q is not supported", o.backend)
}

// runHost reconciles the single host service (systemd, launchd, Windows).
func runHost(ctx context.Context, o options, kind string, p *printer) int {
	return p.fail(fmt.Errorf("backend %s is not supported", kind))
}
