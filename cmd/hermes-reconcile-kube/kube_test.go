//go:build linux

package main

import (
	"strings"
	"testing"
)

func TestKubeResources(t *testing.T) {
	got, err := resources("--kube-limits", "cpu=500m, memory=1Gi")
	if err != nil || got.Cpu().String() != "500m" || got.Memory().String() != "1Gi" {
		t.Errorf("got %v, %v", got, err)
	}
	if got, err := resources("--kube-limits", ""); err != nil || got != nil {
		t.Errorf("empty: %v, %v", got, err)
	}
	for _, bad := range []string{"cpu", "memory=lots", "=1"} {
		if _, err := resources("--kube-requests", bad); err == nil || !strings.Contains(err.Error(), "--kube-requests: want NAME=QUANTITY") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}
