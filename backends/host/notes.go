package host

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
)

// notes are what passes record of the host's service besides its
// definition (reconcile.Noter): when its profile was first found gone. A
// host manager's unit has no place of ours to keep them, so they live in a
// small file beside the host's lock, one per profile root.
type notes struct {
	Absent map[string]time.Time `json:"absent,omitempty"` // by unit name
}

func readNotes(path string) notes {
	var n notes
	if path == "" {
		return n
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return n
	}
	_ = json.Unmarshal(data, &n) // an unreadable record counts as none: the wait starts again
	return n
}

// Note records n in the notes file: written whole to a temp file and
// renamed, so a kill leaves the old record or the new one.
func (e *Engine) Note(_ context.Context, n reconcile.Note) error {
	path := e.settings.NotesFile
	if path == "" {
		return errors.New("host: no notes file")
	}
	rec := readNotes(path)
	if n.Absent.IsZero() {
		if _, ok := rec.Absent[n.Unit]; !ok {
			return nil
		}
		delete(rec.Absent, n.Unit)
	} else {
		if rec.Absent == nil {
			rec.Absent = map[string]time.Time{}
		}
		rec.Absent[n.Unit] = n.Absent
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return nil
}

// absentSince is when unit's profile was first found gone, as the notes
// file says; zero when it does not.
func (e *Engine) absentSince(unit string) time.Time {
	if _, err := os.Stat(e.settings.NotesFile); errors.Is(err, fs.ErrNotExist) || e.settings.NotesFile == "" {
		return time.Time{}
	}
	return readNotes(e.settings.NotesFile).Absent[unit]
}
