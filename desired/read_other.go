//go:build !unix

package desired

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// ReadInput reads a profile's input file (config.yaml, gateway_state.json)
// the way Load does: a regular file of at most maxInputSize bytes, not
// through a symlink at the last component. The host backends read the
// active profile with it too.
func ReadInput(path string) ([]byte, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	if fi.Size() > maxInputSize {
		return nil, fmt.Errorf("file is %d bytes, over the %d byte limit", fi.Size(), maxInputSize)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// The file may grow between Lstat and Read: cap the read too.
	data, err := io.ReadAll(io.LimitReader(f, maxInputSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxInputSize {
		return nil, fmt.Errorf("file is over the %d byte limit", maxInputSize)
	}
	return data, nil
}
