// Package app wires the hotline daemon: configuration, Redis store, routing
// core, callbacks, ARI adapter, call flow, HTTP API and metrics. The binary's
// main and the tests run the same daemon through it, in-process.
//
// Lifecycle (STYLE: three phases): New wires everything and undoes what it
// built if a step fails; Start serves HTTP at once and, as soon as Redis
// answers (retrying with backoff until it does), loads the Redis scripts,
// syncs the agents and starts every other loop; Stop refuses new calls,
// lets live calls reach a safe point, then closes the HTTP server, ARI and
// Redis, under the caller's deadline.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/hotline-project/hotline/api"
	"github.com/hotline-project/hotline/ari"
	"github.com/hotline-project/hotline/callflow"
	"github.com/hotline-project/hotline/dialplan"
	"github.com/hotline-project/hotline/metrics"
	"github.com/hotline-project/hotline/redisstore"
	"github.com/hotline-project/hotline/routing"
)

// Options are what the caller decides beyond the configuration file.
type Options struct {
	Config *dialplan.Config
	Logger *slog.Logger
	// Registry receives the daemon's metrics; nil makes a new one with the
	// Go and process collectors.
	Registry *prometheus.Registry
	// Redis is used instead of a client built from Config.Redis (the demo
	// passes its embedded store). The App does not close an injected client.
	Redis redis.UniversalClient
	// Authenticate replaces the configuration's token file (the demo).
	Authenticate func(secret string) (api.Token, bool)
	// ARIPassword replaces the configuration's password reference (the demo
	// and tests, whose simulated Asterisk has its own).
	ARIPassword *string
	// Listen replaces Config.HTTP.Listen (tests use 127.0.0.1:0).
	Listen string
	// Desk is the agent desk and wallboard, mounted at "/" by the API
	// server; serve passes desk.New. (app cannot build it itself: the
	// desk's tests run this daemon, and Go refuses the import cycle.)
	Desk    http.Handler
	Version string
	Clock   routing.Clock
	// ReconcileEvery replaces the call flow's periodic reconcile interval
	// (30 s; tests of a dead peer's callers shorten it).
	ReconcileEvery time.Duration
}

// App is one running hotline node.
type App struct {
	cfg     *dialplan.Config
	log     *slog.Logger
	node    string
	reg     *prometheus.Registry
	metrics *metrics.Metrics
	clock   routing.Clock

	rdb      redis.UniversalClient
	ownRedis bool
	store    *redisstore.Store
	cbStore  *redisstore.Callbacks
	reqStore *redisstore.Requests

	Router    *routing.Router
	Callbacks *routing.Callbacks
	Requests  *routing.Requests
	ARI       *ari.Client
	Engine    *callflow.Engine
	Relay     *callflow.Relay // the API's call control: any node's calls
	Hub       *api.Hub
	api       *api.Server

	listen   string
	listener net.Listener
	httpSrv  *http.Server

	ariConnects atomic.Int64
	// tokens is the configuration's token table, swapped whole by Reload
	// while requests read it; nil when Options.Authenticate replaces it.
	tokens atomic.Pointer[dialplan.Tokens]

	cancel context.CancelFunc
	// stopClaims ends the loops that claim new work (the router's and the
	// callbacks' passes) ahead of the rest, so nothing new is dialled while
	// the call flow drains.
	stopClaims context.CancelFunc
	wg         sync.WaitGroup
	errs       chan error

	// notPrepared is why the store is not ready for the loops yet (see
	// prepare); its err is nil once it is.
	notPrepared atomic.Pointer[preparedErr]
	// startMu orders the start of the loops after prepare with Stop:
	// once stopping is set none starts.
	startMu  sync.Mutex
	stopping bool
}

