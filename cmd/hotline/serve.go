package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/hotline-project/hotline/app"
	"github.com/hotline-project/hotline/desk"
	"github.com/hotline-project/hotline/dialplan"
)

// stopTimeout bounds a graceful stop: live calls get this long to reach a
// safe point. The systemd unit's TimeoutStopSec is longer.
const stopTimeout = 30 * time.Second

// runServe runs the daemon until ctx ends (SIGINT, SIGTERM) or a loop
// fails; every request on reload (SIGHUP) re-reads the configuration.
func runServe(ctx context.Context, reload <-chan struct{}, args []string, stderr io.Writer) error {
	path, err := configFlag("serve", args, stderr)
	if err != nil {
		return err
	}
	cfg, err := dialplan.Load(path)
	if err != nil {
		return err
	}
	if err := cfg.CheckSecrets(); err != nil {
		return err
	}
	level := new(slog.LevelVar)
	level.Set(cfg.Log.Level)
	log := newLogger(stderr, level)
	for _, w := range cfg.Warnings() {
		log.Warn("configuration", "problem", w.String())
	}

	a, err := app.New(serveOptions(cfg, log))
	if err != nil {
		return err
	}
	if err := a.Start(ctx); err != nil {
		return err
	}
	var runErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case runErr = <-a.Err():
			break loop
		case <-reload:
			reloadConfig(ctx, a, path, level, log)
		}
	}
	log.Info("stopping", "deadline", stopTimeout.String())
	stopCtx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	return errors.Join(runErr, a.Stop(stopCtx))
}

// serveOptions are the daemon's options in production: the agent desk is
// mounted at "/" beside the API.
func serveOptions(cfg *dialplan.Config, log *slog.Logger) app.Options {
	return app.Options{Config: cfg, Logger: log, Version: version, Desk: desk.New(desk.Options{})}
}

// newLogger is the daemon's log: JSON lines on w, durations in seconds
// (slog writes a time.Duration as nanoseconds), at level.
func newLogger(w io.Writer, level slog.Leveler) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Value.Kind() == slog.KindDuration {
				a.Value = slog.Float64Value(a.Value.Duration().Seconds())
			}
			return a
		},
	}))
}

// reloadConfig applies a changed configuration: a file with problems is
// refused whole and the running one kept.
func reloadConfig(ctx context.Context, a *app.App, path string, level *slog.LevelVar, log *slog.Logger) {
	cfg, err := dialplan.Load(path)
	if err != nil {
		log.Error("reload refused: configuration has problems", "err", err)
		return
	}
	level.Set(cfg.Log.Level)
	if err := a.Reload(ctx, cfg); err != nil {
		log.Error("reload failed", "err", err)
		return
	}
	log.Info("configuration reloaded", "summary", cfg.Summary())
}
