// Package harness runs the whole daemon for a test: the simulated
// Asterisk (or a real one, whose address the test brings), a real
// redis-server, the daemon (app.New) with its configuration, and the
// phones driver that plays its callers and agents. Each piece belongs to
// the test that started it and is stopped when the test ends, in the
// reverse order of starting: the daemon before the Asterisk and the Redis
// it uses. Every wait is bounded.
//
// Start builds the common case in one call; the pieces (Sim, Redis,
// Config, StartDaemon, Phones) serve the tests that need another shape (a
// real Asterisk, a daemon with its own Redis client, a Redis that is
// down).
package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hotline-project/hotline/app"
	"github.com/hotline-project/hotline/asterisksim"
	"github.com/hotline-project/hotline/dialplan"
	"github.com/hotline-project/hotline/internal/redistest"
	"github.com/hotline-project/hotline/internal/stack"
	"github.com/hotline-project/hotline/phones"
)

// The simulated Asterisk's ARI account, unless a test names its own.
const (
	ARIUser     = "hotline"
	ARIPassword = "harness-secret"
)

// Limit bounds starting and stopping a piece: generous, so a loaded 2-core
// machine is not a failure; a healthy piece takes milliseconds.
const Limit = 15 * time.Second

// Options shape Start's hotline.
type Options struct {
	// Config is the daemon's YAML (ConfigName, default "test.yaml", for its
	// errors) with {{ARI_URL}} and {{REDIS}} standing for the simulator's
	// URL and the Redis address.
	Config, ConfigName string
	// Sim configures the simulated Asterisk; its account defaults to
	// ARIUser and ARIPassword.
	Sim asterisksim.Options
	// App is the daemon's options: Config, Redis, ARIPassword and Listen
	// are filled in when empty.
	App app.Options
	// Phones starts the phones driver when set (URL and account are
	// filled in).
	Phones *phones.Options
}

// Hotline is one test's running hotline.
type Hotline struct {
	Sim    *asterisksim.Server
	Redis  *redistest.Server
	RDB    *redis.Client
	Config *dialplan.Config
	Daemon *Daemon
	Phones *phones.Driver // nil unless Options.Phones
}

// Start runs the simulated Asterisk, a redis-server, the daemon and (with
// o.Phones) the phones driver for t, and returns once the daemon is ready
// and the phones are connected.
func Start(t testing.TB, o Options) *Hotline {
	t.Helper()
	if o.Sim.Username == "" {
		o.Sim.Username, o.Sim.Password = ARIUser, ARIPassword
	}
	h := &Hotline{Sim: Sim(t, o.Sim)}
	h.Redis, h.RDB = Redis(t)
	name := o.ConfigName
	if name == "" {
		name = "test.yaml"
	}
	h.Config = Config(t, name, o.Config, map[string]string{"ARI_URL": h.Sim.URL(), "REDIS": h.Redis.Addr})
	ao := o.App
	if ao.Config == nil {
		ao.Config = h.Config
	}
	if ao.Redis == nil {
		ao.Redis = h.RDB
	}
	if ao.ARIPassword == nil {
		pw := o.Sim.Password
		ao.ARIPassword = &pw
	}
	h.Daemon = StartDaemon(t, ao)
	if o.Phones != nil {
		po := *o.Phones
		po.URL, po.Username, po.Password = h.Sim.URL(), o.Sim.Username, o.Sim.Password
		h.Phones = Phones(t, po)
	}
	return h
}

// Sim starts a simulated Asterisk for t.
func Sim(t testing.TB, o asterisksim.Options) *asterisksim.Server {
	t.Helper()
	s, err := stack.Sim(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), Limit)
		defer cancel()
		_ = s.Close(ctx)
	})
	return s
}

// Redis starts a redis-server for t and a client of it.
func Redis(t testing.TB) (*redistest.Server, *redis.Client) {
	t.Helper()
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = rdb.Close() })
	return srv, rdb
}

