// Package bench is `hotline bench`: it runs the real daemon in-process
// (app.New) against the simulated Asterisk on loopback HTTP and websocket
// and a real redis-server, places callers and plays agents through the
// phones driver, and measures what docs/performance.md promises: calls/s sustained,
// StasisStart → agent originate latency, agent freed → next waiting
// caller's agent originated, transfer-check latency, Redis round trips per
// call, memory per active call and goroutines.
//
// Latencies are taken on the Asterisk side of the wire by a Tap around the
// simulator's handler, so they include the websocket, the daemon's event
// handling, Redis and the REST request, as a capture beside a real
// Asterisk would. Everything shares one process and two cores: the figures
// are an upper bound of what the daemon alone costs.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hotline-project/hotline/api"
	"github.com/hotline-project/hotline/app"
	"github.com/hotline-project/hotline/asterisksim"
	"github.com/hotline-project/hotline/dialplan"
	"github.com/hotline-project/hotline/internal/redisproc"
	"github.com/hotline-project/hotline/phones"
	"github.com/hotline-project/hotline/routing"
)

// ErrNoRedis: redis-server is not installed.
var ErrNoRedis = errors.New("redis-server not found in PATH: apt-get install redis-server")

// ErrBadOptions wraps a rejected Options value.
var ErrBadOptions = errors.New("bad bench options")

// Options choose the scenarios. Calls > 0 runs the throughput scenario
// (Calls callers at Rate calls/s, Agents agents, each call held Hold after
// the agent is connected); Concurrent > 0 runs the held-calls scenario
// (Concurrent callers waiting at once, for memory and goroutines).
type Options struct {
	Calls  int
	Rate   float64 // calls per second
	Agents int
	Hold   time.Duration
	// Poisson spaces arrivals exponentially (mean 1/Rate) instead of evenly.
	Poisson bool
	// Concurrent callers held at once; placed at Rate.
	Concurrent int
	// TransferEvery: one connected call in this many gets a transfer
	// check (0 means 10).
	TransferEvery int
	// ConnectTimeout: a caller not connected to an agent by then is lost
	// (0 means 60 s).
	ConnectTimeout time.Duration
	// Logger receives the daemon's, simulator's and phones' diagnostics;
	// nil discards them.
	Logger *slog.Logger
	// Progress, when set, gets a line per phase.
	Progress io.Writer
	// Driver plays the phones: DriverLean (default) or DriverPhones.
	Driver string
	// HandoffRounds > 0 runs the handoff scenario: one agent, callers
	// queued ahead, this many agent calls ended with a caller waiting.
	HandoffRounds int
	// NoFloor skips the bare ARI router's run of the same scenarios.
	NoFloor bool
}

// Phone drivers.
const (
	// DriverLean is the bench's own load generator (see leanDriver).
	DriverLean = "lean"
	// DriverPhones is the phones package, as the end-to-end suite uses it.
	DriverPhones = "phones"
)