// New wires a node. Nothing runs until Start.
func New(opts Options) (_ *App, err error) {
	cfg := opts.Config
	if cfg == nil {
		return nil, errors.New("app: no configuration")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Clock == nil {
		opts.Clock = routing.SystemClock{}
	}
	a := &App{cfg: cfg, log: opts.Logger, node: nodeName(cfg), reg: opts.Registry, clock: opts.Clock, errs: make(chan error, 8)}
	defer func() {
		if err != nil {
			a.closeRedis()
		}
	}()
	if a.reg == nil {
		a.reg = metrics.NewRegistry()
	}
	a.metrics = metrics.New(a.reg, cfg.TopicNames())
	a.metrics.KnownSounds(Sounds(cfg))
	a.metrics.SetBuildInfo(opts.Version)

	if err := a.openStores(opts.Redis); err != nil {
		return nil, err
	}
	authenticate := opts.Authenticate
	if authenticate == nil {
		tokens, err := cfg.LoadTokens()
		if err != nil {
			return nil, fmt.Errorf("load API tokens: %w", err)
		}
		a.tokens.Store(&tokens)
		authenticate = a.authenticate
	}
	ariPassword, err := readARIPassword(opts, cfg)
	if err != nil {
		return nil, err
	}

	policy := Policy(cfg)
	clock := opts.Clock
	// The router delivers offers to the call flow, which needs the router:
	// the engine is assigned before anything can deliver (Start).
	var engine *callflow.Engine
	var telephony *ari.Telephony
	a.Router = routing.New(a.store, a.store, routing.Options{
		Node: a.node, Clock: clock, Logger: a.log.With("component", "routing"), Policy: policy,
		Deliver: func(o routing.Offer) { engine.Deliver(o) },
	})
	a.Hub = api.NewHub(api.HubOptions{Logger: a.log.With("component", "events")})
	a.Callbacks = routing.NewCallbacks(a.cbStore, a.Router, routing.CallbackOptions{
		Node: a.node, Clock: clock, Logger: a.log.With("component", "callbacks"), Policy: policy,
		Dial: func(cb routing.Callback, ag routing.AgentStatus) { engine.Dial(cb, ag) },
		OnState: func(cb routing.Callback) {
			a.countCallback(cb)
			a.Hub.Publish(api.CallbackUpdate(cb))
		},
	})
	a.Requests = routing.NewRequests(a.reqStore, routing.RequestOptions{Clock: clock, Logger: a.log.With("component", "requests")})

	a.ARI, err = ari.New(ari.Options{
		URL: cfg.ARI.URL, WebsocketURL: cfg.ARI.WebsocketURL, Application: cfg.ARI.Application,
		Username: cfg.ARI.Username, Password: ariPassword,
		RequestTimeout: cfg.ARI.RequestTimeout, BackoffMin: cfg.ARI.ReconnectMin, BackoffMax: cfg.ARI.ReconnectMax,
		Logger: a.log, // the adapter names itself (component=ari, app)
		Events: ari.TranslatedEvents(),
		Handler: func(ev ari.Event) {
			if ce, ok := telephony.Translate(ev); ok {
				engine.HandleEvent(ce)
			}
		},
		OnConnect:      a.reconcile,
		OnState:        a.ariState,
		ObserveRequest: func(op string, d time.Duration, err error) { a.metrics.ObserveARIRequest(op, d) },
	})
	if err != nil {
		return nil, fmt.Errorf("ari: %w", err)
	}
	telephony = ari.NewTelephony(a.ARI)
	// The call flow's store probe asks whether a routing decision can be
	// made, not whether some node answers a PING: on Cluster a master of
	// other slots answers while the routing keys' master is dead.
	probeStore := func(ctx context.Context) error { return a.store.CheckRouting(ctx, a.node) }
	engine = callflow.New(callflow.Options{
		Telephony: telephony, Router: a.Router, Callbacks: a.Callbacks, Plan: NewPlan(cfg),
		Clock: callflow.SystemClock{}, Logger: a.log.With("component", "callflow"),
		Node: a.node, App: cfg.ARI.Application, Metrics: observer{a.metrics},
		Policy:         callflow.Policy{RingTimeout: policy.RingTimeout, OfferWaitThreshold: policy.OfferWaitThreshold},
		Probe:          probeStore,
		ReconcileEvery: opts.ReconcileEvery,
	})
	a.Engine = engine
	a.Relay = callflow.NewRelay(engine, redisstore.NewCommands(a.rdb, cfg.Redis.KeyPrefix), callflow.RelayOptions{
		Logger: a.log.With("component", "relay"),
	})
	a.metrics.SetSnapshotSource(a.snapshot, 2*time.Second)

	a.listen = cfg.HTTP.Listen
	if opts.Listen != "" {
		a.listen = opts.Listen
	}
	a.api = a.newAPI(opts.Desk, authenticate, policy)
	return a, nil
}

// openStores opens the Redis client (rdb, unless the caller gives one) and
// the stores on it.
func (a *App) openStores(rdb redis.UniversalClient) error {
	cfg := a.cfg
	a.rdb = rdb
	if a.rdb == nil {
		var err error
		if a.rdb, err = newRedis(cfg.Redis); err != nil {
			return err
		}
		a.ownRedis = true
		// go-redis has one logger per process; a daemon that builds its
		// own client (serve, the demo) takes it.
		redis.SetLogger(newRedisLog(a.log))
	}
	observeRedis := func(op string, d time.Duration, err error) { a.metrics.ObserveRedis(op, d) }
	a.store = redisstore.New(a.rdb, redisstore.Options{Prefix: cfg.Redis.KeyPrefix, Observe: observeRedis})
	a.cbStore = redisstore.NewCallbacks(a.rdb, cfg.Redis.KeyPrefix)
	a.reqStore = redisstore.NewRequests(a.rdb, cfg.Redis.KeyPrefix)
	return nil
}

// readARIPassword is the ARI password: the one the caller gives, or the
// configured secret's.
func readARIPassword(opts Options, cfg *dialplan.Config) (string, error) {
	if opts.ARIPassword != nil {
		return *opts.ARIPassword, nil
	}
	if !cfg.ARI.Password.IsSet() {
		return "", nil
	}
	s, err := cfg.ARI.Password.Read()
	if err != nil {
		return "", fmt.Errorf("ARI password: %w", err)
	}
	return s.Value(), nil
}

// newAPI builds the HTTP API on the app's services.
func (a *App) newAPI(desk http.Handler, authenticate func(string) (api.Token, bool), policy routing.Policy) *api.Server {
	cfg := a.cfg
	return api.New(api.Options{
		Agents: a.Router, Calls: a.Router, Cases: a.Router, Callbacks: a.Callbacks, Requests: a.Requests,
		Control: a.Relay, Updates: a.Hub, Publish: a.Hub.Publish, Authenticate: authenticate,
		Topics: func(context.Context) ([]api.TopicConfig, error) {
			out := make([]api.TopicConfig, 0, len(cfg.Topics))
			for _, name := range cfg.TopicNames() {
				out = append(out, api.TopicConfig{Name: name, Description: cfg.Topics[name].Description,
					WrapUp: policy.WrapUp, HandleTime: policy.HandleTime(name)})
			}
			return out, nil
		},
		Queues:       a.Router,
		Ready:        []func(context.Context) error{a.ariReady, a.redisReady},
		Metrics:      promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{Registry: a.reg}),
		Desk:         desk,
		Logger:       a.log.With("component", "http"),
		Clock:        a.clock,
		MaxBodyBytes: cfg.HTTP.MaxBodyBytes,
	})
}

