//go:build !unix

package actual

import "os"

// ReadSmall is os.ReadFile where there are no bare Unix calls.
func ReadSmall(path string, _ int64) ([]byte, error) { return os.ReadFile(path) }
