//go:build unix

package filelock

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// fileID is what makes a file itself: its device and inode.
type fileID struct{ dev, ino uint64 }

func tryLock(f *os.File) (bool, error) {
	err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	if errors.Is(err, unix.EWOULDBLOCK) {
		return false, nil
	}
	return err == nil, err
}

func openNoFollow(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW, 0o644)
}

func fdID(f *os.File) (fileID, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return fileID{}, err
	}
	return fileID{uint64(st.Dev), st.Ino}, nil
}

func pathID(path string) (fileID, error) {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return fileID{}, err
	}
	return fileID{uint64(st.Dev), st.Ino}, nil
}

// ownerOf is the uid owning path, or the directory it would be made in.
func ownerOf(path string) int {
	var st unix.Stat_t
	if unix.Lstat(path, &st) == nil {
		return int(st.Uid)
	}
	if unix.Stat(filepath.Dir(path), &st) == nil {
		return int(st.Uid)
	}
	return -1
}

// readSmall reads at most limit bytes of a regular file, never through a
// symlink.
func readSmall(path string, limit int64) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, limit)
	n, err := f.Read(buf)
	if n == 0 && err != nil {
		return nil, err
	}
	return buf[:n], nil
}

// lockDir takes an exclusive flock on a directory: false when another
// holds it.
func lockDir(dir string) (*os.File, bool, error) {
	d, err := os.Open(dir)
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			return nil, false, &PermissionError{Path: dir, UID: os.Geteuid(), Owner: ownerOf(dir), Err: err}
		}
		return nil, false, fmt.Errorf("open %s: %w", dir, err)
	}
	ok, err := tryLock(d)
	if err != nil || !ok {
		d.Close()
		if err != nil {
			return nil, false, fmt.Errorf("lock %s: %w", dir, err)
		}
		return nil, false, nil
	}
	return d, true, nil
}
