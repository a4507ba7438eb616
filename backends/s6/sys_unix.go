//go:build unix

package s6

import (
	"errors"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// lockHeld reports whether some process holds the POSIX write lock
// s6-supervise keeps on supervise/lock (s6-svok's test). Bare system calls:
// os.Open would register the file with the runtime poller (five more calls
// that fail for a regular file), and passes and waits check this per slot.
// O_NONBLOCK: a FIFO put in the lock's place must not hang the pass.
func lockHeld(path string) (bool, error) {
	fd, err := openat(unix.AT_FDCWD, path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return false, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	lk := unix.Flock_t{Type: unix.F_WRLCK}
	if err := unix.FcntlFlock(uintptr(fd), unix.F_GETLK, &lk); err != nil {
		return false, &os.PathError{Op: "fcntl", Path: path, Err: err}
	}
	return lk.Type != unix.F_UNLCK, nil
}

// fifoListening reports whether something reads the FIFO at path: opening
// it for writing without blocking fails with ENXIO when nobody does.
func fifoListening(path string) (bool, error) { return writeFIFO(path, nil) }

// writeFIFO writes data to the FIFO at path without blocking, as s6's
// s6_svc_write does; listening is false when nobody reads it (ENXIO).
func writeFIFO(path string, data []byte) (listening bool, err error) {
	fd, err := openat(unix.AT_FDCWD, path, unix.O_WRONLY|unix.O_NONBLOCK|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENXIO) {
		return false, nil
	}
	if err != nil {
		return false, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	if len(data) == 0 {
		return true, nil
	}
	// At most PIPE_BUF bytes: written whole or not at all.
	n, err := unix.Write(fd, data)
	for err == unix.EINTR {
		n, err = unix.Write(fd, data)
	}
	switch {
	case err != nil:
		return true, &os.PathError{Op: "write", Path: path, Err: err}
	case n < len(data):
		return true, &os.PathError{Op: "write", Path: path, Err: io.ErrShortWrite}
	}
	return true, nil
}

// writable reports whether the directory accepts new entries (EROFS, EACCES).
func writable(path string) error {
	if err := unix.Access(path, unix.W_OK); err != nil {
		return &os.PathError{Op: "access", Path: path, Err: err}
	}
	return nil
}

func euid() int { return unix.Geteuid() }

func egid() int { return unix.Getegid() }

// killGroup sends SIGKILL to the process group pid leads: s6-supervise
// (2.11) makes each service the leader of its own session, and a gateway's
// children (a shell's background job, a helper) killed with it cannot keep
// the logger's pipe open. It refuses a pid that leads no group of its own.
func killGroup(pid int) error {
	if pid <= 1 {
		return errors.New("no process to kill")
	}
	pg, err := unix.Getpgid(pid)
	if err != nil {
		return err
	}
	if pg != pid {
		return errors.New("the gateway leads no process group of its own")
	}
	return unix.Kill(-pid, unix.SIGKILL)
}

// lockHolder is the pid of the process holding the POSIX lock on path (0:
// none): s6-svscan holds .s6-svscan/lock.
func lockHolder(path string) (int, error) {
	fd, err := openat(unix.AT_FDCWD, path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NONBLOCK|unix.O_NOFOLLOW, 0)
	if err != nil {
		return 0, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	lk := unix.Flock_t{Type: unix.F_WRLCK}
	if err := unix.FcntlFlock(uintptr(fd), unix.F_GETLK, &lk); err != nil {
		return 0, &os.PathError{Op: "fcntl", Path: path, Err: err}
	}
	if lk.Type == unix.F_UNLCK {
		return 0, nil
	}
	return int(lk.Pid), nil
}
