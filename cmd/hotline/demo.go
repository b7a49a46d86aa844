package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/hotline-project/hotline/demo"
)

// demoStopTimeout bounds the demo's stop: its calls are simulated and hang
// up at once, so this only matters if something is stuck.
const demoStopTimeout = 15 * time.Second

// runDemo runs the whole hotline on this machine (README, Command line): simulated
// Asterisk, embedded store, the daemon and scripted callers and agents.
// The daemon's log goes to a file so the terminal keeps the summary.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", demo.DefaultListen, "HTTP address of the API, agent desk and metrics (a free port is used if it is taken)")
	duration := fs.Duration("duration", 0, "stop after this long; 0 runs until Ctrl-C")
	rate := fs.Float64("rate", demo.DefaultRate, "callers per minute (Poisson arrivals)")
	seed := fs.Int64("seed", 0, "seed of the traffic script's random choices; 0 picks one")
	logPath := fs.String("log", "", "daemon log file; default: a new file in the temporary directory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if *rate <= 0 || *duration < 0 {
		return fmt.Errorf("--rate must be positive and --duration not negative")
	}

	var logFile *os.File
	var err error
	if *logPath != "" {
		logFile, err = os.OpenFile(*logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	} else {
		logFile, err = os.CreateTemp("", "hotline-demo-*.log")
	}
	if err != nil {
		return fmt.Errorf("open log file: %w", err)
	}
	defer logFile.Close()
	log := slog.New(slog.NewTextHandler(logFile, &slog.HandlerOptions{Level: slog.LevelInfo}))
	fmt.Fprintf(stdout, "daemon log: %s  (tail -f it to watch every call)\n", logFile.Name())

	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	fmt.Fprintln(stdout, "starting the simulated Asterisk, the embedded store, the daemon and the phones…")
	return demo.Run(ctx, demo.Options{
		Listen: *listen, Rate: *rate, Seed: *seed, Logger: log, Out: stdout, Version: version,
	}, demoStopTimeout)
}
