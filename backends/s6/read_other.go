//go:build !unix

package s6

import (
	"fmt"
	"os"
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
