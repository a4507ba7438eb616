//go:build linux

package kube

import (
	"context"
	"fmt"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// LeaseName is the Lease of the controller's leader election, in its
// namespace (ManagerOptions.LeaseName's default).
const LeaseName = "hermes-reconcile"

// LeaseHeldError says that a controller holds the Lease: someone else is
// acting on these Deployments, and one more writer beside it would race it.
type LeaseHeldError struct {
	Namespace, Lease string
	// Holder is the holder's identity (the controller's pod and a UUID);
	// Until is when its lease runs out unless it renews it.
	Holder string
	Until  time.Time
	// Now is when the Lease was read.
	Now time.Time
}

func (e *LeaseHeldError) Error() string {
	return fmt.Sprintf("the Lease %s/%s is held by %q until %s (in %s)", e.Namespace, e.Lease, e.Holder,
		e.Until.UTC().Format(time.RFC3339), e.Until.Sub(e.Now).Round(time.Second))
}

// CheckLease reads the Lease name in namespace and returns a
// *LeaseHeldError when someone holds it at now; nil when there is no
// Lease, no holder, or the holder's term has run out. It takes nothing:
// a one-shot run looks before it writes, it does not hold the Lease.
func CheckLease(ctx context.Context, c client.Reader, namespace, name string, now time.Time) error {
	var l coordinationv1.Lease
	err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &l)
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("read the Lease %s/%s: %w", namespace, name, err)
	}
	holder, until, ok := heldAt(&l, now)
	if !ok {
		return nil
	}
	return &LeaseHeldError{Namespace: namespace, Lease: name, Holder: holder, Until: until, Now: now}
}

// heldAt is the Lease's holder and the end of its term, and whether that
// term runs at now: a holder is named and its last renewal (else its
// acquisition) plus the lease duration is after now. A released Lease (as
// controller-runtime leaves it on SIGTERM) names no holder.
func heldAt(l *coordinationv1.Lease, now time.Time) (holder string, until time.Time, ok bool) {
	s := l.Spec
	if s.HolderIdentity == nil || *s.HolderIdentity == "" || s.LeaseDurationSeconds == nil {
		return "", time.Time{}, false
	}
	var last time.Time
	switch {
	case s.RenewTime != nil:
		last = s.RenewTime.Time
	case s.AcquireTime != nil:
		last = s.AcquireTime.Time
	default:
		return "", time.Time{}, false
	}
	until = last.Add(time.Duration(*s.LeaseDurationSeconds) * time.Second)
	return *s.HolderIdentity, until, until.After(now)
}
