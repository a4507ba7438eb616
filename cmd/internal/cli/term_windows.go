package cli

import "golang.org/x/sys/windows"

// isTerminalFd is true for a console: NUL and pipes have no console mode.
func isTerminalFd(fd uintptr) bool {
	var mode uint32
	return windows.GetConsoleMode(windows.Handle(fd), &mode) == nil
}
