//go:build unix

package s6

import (
	"os"

	"golang.org/x/sys/unix"
)

// These read a slot's supervise files with bare system calls. os.Open
// registers every file with the runtime poller (five fcntl and epoll calls
// that fail for regular files): a pass reads two of these per slot and the
// waits poll the lock, so that overhead was most of their cost.

// supervisorHolds is lockHeld without an *os.File: whether some process
// holds the POSIX write lock s6-supervise keeps on supervise/lock.
func supervisorHolds(lock string) (bool, error) {
	fd, err := open(lock)
	if err != nil {
		return false, err
	}
	defer unix.Close(fd)
	lk := unix.Flock_t{Type: unix.F_WRLCK}
	if err := unix.FcntlFlock(uintptr(fd), unix.F_GETLK, &lk); err != nil {
		return false, &os.PathError{Op: "fcntl", Path: lock, Err: err}
	}
	return lk.Type != unix.F_UNLCK, nil
}

// readStatusFile reads supervise/status whole: 35 or 43 bytes, so one read
// and one more to see the end.
func readStatusFile(path string) ([]byte, error) {
	fd, err := open(path)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	buf := make([]byte, 0, 64)
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

// open opens path read-only. O_NONBLOCK: a FIFO put in a file's place must
// not hang the pass.
func open(path string) (int, error) {
	for {
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return -1, &os.PathError{Op: "open", Path: path, Err: err}
		}
		return fd, nil
	}
}
