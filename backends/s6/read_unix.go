//go:build unix

package s6

import (
	"fmt"
	"io/fs"
	"os"

	"github.com/hermes-reconcile/hermes-reconcile/desired"

	"golang.org/x/sys/unix"
)

// readSmall reads a whole file of at most limit bytes with bare system
// calls: open (O_NOFOLLOW: a symlink is never followed, so a slot file
// pointing at /dev/zero or a secret is refused; O_NONBLOCK: a FIFO swapped
// in must not hang the pass), fstat on the descriptor (it must be a regular
// file, no bigger than limit: a 10 GB sparse file is refused before a byte
// is allocated), read until the end, close. os.ReadFile also registers the
// file with the runtime poller, five more calls that fail for a regular
// file, and a pass reads several files per slot.
func readSmall(path string, limit int64) ([]byte, error) {
	data, _, err := readSmallStamped(path, limit)
	return data, err
}

// readSmallStamped is readSmall that also says what the descriptor's fstat
// found: the file's stamp and mode (a symlink's mode when it was one), so
// a caller with nothing cached need not stat the file first.
func readSmallStamped(path string, limit int64) ([]byte, fileInfo, error) {
	var fd int
	for {
		var err error
		fd, err = unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
		if err == unix.EINTR {
			continue
		}
		if err == unix.ELOOP {
			return nil, fileInfo{mode: fs.ModeSymlink}, &os.PathError{Op: "open", Path: path, Err: fmt.Errorf("%w: a symlink", ErrOddFile)}
		}
		if err != nil {
			return nil, fileInfo{}, &os.PathError{Op: "open", Path: path, Err: err}
		}
		break
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, fileInfo{}, &os.PathError{Op: "fstat", Path: path, Err: err}
	}
	var info fileInfo
	info.stamp, info.mode = desired.StatOf(&st)
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, info, &os.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w: not a regular file", ErrOddFile)}
	}
	if st.Size > limit {
		return nil, info, &os.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w: %d bytes, over the %d byte limit", ErrOddFile, st.Size, limit)}
	}
	buf := make([]byte, 0, st.Size+1)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := unix.Read(fd, buf[len(buf):cap(buf)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, info, &os.PathError{Op: "read", Path: path, Err: err}
		}
		if n == 0 {
			return buf, info, nil
		}
		buf = buf[:len(buf)+n]
		if int64(len(buf)) == st.Size {
			// All fstat said there was: the file as of then, without a
			// read more to see its end.
			return buf, info, nil
		}
		if int64(len(buf)) > limit {
			// It grew past the limit while we read.
			return nil, info, &os.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w: over the %d byte limit", ErrOddFile, limit)}
		}
	}
}
