//go:build unix

package s6

import (
	"os"

	"golang.org/x/sys/unix"
)

// readSmall reads a whole file with bare system calls: open, read until
// the end, close. os.ReadFile also registers the file with the runtime
// poller, five more calls that fail for a regular file, and a pass reads
// five files per slot (the s6 backend reads supervise/status with it too).
// size is a hint (from Lstat); the buffer grows past it. O_NONBLOCK: a FIFO swapped in after the Lstat must not hang the pass.
func readSmall(path string, size int64) ([]byte, error) {
	var fd int
	for {
		var err error
		fd, err = unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "open", Path: path, Err: err}
		}
		break
	}
	defer unix.Close(fd)
	buf := make([]byte, 0, max(size, 0)+1)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := unix.Read(fd, buf[len(buf):cap(buf)])
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
}
