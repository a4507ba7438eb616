//go:build !unix

package s6

import "os"

// readSmall is os.ReadFile where there are no bare Unix calls.
func readSmall(path string, _ int64) ([]byte, error) { return os.ReadFile(path) }