func (o *Options) defaults() error {
	if o.TransferEvery <= 0 {
		o.TransferEvery = 10
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 60 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Driver == "" {
		o.Driver = DriverLean
	}
	switch {
	case o.Calls < 0 || o.Concurrent < 0 || o.Agents < 0 || o.Hold < 0:
		return fmt.Errorf("%w: negative value", ErrBadOptions)
	case o.Calls == 0 && o.Concurrent == 0:
		return fmt.Errorf("%w: nothing to do (--calls or --concurrent)", ErrBadOptions)
	case o.Rate <= 0:
		return fmt.Errorf("%w: --rate must be positive", ErrBadOptions)
	case o.Calls > 0 && o.Agents == 0:
		return fmt.Errorf("%w: --calls needs --agents", ErrBadOptions)
	case o.Driver != DriverLean && o.Driver != DriverPhones:
		return fmt.Errorf("%w: driver %q is neither %s nor %s", ErrBadOptions, o.Driver, DriverLean, DriverPhones)
	}
	return nil
}

// topics and their service numbers; every agent takes two of them, so a
// wrong pick is visible.
var benchTopics = [...]struct{ name, number string }{
	{"connections", "100"},
	{"audit", "200"},
	{"service", "300"},
}

func agentID(i int) string { return strconv.Itoa(5000 + i) }

func agentTopics(i int) []string {
	return []string{benchTopics[i%3].name, benchTopics[(i+1)%3].name}
}

// env is the running system under test.
type env struct {
	opts         Options
	rs           *redisproc.Server
	sim          *asterisksim.Server
	simSrv       *http.Server
	url          string
	rdb          *redis.Client
	redis        *redisCounter
	rec          *Recorder
	floorRec     *Recorder // the floor's calls, seen by a Tap of its own
	app          *app.App
	phones       lineDriver
	idle         lineDriver // callers that never reach the hotline (memory baseline)
	floorCallers lineDriver // callers of the floor router (lean driver only)
	cancel       context.CancelFunc
	wg           sync.WaitGroup
}

const (
	ariUser      = "hotline"
	ariPassword  = "bench-secret"
	idleContext  = "bench-idle"
	agentContext = "bench-agents" // the lean driver's agents' phones
	leanApp      = "bench-lean"
	simFloorApp  = "bench-floor" // the floor router's application and context
)

func start(ctx context.Context, o Options) (_ *env, err error) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		return nil, ErrNoRedis
	}
	e := &env{opts: o, redis: &redisCounter{}}
	defer func() {
		if err != nil {
			e.stop()
		}
	}()
	if e.rs, err = redisproc.Start(); err != nil {
		return nil, fmt.Errorf("start redis-server: %w", err)
	}

	topicOf := make(map[string]string)
	for _, t := range benchTopics {
		topicOf[t.number] = t.name
	}
	agents := make(map[string][]string, o.Agents)
	for i := range o.Agents {
		agents[agentID(i)] = agentTopics(i)
	}
	e.rec = NewRecorder(topicOf, agents)
	e.floorRec = NewRecorder(topicOf, agents)
	floor := o.Driver == DriverLean && !o.NoFloor

	dp := asterisksim.DefaultDialplan()
	dp[idleContext] = asterisksim.BehaviourAnswerWait
	dp[agentContext] = asterisksim.Behaviour("stasis:" + leanApp + "," + ringArg + ",${EXTEN}")
	dp[simFloorApp] = asterisksim.Behaviour("stasis:" + simFloorApp + ",${EXTEN}")
	e.sim = asterisksim.New(asterisksim.Options{Username: ariUser, Password: ariPassword, Dialplan: dp,
		Logger: o.Logger.With("component", "asterisksim")})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	e.simSrv = &http.Server{Handler: NewTap(NewTap(e.sim.Handler(), "hotline", e.rec), simFloorApp, e.floorRec),
		ReadHeaderTimeout: 10 * time.Second}
	e.url = "http://" + ln.Addr().String() + "/ari"
	go func() { _ = e.simSrv.Serve(ln) }() // ends with Shutdown in stop

	phonesContext := agentContext
	if o.Driver == DriverPhones {
		phonesContext = "phones"
	}
	cfg, err := dialplan.Parse("bench.yaml", []byte(config(e.url, e.rs.Addr, o.Agents, phonesContext)))
	if err != nil {
		return nil, fmt.Errorf("bench configuration: %w", err)
	}
	e.rdb = redis.NewClient(&redis.Options{Addr: e.rs.Addr, ContextTimeoutEnabled: true, PoolSize: 64})
	e.rdb.AddHook(e.redis)
	pw := ariPassword
	e.app, err = app.New(app.Options{Config: cfg, Redis: e.rdb, ARIPassword: &pw, Listen: "127.0.0.1:0",
		Authenticate: api.StaticTokens(nil), Logger: o.Logger.With("component", "hotline"), Version: "bench"})
	if err != nil {
		return nil, fmt.Errorf("new daemon: %w", err)
	}
	if err := e.app.Start(ctx); err != nil {
		e.app = nil
		return nil, fmt.Errorf("start daemon: %w", err)
	}

	runCtx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	var agentPhones *phones.Driver
	if o.Driver == DriverPhones {
		if agentPhones, err = e.driver("phones", "hotline"); err != nil {
			return nil, err
		}
		e.phones = phonesDriver{agentPhones}
		if o.Concurrent > 0 {
			idle, err := e.driver("bench-idle", idleContext)
			if err != nil {
				return nil, err
			}
			e.idle = phonesDriver{idle}
		}
	} else {
		log := o.Logger.With("component", "lean")
		if e.phones, err = newLeanDriver(e.url, ariUser, ariPassword, leanApp, "hotline", log); err != nil {
			return nil, err
		}
		if o.Concurrent > 0 {
			if e.idle, err = newLeanDriver(e.url, ariUser, ariPassword, leanApp+"-idle", idleContext, log); err != nil {
				return nil, err
			}
		}
		if floor {
			if e.floorCallers, err = newLeanDriver(e.url, ariUser, ariPassword, leanApp+"-floor", simFloorApp, log); err != nil {
				return nil, err
			}
		}
	}
	if floor && o.Calls > 0 {
		// The floor router: the same agents' phones (answered by the lean
		// driver in agentContext), in the same simulator, in-process as
		// everything here.
		ids := make([]string, o.Agents)
		for i := range ids {
			ids[i] = agentID(i)
		}
		ready := make(chan struct{})
		fo := FloorOptions{URL: e.url, User: ariUser, Password: ariPassword, App: simFloorApp, Agents: ids,
			AgentContext: agentContext, Logger: o.Logger.With("component", "floor"), Ready: ready}
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			_ = RunFloor(runCtx, fo)
		}()
		select {
		case <-ready:
		case <-time.After(15 * time.Second):
			return nil, errors.New("floor router did not connect")
		}
	}
	for _, d := range e.drivers() {
		if d == nil {
			continue
		}
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			_ = d.Run(runCtx)
		}()
	}
	// Agents answer by themselves; their ring channels are drained so the
	// driver never reports a full buffer.
	for id := range agents {
		if agentPhones == nil {
			break
		}
		line := agentPhones.Agent(id)
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			for {
				select {
				case <-runCtx.Done():
					return
				case <-line.Ringing():
				}
			}
		}()
	}
	readyCtx, cancelReady := context.WithTimeout(ctx, 15*time.Second)
	defer cancelReady()
	if err := e.ready(readyCtx); err != nil {
		return nil, err
	}
	return e, nil
}

