package cli

import (
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

// TestOneShotGC: a one-shot run does not collect below oneShotHeap, and
// after its first collection it collects at GOGC 400 with no limit, so a
// live heap near the limit is not collected again and again.
func TestOneShotGC(t *testing.T) {
	defer func() { debug.SetGCPercent(100); debug.SetMemoryLimit(math.MaxInt64) }()
	gogc := func() int { v := debug.SetGCPercent(-1); debug.SetGCPercent(v); return v }
	limit := func() uint64 {
		s := []metrics.Sample{{Name: "/gc/gomemlimit:bytes"}}
		metrics.Read(s)
		return s[0].Value.Uint64()
	}
	oneShotGC()
	if g, l := gogc(), limit(); g != -1 || l != oneShotHeap {
		t.Fatalf("before the first collection: GOGC %d, limit %d; want off and %d", g, l, oneShotHeap)
	}
	runtime.GC()
	deadline := time.Now().Add(10 * time.Second)
	for gogc() != 400 || limit() != math.MaxInt64 {
		if time.Now().After(deadline) {
			t.Fatalf("after a collection: GOGC %d, limit %d; want 400 and none", gogc(), limit())
		}
		runtime.Gosched()
	}
}
