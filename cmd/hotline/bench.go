package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"

	"github.com/hotline-project/hotline/bench"
)

// runBench is `hotline bench`: the daemon in-process against the simulated
// Asterisk and a real redis-server. It prints the figures and exits 1 if a
// call was lost or misrouted.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o bench.Options
	fs.IntVar(&o.Calls, "calls", 2000, "calls to place (0: skip the throughput scenario)")
	fs.Float64Var(&o.Rate, "rate", 200, "calls placed per second")
	fs.IntVar(&o.Agents, "agents", 50, "agents logged in")
	fs.DurationVar(&o.Hold, "hold", 100e6, "how long each call talks once connected")
	fs.BoolVar(&o.Poisson, "poisson", false, "Poisson arrivals instead of evenly spaced")
	fs.IntVar(&o.Concurrent, "concurrent", 0, "calls to hold at once for memory and goroutines (0: skip)")
	fs.IntVar(&o.TransferEvery, "transfer-every", 10, "run a transfer check on one connected call in this many")
	fs.DurationVar(&o.ConnectTimeout, "connect-timeout", 60e9, "a caller not connected by then is lost")
	fs.StringVar(&o.Driver, "driver", "lean", "who plays the phones: lean (the bench's own load generator) or phones (the e2e driver)")
	verbose := fs.Bool("v", false, "log the daemon's, simulator's and phones' warnings to stderr")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	blockProfile := fs.String("blockprofile", "", "write a profile of goroutines blocked on channels, selects and locks to this file")
	mutexProfile := fs.String("mutexprofile", "", "write a profile of contended mutexes to this file")
	allocProfile := fs.String("allocprofile", "", "write a profile of the run's allocations to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	level := slog.LevelError
	if *verbose {
		level = slog.LevelWarn
	}
	o.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	o.Progress = stderr
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	// Recording every blocking event or contended lock would slow the run
	// being measured; sampled, they still show where the waiting is.
	if *blockProfile != "" {
		runtime.SetBlockProfileRate(100_000) // one sample per 100 µs blocked
		defer writeProfile("block", *blockProfile, stderr)
	}
	if *mutexProfile != "" {
		runtime.SetMutexProfileFraction(100) // one contention in a hundred
		defer writeProfile("mutex", *mutexProfile, stderr)
	}
	if *allocProfile != "" {
		defer writeProfile("allocs", *allocProfile, stderr)
	}
	rep, err := bench.Run(ctx, o)
	if rep != nil {
		if werr := rep.WriteTable(stdout); werr != nil && err == nil {
			err = werr
		}
	}
	if err != nil {
		return err
	}
	if !rep.OK() {
		return exitError(1)
	}
	return nil
}

// writeProfile writes the named runtime profile to path; a failure is
// reported but does not fail the bench, whose figures are already printed.
func writeProfile(name, path string, stderr io.Writer) {
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintf(stderr, "bench: %s profile: %v\n", name, err)
		return
	}
	defer f.Close()
	if err := pprof.Lookup(name).WriteTo(f, 0); err != nil {
		fmt.Fprintf(stderr, "bench: %s profile: %v\n", name, err)
	}
}
