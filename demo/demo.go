// Package demo runs the whole hotline on one machine with nothing
// installed: the simulated Asterisk (asterisksim, real HTTP and websocket
// on 127.0.0.1), an embedded Redis-compatible store (miniredis), the daemon
// itself (app) with its API, agent desk and metrics, and scripted callers
// and agents that make traffic through the phones driver. `hotline demo`
// is its command line; the test runs the same thing for a few seconds.
//
// Lifecycle: Start builds and starts everything and returns once the
// daemon is ready and traffic flows; Stop ends the traffic (every scripted
// phone hangs up), stops the daemon, then the phones, the simulator and the
// store, and waits for every goroutine it started.
package demo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotline-project/hotline/api"
	"github.com/hotline-project/hotline/app"
	"github.com/hotline-project/hotline/asterisksim"
	"github.com/hotline-project/hotline/desk"
	"github.com/hotline-project/hotline/dialplan"
	"github.com/hotline-project/hotline/internal/stack"
	"github.com/hotline-project/hotline/phones"
)

// Defaults of Options.
const (
	DefaultListen       = "127.0.0.1:8080"
	DefaultRate         = 30.0 // calls per minute: one every two seconds
	DefaultSummaryEvery = 5 * time.Second
	// readyTimeout bounds waiting for the daemon and the phones to connect
	// to the simulator: both are local, so anything slower is broken.
	readyTimeout = 10 * time.Second
	ariUser      = "hotline"
)

// Errors of the demo.
var (
	// ErrNotReady: the daemon or the phones did not connect in time.
	ErrNotReady = errors.New("demo not ready")
	// ErrBadOptions: an option is out of range.
	ErrBadOptions = errors.New("invalid demo options")
)

// Options configure a demo.
type Options struct {
	// Listen is the HTTP address of the API, desk and metrics; "" means
	// DefaultListen. If it is taken the demo listens on a free port of
	// 127.0.0.1 instead and says so on Out.
	Listen string
	// Rate is the mean arrival rate of callers in calls per minute
	// (Poisson); 0 means DefaultRate.
	Rate float64
	// Seed seeds the traffic script's random choices; 0 picks one from
	// the clock.
	Seed int64
	// Logger receives the daemon's, the simulator's and the phones' logs;
	// nil discards them.
	Logger *slog.Logger
	// Out receives the banner and the live summary lines; nil discards.
	Out io.Writer
	// SummaryEvery is the period of the summary line; 0 means
	// DefaultSummaryEvery, negative turns it off.
	SummaryEvery time.Duration
	// Pace scales every duration of the show: simulated prompts (about a
	// second each at 1) and the scripted callers' and agents' thinking,
	// ringing and talking. 0 means 1, the pace for a person watching; the
	// test runs faster. The daemon's own timers (ring timeout, wrap-up)
	// come from the configuration and are not scaled.
	Pace    float64
	Version string
}

// Tokens are the demo's API bearer tokens, made fresh at every start.
type Tokens struct {
	Admin  string
	Senior string
	Agents map[string]string // agent id → token
}

// Demo is one running demo.
type Demo struct {
	opts   Options
	log    *slog.Logger
	cfg    *dialplan.Config
	tokens Tokens

	sim    *asterisksim.Server
	simURL string
	// simSrv serves the simulator: ours rather than its own Start, so that
	// Stop can close connections the ARI clients opened and never used
	// (a graceful shutdown waits five seconds for those).
	simSrv  *http.Server
	simDone chan error
	store   *miniredis.Miniredis
	app     *app.App
	phones  *stack.Phones
	client  *apiClient

	listenNote string // why the listen address differs from the asked one

	trafficCancel context.CancelFunc
	traffic       *traffic
	wg            sync.WaitGroup // traffic and summary goroutines
	stopOnce      sync.Once
	stopErr       error
}

