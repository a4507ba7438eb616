//go:build unix && !linux

package s6

import (
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// mkfifoIn makes a FIFO named name in the open directory dir. Darwin has no
// mkfifoat: the path is used, in a directory we just created ourselves.
func mkfifoIn(dir *os.File, dirPath, name string, mode uint32) error {
	return unix.Mkfifo(filepath.Join(dirPath, name), mode)
}
