//go:build !unix

package desired

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// ReadInput reads a profile's input file (config.yaml, gateway_state.json)
// the way the reader does: a regular file of at most maxInputSize bytes, not
// through a symlink at the last component. The host backends read the
// active profile with it too.
func ReadInput(path string) ([]byte, error) {
	data, _, err := readStamped(path)
	return data, err
}

// readStamped is ReadInput that also says what the file was when read.
func readStamped(path string) ([]byte, Stamp, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, Stamp{}, err
	}
	if !fi.Mode().IsRegular() {
		return nil, Stamp{}, errors.New("not a regular file")
	}
	if fi.Size() > maxInputSize {
		return nil, Stamp{}, fmt.Errorf("file is %d bytes, over the %d byte limit", fi.Size(), maxInputSize)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, Stamp{}, err
	}
	defer f.Close()
	// The file may grow between Lstat and Read: cap the read too.
	data, err := io.ReadAll(io.LimitReader(f, maxInputSize+1))
	if err != nil {
		return nil, Stamp{}, err
	}
	if len(data) > maxInputSize {
		return nil, Stamp{}, fmt.Errorf("file is over the %d byte limit", maxInputSize)
	}
	return data, Stamp{Size: fi.Size(), Mtime: fi.ModTime().UnixNano()}, nil
}

// StatFile stats path without following a symlink: its stamp and mode.
// Without inodes and ctime here, size and mtime are what a stamp holds.
func StatFile(path string) (Stamp, fs.FileMode, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return Stamp{}, 0, err
	}
	return Stamp{Size: fi.Size(), Mtime: fi.ModTime().UnixNano()}, fi.Mode(), nil
}
