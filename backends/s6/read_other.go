//go:build !unix

package s6

import (
	"fmt"
	"os"

	"github.com/hermes-reconcile/hermes-reconcile/desired"
)

// readSmall is os.ReadFile, capped, where there are no bare Unix calls.
func readSmall(path string, limit int64) ([]byte, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() || fi.Size() > limit {
		return nil, &os.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w: %s, %d bytes (limit %d)", ErrOddFile, fi.Mode().Type(), fi.Size(), limit)}
	}
	return os.ReadFile(path)
}

// readSmallStamped is readSmall with the file's stamp and mode, from a stat
// of its own where there is no descriptor to ask.
func readSmallStamped(path string, limit int64) ([]byte, fileInfo, error) {
	st, mode, err := desired.StatFile(path)
	if err != nil {
		return nil, fileInfo{}, err
	}
	data, err := readSmall(path, limit)
	return data, fileInfo{stamp: st, mode: mode}, err
}