func (e *env) driver(app, callerContext string) (*phones.Driver, error) {
	d, err := phones.New(phones.Options{URL: e.url, Username: ariUser, Password: ariPassword, App: app,
		CallerContext: callerContext, DefaultAnswer: phones.AnswerAuto,
		ReconnectMin: 50 * time.Millisecond, ReconnectMax: 500 * time.Millisecond,
		Logger: e.opts.Logger.With("component", app)})
	if err != nil {
		return nil, fmt.Errorf("phones driver: %w", err)
	}
	return d, nil
}

// ready waits for the daemon's readiness and the drivers' websockets.
func (e *env) ready(ctx context.Context) error {
	for _, d := range e.drivers() {
		if err := d.Ready(ctx); err != nil {
			return err
		}
	}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.app.URL()+"/readyz", nil)
		if err != nil {
			return fmt.Errorf("daemon ready: %w", err)
		}
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("daemon ready: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (e *env) drivers() []lineDriver {
	var out []lineDriver
	for _, d := range []lineDriver{e.phones, e.idle, e.floorCallers} {
		if d != nil {
			out = append(out, d)
		}
	}
	return out
}

func (e *env) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if e.cancel != nil {
		e.cancel()
		e.wg.Wait()
	}
	if e.app != nil {
		_ = e.app.Stop(ctx)
	}
	if e.rdb != nil {
		_ = e.rdb.Close()
	}
	if e.sim != nil {
		_ = e.sim.Close(ctx)
	}
	if e.simSrv != nil {
		_ = e.simSrv.Shutdown(ctx)
	}
	if e.rs != nil {
		e.rs.Stop()
	}
}

