package reconcile_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
)

// parallelScript is a Parallel engine for the executor's rules: each step
// is one unit's; it records each unit's steps in order and how many ran at
// once, and fails the steps named in fail.
type parallelScript struct {
	script
	workers  int
	mu       sync.Mutex
	running  int
	most     int
	perUnit  map[string][]string
	meet     sync.Once
	together chan struct{}
	failCall map[string]bool
}

func (s *parallelScript) Workers() int { return s.workers }

func (s *parallelScript) Do(_ context.Context, st reconcile.Step) error {
	a := st.Acts[0]
	call := st.Op.String() + " " + a.Unit
	s.mu.Lock()
	s.running++
	s.most = max(s.most, s.running)
	s.perUnit[a.Unit] = append(s.perUnit[a.Unit], st.Op.String())
	if s.running >= 2 {
		s.meet.Do(func() { close(s.together) })
	}
	s.mu.Unlock()
	// The first steps wait, a second at most, until two run at once: that
	// they can is what is tested. Serial, the first gives up and so does
	// every later one, and most stays 1.
	select {
	case <-s.together:
	case <-time.After(time.Second):
		s.meet.Do(func() { close(s.together) })
	}
	s.mu.Lock()
	s.running--
	s.mu.Unlock()
	if s.failCall[call] {
		return errors.New("refused")
	}
	return nil
}

var _ = Describe("Execute on a Parallel engine", func() {
	It("runs up to Workers units at once, each unit's steps in order, and skips a unit's steps after its failure", func() {
		var p reconcile.Plan
		var steps []reconcile.Step
		for i := range 12 {
			unit := fmt.Sprintf("u%02d", i)
			for _, k := range []reconcile.Kind{reconcile.Update, reconcile.Start} {
				p.Actions = append(p.Actions, reconcile.Action{Kind: k, Key: unit, Unit: unit})
				n := len(p.Actions) - 1
				steps = append(steps, reconcile.Step{Op: op(k.String()), For: []int{n}, Acts: []reconcile.Action{p.Actions[n]}})
			}
		}
		e := &parallelScript{workers: 4, perUnit: map[string][]string{}, together: make(chan struct{}),
			failCall: map[string]bool{"update u03": true}}
		results := reconcile.Execute(context.Background(), e, p, steps)
		Expect(e.most).To(BeNumerically("<=", 4))
		Expect(e.most).To(BeNumerically(">", 1), "some ran at once")
		for i := range 12 {
			unit := fmt.Sprintf("u%02d", i)
			if unit == "u03" {
				Expect(e.perUnit[unit]).To(Equal([]string{"update"}), "its start is skipped after its update failed")
				continue
			}
			Expect(e.perUnit[unit]).To(Equal([]string{"update", "start"}), unit)
		}
		Expect(reconcile.Failed(results)).To(Equal(2))
		Expect(results[7].Err).To(MatchError(reconcile.ErrSkipped))
	})
})
