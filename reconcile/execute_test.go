package reconcile_test

import (
	"context"
	"errors"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/hermes-reconcile/hermes-reconcile/desired"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
)

// script is an engine for the executor's own rules: it records the steps
// it is given and fails those named in fail ("op unit"), or, for a step
// that serves several actions, only the units named in failPart. What
// steps do to a real manager is tested against s6 in test/e2e.
type script struct {
	calls    []string
	fail     map[string]bool
	failPart map[string]bool
}

func (s *script) Render(desired.Service) (reconcile.Spec, error) { return reconcile.Spec{}, nil }
func (s *script) Observe(context.Context, []string, map[string]reconcile.Spec) (reconcile.Observed, error) {
	return reconcile.Observed{}, nil
}
func (s *script) Schedule(reconcile.Plan) []reconcile.Step { return nil }
func (s *script) Do(_ context.Context, st reconcile.Step) error {
	var units []string
	per := reconcile.StepErrors{}
	for i, a := range st.Acts {
		units = append(units, a.Unit)
		if s.failPart[a.Unit] {
			per[i] = errors.New("refused " + a.Unit)
		}
	}
	call := st.Op.String() + " " + strings.Join(units, ",")
	s.calls = append(s.calls, call)
	if s.fail[call] {
		return errors.New("boom")
	}
	if len(per) > 0 {
		return per
	}
	return nil
}

// op is a step's verb in these tests.
type op string

func (o op) String() string { return string(o) }

var _ = Describe("Execute", func() {
	p := reconcile.Plan{Actions: []reconcile.Action{
		{Kind: reconcile.Create, Key: "a", Unit: "gateway-a"},
		{Kind: reconcile.Create, Key: "b", Unit: "gateway-b"},
		{Kind: reconcile.Update, Key: "c", Unit: "gateway-c"},
		{Kind: reconcile.Start, Key: "c", Unit: "gateway-c"},
	}}
	steps := []reconcile.Step{
		{Op: op("write"), For: []int{0}, Acts: p.Actions[0:1]},
		{Op: op("write"), For: []int{1}, Acts: p.Actions[1:2]},
		{Op: op("write"), For: []int{2}, Acts: p.Actions[2:3]},
		{Op: op("barrier"), For: []int{0, 1}, Acts: p.Actions[0:2]},
		{Op: op("up"), For: []int{0}, Acts: p.Actions[0:1]},
		{Op: op("up"), For: []int{1}, Acts: p.Actions[1:2]},
		{Op: op("up"), For: []int{3}, Acts: p.Actions[3:4]},
	}
	errText := func(rs []reconcile.Result) []string {
		var out []string
		for _, r := range rs {
			msg := "ok"
			if r.Err != nil {
				msg = r.Err.Error()
			}
			out = append(out, r.Action.Unit+" "+r.Action.Kind.String()+": "+msg)
		}
		return out
	}

	It("does every step in order when nothing fails", func() {
		e := &script{}
		rs := reconcile.Execute(context.Background(), e, p, steps)
		Expect(reconcile.Failed(rs)).To(BeZero())
		Expect(e.calls).To(Equal([]string{"write gateway-a", "write gateway-b", "write gateway-c",
			"barrier gateway-a,gateway-b", "up gateway-a", "up gateway-b", "up gateway-c"}))
	})

	It("skips the later steps of a failed unit, drops it from shared steps, and goes on with the rest", func() {
		e := &script{fail: map[string]bool{"write gateway-a": true, "write gateway-c": true}}
		rs := reconcile.Execute(context.Background(), e, p, steps)
		Expect(e.calls).To(Equal([]string{"write gateway-a", "write gateway-b", "write gateway-c",
			"barrier gateway-b", "up gateway-b"}))
		Expect(errText(rs)).To(Equal([]string{
			"gateway-a create: boom", "gateway-b create: ok", "gateway-c update: boom",
			"gateway-c start: " + reconcile.ErrSkipped.Error()}))
	})

	It("fails every action a shared step serves when it fails, and only the named ones when it says which", func() {
		e := &script{fail: map[string]bool{"barrier gateway-a,gateway-b": true}}
		rs := reconcile.Execute(context.Background(), e, p, steps)
		Expect(reconcile.Failed(rs)).To(Equal(2))
		Expect(e.calls).NotTo(ContainElement("up gateway-a"))

		e = &script{failPart: map[string]bool{"gateway-b": true}}
		rs = reconcile.Execute(context.Background(), e, p, steps[3:4])
		Expect(errText(rs)[:2]).To(Equal([]string{"gateway-a create: ok", "gateway-b create: refused gateway-b"}))
	})

	It("does nothing once the context is done, and says so per action", func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		e := &script{}
		rs := reconcile.Execute(ctx, e, p, steps)
		Expect(e.calls).To(BeEmpty())
		Expect(reconcile.Failed(rs)).To(Equal(4))
	})
})