// config is the daemon's configuration: three topics, agents played by the
// phones driver, no wrap-up (a freed agent is free at once, so "freed →
// next originate" measures routing, not a timer) and no survey.
func config(ariURL, redisAddr string, agents int, phonesContext string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `ari:
  url: %s
  username: %s
  password_env: HOTLINE_BENCH_UNUSED
redis:
  addrs: [%s]
node:
  name: bench
topics:
`, ariURL, ariUser, redisAddr)
	for _, t := range benchTopics {
		fmt.Fprintf(&b, "  %s: {description: %s}\n", t.name, t.name)
	}
	b.WriteString("numbers:\n")
	for _, t := range benchTopics {
		fmt.Fprintf(&b, "  %q: {topic: %s}\n", t.number, t.name)
	}
	b.WriteString("queue:\n  wrap_up: 0s\n  ring_timeout: 15s\nsurvey:\n  enabled: false\n")
	if agents > 0 {
		b.WriteString("agents:\n")
	}
	for i := range agents {
		fmt.Fprintf(&b, "  - {id: %q, name: agent%d, endpoint: Local/%s@%s, topics: [%s]}\n",
			agentID(i), i, agentID(i), phonesContext, strings.Join(agentTopics(i), ", "))
	}
	return b.String()
}

// Run starts everything, runs the chosen scenarios, stops everything and
// returns the figures. A Report with lost or misrouted calls is returned
// with a nil error; Report.OK says whether the run passed.
func Run(ctx context.Context, o Options) (*Report, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	fmt.Fprintf(o.Progress, "bench: starting redis-server, simulated Asterisk, daemon and phones\n")
	e, err := start(ctx, o)
	if err != nil {
		return nil, err
	}
	defer e.stop()
	rep := &Report{Options: o, CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}

	base := settledGoroutines(ctx, -1)
	rep.GoroutinesBaseline = base
	peak := newPeakSampler(ctx)

	if o.Calls > 0 {
		fmt.Fprintf(o.Progress, "bench: %d calls at %.0f/s, %d agents, hold %s, %s driver\n", o.Calls, o.Rate, o.Agents, o.Hold, o.Driver)
		if err := e.throughput(ctx, rep); err != nil {
			return rep, err
		}
	}
	if e.floorCallers != nil && o.Calls > 0 {
		fmt.Fprintf(o.Progress, "bench: the same %d calls through the floor (a bare ARI router)\n", o.Calls)
		if err := e.floorThroughput(ctx, rep); err != nil {
			return rep, err
		}
	}
	if o.HandoffRounds > 0 {
		fmt.Fprintf(o.Progress, "bench: handoff, %d rounds, 1 agent, callers queued ahead\n", o.HandoffRounds)
		if err := e.handoff(ctx, rep); err != nil {
			return rep, err
		}
	}
	if o.Concurrent > 0 {
		fmt.Fprintf(o.Progress, "bench: %d concurrent calls held\n", o.Concurrent)
		if err := e.concurrent(ctx, rep); err != nil {
			return rep, err
		}
	}
	rep.GoroutinesPeak = peak.stop()
	rep.GoroutinesAfter = settledGoroutines(ctx, base)
	rep.SimEventsDropped = e.sim.Stats().EventsDropped
	return rep, nil
}

