// Command hotline routes a support hotline's calls through Asterisk's ARI.
//
//	hotline serve --config FILE   run the daemon
//	hotline check --config FILE   validate a configuration (--ari: and the Asterisk it names)
//	hotline prompts --out DIR     synthesize every prompt the configuration plays
//	hotline demo                  the whole hotline on this machine, simulated
//	hotline bench [--asterisk]    measure routing: against a simulated Asterisk, or beside app_queue on a real one
//	hotline version               print the version
//
// main only parses the command line, wires signals and exits; the daemon
// itself lives in package app so tests can run it in-process.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"syscall"

	"github.com/hotline-project/hotline/dialplan"
)

// version is set at link time: -ldflags "-X main.version=1.2.3".
var version = "dev"

const usage = `usage: hotline <command> [flags]

commands:
  serve --config FILE   run the daemon
  check --config FILE   validate a configuration file, and read the secrets and API tokens it names
        [--ari]         and check the Asterisk it names (sounds, agents, version, ARI user)
        [--no-secrets]  the file alone, away from the machine that holds its secrets
  prompts --out DIR     synthesize every prompt of --config FILE into Asterisk's sounds DIR
  demo                  run the whole hotline here with a simulated Asterisk
  bench                 measure routing against a simulated Asterisk and Redis (a regression bench)
        [--asterisk]    against a real Asterisk, beside its app_queue and a bare ARI router
  version               print the version
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	reload := make(chan struct{}, 1)
	go relayReloads(ctx, hup, reload)
	code := run(ctx, reload, os.Args[1:], os.Stdout, os.Stderr)
	signal.Stop(hup)
	stop()
	os.Exit(code)
}

// relayReloads turns SIGHUPs into reload requests without ever blocking:
// a SIGHUP while a request is still pending merges with it, since one
// reload reads the newest file anyway. It ends with ctx.
func relayReloads(ctx context.Context, hup <-chan os.Signal, reload chan<- struct{}) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			select {
			case reload <- struct{}{}:
			default:
			}
		}
	}
}

// run executes one command and returns the process exit code. reload
// carries SIGHUP to serve (nil: never).
func run(ctx context.Context, reload <-chan struct{}, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	var err error
	switch cmd {
	case "check":
		err = runCheck(ctx, rest, stdout, stderr)
	case "prompts":
		err = runPrompts(ctx, rest, stdout, stderr)
	case "serve":
		err = runServe(ctx, reload, rest, stderr)
	case "demo":
		err = runDemo(ctx, rest, stdout, stderr)
	case "bench":
		err = runBench(ctx, rest, stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintf(stdout, "hotline %s (%s)\n", version, runtime.Version())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "hotline: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	var exit exitError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &exit):
		return int(exit)
	default:
		fmt.Fprintf(stderr, "hotline %s: %v\n", cmd, err)
		return 1
	}
}

// exitError ends the command with a code after it has printed its own report.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit %d", int(e)) }

func configFlag(name string, args []string, stderr io.Writer) (string, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file (YAML)")
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	if *path == "" {
		return "", errors.New("--config FILE is required")
	}
	return *path, nil
}

// runCheck validates a configuration: every problem as FILE:LINE: message
// and exit 1, or warnings and a one-line summary and exit 0. Like serve,
// it reads every secret the file names (ARI and Redis passwords, the API
// tokens; dialplan.Config.CheckSecrets), so a setup check passes does not
// fail serve over them; --no-secrets checks the file alone. No secret is
// ever printed.
// With --ari it then connects to the configured Asterisk and reports what
// the hotline needs there and lacks (runCheckARI).
func runCheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "configuration file (YAML)")
	withARI := fs.Bool("ari", false, "also connect to the configured Asterisk and check what the hotline needs there")
	noSecrets := fs.Bool("no-secrets", false, "do not read the password files, variables and API tokens the file names")
	if err := fs.Parse(args); err != nil {
		return err
	}
	path := *configPath
	if path == "" {
		return errors.New("--config FILE is required")
	}
	cfg, err := dialplan.Load(path)
	var problems dialplan.Problems
	if err != nil && !errors.As(err, &problems) {
		return err
	}
	if !*noSecrets {
		// Also when the file has problems: every problem at once.
		if err := cfg.CheckSecrets(); err != nil {
			var secrets dialplan.Problems
			if !errors.As(err, &secrets) {
				return err
			}
			problems = append(problems, secrets...)
		}
	}
	if len(problems) > 0 {
		// The configuration's own lines in order, then the tokens file's.
		slices.SortStableFunc(problems, func(a, b dialplan.Problem) int {
			if (a.File == path) != (b.File == path) {
				if a.File == path {
					return -1
				}
				return 1
			}
			if a.File != path {
				return 0
			}
			return a.Line - b.Line
		})
		for _, p := range problems {
			fmt.Fprintln(stderr, p)
		}
		fmt.Fprintf(stderr, "%s: %d problem(s)\n", path, countErrors(problems))
		return exitError(1)
	}
	for _, w := range cfg.Warnings() {
		fmt.Fprintln(stderr, w)
	}
	fmt.Fprintln(stdout, cfg.Summary())
	if *withARI {
		return runCheckARI(ctx, cfg, stdout, stderr)
	}
	return nil
}

func countErrors(ps dialplan.Problems) int {
	n := 0
	for _, p := range ps {
		if !p.Warning {
			n++
		}
	}
	return n
}
