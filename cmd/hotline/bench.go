package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/hotline-project/hotline/bench"
)

// Exit codes of `hotline bench`, after the report is printed.
const (
	// benchExitFailed: a call was lost or misrouted, or the bench could
	// not run (the report says which).
	benchExitFailed = 1
	// benchExitMissed: every call went right but a speed target was
	// missed.
	benchExitMissed = 3
)

const benchUsage = `usage: hotline bench [flags]            the daemon in-process against the simulated Asterisk
       hotline bench --asterisk [flags] the daemon against a real Asterisk, beside app_queue and a bare ARI router

exit status: 0 every target met; 1 a call lost or misrouted, or the bench failed; 3 a speed target missed

`

// runBench is `hotline bench`: by default the daemon in-process against
// the simulated Asterisk and a real redis-server (a regression bench);
// with --asterisk, hotline, app_queue and a bare ARI router on one real
// Asterisk (bench.RunAsterisk).
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, benchUsage)
		fs.PrintDefaults()
	}
	var o bench.Options
	fs.IntVar(&o.Calls, "calls", 2000, "simulator: calls to place (0: skip the throughput scenario)")
	fs.Float64Var(&o.Rate, "rate", 100, "simulator: calls placed per second")
	fs.IntVar(&o.Agents, "agents", 50, "agents logged in (--asterisk: for the capacity levels)")
	fs.DurationVar(&o.Hold, "hold", 100*time.Millisecond, "simulator: how long each call talks once connected")
	fs.BoolVar(&o.Poisson, "poisson", false, "simulator: Poisson arrivals instead of evenly spaced")
	fs.IntVar(&o.Concurrent, "concurrent", 0, "simulator: calls to hold at once for memory and goroutines (0: skip)")
	fs.IntVar(&o.TransferEvery, "transfer-every", 10, "simulator: run a transfer check on one connected call in this many")
	fs.IntVar(&o.HandoffRounds, "handoff-rounds", 60, "simulator: handoff rounds with 1 agent and callers waiting (0: skip)")
	fs.BoolVar(&o.NoFloor, "no-floor", false, "simulator: do not run the bare ARI router for comparison")
	fs.DurationVar(&o.ConnectTimeout, "connect-timeout", 60e9, "simulator: a caller not connected by then is lost")
	fs.StringVar(&o.Driver, "driver", "lean", "simulator: who plays the phones: lean (the bench's own load generator) or phones (the e2e driver)")

	real := fs.Bool("asterisk", false, "measure against a real Asterisk: a throwaway one from the kit, or --ari-url")
	var ro bench.AsteriskOptions
	fs.StringVar(&ro.Kit, "kit", "", "the Asterisk kit (default $HOTLINE_ASTERISK_KIT, else ../shared/asterisk beside the checkout)")
	fs.StringVar(&ro.URL, "ari-url", "", "an Asterisk you run instead of the kit's: its ARI base, http://HOST:PORT/ari")
	fs.StringVar(&ro.User, "ari-user", "hotline", "with --ari-url: the ari.conf user")
	pwFile := fs.String("ari-password-file", "", "with --ari-url: a file holding the ARI password (or set $HOTLINE_BENCH_ARI_PASSWORD)")
	fs.StringVar(&ro.Etc, "asterisk-etc", "", "with --ari-url: its configuration directory; the bench writes "+
		"hotline-bench-extensions.conf and hotline-bench-queues.conf there (include them from extensions.conf and queues.conf) and reloads them")
	fs.IntVar(&ro.PID, "asterisk-pid", 0, "with --ari-url: its process id, to measure its CPU (same machine only)")
	fs.IntVar(&ro.Rounds, "rounds", 60, "--asterisk: handoff rounds per series")
	fs.IntVar(&ro.Depth, "depth", 3, "--asterisk: callers waiting ahead in the handoff series")
	fs.DurationVar(&ro.Announce, "announce", 3*time.Second, "--asterisk: announcement interval of the announcing handoff series (both systems)")
	fs.DurationVar(&ro.Talk, "talk", 200*time.Millisecond, "--asterisk: how long an agent talks before hanging up")
	rates := fs.String("rates", formatRates(bench.DefaultRates), "--asterisk: Poisson arrival rates, calls per second")
	fs.DurationVar(&ro.Duration, "duration", 20*time.Second, "--asterisk: how long each rate is offered")
	fs.DurationVar(&ro.Drain, "drain", 15*time.Second, "--asterisk: after a rate, how long stragglers may take before they are hung up")
	fs.Float64Var(&ro.DecisionRate, "decision-rate", 20, "--asterisk: the light load at which StasisStart → agent originate is timed, calls per second")
	fs.DurationVar(&ro.DecisionDuration, "decision-duration", 10*time.Second, "--asterisk: how long the light load is offered")
	fs.BoolVar(&ro.KeepGoing, "keep-going", false, "--asterisk: offer every rate even to a system that failed a lower one")
	systems := fs.String("systems", "app_queue,hotline,floor", "--asterisk: the systems to measure")
	skip := fs.String("skip", "", "--asterisk: parts to leave out: handoff, announce, decision, capacity (comma-separated)")
	fs.Uint64Var(&ro.Seed, "seed", 1, "--asterisk: seed of the Poisson arrivals")
	fs.BoolVar(&ro.Keep, "keep", false, "--asterisk: keep the throwaway Asterisk's directory (logs, the daemon's configuration) afterwards")
	floorRouter := fs.String("floor-router", "", "run only the bench's bare ARI router from this file (the bench starts it so)")

	verbose := fs.Bool("v", false, "log warnings to stderr; --asterisk: also print the daemon's own request times per rate")
	cpuProfile := fs.String("cpuprofile", "", "simulator: write a CPU profile of the whole run to this file")
	blockProfile := fs.String("blockprofile", "", "simulator: write a profile of goroutines blocked on channels, selects and locks to this file")
	mutexProfile := fs.String("mutexprofile", "", "simulator: write a profile of contended mutexes to this file")
	allocProfile := fs.String("allocprofile", "", "simulator: write a profile of the run's allocations to this file")
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
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if *floorRouter != "" {
		fo, err := bench.LoadFloorConfig(*floorRouter)
		if err != nil {
			return err
		}
		fo.Logger = log
		return bench.RunFloor(ctx, fo)
	}
	if *real {
		ro.Agents, ro.Logger, ro.Progress = o.Agents, log, stderr
		var err error
		if ro.Rates, err = parseRates(*rates); err != nil {
			return err
		}
		ro.Systems, ro.Skip = splitList(*systems), splitList(*skip)
		if ro.URL != "" {
			if ro.Password, err = benchPassword(*pwFile); err != nil {
				return err
			}
		}
		if ro.Executable, err = os.Executable(); err != nil {
			return fmt.Errorf("find the hotline executable: %w", err)
		}
		return runRealBench(ctx, ro, stdout, *verbose)
	}

	o.Logger = log
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
	switch {
	case !rep.OK():
		return exitError(benchExitFailed)
	case !rep.TargetsMet():
		return exitError(benchExitMissed)
	}
	return nil
}