// throughput places o.Calls callers at o.Rate; each waits for its agent,
// holds o.Hold, hangs up.
func (e *env) throughput(ctx context.Context, rep *Report) error {
	o := e.opts
	for i := range o.Agents {
		if err := e.app.Router.Login(ctx, agentID(i)); err != nil {
			return fmt.Errorf("log in agent %s: %w", agentID(i), err)
		}
	}
	before := e.redis.snapshot()
	eventsBefore := e.sim.Stats().EventsSent
	var (
		mu                      sync.Mutex
		connected, lost, routed int
		lostWhy                 = map[string]int{}
		lastConnect             time.Time
		transferLat             []time.Duration
		transferBad             []string
		transferChecks          atomic.Int64
		transferSeq             atomic.Int64
		transferTrips           atomic.Int64
	)
	fail := func(why string) {
		mu.Lock()
		lost++
		lostWhy[why]++
		mu.Unlock()
	}
	begin, placedIn := e.offer(ctx, func(i int, number string) {
		p, err := e.phones.Call(ctx, number, callerNumber(i))
		if err != nil {
			fail("place call")
			return
		}
		e.rec.link(p.ID(), p.PeerID())
		wctx, cancel := context.WithTimeout(ctx, o.ConnectTimeout)
		err = p.WaitConnected(wctx)
		cancel()
		if err != nil {
			if errors.Is(err, phones.ErrHungUp) || errors.Is(err, errEnded) {
				fail("hung up by the hotline before an agent")
			} else {
				fail("no agent within " + o.ConnectTimeout.String())
			}
			_ = p.Hangup(context.WithoutCancel(ctx))
			return
		}
		callID, agent, topic, ok := e.rec.connected(p.PeerID())
		mu.Lock()
		routed++
		if t := time.Now(); t.After(lastConnect) {
			lastConnect = t
		}
		mu.Unlock()
		if ok && transferSeq.Add(1)%int64(o.TransferEvery) == 0 {
			d, trips, bad := e.transferCheck(ctx, callID, agent, topic)
			transferChecks.Add(1)
			transferTrips.Add(trips)
			mu.Lock()
			if bad != "" {
				transferBad = append(transferBad, bad)
			} else {
				transferLat = append(transferLat, d)
			}
			mu.Unlock()
		}
		_ = sleepCtx(ctx, o.Hold)
		if p.HungUp() {
			fail("hung up by the hotline during the call")
			return
		}
		_ = p.Hangup(context.WithoutCancel(ctx))
		mu.Lock()
		connected++
		mu.Unlock()
	})
	if err := ctx.Err(); err != nil {
		return err
	}
	e.drain(ctx)
	after := e.redis.snapshot()
	events := e.sim.Stats().EventsSent - eventsBefore

	start, freed, misrouted, unknown := e.rec.samples()
	rep.Throughput = &Throughput{
		Calls: o.Calls, Connected: connected, Lost: lost, LostWhy: lostWhy,
		Misrouted: misrouted, UnknownOriginates: unknown,
		OfferedRate:      float64(o.Calls) / placedIn.Seconds(),
		StartToOriginate: start, FreedToOriginate: freed,
		TransferCheck: transferLat, TransferFailures: transferBad,
		RedisTrips: after.Trips - before.Trips, RedisCmds: after.Cmds - before.Cmds,
		TransferTrips: transferTrips.Load(), Events: events, TransferChecks: int(transferChecks.Load()),
	}
	if !lastConnect.IsZero() {
		rep.Throughput.RoutedRate = float64(routed) / lastConnect.Sub(begin).Seconds()
	}
	// The daemon ends a call's agent side after the channels are gone:
	// an agent may still be on_call for a moment, and logging out is
	// refused until it is not.
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for i := range o.Agents {
		var err error
		if werr := waitFor(lctx, func() bool {
			err = e.app.Router.Logout(lctx, agentID(i))
			return err == nil
		}); werr != nil {
			return fmt.Errorf("log out agent %s: %w", agentID(i), errors.Join(err, werr))
		}
	}
	return nil
}

