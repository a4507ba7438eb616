//go:build !unix

package s6

import "os"

func supervisorHolds(lock string) (bool, error) { return lockHeld(lock) }

func readStatusFile(path string) ([]byte, error) { return os.ReadFile(path) }
