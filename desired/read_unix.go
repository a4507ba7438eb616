//go:build unix

package desired

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// ReadInput reads a profile's input file (config.yaml, gateway_state.json)
// the way Load does: a regular file of at most maxInputSize bytes, not
// through a symlink at the last component. The host backends read the
// active profile with it too.
//
// Bare system calls, checked on the open descriptor: open, fstat, read,
// close. os.Open would add five calls per file to register it with the
// runtime poller, and a pass reads two files per profile. O_NONBLOCK: a
// FIFO in a file's place must not hang the pass; it is refused as not
// regular, without being read.
func ReadInput(path string) ([]byte, error) {
	var fd int
	for {
		var err error
		fd, err = unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.ELOOP, err == unix.EMLINK: // a symlink (EMLINK on the BSDs)
			return nil, errors.New("not a regular file")
		case err != nil:
			return nil, &os.PathError{Op: "open", Path: path, Err: err}
		}
		break
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, errors.New("not a regular file")
	}
	if st.Size > maxInputSize {
		return nil, fmt.Errorf("file is %d bytes, over the %d byte limit", st.Size, maxInputSize)
	}
	// The file may grow after the fstat: cap the read too.
	buf := make([]byte, 0, st.Size+1)
	for len(buf) <= maxInputSize {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := unix.Read(fd, buf[len(buf):min(cap(buf), maxInputSize+1)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "read", Path: path, Err: err}
		}
		if n == 0 {
			return buf, nil
		}
		buf = buf[:len(buf)+n]
	}
	return nil, fmt.Errorf("file is over the %d byte limit", maxInputSize)
}
