package s6

import "golang.org/x/sys/unix"

// mkfifoat makes a FIFO named name in the open directory dirfd; relative to
// the descriptor, so no path component can be swapped underneath.
func mkfifoat(dirfd int, _, name string, mode uint32) error {
	return unix.Mkfifoat(dirfd, name, mode)
}

// renameNoReplace renames from to to in dirfd, failing with EEXIST when to
// exists (renameat2 RENAME_NOREPLACE, Linux 3.15).
func renameNoReplace(dirfd int, from, to string) error {
	return unix.Renameat2(dirfd, from, dirfd, to, unix.RENAME_NOREPLACE)
}