// offer places the scenario's o.Calls calls at o.Rate (evenly spaced, or
// Poisson with the same seed every run), each in its own goroutine running
// call with the number it dials, and waits for them all. It returns
// when the first was due and how long placing them all took.
func (e *env) offer(ctx context.Context, call func(i int, number string)) (time.Time, time.Duration) {
	o := e.opts
	var wg sync.WaitGroup
	rng := rand.New(rand.NewPCG(1, 2))
	begin := time.Now()
	next := begin
	for i := range o.Calls {
		if err := sleepUntil(ctx, next); err != nil {
			break
		}
		gap := time.Duration(float64(time.Second) / o.Rate)
		if o.Poisson {
			gap = time.Duration(rng.ExpFloat64() * float64(time.Second) / o.Rate)
		}
		next = next.Add(gap)
		number := benchTopics[i%len(benchTopics)].number
		wg.Add(1)
		go func() {
			defer wg.Done()
			call(i, number)
		}()
	}
	placedIn := time.Since(begin)
	wg.Wait()
	return begin, placedIn
}

// floorThroughput places the throughput scenario's calls again, through
// the floor router: its StasisStart → agent originate is the same-run
// floor the hotline's is compared with.
func (e *env) floorThroughput(ctx context.Context, rep *Report) error {
	o := e.opts
	start0, _, _, _ := e.floorRec.samples()
	f := &FloorRun{Calls: o.Calls}
	var mu sync.Mutex
	e.offer(ctx, func(i int, number string) {
		ok := e.simpleCall(ctx, e.floorCallers, number, callerNumber(2_000_000+i), e.floorRec, o.Hold)
		mu.Lock()
		if ok {
			f.Connected++
		} else {
			f.Lost++
		}
		mu.Unlock()
	})
	if err := ctx.Err(); err != nil {
		return err
	}
	e.drain(ctx)
	start, _, _, _ := e.floorRec.samples()
	f.StartToOriginate = start[len(start0):]
	rep.Floor = f
	return nil
}

// simpleCall places one caller through d, waits for its agent, holds
// hold and hangs up; false if it was not connected or hung up early.
func (e *env) simpleCall(ctx context.Context, d lineDriver, number, callerID string, rec *Recorder, hold time.Duration) bool {
	p, err := d.Call(ctx, number, callerID)
	if err != nil {
		return false
	}
	rec.link(p.ID(), p.PeerID())
	wctx, cancel := context.WithTimeout(ctx, e.opts.ConnectTimeout)
	err = p.WaitConnected(wctx)
	cancel()
	if err != nil {
		_ = p.Hangup(context.WithoutCancel(ctx))
		return false
	}
	rec.connected(p.PeerID())
	_ = sleepCtx(ctx, hold)
	if p.HungUp() {
		return false
	}
	_ = p.Hangup(context.WithoutCancel(ctx))
	return true
}

// handoff logs one agent in and queues HandoffRounds+2 callers of its
// topic at once: every time a caller hangs up another is waiting, and the
// time to the agent's next originate is a round.
func (e *env) handoff(ctx context.Context, rep *Report) error {
	o := e.opts
	agent := agentID(0)
	if err := e.app.Router.Login(ctx, agent); err != nil {
		return fmt.Errorf("log in agent %s: %w", agent, err)
	}
	_, freed0, _, _ := e.rec.samples()
	h := &SimHandoff{Rounds: o.HandoffRounds}
	var (
		wg sync.WaitGroup
		mu sync.Mutex
	)
	number := benchTopics[0].number // one of agent 0's topics
	for i := range o.HandoffRounds + 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok := e.simpleCall(ctx, e.phones, number, callerNumber(3_000_000+i), e.rec, o.Hold)
			mu.Lock()
			if !ok {
				h.Lost++
			}
			mu.Unlock()
		}()
		if err := sleepCtx(ctx, 2*time.Millisecond); err != nil {
			return err
		}
	}
	wg.Wait()
	e.drain(ctx)
	_, freed, _, _ := e.rec.samples()
	h.FreedToOriginate = freed[len(freed0):]
	if len(h.FreedToOriginate) > o.HandoffRounds {
		h.FreedToOriginate = h.FreedToOriginate[:o.HandoffRounds]
	}
	rep.Handoff = h
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var err error
	if werr := waitFor(lctx, func() bool { err = e.app.Router.Logout(lctx, agent); return err == nil }); werr != nil {
		return fmt.Errorf("log out agent %s: %w", agent, errors.Join(err, werr))
	}
	return nil
}

