package reconcile_test

import (
	"errors"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
)

var _ = Describe("Retry", func() {
	var (
		now time.Time
		r   reconcile.Retry
	)
	BeforeEach(func() {
		now = time.Unix(1_800_000_000, 0)
		r = reconcile.Retry{Min: time.Second, Max: 5 * time.Second, Now: func() time.Time { return now }}
	})
	boom := errors.New("boom")

	// Each step: advance the clock, then fail, succeed or look.
	type step struct {
		advance time.Duration
		fail    error // nil: the key succeeded (Forget)
		forget  bool
		// what the policy says after the step
		delay   time.Duration
		waiting bool
	}
	DescribeTable("backs a key off exponentially, to Max, and forgets it on success",
		func(steps []step) {
			for i, s := range steps {
				now = now.Add(s.advance)
				switch {
				case s.forget:
					r.Forget("a")
				case s.fail != nil:
					d, ok := r.Failed("a", s.fail)
					Expect(d).To(Equal(s.delay), "step %d", i)
					Expect(ok).To(Equal(!reconcile.IsTerminal(s.fail)), "step %d", i)
				}
				Expect(r.Waiting("a")).To(Equal(s.waiting), "step %d", i)
			}
		},
		Entry("1s, 2s, 4s, then capped at 5s", []step{
			{fail: boom, delay: time.Second, waiting: true},
			{advance: 999 * time.Millisecond, waiting: true},
			{advance: time.Millisecond, waiting: false},
			{fail: boom, delay: 2 * time.Second, waiting: true},
			{advance: 2 * time.Second, fail: boom, delay: 4 * time.Second, waiting: true},
			{advance: 4 * time.Second, fail: boom, delay: 5 * time.Second, waiting: true},
			{advance: 5 * time.Second, fail: boom, delay: 5 * time.Second, waiting: true},
		}),
		Entry("reset on success: the next failure starts at Min again", []step{
			{fail: boom, delay: time.Second, waiting: true},
			{advance: time.Second, fail: boom, delay: 2 * time.Second, waiting: true},
			{advance: 2 * time.Second, forget: true, waiting: false},
			{fail: boom, delay: time.Second, waiting: true},
		}),
		Entry("a terminal error is not retried at all, until the key succeeds", []step{
			{fail: reconcile.Terminal(boom), delay: 0, waiting: true},
			{advance: time.Hour, waiting: true},
			{forget: true, waiting: false},
			{fail: boom, delay: time.Second, waiting: true},
		}),
	)

	It("keeps keys apart, and says when the earliest wait ends, never sooner than Min", func() {
		r.Failed("a", boom)
		now = now.Add(500 * time.Millisecond)
		r.Failed("b", boom)
		r.Failed("b", boom) // b: 2s from now
		d, ok := r.Next()
		Expect(ok).To(BeTrue())
		Expect(d).To(Equal(time.Second), "a ends in 500ms; the timer waits Min")
		now = now.Add(time.Second)
		Expect(r.Due()).To(ConsistOf("a"))
		Expect(r.Waiting("b")).To(BeTrue())
		r.Forget("a")
		r.Forget("b")
		_, ok = r.Next()
		Expect(ok).To(BeFalse())
		Expect(r.Len()).To(BeZero())
	})

	It("knows a failure that says what the last one said: no news to log", func() {
		Expect(r.Same("a", boom)).To(BeFalse(), "never failed")
		r.Failed("a", boom)
		Expect(r.Same("a", boom)).To(BeTrue())
		Expect(r.Same("a", errors.New("other"))).To(BeFalse(), "a new failure is news")
		r.Failed("a", errors.New("other"))
		Expect(r.Same("a", boom)).To(BeFalse())
		r.Forget("a")
		Expect(r.Same("a", errors.New("other"))).To(BeFalse(), "after a success it is news again")
	})

	It("tells terminal errors apart through wrapping", func() {
		err := reconcile.Terminal(boom)
		Expect(reconcile.IsTerminal(err)).To(BeTrue())
		Expect(reconcile.IsTerminal(errors.Join(errors.New("x"), err))).To(BeTrue())
		Expect(reconcile.IsTerminal(boom)).To(BeFalse())
		Expect(errors.Is(err, boom)).To(BeTrue())
		Expect(reconcile.Terminal(nil)).To(BeNil())
	})
})