// authenticate looks a bearer token up in the current token table.
func (a *App) authenticate(secret string) (api.Token, bool) {
	g, ok := a.tokens.Load().Lookup(secret)
	return api.GrantToken(g), ok
}

// Policy maps the configuration's policies onto the routing core's.
func Policy(cfg *dialplan.Config) routing.Policy {
	handleTimes := map[string]time.Duration{}
	for name, t := range cfg.Topics {
		if t.HandleTime > 0 {
			handleTimes[name] = t.HandleTime
		}
	}
	return routing.Policy{
		RingTimeout:        cfg.Queue.RingTimeout,
		WrapUp:             cfg.Queue.WrapUp,
		MaxHops:            cfg.Transfer.MaxHops,
		MinNoteLength:      cfg.Transfer.MinNoteLength,
		Blind:              routing.BlindPolicy(cfg.Transfer.Blind),
		OfferWaitThreshold: cfg.Callback.OfferWaitThreshold,
		CallbackAttempts:   cfg.Callback.Attempts,
		CallbackSpacing:    cfg.Callback.Spacing,
		OwnerDeadline:      cfg.Callback.OwnerDeadline,
		KeepPosition:       cfg.Callback.KeepPosition,
		HandleTimes:        handleTimes,
		DefaultHandleTime:  cfg.Queue.HandleTime,
	}
}

func nodeName(cfg *dialplan.Config) string {
	if cfg.Node.Name != "" {
		return cfg.Node.Name
	}
	if h, err := os.Hostname(); err == nil {
		return h
	}
	return "hotline"
}

