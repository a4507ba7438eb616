package s6

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
)

// DefaultCapacity is how many services s6-svscan 2.11 supervises without
// -c: measured with Debian's s6 2.11.3 (it took 500 slots; a slot and its
// logger count as one).
const DefaultCapacity = 500

// ErrOverCapacity is a slot s6-svscan will not supervise: it already
// supervises as many services as its -c allows.
var ErrOverCapacity = errors.New("s6-svscan is at its service limit")

// capacity is how many services s6-svscan will supervise: the operator's
// --max-services, else the -c of the running s6-svscan (found through the
// holder of its .s6-svscan/lock and its command line), else s6's default.
func (b *Backend) capacity() int {
	if b.maxServices > 0 {
		return b.maxServices
	}
	pid, err := lockHolder(filepath.Join(b.scandir, ".s6-svscan", "lock"))
	if err != nil || pid <= 0 {
		return DefaultCapacity
	}
	if c, ok := b.learned.Load().(learnedCapacity); ok && c.pid == pid {
		return c.max
	}
	max := DefaultCapacity
	if cmdline, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline")); err == nil {
		if n, ok := svscanMax(strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")); ok {
			max = n
		}
	}
	b.learned.Store(learnedCapacity{pid: pid, max: max})
	return max
}

type learnedCapacity struct{ pid, max int }

// svscanMax finds -c in s6-svscan's arguments ("-c 10", "-c10", or among
// other flags, "-t5000 -c 10"); ok is false without one.
func svscanMax(argv []string) (int, bool) {
	for i := 1; i < len(argv); i++ {
		a := argv[i]
		if a == "--" || !strings.HasPrefix(a, "-") {
			break
		}
		j := strings.IndexByte(a, 'c')
		if j < 0 {
			continue
		}
		v := a[j+1:]
		if v == "" && i+1 < len(argv) {
			v = argv[i+1]
		}
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			return n, true
		}
	}
	return 0, false
}

// supervisedServices counts the service dirs of the scandir a supervisor
// holds, but those of skip (the slots a pass waits for): what already uses
// s6-svscan's capacity. A slot and its logger count once, as s6 counts.
func (b *Backend) supervisedServices(skip map[string]bool) int {
	entries, err := os.ReadDir(b.scandir)
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range entries {
		name := e.Name()
		if name[0] == '.' || skip[name] || !e.IsDir() {
			continue
		}
		if held, err := lockHeld(filepath.Join(b.scandir, name, "supervise", "lock")); err == nil && held {
			n++
		}
	}
	return n
}

// refused is the error of a slot s6-svscan will not take: terminal, so the
// watch loop tries it again at its next full pass (or when its profile
// changes), not every second.
func refused(slot string, limit int) error {
	return reconcile.Terminal(fmt.Errorf("%s is not supervised: %w of %d services; start s6-svscan with a larger -c (and --max-services to match), or remove profiles",
		slot, ErrOverCapacity, limit))
}
