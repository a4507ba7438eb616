//go:build linux

package kube

import (
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A Lease is held while a holder is named and its last renewal plus the
// lease duration is still ahead; a released or expired one is not.
func TestLeaseHeldAt(t *testing.T) {
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *metav1.MicroTime { t := metav1.NewMicroTime(now.Add(d)); return &t }
	secs := func(n int32) *int32 { return &n }
	who := func(s string) *string { return &s }
	tests := []struct {
		name   string
		spec   coordinationv1.LeaseSpec
		held   bool
		until  time.Time
		holder string
	}{
		{"renewed 5s ago for 15s: held 10s more",
			coordinationv1.LeaseSpec{HolderIdentity: who("pod-a_1"), LeaseDurationSeconds: secs(15), RenewTime: at(-5 * time.Second)},
			true, now.Add(10 * time.Second), "pod-a_1"},
		{"renewed 20s ago for 15s: expired",
			coordinationv1.LeaseSpec{HolderIdentity: who("pod-a_1"), LeaseDurationSeconds: secs(15), RenewTime: at(-20 * time.Second)},
			false, now.Add(-5 * time.Second), "pod-a_1"},
		{"ends right now: expired",
			coordinationv1.LeaseSpec{HolderIdentity: who("pod-a_1"), LeaseDurationSeconds: secs(15), RenewTime: at(-15 * time.Second)},
			false, now, "pod-a_1"},
		{"never renewed: its acquisition counts",
			coordinationv1.LeaseSpec{HolderIdentity: who("pod-a_1"), LeaseDurationSeconds: secs(60), AcquireTime: at(-time.Second)},
			true, now.Add(59 * time.Second), "pod-a_1"},
		{"released on SIGTERM: no holder",
			coordinationv1.LeaseSpec{HolderIdentity: who(""), LeaseDurationSeconds: secs(1), RenewTime: at(0)},
			false, time.Time{}, ""},
		{"no holder at all", coordinationv1.LeaseSpec{}, false, time.Time{}, ""},
		{"a holder with no time: not known to be live",
			coordinationv1.LeaseSpec{HolderIdentity: who("pod-a_1"), LeaseDurationSeconds: secs(15)},
			false, time.Time{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			holder, until, held := heldAt(&coordinationv1.Lease{Spec: tt.spec}, now)
			if held != tt.held || !until.Equal(tt.until) || holder != tt.holder {
				t.Errorf("got %q until %v held %v, want %q until %v held %v", holder, until, held, tt.holder, tt.until, tt.held)
			}
		})
	}
}

// The refusal names the holder and when its lease runs out.
func TestLeaseHeldErrorNamesHolderAndExpiry(t *testing.T) {
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	err := &LeaseHeldError{Namespace: "hermes", Lease: LeaseName, Holder: "hermes-reconcile-7d9f_3c1e", Until: now.Add(12 * time.Second), Now: now}
	want := `the Lease hermes/hermes-reconcile is held by "hermes-reconcile-7d9f_3c1e" until 2026-12-07T10:00:12Z (in 12s)`
	if err.Error() != want || strings.Contains(err.Error(), "\n") {
		t.Errorf("got %q, want %q", err, want)
	}
}
