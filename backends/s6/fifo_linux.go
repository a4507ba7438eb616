package s6

import (
	"os"

	"golang.org/x/sys/unix"
)

// mkfifoIn makes a FIFO named name in the open directory dir; relative to
// the directory's fd, so no path component can be swapped underneath.
func mkfifoIn(dir *os.File, dirPath, name string, mode uint32) error {
	return unix.Mkfifoat(int(dir.Fd()), name, mode)
}