// transferCheck asks the router to transfer a live call to the topic it is
// already in: the path check refuses it as a loop, in one atomic Redis
// operation, and nothing changes. That is the check every transfer pays.
func (e *env) transferCheck(ctx context.Context, callID, agent, topic string) (time.Duration, int64, string) {
	req := routing.TransferRequest{CallID: callID, By: agent, Mode: routing.ModeAttended,
		To: routing.Destination{Kind: routing.DestTopic, Name: topic}, Note: "bench: the caller needs the same topic again"}
	var trips atomic.Int64
	t0 := time.Now()
	tr, err := e.app.Router.BeginTransfer(benchContext(ctx, &trips), req)
	d := time.Since(t0)
	if err == nil {
		// Not a loop after all: undo it so the call goes on as before.
		_ = e.app.Router.CancelTransfer(benchContext(ctx, nil), callID, tr.ID, false)
		return d, trips.Load(), "transfer to own topic was accepted"
	}
	if ref, ok := routing.AsRefusal(err); !ok || ref.Code != routing.RefuseLoop {
		return d, trips.Load(), "transfer check: " + err.Error()
	}
	if n := trips.Load(); n != 1 {
		return d, n, fmt.Sprintf("transfer check took %d Redis round trips", n)
	}
	return d, 1, ""
}

// concurrent holds o.Concurrent callers at once, first as calls that never
// reach the hotline (the simulator's and phones' share), then as hotline
// callers waiting in the queue with no agent logged in; the difference of
// the live heaps is the daemon's share.
func (e *env) concurrent(ctx context.Context, rep *Report) error {
	k := e.opts.Concurrent
	c := &Concurrent{Calls: k}
	rep.Concurrent = c
	c.HeapBase, c.StackBase = liveMemory()

	idle, idleStack, err := e.hold(ctx, e.idle, k, "9", func(ctx context.Context) error {
		return waitFor(ctx, func() bool { return e.idleAnswered(k) })
	}, c)
	if err != nil {
		return err
	}
	c.HeapIdle, c.StackIdle = idle, idleStack
	fmt.Fprintf(e.opts.Progress, "bench: %d calls held outside the hotline, live heap %+.1f MB\n", k, mbDelta(idle, c.HeapBase))

	busy, busyStack, err := e.hold(ctx, e.phones, k, "", func(ctx context.Context) error {
		return waitFor(ctx, func() bool {
			calls, err := e.app.Router.ActiveCalls(benchContext(ctx, nil))
			return err == nil && len(calls) >= k
		})
	}, c)
	if err != nil {
		return err
	}
	c.HeapHotline, c.StackHotline = busy, busyStack
	fmt.Fprintf(e.opts.Progress, "bench: %d callers waiting in the hotline, live heap %+.1f MB\n", k, mbDelta(busy, c.HeapBase))
	return nil
}

func (e *env) idleAnswered(k int) bool { return e.idle.Active() >= k && e.sim.Stats().Channels >= 2*k }

