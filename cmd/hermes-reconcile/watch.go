package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/go-logr/logr"

	"github.com/hermes-reconcile/hermes-reconcile/backends/s6"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
)

// runWatch is the long-running mode, an s6 longrun. It exits 0 on SIGTERM
// or SIGINT after the pass in flight, leaving every gateway as it is.
func runWatch(ctx context.Context, o options, pass *reconcile.Pass) int {
	log := logr.FromContextOrDiscard(ctx)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	who := fmt.Sprintf("pid %d (hermes-reconcile watch)", os.Getpid())
	w := o.cfg.Watch
	b := readBuildInfo()
	maxRemove := "off (--allow-mass-remove)"
	if l := pass.Policy.MaxRemove; l != nil {
		maxRemove = l.String()
	}
	log.Info("hermes-reconcile starting", "version", b.Version, "commit", b.Commit, "go", b.Go, "platform", b.Platform,
		"home", o.cfg.Home, "scandir", o.cfg.Scandir, "backend", "s6",
		"quiet", w.Quiet.String(), "max_delay", w.MaxDelay.String(), "resync", w.Resync.String(), "backoff_max", w.BackoffMax.String(),
		"settle", o.cfg.Settle.String(), "timeout", o.cfg.SuperviseTimeout.String(), "lock_timeout", o.cfg.LockTimeout.String(),
		"crash_loop_deaths", o.cfg.CrashLoopDeaths, "crash_loop_window", o.cfg.CrashLoopWindow.String(),
		"max_remove", maxRemove, "max_services", o.cfg.MaxServices, "notify_fd", w.NotifyFD)
	err := reconcile.Watch(ctx, pass, reconcile.WatchOptions{
		Quiet: w.Quiet, MaxDelay: w.MaxDelay, Resync: w.Resync,
		BackoffMin: w.BackoffMin, BackoffMax: w.BackoffMax,
		Trigger: hup,
		Lock: func(ctx context.Context) (func(), error) {
			l, err := s6.AcquireLock(ctx, o.cfg.Scandir, who, o.cfg.LockTimeout)
			if err != nil {
				return nil, err
			}
			return func() { _ = l.Unlock() }, nil
		},
		Ready: func() { notifyReady(log, w.NotifyFD) },
	})
	if err != nil {
		log.Error(err, "watch stopped")
		return exitError
	}
	return exitOK
}

// notifyReady tells s6 the service is ready: a newline on the
// notification-fd, which is then closed, as s6-supervise expects.
func notifyReady(log logr.Logger, fd int) {
	if fd < 0 {
		return
	}
	f := os.NewFile(uintptr(fd), "notification-fd")
	if f == nil {
		log.Info("notification fd is not open", "fd", fd)
		return
	}
	if _, err := f.Write([]byte("\n")); err != nil {
		log.Error(err, "cannot signal readiness", "fd", fd)
	}
	_ = f.Close()
}