// newRedis builds the client for the configured deployment: one address
// is a standalone server, several a Cluster's seed nodes, a master name
// the Sentinels' addresses. The choices below are what makes the client
// ride a failover (kill -9 of a master) in about the store's own
// failover time rather than the tens of seconds go-redis's defaults take
// on Cluster; TestFailover* in package failover measure it.
//
// Common to every mode:
//   - Dial, read and write timeouts are the configuration's: they bound
//     how long a command waits on a master that is gone without a word
//     (a host down, no RST), which is how long a failover looks like a
//     hang before it looks like an error.
//   - ContextTimeoutEnabled: without it go-redis ignores context
//     deadlines on socket I/O, and the call flow's deadlines mean nothing.
//   - DialerRetries 1: a refused dial fails at once. go-redis's default
//     redials 5 times 100 ms apart inside every command attempt, which on
//     a dead master made each failed command take seconds; the command
//     retries below redial anyway, with backoff.
//   - MaxRetries (standalone, Sentinel; MaxRedirects on Cluster) 3 with a
//     jittered backoff from 20 ms to 500 ms: a blip (a connection the
//     server closed, a READONLY from a master just demoted, LOADING) is
//     retried, an outage is not stretched: the call flow, not the client,
//     decides what a caller hears while Redis is away. A retried command
//     is re-sent as it was (same ids), which every store script takes
//     (creating a case or callback under an id that exists changes
//     nothing).
func newRedis(r dialplan.Redis) (redis.UniversalClient, error) {
	password := ""
	if r.Password.IsSet() {
		s, err := r.Password.Read()
		if err != nil {
			return nil, fmt.Errorf("Redis password: %w", err)
		}
		password = s.Value()
	}
	const (
		dialerRetries = 1
		maxRetries    = 3
		minBackoff    = 20 * time.Millisecond
		maxBackoff    = 500 * time.Millisecond
	)
	switch r.Mode() {
	case dialplan.RedisCluster:
		c := redis.NewClusterClient(&redis.ClusterOptions{
			Addrs: r.Addrs, Username: r.Username, Password: password,
			DialTimeout: r.DialTimeout, ReadTimeout: r.ReadTimeout, WriteTimeout: r.WriteTimeout,
			ContextTimeoutEnabled: true,
			DialerRetries:         dialerRetries,
			// The cluster client retries a command itself (on network
			// errors and redirects) MaxRedirects times, asking the slot
			// map afresh each time; its node clients do not retry.
			MaxRedirects: maxRetries, MinRetryBackoff: minBackoff, MaxRetryBackoff: maxBackoff,
			// Routing decisions are read-modify-write scripts: every
			// command goes to the slot's master, never to a replica that
			// may lag it.
			ReadOnly: false,
			// The slot map is otherwise reloaded only on MOVED/ASK (which
			// a dead master never sends) and when older than this (60 s
			// by default: the 34-49 s of lost routing measured after a
			// kill -9). The reload on failure below does the real work;
			// this bounds how long a change that caused no error yet (a
			// manual failover, a new master) goes unseen. One CLUSTER
			// SLOTS every 5 s is nothing.
			ClusterStateReloadInterval: 5 * time.Second,
		})
		// Every node client (created as the slot map names nodes) asks
		// the cluster client to reload the map when a command fails in a
		// way that says the map may be wrong: the node refuses
		// connections or times out (killed, host down), or answers
		// CLUSTERDOWN, MASTERDOWN, READONLY, TRYAGAIN or LOADING. Reloads
		// are coalesced by go-redis (one at a time, 200 ms apart), so a
		// stream of failures costs a CLUSTER SLOTS every 200 ms, and the
		// first command after the replica's promotion that fails brings
		// the new master in within that.
		c.OnNewNode(func(node *redis.Client) { node.AddHook(reloadSlotsOnFailure{c}) })
		return c, nil
	case dialplan.RedisSentinel:
		// The failover client asks the sentinels for the master on every
		// new connection and listens to +switch-master, on which it
		// closes its connections to the old master. Commands go to the
		// master only (no ReplicaOnly, no routing by latency): routing
		// decisions are writes. A pool that saw the old master refuse
		// many dials probes it once a second, so the new master is in
		// use within a second of its promotion.
		return redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName: r.MasterName, SentinelAddrs: r.Addrs, DB: r.DB,
			Username: r.Username, Password: password,
			DialTimeout: r.DialTimeout, ReadTimeout: r.ReadTimeout, WriteTimeout: r.WriteTimeout,
			ContextTimeoutEnabled: true,
			DialerRetries:         dialerRetries,
			MaxRetries:            maxRetries, MinRetryBackoff: minBackoff, MaxRetryBackoff: maxBackoff,
		}), nil
	default:
		return redis.NewClient(&redis.Options{
			Addr: r.Addrs[0], DB: r.DB, Username: r.Username, Password: password,
			DialTimeout: r.DialTimeout, ReadTimeout: r.ReadTimeout, WriteTimeout: r.WriteTimeout,
			ContextTimeoutEnabled: true,
			DialerRetries:         dialerRetries,
			MaxRetries:            maxRetries, MinRetryBackoff: minBackoff, MaxRetryBackoff: maxBackoff,
		}), nil
	}
}

