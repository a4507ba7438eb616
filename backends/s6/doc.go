// Package s6 is the backend for a scandir supervised by s6-svscan: it writes
// slots (atomically, with the supervise skeleton pre-seeded), controls them
// with s6-svc, asks s6-svscan to rescan through its control FIFO (as
// s6-svscanctl does), reads supervise status without forking, and holds the
// single-writer lock. It is the only code that execs s6 programs or writes
// in the scandir.
package s6
