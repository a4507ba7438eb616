//go:build unix

package desired

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// ReadInput reads a profile's input file (config.yaml, gateway_state.json)
// the way the reader does: a regular file of at most maxInputSize bytes, not
// through a symlink at the last component. The host backends read the
// active profile with it too.
func ReadInput(path string) ([]byte, error) {
	data, _, err := readStamped(path)
	return data, err
}

// readStamped is ReadInput that also says what the file's descriptor was
// when read, for the cache.
//
// Bare system calls, checked on the open descriptor: open, fstat, read,
// close. os.Open would add five calls per file to register it with the
// runtime poller, and a full pass reads two files per profile. O_NONBLOCK:
// a FIFO in a file's place must not hang the pass; it is refused as not
// regular, without being read.
func readStamped(path string) ([]byte, Stamp, error) {
	var fd int
	for {
		var err error
		fd, err = unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.ELOOP, err == unix.EMLINK: // a symlink (EMLINK on the BSDs)
			return nil, Stamp{}, errors.New("not a regular file")
		case err != nil:
			return nil, Stamp{}, &os.PathError{Op: "open", Path: path, Err: err}
		}
		break
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, Stamp{}, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, Stamp{}, errors.New("not a regular file")
	}
	if st.Size > maxInputSize {
		return nil, Stamp{}, fmt.Errorf("file is %d bytes, over the %d byte limit", st.Size, maxInputSize)
	}
	// The file may grow after the fstat: cap the read too.
	buf := make([]byte, 0, st.Size+1)
	for len(buf) <= maxInputSize {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := unix.Read(fd, buf[len(buf):min(cap(buf), maxInputSize+1)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, Stamp{}, &os.PathError{Op: "read", Path: path, Err: err}
		}
		if n == 0 {
			return buf, stampOf(&st), nil
		}
		buf = buf[:len(buf)+n]
		if int64(len(buf)) == st.Size {
			// All fstat said there was: the file as of then, without a
			// read more to see its end.
			return buf, stampOf(&st), nil
		}
	}
	return nil, Stamp{}, fmt.Errorf("file is over the %d byte limit", maxInputSize)
}

// StatFile stats path without following a symlink: its stamp and its mode
// (type and permission bits). A missing file is an error that matches
// fs.ErrNotExist.
func StatFile(path string) (Stamp, fs.FileMode, error) {
	var s unix.Stat_t
	var err error
	for {
		err = unix.Lstat(path, &s)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return Stamp{}, 0, &os.PathError{Op: "lstat", Path: path, Err: err}
	}
	return stampOf(&s), fileMode(uint32(s.Mode)), nil
}

// fileMode is os's reading of a stat mode: type bits and permissions.
func fileMode(m uint32) fs.FileMode {
	mode := fs.FileMode(m & 0o777)
	switch m & unix.S_IFMT {
	case unix.S_IFDIR:
		mode |= fs.ModeDir
	case unix.S_IFLNK:
		mode |= fs.ModeSymlink
	case unix.S_IFIFO:
		mode |= fs.ModeNamedPipe
	case unix.S_IFSOCK:
		mode |= fs.ModeSocket
	case unix.S_IFCHR:
		mode |= fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFBLK:
		mode |= fs.ModeDevice
	}
	if m&unix.S_ISUID != 0 {
		mode |= fs.ModeSetuid
	}
	if m&unix.S_ISGID != 0 {
		mode |= fs.ModeSetgid
	}
	if m&unix.S_ISVTX != 0 {
		mode |= fs.ModeSticky
	}
	return mode
}

// StatOf is what a stat (an fstat of a descriptor, for one) says of a file:
// its stamp and its mode, as StatFile reads them.
func StatOf(s *unix.Stat_t) (Stamp, fs.FileMode) {
	return stampOf(s), fileMode(uint32(s.Mode))
}

func stampOf(s *unix.Stat_t) Stamp {
	return Stamp{Dev: uint64(s.Dev), Ino: uint64(s.Ino), Size: s.Size,
		Mtime: unix.TimespecToNsec(s.Mtim), Ctime: unix.TimespecToNsec(s.Ctim)}
}
