//go:build linux

package e2e

import (
	"regexp"
	"strconv"

	"github.com/hermes-reconcile/hermes-reconcile/test/testkit"
)

// world is one spec's testkit.World, its s6-svscan running.
type world struct{ *testkit.World }

var (
	repoRoot    = testkit.RepoRoot
	writeFile   = testkit.WriteFile
	readFile    = testkit.ReadFile
	writeAtomic = testkit.WriteAtomic
)

// svstat is `s6-svstat -o up,wantedup,pid` of a slot.
type svstat = testkit.Svstat

// newWorld copies the fixture home and starts s6-svscan on an empty scandir.
func newWorld(fixture string) *world {
	w := &world{testkit.NewWorld(binary, fixture)}
	w.StartSvscan()
	return w
}

// treeHash hashes a tree but what s6 itself rewrites at run time.
func treeHash(root string) string { return testkit.TreeHash(root, true) }

func regexpQuote(s string) string { return regexp.QuoteMeta(s) }

func itoa(i int) string { return strconv.Itoa(i) }
