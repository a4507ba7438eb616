package reconcile_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/hermes-reconcile/hermes-reconcile/desired"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
)

// The level-triggered guarantee of keyed passes: for the keys an event
// touched, a pass over those keys decides exactly what a full pass decides.
// Random sequences of events change a real HERMES_HOME and a model of an
// engine's units; after each one the keyed plan (a reader that has lived
// through every earlier event, its cache and memory included) is compared
// with the full plan of a fresh reader, for those keys; the full plan is
// then applied to the model; after the sequence a full pass finds nothing.
var _ = Describe("keyed passes", func() {
	const profiles = 6
	names := func() []string {
		out := []string{desired.DefaultProfile}
		for i := range profiles {
			out = append(out, fmt.Sprintf("p%d", i))
		}
		return out
	}()

	for seed := range uint64(12) {
		It(fmt.Sprintf("decide for their keys what a full pass decides (sequence %d)", seed), func() {
			rng := rand.New(rand.NewPCG(seed, 7))
			root := GinkgoT().TempDir()
			layout := desired.NewLayout(root)
			write := func(path, data string) {
				Expect(os.MkdirAll(filepath.Dir(path), 0o755)).To(Succeed())
				Expect(os.WriteFile(path+".tmp", []byte(data), 0o644)).To(Succeed())
				Expect(os.Rename(path+".tmp", path)).To(Succeed())
			}
			write(filepath.Join(root, "config.yaml"), "model: x\n")
			intents := []string{`{"desired_state":"running"}`, `{"desired_state":"stopped"}`,
				`{"gateway_state":"running"}`, `{"gateway_state":"starting"}`, `{"desired_state":`, ""}
			multiplex := false
			kr := desired.NewReader(root, desired.Options{HermesVersion: "0.21.3"})
			w := newWorld(reconcile.Observed{Units: map[string]*reconcile.Unit{}})
			observe := func(keys []string) reconcile.Observed {
				o := reconcile.Observed{Keys: keys, Units: map[string]*reconcile.Unit{}}
				for k, u := range w.observed.Units {
					if keys == nil || slices.Contains(keys, k) {
						c := *u
						o.Units[k] = &c
					}
				}
				return o
			}
			full := func() reconcile.Plan {
				d, err := desired.NewReader(root, desired.Options{HermesVersion: "0.21.3"}).Load(nil)
				Expect(err).NotTo(HaveOccurred())
				return reconcile.Decide(d, renderings(d), observe(nil), reconcile.Policy{})
			}

			for step := range 40 {
				k := names[rng.IntN(len(names))]
				dir := layout.Dir(k)
				var what string
				dirty := []string{k}
				switch op := rng.IntN(9); {
				case op == 0 && k != desired.DefaultProfile:
					what = "delete " + k
					Expect(os.RemoveAll(dir)).To(Succeed())
				case op <= 2:
					what = "intent of " + k
					if _, err := os.Stat(dir); err != nil && k != desired.DefaultProfile {
						write(filepath.Join(dir, "SOUL.md"), k)
						what = "create " + k
					}
					if s := intents[rng.IntN(len(intents))]; s == "" {
						_ = os.Remove(filepath.Join(dir, desired.StateFile))
					} else {
						write(filepath.Join(dir, desired.StateFile), s)
					}
				case op == 3 && k != desired.DefaultProfile:
					what = "config of " + k
					cfg := []string{"model: x\n", "multiplex_profiles: maybe\n", "gateway: {a: [\n"}[rng.IntN(3)]
					write(filepath.Join(dir, desired.ConfigFile), cfg)
				case op == 4 && k != desired.DefaultProfile:
					what = "tombstone " + k
					if _, err := os.Stat(layout.Tombstone(k)); err == nil {
						Expect(os.Remove(layout.Tombstone(k))).To(Succeed())
					} else {
						write(layout.Tombstone(k), "deleted\n")
					}
				case op == 5:
					what = "multiplex flip"
					multiplex = !multiplex
					write(filepath.Join(root, "config.yaml"), fmt.Sprintf("multiplex_profiles: %v\n", multiplex))
					dirty = nil // the topology: every profile
				case op == 6 && w.observed.Units[k] != nil:
					what = "hand-edited run of " + k
					u := w.observed.Units[k]
					if !slices.Contains(u.Drift, "run") {
						u.Drift = append(u.Drift, "run")
					}
				case op == 7 && w.observed.Units[k] != nil:
					what = "hand-deleted slot of " + k
					delete(w.observed.Units, k)
				default:
					what = "nothing for " + k
				}
				if multiplex && dirty != nil && k != desired.DefaultProfile {
					dirty = append(dirty, desired.DefaultProfile)
				}

				pf := full()
				if dirty != nil {
					d, err := kr.Load(dirty)
					Expect(err).NotTo(HaveOccurred())
					pk := reconcile.Decide(d, renderings(d), observe(d.Keys), reconcile.Policy{})
					var want []reconcile.Action
					for _, a := range pf.Actions {
						if slices.Contains(dirty, a.Key) {
							want = append(want, a)
						}
					}
					Expect(reconcile.Plan{Actions: pk.Actions}.String()).To(Equal(reconcile.Plan{Actions: want}.String()),
						"step %d (%s): keyed plan for %v", step, what, dirty)
				} else {
					_, err := kr.Load(nil)
					Expect(err).NotTo(HaveOccurred())
				}
				w.apply(pf)
			}
			Expect(full().String()).To(BeEmpty(), "a full pass after the sequence")
		})
	}
})