// hold places k calls through d, waits until settled says they are all in
// place, measures the live heap and goroutines, then hangs them all up.
func (e *env) hold(ctx context.Context, d lineDriver, k int, prefix string, settled func(context.Context) error, c *Concurrent) (heap, stacks uint64, err error) {
	ps := make([]caller, 0, k)
	begin := time.Now()
	next := begin
	for i := range k {
		if err := sleepUntil(ctx, next); err != nil {
			return 0, 0, err
		}
		next = next.Add(time.Duration(float64(time.Second) / e.opts.Rate))
		number := prefix + strconv.Itoa(i)
		if prefix == "" {
			number = benchTopics[i%len(benchTopics)].number
		}
		p, err := d.Call(ctx, number, callerNumber(1_000_000+i))
		if err != nil {
			c.Lost++
			continue
		}
		ps = append(ps, p)
	}
	wctx, cancel := context.WithTimeout(ctx, e.opts.ConnectTimeout)
	err = settled(wctx)
	cancel()
	if err != nil {
		c.Lost += k - len(ps)
		return 0, 0, fmt.Errorf("hold %d calls: not all in place: %w", k, err)
	}
	c.Placed = time.Since(begin)
	heap, stacks = liveMemory()
	if g := runtime.NumGoroutine(); g > c.Goroutines {
		c.Goroutines = g
	}
	for _, p := range ps {
		if d == e.phones {
			if p.HungUp() {
				c.Lost++
			} else {
				c.Abandoned++
			}
		}
		_ = p.Hangup(context.WithoutCancel(ctx))
	}
	e.drain(ctx)
	return heap, stacks, nil
}

// drain waits (up to 30 s) until every phone's call and every channel in
// the simulator has ended.
func (e *env) drain(ctx context.Context) {
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_ = waitFor(wctx, func() bool {
		n := e.phones.Active()
		for _, d := range []lineDriver{e.idle, e.floorCallers} {
			if d != nil {
				n += d.Active()
			}
		}
		return n == 0 && e.sim.Stats().Channels == 0
	})
}

func callerNumber(i int) string { return strconv.Itoa(380_500_000_000 + i) }

// liveMemory is the live heap after a collection and the goroutine
// stacks in use (a waiting call's goroutine costs its stack, which the
// heap figure does not show).
func liveMemory() (heap, stacks uint64) {
	runtime.GC()
	runtime.GC() // the second collects what the first's finalizers freed
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc, m.StackInuse
}

func sleepUntil(ctx context.Context, t time.Time) error {
	return sleepCtx(ctx, time.Until(t))
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func waitFor(ctx context.Context, cond func() bool) error {
	for !cond() {
		if err := sleepCtx(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}

// settledGoroutines waits (up to 5 s) for the goroutine count (without
// idle HTTP connections) to come
// down to target (or, with target < 0, to stop changing) and returns it.
func settledGoroutines(ctx context.Context, target int) int {
	deadline := time.Now().Add(5 * time.Second)
	last := goroutines()
	for time.Now().Before(deadline) {
		if sleepCtx(ctx, 100*time.Millisecond) != nil {
			break
		}
		n := goroutines()
		if (target >= 0 && n <= target) || (target < 0 && n == last) {
			return n
		}
		last = n
	}
	return goroutines()
}

// peakSampler records the highest goroutine count seen.
type peakSampler struct {
	peak   atomic.Int64
	cancel context.CancelFunc
	done   chan struct{}
}

func newPeakSampler(ctx context.Context) *peakSampler {
	ctx, cancel := context.WithCancel(ctx)
	s := &peakSampler{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for {
			if n := int64(runtime.NumGoroutine()); n > s.peak.Load() {
				s.peak.Store(n)
			}
			if sleepCtx(ctx, 10*time.Millisecond) != nil {
				return
			}
		}
	}()
	return s
}

func (s *peakSampler) stop() int {
	s.cancel()
	<-s.done
	return int(s.peak.Load())
}

// goroutines counts the process's goroutines, leaving out idle HTTP
// keep-alive connections: the clients' pools keep as many as the peak
// concurrency needed, which is not a leak.
func goroutines() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.TrimSpace(g) == "" || idleHTTP(g) {
			continue
		}
		count++
	}
	return count
}

func idleHTTP(stack string) bool {
	switch {
	case strings.Contains(stack, "net/http.(*persistConn).readLoop"),
		strings.Contains(stack, "net/http.(*persistConn).writeLoop"):
		return true
	case strings.Contains(stack, "net/http.(*conn).serve"):
		// A server connection between requests waits for the next one;
		// one inside a handler (a websocket) is not idle.
		return !strings.Contains(stack, "ServeHTTP")
	}
	return false
}
