//go:build linux || darwin

package cli

import "golang.org/x/sys/unix"

// isTerminalFd asks the terminal driver: /dev/null is a character device
// too, and only a terminal answers this ioctl.
func isTerminalFd(fd uintptr) bool {
	_, err := unix.IoctlGetTermios(int(fd), ioctlGetTermios)
	return err == nil
}