// Start builds and starts the whole demo. On failure everything started so
// far is stopped again.
func Start(ctx context.Context, opts Options) (_ *Demo, err error) {
	if opts.Rate < 0 || opts.Pace < 0 {
		return nil, fmt.Errorf("start demo: %w: rate and pace must not be negative", ErrBadOptions)
	}
	if opts.Listen == "" {
		opts.Listen = DefaultListen
	}
	if opts.Rate == 0 {
		opts.Rate = DefaultRate
	}
	if opts.Seed == 0 {
		opts.Seed = time.Now().UnixNano()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	if opts.SummaryEvery == 0 {
		opts.SummaryEvery = DefaultSummaryEvery
	}
	if opts.Pace == 0 {
		opts.Pace = 1
	}
	d := &Demo{opts: opts, log: opts.Logger.With("component", "demo")}
	defer func() {
		if err != nil {
			stopCtx, cancel := context.WithTimeout(context.Background(), readyTimeout)
			defer cancel()
			_ = d.Stop(stopCtx)
		}
	}()

	ariPassword := secret()
	d.sim = asterisksim.New(asterisksim.Options{
		Username: ariUser, Password: ariPassword,
		Logger:           opts.Logger.With("component", "asterisksim"),
		PlaybackDuration: playbackDuration(opts.Pace),
	})
	simLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("start simulated Asterisk: %w", err)
	}
	d.simURL = "http://" + simLn.Addr().String() + "/ari"
	d.simSrv = &http.Server{Handler: d.sim.Handler(), ReadHeaderTimeout: 10 * time.Second}
	d.simDone = make(chan error, 1)
	go func() { d.simDone <- d.simSrv.Serve(simLn) }()
	d.store = miniredis.NewMiniRedis()
	if err := d.store.StartAddr("127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("start embedded store: %w", err)
	}

	if d.cfg, err = Config(d.simURL, d.store.Addr()); err != nil {
		return nil, err
	}
	d.tokens = newTokens(d.cfg)
	listen, note := freeListen(opts.Listen)
	d.listenNote = note

	// The daemon dials the embedded store itself: the configuration names it.
	readyCtx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	d.app, err = stack.Daemon(readyCtx, app.Options{
		Config: d.cfg, Logger: opts.Logger,
		ARIPassword: &ariPassword, Listen: listen,
		Authenticate: api.StaticTokens(d.tokens.grants()),
		Desk:         desk.New(desk.Options{Product: "hotline demo"}),
		Version:      opts.Version,
	})
	if errors.Is(err, stack.ErrNotReady) {
		return nil, fmt.Errorf("start demo: %w: %w", ErrNotReady, err)
	} else if err != nil {
		return nil, fmt.Errorf("start demo: %w", err)
	}
	d.phones, err = stack.StartPhones(readyCtx, phones.Options{
		URL: d.simURL, Username: ariUser, Password: ariPassword,
		// Called-back callers answer by themselves; agents' phones are
		// answered by the script, after a ring.
		DefaultAnswer: phones.AnswerAuto,
		ReconnectMin:  100 * time.Millisecond, ReconnectMax: 2 * time.Second,
		Logger: opts.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("start demo: %w: %w", ErrNotReady, err)
	}
	for _, ag := range d.cfg.Agents {
		d.phones.Agent(ag.ID).SetAnswer(phones.AnswerNever)
	}
	d.client = newAPIClient(d.app.URL())

	trafficCtx, trafficCancel := context.WithCancel(context.Background())
	d.trafficCancel = trafficCancel
	d.traffic = newTraffic(d, opts.Seed)
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		d.traffic.run(trafficCtx)
	}()
	if opts.SummaryEvery > 0 {
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			d.summaries(trafficCtx)
		}()
	}
	return d, nil
}

// Stop ends the traffic, then the daemon (under ctx), the phones, the
// simulator and the store. It waits for every goroutine the demo started
// and may be called more than once.
func (d *Demo) Stop(ctx context.Context) error {
	d.stopOnce.Do(func() { d.stopErr = d.stop(ctx) })
	return d.stopErr
}

func (d *Demo) stop(ctx context.Context) error {
	var errs []error
	if d.trafficCancel != nil {
		// Scripted phones hang up as their goroutines leave, so the daemon
		// finds no live call to wait for.
		d.trafficCancel()
	}
	start := time.Now()
	d.wg.Wait()
	d.log.Debug("traffic stopped", "took", time.Since(start))
	if d.app != nil {
		if err := d.app.Stop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop daemon: %w", err))
		}
		d.log.Debug("daemon stopped", "took", time.Since(start))
	}
	if d.phones != nil {
		if err := d.phones.Stop(); err != nil {
			errs = append(errs, fmt.Errorf("stop %w", err))
		}
		d.log.Debug("phones stopped", "took", time.Since(start))
	}
	if d.client != nil {
		d.client.close()
	}
	if d.sim != nil {
		// Closes the websockets; the HTTP connections are ours to close.
		if err := d.sim.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop simulated Asterisk: %w", err))
		}
	}
	if d.simSrv != nil {
		_ = d.simSrv.Close()
		if err := <-d.simDone; err != nil && !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, fmt.Errorf("serve simulated Asterisk: %w", err))
		}
	}
	if d.store != nil {
		d.store.Close()
	}
	d.log.Debug("demo stopped", "took", time.Since(start))
	return errors.Join(errs...)
}