// runRealBench runs bench.RunAsterisk and prints its report.
func runRealBench(ctx context.Context, o bench.AsteriskOptions, stdout io.Writer, internals bool) error {
	rep, err := bench.RunAsterisk(ctx, o)
	if rep != nil {
		if werr := rep.WriteTable(stdout); werr != nil && err == nil {
			err = werr
		}
		if internals {
			fmt.Fprintln(stdout)
			rep.WriteInternals(stdout)
		}
	}
	if err != nil {
		return err
	}
	if !rep.OK() {
		return exitError(benchExitMissed)
	}
	return nil
}

// benchPassword reads the ARI password of --ari-url from a file or
// $HOTLINE_BENCH_ARI_PASSWORD: never from the command line.
func benchPassword(file string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("ari password: %w", err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	if pw := os.Getenv("HOTLINE_BENCH_ARI_PASSWORD"); pw != "" {
		return pw, nil
	}
	return "", errors.New("--ari-url needs --ari-password-file FILE or $HOTLINE_BENCH_ARI_PASSWORD")
}

func formatRates(rates []float64) string {
	parts := make([]string, len(rates))
	for i, r := range rates {
		parts[i] = strconv.FormatFloat(r, 'f', -1, 64)
	}
	return strings.Join(parts, ",")
}

func parseRates(s string) ([]float64, error) {
	var out []float64
	for _, f := range splitList(s) {
		r, err := strconv.ParseFloat(f, 64)
		if err != nil || r <= 0 {
			return nil, fmt.Errorf("--rates: %q is not a positive number", f)
		}
		out = append(out, r)
	}
	return out, nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
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
