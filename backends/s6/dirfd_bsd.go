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

// renameNoReplace renames from to to in dirfd, refusing an existing to.
// Without renameat2 the check and the rename are two steps: a slot made in
// between is replaced only if it is an empty dir, and no writer makes one.
func renameNoReplace(dirfd int, from, to string) error {
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, to, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil {
		return unix.EEXIST
	}
	return unix.Renameat(dirfd, from, dirfd, to)
}
