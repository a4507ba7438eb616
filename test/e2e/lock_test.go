//go:build linux

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("the single-writer lock", func() {
	It("stays one when its file is deleted under a watcher: two watchers never leave a deleted profile's slot behind", func() {
		w := newWorld("home")
		first := w.watch("--settle", "0")
		Eventually(w.Slots).Should(HaveLen(4))
		want := []string{"gateway-default", "gateway-alpha", "gateway-beta", "gateway-gamma"}

		By("the lock file deleted while the first holds it for a long pass, and a second watcher started")
		for i := range 40 {
			name := fmt.Sprintf("long-%02d", i)
			w.createProfile(name, `{"desired_state":"running"}`)
			want = append(want, "gateway-"+name)
		}
		lock := filepath.Join(w.Scandir, ".hermes-reconcile.lock")
		Eventually(func() string { return readFile(lock) }, 10*time.Second, time.Millisecond).ShouldNot(BeEmpty(), "the first holds it")
		Expect(os.Remove(lock)).To(Succeed())
		second := w.watch("--settle", "0")

		By("bursts of creates and deletes, with both watching")
		for round := range 6 {
			var names []string
			for i := range 10 {
				name := fmt.Sprintf("burst-%d-%d", round, i)
				names = append(names, name)
				w.createProfile(name, `{"desired_state":"running"}`)
			}
			for _, name := range names[:5] {
				w.tombstone(name)
			}
			for _, name := range names[5:] {
				if round%2 == 1 {
					w.tombstone(name)
				} else {
					want = append(want, "gateway-"+name)
				}
			}
		}
		// Only resyncs (five minutes away) would mend what the two left
		// behind: what is there now is what the events made.
		Eventually(w.Slots, 60*time.Second).Should(ConsistOf(want))
		Consistently(w.Slots, 3*time.Second).Should(ConsistOf(want))
		Expect(first.logLines("action failed")).To(BeEmpty())
		Expect(second.logLines("action failed")).To(BeEmpty())

		By("and the two never held the lock at once")
		a, b := first.lockedSpans(), second.lockedSpans()
		Expect(a).NotTo(BeEmpty())
		Expect(b).NotTo(BeEmpty())
		for _, x := range a {
			for _, y := range b {
				Expect(x.from.Before(y.to) && y.from.Before(x.to)).To(BeFalse(), "passes held the lock at once: %v and %v", x, y)
			}
		}
	})
})

// span is when a pass held the lock.
type span struct{ from, to time.Time }

func (s span) String() string {
	return s.from.Format("15:04:05.000000") + " to " + s.to.Format("15:04:05.000000")
}

// lockedSpans are when each pass of the watcher held the lock.
func (wt watcher) lockedSpans() []span {
	var out []span
	for _, l := range wt.logLines("pass done") {
		at, err := time.Parse(time.RFC3339Nano, fmt.Sprint(l["locked_at"]))
		ms, ok := l["locked_ms"].(float64)
		if err != nil || !ok || ms == 0 {
			continue
		}
		out = append(out, span{at, at.Add(time.Duration(ms * float64(time.Millisecond)))})
	}
	return out
}

// tombstone deletes a profile as `hermes profile delete` leaves it when its
// slot is still there: a tombstone, then the directory gone.
func (w *world) tombstone(name string) {
	writeFile(filepath.Join(w.Home, "profiles", ".deleted", name), "deleted\n")
	Expect(os.RemoveAll(w.ProfileDir(name))).To(Succeed())
}
