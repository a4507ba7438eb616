package reconcile_test

import (
	"context"
	"errors"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/hermes-reconcile/hermes-reconcile/desired"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
)

// recorder is a reconcile.Backend that records the calls Apply makes and
// fails the slots it is told to. It tests Apply's sequencing only; what the
// calls do to s6 is tested against a real s6-svscan in test/e2e.
type recorder struct {
	calls []string
	fail  map[string]bool
}

func (r *recorder) do(call, slot string) error {
	r.calls = append(r.calls, call+" "+slot)
	if r.fail[call+" "+slot] {
		return errors.New("boom")
	}
	return nil
}

func (r *recorder) Probe() error { return nil }
func (r *recorder) Write(_ context.Context, slot string, _ desired.Spec, _ []string, create, _ bool) error {
	if create {
		return r.do("publish", slot)
	}
	return r.do("write", slot)
}
func (r *recorder) Control(_ context.Context, slot string, up bool) error {
	if up {
		return r.do("up", slot)
	}
	return r.do("down", slot)
}
func (r *recorder) Restart(_ context.Context, slot string, _ bool) error {
	return r.do("restart", slot)
}
func (r *recorder) Retire(_ context.Context, name string) (string, error) {
	return "." + name + ".del", r.do("retire", name)
}
func (r *recorder) Rescan(context.Context) error { return r.do("rescan", "") }
func (r *recorder) WaitSupervised(_ context.Context, slots []string) []error {
	errs := make([]error, len(slots))
	for i, slot := range slots {
		errs[i] = r.do("wait", slot)
	}
	return errs
}
func (r *recorder) Purge(_ context.Context, name string) error { return r.do("purge", name) }

var _ = Describe("Apply", func() {
	plan := []reconcile.Action{
		{Kind: reconcile.Remove, Slot: "gateway-old", Profile: "old"},
		{Kind: reconcile.Stop, Slot: "gateway-b", Profile: "b"},
		{Kind: reconcile.Create, Slot: "gateway-new", Profile: "new"},
		{Kind: reconcile.Update, Slot: "gateway-a", Profile: "a", Files: []string{"run"}},
		{Kind: reconcile.Start, Slot: "gateway-a", Profile: "a"},
	}

	It("takes down, writes, rescans once, waits, then brings up", func() {
		r := &recorder{}
		results := reconcile.Apply(context.Background(), r, plan)
		Expect(reconcile.Failed(results)).To(Equal(0))
		Expect(r.calls).To(Equal([]string{
			"down gateway-old", "retire gateway-old", "down gateway-b",
			"publish gateway-new", "write gateway-a",
			"rescan ",
			"purge .gateway-old.del", "wait gateway-new",
			"up gateway-a",
		}))
	})

	It("reports the actions skipped after a failure on the same slot as failed, and goes on with the others", func() {
		r := &recorder{fail: map[string]bool{"write gateway-a": true}}
		results := reconcile.Apply(context.Background(), r, plan)
		Expect(r.calls).NotTo(ContainElement("up gateway-a"))
		Expect(r.calls).To(ContainElement("wait gateway-new"))
		Expect(results[3].Err).To(MatchError("boom"))
		Expect(results[4].Err).To(MatchError(ContainSubstring("skipped")))
		Expect(reconcile.Failed(results)).To(Equal(2))
	})
})
