package s6

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"time"
)

// ParseStatus decodes a supervise/status record as s6-supervise writes it:
// 35 bytes up to s6 2.12 (no pgid), 43 bytes from 2.13 on. The layout is
// stamp (TAI64N, 12), ready stamp (12), pid (u64 BE), [pgid (u64 BE)],
// wait status (u16 BE), flags (paused 1, finishing 2, wantup 4, ready 8).
func ParseStatus(b []byte) (Status, error) {
	var pidAt, wstatAt, flagsAt int
	switch len(b) {
	case 35:
		pidAt, wstatAt, flagsAt = 24, 32, 34
	case 43:
		pidAt, wstatAt, flagsAt = 24, 40, 42
	default:
		return Status{}, fmt.Errorf("supervise/status: unknown record size %d", len(b))
	}
	pid := binary.BigEndian.Uint64(b[pidAt:])
	wstat := binary.BigEndian.Uint16(b[wstatAt:])
	flags := b[flagsAt]
	finishing := flags&2 != 0
	st := Status{
		Supervised: true,
		PID:        int(pid),
		Up:         pid != 0 && !finishing,
		WantUp:     flags&4 != 0,
		ExitCode:   -1,
		Since:      taiTime(b[0:12]),
	}
	st.Ready = st.Up && flags&8 != 0
	// A service that never ran has the record s6-supervise starts with:
	// no pid, wstat 0, and its state and ready stamps both the start's. s6
	// itself says "exitcode 0" for it; it has no last exit.
	neverRan := pid == 0 && wstat == 0 && bytes.Equal(b[0:12], b[12:24])
	if !st.Up {
		st.PID = 0
		// wstat as from waitpid: low 7 bits the signal, else the exit code.
		if neverRan {
			return st, nil
		}
		if sig := int(wstat & 0x7f); sig != 0 {
			st.Signal = sig
		} else {
			st.ExitCode = int(wstat >> 8)
		}
	}
	return st, nil
}

// taiTime converts a TAI64N label to time. skalibs labels are true TAI:
// UTC plus 10 s plus the leap seconds since 1972, 27 of them since 2017.
func taiTime(b []byte) time.Time {
	const tai64Epoch, taiMinusUTC = uint64(1) << 62, 37
	secs := binary.BigEndian.Uint64(b[0:8])
	nanos := binary.BigEndian.Uint32(b[8:12])
	if secs < tai64Epoch+taiMinusUTC {
		return time.Time{}
	}
	return time.Unix(int64(secs-tai64Epoch-taiMinusUTC), int64(nanos)).UTC()
}

// ReadStatus reads a slot's status without forking: the supervise/lock
// tells whether s6-supervise runs, supervise/status what it last recorded.
func (b *Backend) ReadStatus(dir string) (Status, error) {
	held, err := lockHeld(filepath.Join(dir, "supervise", "lock"))
	if errors.Is(err, fs.ErrNotExist) || (err == nil && !held) {
		return Status{ExitCode: -1}, nil
	}
	if err != nil {
		return Status{ExitCode: -1}, fmt.Errorf("%s: %w", dir, err)
	}
	// Through the stat-validated cache: s6-supervise replaces the record
	// (status.new renamed), so a changed one has a new stamp, and a pass
	// over slots that did not change mostly stats.
	f := b.readFile(dir, "supervise/status")
	if f.missing || f.notRegular || f.odd != "" {
		return Status{Supervised: true, ExitCode: -1}, fmt.Errorf("%s: supervise/status: %w", dir, fs.ErrNotExist)
	}
	st, err := ParseStatus(f.data)
	if err != nil {
		return Status{Supervised: true, ExitCode: -1}, fmt.Errorf("%s: %w", dir, err)
	}
	return st, nil
}
