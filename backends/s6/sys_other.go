//go:build !unix

package s6

import "errors"

// s6 runs on Unix only; these let the package build elsewhere and fail
// clearly if it is ever used there.

func lockHeld(string) (bool, error)          { return false, errors.ErrUnsupported }
func fifoListening(string) (bool, error)     { return false, errors.ErrUnsupported }
func writeFIFO(string, []byte) (bool, error) { return false, errors.ErrUnsupported }
func writable(string) error                  { return errors.ErrUnsupported }
func euid() int                              { return -1 }
func lockHolder(string) (int, error)         { return 0, errors.ErrUnsupported }
func killGroup(int) error                    { return errors.ErrUnsupported }

func egid() int { return -1 }