// Config parses a configuration's YAML after replacing each {{KEY}} of
// vars.
func Config(t testing.TB, name, text string, vars map[string]string) *dialplan.Config {
	t.Helper()
	pairs := make([]string, 0, 2*len(vars))
	for k, v := range vars {
		pairs = append(pairs, "{{"+k+"}}", v)
	}
	text = strings.NewReplacer(pairs...).Replace(text)
	cfg, err := dialplan.Parse(name, []byte(text))
	if err != nil {
		t.Fatalf("configuration: %v\n%s", err, text)
	}
	return cfg
}

// ConfigFile is Config of a file (a test's testdata).
func ConfigFile(t testing.TB, path string, vars map[string]string) *dialplan.Config {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return Config(t, path, string(raw), vars)
}

// Daemon is a test's running daemon.
type Daemon struct {
	*app.App
	t    testing.TB
	once sync.Once
}

// StartDaemon runs the daemon for t (Listen defaults to a free loopback
// port) and returns once it is ready.
func StartDaemon(t testing.TB, o app.Options) *Daemon {
	t.Helper()
	d := NewDaemon(t, o)
	d.WaitReady()
	return d
}

// NewDaemon runs the daemon for t and returns at once, ready or not.
func NewDaemon(t testing.TB, o app.Options) *Daemon {
	t.Helper()
	if o.Listen == "" {
		o.Listen = "127.0.0.1:0"
	}
	a, err := app.New(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	d := &Daemon{App: a, t: t}
	t.Cleanup(d.Stop)
	return d
}

// WaitReady waits until the daemon's /readyz answers 200.
func (d *Daemon) WaitReady() {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Limit)
	defer cancel()
	if err := stack.WaitReady(ctx, d.URL()); err != nil {
		d.t.Fatal(err)
	}
}

// Stop stops the daemon, and fails the test if it does not stop cleanly
// within Limit.
func (d *Daemon) Stop() {
	ctx, cancel := context.WithTimeout(context.Background(), Limit)
	defer cancel()
	if err := d.Shutdown(ctx); err != nil {
		d.t.Errorf("stop daemon: %v", err)
	}
}

// Shutdown stops the daemon within ctx, once: the test's end (or a second
// call) then finds it stopped and returns nil.
func (d *Daemon) Shutdown(ctx context.Context) error {
	err := errStopped
	d.once.Do(func() { err = d.App.Stop(ctx) })
	if errors.Is(err, errStopped) {
		return nil
	}
	return err
}

var errStopped = errors.New("stopped before")

// Phones runs a phones driver for t (reconnecting quickly, unless o says
// otherwise) and returns once it is connected.
func Phones(t testing.TB, o phones.Options) *phones.Driver {
	t.Helper()
	if o.ReconnectMin == 0 {
		o.ReconnectMin, o.ReconnectMax = 20*time.Millisecond, 200*time.Millisecond
	}
	ctx, cancel := context.WithTimeout(context.Background(), Limit)
	defer cancel()
	p, err := stack.StartPhones(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Stop(); err != nil {
			t.Errorf("stop %v", err)
		}
	})
	return p.Driver
}

// LogBuffer is a log destination a test reads while the daemon writes.
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String is everything written so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Lines are the JSON records written so far; a line that is not JSON
// fails t.
func (l *LogBuffer) Lines(t testing.TB) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Errorf("log line is not JSON: %q", line)
			continue
		}
		out = append(out, m)
	}
	return out
}

// Logger is a test's logger: warnings and up to the test's output, or
// everything to standard error when HOTLINE_TEST_LOG is set.
func Logger(t testing.TB, component string) *slog.Logger {
	if os.Getenv("HOTLINE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name(), "c", component)
	}
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})).With("c", component)
}

// Eventually polls cond every 10 ms for state only an API or metrics
// show, and fails t if it does not hold within limit.
func Eventually(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not %s within %v", what, limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
