//go:build unix && !linux

package s6

import (
	"path/filepath"

	"golang.org/x/sys/unix"
)

// mkfifoat makes a FIFO named name in the directory dirPath. Darwin has no
// mkfifoat: the path is used, in a directory we just created ourselves.
func mkfifoat(_ int, dirPath, name string, mode uint32) error {
	return unix.Mkfifo(filepath.Join(dirPath, name), mode)
}
