package s6

import "golang.org/x/sys/unix"

// mkfifoat makes a FIFO named name in the open directory dirfd; relative to
// the descriptor, so no path component can be swapped underneath.
func mkfifoat(dirfd int, _, name string, mode uint32) error {
	return unix.Mkfifoat(dirfd, name, mode)
}
