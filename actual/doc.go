// Package actual reads what exists in the scandir: our slots, their files,
// the spec hash we left in data/, and what their supervisor reports. It only
// reads; the supervise status comes through a StatusReader the s6 backend
// provides, so this package never execs.
package actual
