// Package app wires the hotline daemon: configuration, Redis store, routing
// core, callbacks, ARI adapter, call flow, HTTP API and metrics. The binary's
// main and the tests run the same daemon through it, in-process.
//
// Lifecycle (STYLE: three phases): New wires everything and undoes what it
// built if a step fails; Start loads the Redis scripts, syncs the agents and
// starts every loop; Stop refuses new calls, lets live calls reach a safe
// point, then closes the HTTP server, ARI and Redis, under the caller's
// deadline.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
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

	a.rdb = opts.Redis
	if a.rdb == nil {
		if a.rdb, err = newRedis(cfg.Redis); err != nil {
			return nil, err
		}
		a.ownRedis = true
	}
	observeRedis := func(op string, d time.Duration, err error) { a.metrics.ObserveRedis(op, d) }
	a.store = redisstore.New(a.rdb, redisstore.Options{Prefix: cfg.Redis.KeyPrefix, Observe: observeRedis})
	a.cbStore = redisstore.NewCallbacks(a.rdb, cfg.Redis.KeyPrefix)
	a.reqStore = redisstore.NewRequests(a.rdb, cfg.Redis.KeyPrefix)

	authenticate := opts.Authenticate
	if authenticate == nil {
		tokens, err := cfg.LoadTokens()
		if err != nil {
			return nil, fmt.Errorf("load API tokens: %w", err)
		}
		a.tokens.Store(&tokens)
		authenticate = a.authenticate
	}
	ariPassword := ""
	if opts.ARIPassword != nil {
		ariPassword = *opts.ARIPassword
	} else if cfg.ARI.Password.IsSet() {
		s, err := cfg.ARI.Password.Read()
		if err != nil {
			return nil, fmt.Errorf("ARI password: %w", err)
		}
		ariPassword = s.Value()
	}

	policy := Policy(cfg)
	clock := opts.Clock
	// The router delivers offers to the call flow, which needs the router:
	// the engine is assigned before anything can deliver (Start).
	var engine *callflow.Engine
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
		Logger:         a.log, // the adapter names itself (component=ari, app)
		Handler:        func(ev ari.Event) { engine.HandleEvent(ev) },
		OnConnect:      a.reconcile,
		OnState:        a.ariState,
		ObserveRequest: func(op string, d time.Duration, err error) { a.metrics.ObserveARIRequest(op, d) },
	})
	if err != nil {
		return nil, fmt.Errorf("ari: %w", err)
	}
	engine = callflow.New(callflow.Options{
		Telephony: a.ARI, Router: a.Router, Callbacks: a.Callbacks, Plan: NewPlan(cfg),
		Clock: callflow.SystemClock{}, Logger: a.log.With("component", "callflow"),
		Node: a.node, App: cfg.ARI.Application, Metrics: observer{a.metrics},
		Policy: callflow.Policy{RingTimeout: policy.RingTimeout, OfferWaitThreshold: policy.OfferWaitThreshold},
		Probe:  a.store.Ping,
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
	a.api = api.New(api.Options{
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
		Desk:         opts.Desk,
		Logger:       a.log.With("component", "http"),
		Clock:        clock,
		MaxBodyBytes: cfg.HTTP.MaxBodyBytes,
	})
	return a, nil
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

func newRedis(r dialplan.Redis) (redis.UniversalClient, error) {
	password := ""
	if r.Password.IsSet() {
		s, err := r.Password.Read()
		if err != nil {
			return nil, fmt.Errorf("Redis password: %w", err)
		}
		password = s.Value()
	}
	return redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs: r.Addrs, MasterName: r.MasterName, DB: r.DB,
		Username: r.Username, Password: password,
		DialTimeout: r.DialTimeout, ReadTimeout: r.ReadTimeout, WriteTimeout: r.WriteTimeout,
		// Without this go-redis ignores context deadlines on socket I/O.
		ContextTimeoutEnabled: true,
	}), nil
}

// Start loads the store's scripts, syncs the configured agents and starts
// every loop. It returns once the HTTP listener is bound; loops that fail
// later are reported by Wait.
func (a *App) Start(ctx context.Context) error {
	if err := a.store.LoadScripts(ctx); err != nil {
		return fmt.Errorf("start: load Redis scripts: %w", err)
	}
	if err := a.cbStore.LoadScripts(ctx); err != nil {
		return fmt.Errorf("start: load Redis scripts: %w", err)
	}
	if err := a.Router.SyncAgents(ctx, agents(a.cfg)); err != nil {
		return fmt.Errorf("start: sync agents: %w", err)
	}
	ln, err := net.Listen("tcp", a.listen)
	if err != nil {
		return fmt.Errorf("start: listen: %w", err)
	}
	a.listener = ln
	a.httpSrv = a.api.HTTPServer(ln.Addr().String())

	runCtx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	a.goLoop("http", func(context.Context) error {
		if err := a.httpSrv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}, runCtx)
	a.goLoop("ari", a.ARI.Run, runCtx)
	claimCtx, stopClaims := context.WithCancel(runCtx)
	a.stopClaims = stopClaims
	a.goLoop("routing", a.Router.Run, claimCtx)
	a.goLoop("callbacks", a.Callbacks.Run, claimCtx)
	a.goLoop("callflow", a.Engine.Run, runCtx)
	a.goLoop("relay", a.Relay.Run, runCtx)
	a.goLoop("redis-health", a.watchRedis, runCtx)
	a.goLoop("updates", a.watchState, runCtx)
	a.log.Info("hotline started", "node", a.node, "http", a.URL(), "ari", a.cfg.ARI.URL)
	return nil
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
