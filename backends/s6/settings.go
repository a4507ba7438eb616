package s6

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hermes-reconcile/hermes-reconcile/config"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
)

// RenderFile is where a slot records the render settings it was written
// with, beside its hash: `status`, run without the pass's flags, renders
// with them and shows no false drift.
const RenderFile = "data/hermes-reconcile.render"

func renderRecord(r config.Render) []byte {
	b, err := json.Marshal(r)
	if err != nil {
		panic(err) // a plain struct of strings and ints
	}
	return append(b, '\n')
}

// RecordedRender is the render settings the newest slot of ours was written
// with; false when no slot records any.
func RecordedRender(scandir string) (config.Render, bool) {
	entries, err := os.ReadDir(scandir)
	if err != nil {
		return config.Render{}, false
	}
	var best config.Render
	var bestAt time.Time
	found := false
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), SlotPrefix) || !e.IsDir() {
			continue
		}
		path := filepath.Join(scandir, e.Name(), filepath.FromSlash(RenderFile))
		fi, err := os.Lstat(path)
		if err != nil || (found && !fi.ModTime().After(bestAt)) {
			continue
		}
		data, err := readSmall(path, MaxSlotFile)
		if err != nil {
			continue
		}
		var r config.Render
		if json.Unmarshal(data, &r) != nil {
			continue
		}
		best, bestAt, found = r, fi.ModTime(), true
	}
	return best, found
}

// SupervisorDown says, in one line, that no s6-svscan runs on the scandir,
// and what that means for the slots o found: supervisors that outlived it
// keep their gateways; nil when one runs (or when that cannot be told).
func (b *Backend) SupervisorDown(o reconcile.Observed) error {
	ok, err := fifoListening(filepath.Join(b.scandir, ".s6-svscan", "control"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if ok {
		return nil
	}
	alive := 0
	for _, u := range o.Units {
		if u.Registered {
			alive++
		}
	}
	if alive > 0 {
		return fmt.Errorf("%w %s: the %d slots whose supervisors outlived it keep their gateways, but no new slot is supervised and no slot can be removed until it runs again (%s)",
			ErrSvscanDown, b.scandir, alive, svscanFix(b.scandir))
	}
	return fmt.Errorf("%w %s: every slot is unsupervised, and no gateway is started or stopped until it runs (%s)", ErrSvscanDown, b.scandir, svscanFix(b.scandir))
}

// svscanFix says how s6-svscan comes back.
func svscanFix(scandir string) string {
	return "it is s6-overlay's stage 2: restart the container, or run s6-svscan " + scandir
}

// svscanDown is the error of a pass that found no s6-svscan to act with.
func svscanDown(scandir string) error {
	return fmt.Errorf("%w %s (%s)", ErrSvscanDown, scandir, svscanFix(scandir))
}

// CurrentFile is a slot file as it is now (the left side of --diff), read
// capped like every other.
func (b *Backend) CurrentFile(slot, rel string) ([]byte, error) {
	if !strings.HasPrefix(slot, SlotPrefix) || strings.ContainsAny(slot, `/\`) || strings.Contains(rel, "..") {
		return nil, fmt.Errorf("not a slot file: %s/%s", slot, rel)
	}
	return readSmall(filepath.Join(b.scandir, slot, filepath.FromSlash(rel)), MaxSlotFile)
}
