package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/go-logr/logr"

	"github.com/hermes-reconcile/hermes-reconcile/cmd/internal/cli"
	"github.com/hermes-reconcile/hermes-reconcile/reconcile"
)

// watchS6 is the long-running mode, an s6 longrun. It returns nil on
// SIGTERM or SIGINT after the pass in flight, leaving every gateway as it
// is.
func watchS6(ctx context.Context, o *cli.Options, pass *reconcile.Pass, lock func(context.Context) (func(), error)) error {
	log := logr.FromContextOrDiscard(ctx)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	w := o.Cfg.Watch
	cli.StartupLine(log, o, "s6", "scandir", o.Cfg.Scandir, "timeout", o.Cfg.SuperviseTimeout.String(),
		"max_services", o.Cfg.MaxServices, "notify_fd", w.NotifyFD)
	return reconcile.Watch(ctx, pass, reconcile.WatchOptions{
		Quiet: w.Quiet, MaxDelay: w.MaxDelay, Resync: w.Resync,
		BackoffMin: w.BackoffMin, BackoffMax: w.BackoffMax,
		Trigger: hup,
		Lock:    lock,
		Ready:   func() { notifyReady(log, w.NotifyFD) },
	})
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