// Run starts the demo, prints where to look, runs until ctx ends or the
// daemon fails, and stops within stopTimeout.
func Run(ctx context.Context, opts Options, stopTimeout time.Duration) error {
	d, err := Start(ctx, opts)
	if err != nil {
		return err
	}
	d.PrintBanner(d.opts.Out)
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-d.app.Err():
	}
	// Read before stopping: the gauges come from the store, gone after.
	final, serr := d.Stats()
	fmt.Fprintln(d.opts.Out, "stopping…")
	stopCtx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	err = errors.Join(runErr, d.Stop(stopCtx))
	if serr == nil {
		fmt.Fprintln(d.opts.Out, "final: "+final.Line())
	}
	return err
}

// URL is the daemon's HTTP base, e.g. http://127.0.0.1:8080.
func (d *Demo) URL() string { return d.app.URL() }

// Tokens are the demo's API tokens.
func (d *Demo) Tokens() Tokens { return d.tokens }

// Registry is the daemon's metrics registry.
func (d *Demo) Registry() *prometheus.Registry { return d.app.Registry() }

// Err reports a daemon loop that failed on its own.
func (d *Demo) Err() <-chan error { return d.app.Err() }

// PrintBanner writes where to look and the tokens to use.
func (d *Demo) PrintBanner(w io.Writer) {
	base := d.URL()
	if d.listenNote != "" {
		fmt.Fprintln(w, d.listenNote)
	}
	fmt.Fprintf(w, `hotline demo: simulated Asterisk, embedded store, %d agents, ~%.0f calls/minute (seed %d)

  agent desk & wallboard  %s/
  API                     %s/api/v1/   (e.g. curl -H 'Authorization: Bearer %s' %s/api/v1/calls)
  metrics                 %s/metrics
  simulated Asterisk ARI  %s

tokens (paste one into the desk; they change at every start):
  admin   %s
  senior  %s
`, len(d.cfg.Agents), d.opts.Rate, d.opts.Seed, base, base, d.tokens.Admin, base, base, d.simURL, d.tokens.Admin, d.tokens.Senior)
	for _, ag := range d.cfg.Agents {
		fmt.Fprintf(w, "  agent %s %s  (%s)\n", ag.ID, d.tokens.Agents[ag.ID], ag.Name)
	}
	fmt.Fprintln(w)
}

// summaries prints a summary line every SummaryEvery until ctx ends.
func (d *Demo) summaries(ctx context.Context) {
	t := time.NewTicker(d.opts.SummaryEvery)
	defer t.Stop()
	start := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s, err := d.Stats()
		if err != nil {
			d.log.Warn("summary", "err", err)
			continue
		}
		el := time.Since(start).Round(time.Second)
		fmt.Fprintf(d.opts.Out, "[%s] %s\n", el, s.Line())
	}
}

// playbackDuration makes prompts last about a second (scaled) and spoken
// numbers and digits a third of that, so a call's steps can be followed by
// eye in the logs and the desk.
func playbackDuration(scale float64) func(string) time.Duration {
	return func(media string) time.Duration {
		d := 900 * time.Millisecond
		if len(media) < 6 || media[:6] != "sound:" {
			d = 300 * time.Millisecond
		}
		return time.Duration(float64(d) * scale)
	}
}

// freeListen returns addr if it can be bound now, else a free port on
// 127.0.0.1 and a note saying so. The probe is closed before the daemon
// binds: a port taken in between makes Start fail with a clear error.
func freeListen(addr string) (string, string) {
	ln, err := net.Listen("tcp", addr)
	if err == nil {
		_ = ln.Close()
		return addr, ""
	}
	return "127.0.0.1:0", fmt.Sprintf("note: %s is not free (%v); listening on a free port instead", addr, err)
}

// secret is 20 random bytes in hex, like `openssl rand -hex 20`.
func secret() string {
	var b [20]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}

func newTokens(cfg *dialplan.Config) Tokens {
	t := Tokens{Admin: secret(), Senior: secret(), Agents: make(map[string]string, len(cfg.Agents))}
	for _, ag := range cfg.Agents {
		t.Agents[ag.ID] = secret()
	}
	return t
}

func (t Tokens) grants() map[string]api.Token {
	g := map[string]api.Token{
		t.Admin:  {Role: api.RoleAdmin},
		t.Senior: {Role: api.RoleSenior},
	}
	for id, s := range t.Agents {
		g[s] = api.Token{Role: api.RoleAgent, AgentID: id}
	}
	return g
}
