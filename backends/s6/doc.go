// Package s6 is the engine of a scandir supervised by s6-svscan: it renders
// slots (byte for byte Hermes's with the default settings), observes them
// (files, spec hash, supervise status read without forking), and carries
// out steps: publishing atomically with the supervise skeleton pre-seeded,
// rewriting live files, s6-svc, one rescan through s6-svscan's control FIFO,
// retiring and purging. It holds the single-writer lock. It is the only code
// that execs s6 programs or writes in the scandir.
package s6
