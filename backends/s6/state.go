package s6

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"time"

	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
)

// StateFile is what a slot records of our own work on it, beside its hash
// in data/ (s6 never touches data/): when we last rewrote run and log/run,
// whether a restart of ours has it down, and its crash-loop park. A pass
// derives what a killed one left undone from it and from s6's status, not
// from memory.
const StateFile = "data/hermes-reconcile.state"

// DeathTally is where s6-supervise (2.11 and later) keeps a slot's last
// deaths.
const DeathTally = "supervise/death_tally"

// slotState is StateFile's content.
type slotState struct {
	RunWritten time.Time `json:"run_written,omitzero"`
	LogWritten time.Time `json:"log_written,omitzero"`
	// Restarting is set before a restart takes the gateway down and cleared
	// once it was asked up again.
	Restarting bool `json:"restarting,omitempty"`
	// Adopted is when we took the slot over from another writer: the
	// gateway and logger running then were accepted as they are.
	Adopted time.Time       `json:"adopted,omitzero"`
	Park    *reconcile.Park `json:"park,omitempty"`
	// Rolled is when a restart of ours started the gateway on a new run:
	// the rollout budget judges its batch from it.
	Rolled time.Time `json:"rolled,omitzero"`
	// Absent is when a pass first found the slot's profile gone: its
	// removal waits --remove-after from then, whichever process decides.
	Absent time.Time `json:"absent,omitzero"`
}

// parseState decodes StateFile; an unreadable one is reported and counts
// as empty (what it would have said is at worst one restart too few).
func parseState(data []byte) (slotState, error) {
	var st slotState
	if len(data) == 0 {
		return st, nil
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return slotState{}, fmt.Errorf("%s: %w", StateFile, err)
	}
	return st, nil
}

// writeState records st in slot: written whole to a temp file and renamed,
// so a kill leaves the old record or the new one.
func (b *Backend) writeState(root *os.Root, slot string, st slotState) error {
	data, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if err := b.ensureData(root, slot); err != nil {
		return err
	}
	return b.replaceFile(root, path.Join(slot, StateFile), append(data, '\n'), 0o644)
}

// updateState reads slot's state afresh (not from the cache: a pass may
// have written it since), applies change and writes it back.
func (b *Backend) updateState(root *os.Root, slot string, change func(*slotState)) error {
	st, _ := b.readState(slot)
	change(&st)
	return b.writeState(root, slot, st)
}

func (b *Backend) readState(slot string) (slotState, error) {
	p := b.slotDir(slot) + "/" + StateFile
	data, err := readSmall(p, MaxSlotFile)
	if err != nil {
		return slotState{}, nil // none yet
	}
	return parseState(data)
}

// deathRecord is one record of the death tally: the TAI64N time of death,
// the exit code, the signal.
const deathRecord = 14

// ParseDeathTally decodes supervise/death_tally, oldest death first.
func ParseDeathTally(b []byte) ([]reconcile.Death, error) {
	if len(b)%deathRecord != 0 {
		return nil, fmt.Errorf("%s: %d bytes is no whole number of %d-byte records", DeathTally, len(b), deathRecord)
	}
	deaths := make([]reconcile.Death, 0, len(b)/deathRecord)
	for i := 0; i+deathRecord <= len(b); i += deathRecord {
		r := b[i : i+deathRecord]
		if binary.BigEndian.Uint64(r[0:8]) == 0 {
			continue
		}
		deaths = append(deaths, reconcile.Death{At: taiTime(r[0:12]), Exit: int(r[12]), Signal: int(r[13])})
	}
	return deaths, nil
}

// Note records a pass's note in the slot's state: when its profile was
// first found gone, or that it is back. The slot's files and its gateway
// are not touched.
func (b *Backend) Note(_ context.Context, n reconcile.Note) error {
	root, err := os.OpenRoot(b.scandir)
	if err != nil {
		return err
	}
	defer root.Close()
	if _, err := root.Lstat(n.Unit); err != nil {
		return nil // gone meanwhile: nothing to note
	}
	return b.updateState(root, n.Unit, func(st *slotState) { st.Absent = n.Absent })
}