// reloadSlotsOnFailure is the hook newRedis puts on every node client of
// a Cluster client (see there).
type reloadSlotsOnFailure struct{ cluster *redis.ClusterClient }

func (h reloadSlotsOnFailure) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h reloadSlotsOnFailure) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if slotMapSuspect(err) {
			h.cluster.ReloadState(ctx)
		}
		return err
	}
}

func (h reloadSlotsOnFailure) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		suspect := slotMapSuspect(err)
		for _, c := range cmds {
			suspect = suspect || slotMapSuspect(c.Err())
		}
		if suspect {
			h.cluster.ReloadState(ctx)
		}
		return err
	}
}

// slotMapSuspect reports whether a node's failure may mean that the slot
// map is out of date: no answer at all (refused, reset, timed out), or
// an answer that says the node is not, or not yet, a working master.
// Answers about the command itself (nil, NOSCRIPT, a script's error,
// MOVED, which go-redis handles) and the caller's own cancellation do not.
func slotMapSuspect(err error) bool {
	if err == nil || errors.Is(err, redis.Nil) || errors.Is(err, context.Canceled) {
		return false
	}
	var reply redis.Error
	if !errors.As(err, &reply) {
		return true // the network: refused, reset, EOF, i/o timeout
	}
	for _, prefix := range []string{"CLUSTERDOWN", "MASTERDOWN", "READONLY", "TRYAGAIN", "LOADING"} {
		if redis.HasErrorPrefix(err, prefix) {
			return true
		}
	}
	return false
}

// redisLog carries go-redis's own log lines (dial failures, sentinel
// switches, bad connections discarded) into the daemon's structured log
// instead of go-redis's plain text on standard error. go-redis writes
// the same line several times a second while a server is down, so a
// line of one kind (its format) is written at most once per
// redisLogEvery, with how many like it were dropped since the last.
// Lines that report a failure are warnings, others information.
type redisLog struct {
	log   *slog.Logger
	every time.Duration
	now   func() time.Time

	mu   sync.Mutex
	seen map[string]*redisLogKind
}

type redisLogKind struct {
	last    time.Time
	dropped int
}

const redisLogEvery = 10 * time.Second

func newRedisLog(log *slog.Logger) *redisLog {
	return &redisLog{log: log.With("component", "go-redis"), every: redisLogEvery, now: time.Now, seen: map[string]*redisLogKind{}}
}

// Printf implements go-redis's logging interface.
func (l *redisLog) Printf(ctx context.Context, format string, v ...any) {
	now := l.now()
	l.mu.Lock()
	k := l.seen[format]
	if k == nil {
		if len(l.seen) >= 256 { // formats are constants; this only bounds a surprise
			clear(l.seen)
		}
		k = &redisLogKind{}
		l.seen[format] = k
	}
	if !k.last.IsZero() && now.Sub(k.last) < l.every {
		k.dropped++
		l.mu.Unlock()
		return
	}
	dropped := k.dropped
	k.last, k.dropped = now, 0
	l.mu.Unlock()

	line := strings.TrimPrefix(fmt.Sprintf(format, v...), "redis: ")
	level := slog.LevelInfo
	lower := strings.ToLower(line)
	for _, word := range []string{"fail", "error", "bad", "unreachable", "discard", "timeout", "refused", "closed"} {
		if strings.Contains(lower, word) {
			level = slog.LevelWarn
			break
		}
	}
	attrs := []slog.Attr{slog.String("said", line)}
	if dropped > 0 {
		attrs = append(attrs, slog.Int("repeated", dropped), slog.Duration("within", l.every))
	}
	l.log.LogAttrs(ctx, level, "go-redis", attrs...)
}

// Start binds the HTTP listener and serves /healthz, /readyz and the API
// at once, then prepares the store (loads the scripts, syncs the
// configured agents) in the background, retrying with backoff and
// jitter until Redis answers, and only then starts the loops that need
// it: ARI (which reconnects to Asterisk by itself, with its own backoff),
// the router, callbacks, call flow and relay. So the daemon starts in any
// order with Redis and Asterisk; until it is prepared /readyz is 503 and
// names Redis, and the ARI application is not registered, so Asterisk
// sends callers to the dialplan's fallback. Start fails only if the
// listener cannot be bound; loops that fail later are reported by Err.
func (a *App) Start(context.Context) error {
	ln, err := net.Listen("tcp", a.listen)
	if err != nil {
		return fmt.Errorf("start: listen: %w", err)
	}
	a.listener = ln
	a.httpSrv = a.api.HTTPServer(ln.Addr().String())
	a.setNotPrepared(errPreparing)

	runCtx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	claimCtx, stopClaims := context.WithCancel(runCtx)
	a.stopClaims = stopClaims
	a.goLoop("http", func(context.Context) error {
		if err := a.httpSrv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}, runCtx)
	a.goLoop("redis-health", a.watchRedis, runCtx)
	a.goLoop("start", func(ctx context.Context) error {
		if !a.prepare(ctx) {
			return nil // stopped before Redis answered
		}
		a.startMu.Lock()
		defer a.startMu.Unlock()
		if a.stopping {
			return nil
		}
		a.goLoop("ari", a.ARI.Run, runCtx)
		a.goLoop("routing", a.Router.Run, claimCtx)
		a.goLoop("callbacks", a.Callbacks.Run, claimCtx)
		a.goLoop("callflow", a.Engine.Run, runCtx)
		a.goLoop("relay", a.Relay.Run, runCtx)
		a.goLoop("updates", a.watchState, runCtx)
		a.log.Info("hotline started", "node", a.node, "http", a.URL(), "ari", a.cfg.ARI.URL)
		return nil
	}, runCtx)
	a.log.Info("hotline serving HTTP; preparing the store", "node", a.node, "http", a.URL())
	return nil
}

// errPreparing is the readiness error before the first attempt to
// prepare the store has finished.
var errPreparing = errors.New("store being prepared")

// Backoff between attempts to prepare the store: doubling from
// prepareMin to prepareMax, the upper half random so that nodes
// restarted together do not knock in step.
const (
	prepareMin = 200 * time.Millisecond
	prepareMax = 5 * time.Second
)

// prepare loads the store's scripts and syncs the configured agents,
// again and again until Redis takes both, and reports whether it did
// (false: ctx ended first). Each failure is logged with the next
// attempt's delay and is what /readyz reports meanwhile.
func (a *App) prepare(ctx context.Context) bool {
	for n := 0; ; n++ {
		err := a.prepareStore(ctx)
		if err == nil {
			a.setNotPrepared(nil)
			if n > 0 {
				a.log.Info("store prepared: Redis answers", "attempts", n+1)
			}
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		a.setNotPrepared(err)
		d := prepareMax
		if n < 16 && prepareMin<<n < prepareMax {
			d = prepareMin << n
		}
		d = d/2 + rand.N(d/2+1)
		a.log.Warn("store not prepared: Redis does not answer; retrying", "err", err, "retry_in", d, "attempt", n+1)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
	}
}

// prepareStore is one attempt of prepare, each step bounded.
func (a *App) prepareStore(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, prepareTimeout)
	defer cancel()
	if err := a.store.LoadScripts(ctx); err != nil {
		return fmt.Errorf("load Redis scripts: %w", err)
	}
	if err := a.cbStore.LoadScripts(ctx); err != nil {
		return fmt.Errorf("load Redis scripts: %w", err)
	}
	if err := a.Router.SyncAgents(ctx, agents(a.cfg)); err != nil {
		return fmt.Errorf("sync agents: %w", err)
	}
	return nil
}

// prepareTimeout bounds one attempt to prepare the store.
const prepareTimeout = 30 * time.Second

func (a *App) setNotPrepared(err error) { a.notPrepared.Store(&preparedErr{err}) }

// preparedErr is what notPrepared holds: nil err once prepared.
type preparedErr struct{ err error }

// notPreparedErr is why the store is not prepared yet, nil once it is.
func (a *App) notPreparedErr() error {
	if p := a.notPrepared.Load(); p != nil {
		return p.err
	}
	return errPreparing
}

// goLoop runs one of the daemon's loops until runCtx ends. A loop that
// returns an error before that is reported on Err.
func (a *App) goLoop(name string, run func(context.Context) error, ctx context.Context) {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		err := run(ctx)
		if err != nil && ctx.Err() == nil {
			a.log.Error("loop failed", "loop", name, "err", err)
			select {
			case a.errs <- fmt.Errorf("%s: %w", name, err):
			default:
			}
		}
	}()
}

// Err reports loops that failed on their own; serve exits on the first.
func (a *App) Err() <-chan error { return a.errs }

// URL is the HTTP base address, e.g. http://127.0.0.1:8080.
func (a *App) URL() string {
	if a.listener == nil {
		return ""
	}
	return "http://" + a.listener.Addr().String()
}

// Node is this node's name.
func (a *App) Node() string { return a.node }

// Registry is the daemon's metrics registry.
func (a *App) Registry() *prometheus.Registry { return a.reg }

// Metrics is the daemon's metrics.
func (a *App) Metrics() *metrics.Metrics { return a.metrics }

// Stop shuts the node down in order: the call flow refuses new calls and
// lets live ones reach a safe point where they are left to Asterisk and
// Redis (bridged calls stay bridged, waiting callers keep music and their
// place) for the next start to re-adopt, then the HTTP server, the loops
// (ARI among them) and Redis close. ctx bounds the whole stop.
func (a *App) Stop(ctx context.Context) error {
	var errs []error
	// No loop starts from now on, if the store is still being prepared.
	a.startMu.Lock()
	a.stopping = true
	a.startMu.Unlock()
	if a.stopClaims != nil {
		// First stop claiming: a callback claimed while the engine drains
		// would be refused and handed back for nothing.
		a.stopClaims()
	}
	if err := a.Engine.Stop(ctx); err != nil {
		errs = append(errs, fmt.Errorf("stop call flow: %w", err))
	}
	if a.httpSrv != nil {
		if err := a.httpSrv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop http: %w", err))
			_ = a.httpSrv.Close()
		}
	}
	if a.cancel != nil {
		a.cancel()
	}
	done := make(chan struct{})
	go func() { a.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("stop: loops still running: %w", ctx.Err()))
	}
	a.closeRedis()
	a.log.Info("hotline stopped", "node", a.node)
	return errors.Join(errs...)
}

func (a *App) closeRedis() {
	if a.ownRedis && a.rdb != nil {
		_ = a.rdb.Close()
	}
}

func agents(cfg *dialplan.Config) []routing.Agent {
	out := make([]routing.Agent, 0, len(cfg.Agents))
	for _, ag := range cfg.Agents {
		out = append(out, routing.Agent{ID: ag.ID, Name: ag.Name, Endpoint: ag.Endpoint, Topics: ag.Topics, Senior: ag.Senior})
	}
	return out
}

// Reload applies what a new configuration can change without a restart:
// the agents (ids, names, endpoints, topics and priorities; live states are
// kept), the API tokens (unless Options.Authenticate replaced them) and the
// topics known to metrics. Everything else — numbers, menus, hours,
// policies, connections — takes effect at the next restart, and the log
// says so. A token file that cannot be read refuses the whole reload.
func (a *App) Reload(ctx context.Context, cfg *dialplan.Config) error {
	var tokens *dialplan.Tokens
	if a.tokens.Load() != nil {
		t, err := cfg.LoadTokens()
		if err != nil {
			return fmt.Errorf("reload: %w", err)
		}
		tokens = &t
	}
	if err := a.Router.SyncAgents(ctx, agents(cfg)); err != nil {
		return fmt.Errorf("reload: sync agents: %w", err)
	}
	if tokens != nil {
		a.tokens.Store(tokens)
	}
	a.metrics.AddTopics(cfg.TopicNames()...)
	a.log.Info("reload: agents and API tokens applied; call flow, hours, policies and connections change at the next restart")
	return nil
}
