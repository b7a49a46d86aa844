package routing_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hotline-project/hotline/internal/redistest"
	"github.com/hotline-project/hotline/redisstore"
	"github.com/hotline-project/hotline/routing"
)

// sharedRedis serves every test that does not restart Redis; each test
// gets its own key prefix, so tests cannot see each other's state.
var sharedRedis *redistest.Server

func TestMain(m *testing.M) {
	srv, err := redistest.StartServer()
	if err != nil {
		fmt.Fprintln(os.Stderr, "redis-server:", err)
		os.Exit(1)
	}
	sharedRedis = srv
	code := m.Run()
	srv.Stop()
	os.Exit(code)
}

var prefixSeq atomic.Int64

// testClock is a clock tests move by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock {
	return &testClock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// tripCounter counts Redis round trips: one per command sent alone, one
// per pipeline.
type tripCounter struct{ n atomic.Int64 }

func (c *tripCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *tripCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if !connSetup(cmd) {
			c.n.Add(1)
		}
		return next(ctx, cmd)
	}
}

func (c *tripCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if !slices.ContainsFunc(cmds, connSetup) {
			c.n.Add(1)
		}
		return next(ctx, cmds)
	}
}

// connSetup reports whether cmd is part of a new pooled connection's
// handshake: paid once per connection, not per decision.
func connSetup(cmd redis.Cmder) bool {
	switch cmd.Name() {
	case "hello", "client", "auth", "select":
		return true
	}
	return false
}

// offerLog records delivered offers.
type offerLog struct {
	mu     sync.Mutex
	offers []routing.Offer
}

func (l *offerLog) add(o routing.Offer) {
	l.mu.Lock()
	l.offers = append(l.offers, o)
	l.mu.Unlock()
}

func (l *offerLog) all() []routing.Offer {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]routing.Offer(nil), l.offers...)
}

func (l *offerLog) last(t *testing.T) routing.Offer {
	t.Helper()
	all := l.all()
	if len(all) == 0 {
		t.Fatal("no offer delivered")
	}
	return all[len(all)-1]
}

type env struct {
	r      *routing.Router
	st     *redisstore.Store
	rdb    *redis.Client
	clk    *testClock
	offers *offerLog
	trips  *tripCounter
	prefix string
}

func defaultPolicy() routing.Policy {
	return routing.Policy{
		RingTimeout: 15 * time.Second, WrapUp: 10 * time.Second, MaxHops: 3,
		MinNoteLength: 5, Blind: routing.BlindRefuse,
	}
}

type envOpt func(*routing.Options)

// newEnv builds a Router on the shared Redis with a fresh prefix.
func newEnv(t testing.TB, agents []routing.Agent, opts ...envOpt) *env {
	t.Helper()
	return newEnvOn(t, sharedRedis.Addr, fmt.Sprintf("t%d:", prefixSeq.Add(1)), "n1", newTestClock(), agents, opts...)
}

func newEnvOn(t testing.TB, addr, prefix, node string, clk *testClock, agents []routing.Agent, opts ...envOpt) *env {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true, PoolSize: 4})
	t.Cleanup(func() { _ = rdb.Close() })
	trips := &tripCounter{}
	rdb.AddHook(trips)
	st := redisstore.New(rdb, redisstore.Options{Prefix: prefix})
	ctx := context.Background()
	if err := st.LoadScripts(ctx); err != nil {
		t.Fatal(err)
	}
	log := &offerLog{}
	o := routing.Options{Node: node, Clock: clk, Policy: defaultPolicy(), Deliver: log.add}
	for _, f := range opts {
		f(&o)
	}
	r := routing.New(st, st, o)
	if agents != nil {
		if err := r.SyncAgents(ctx, agents); err != nil {
			t.Fatal(err)
		}
	}
	return &env{r: r, st: st, rdb: rdb, clk: clk, offers: log, trips: trips, prefix: prefix}
}

func agent(id string, topics ...string) routing.Agent {
	m := map[string]int{}
	for _, tp := range topics {
		m[tp] = 0
	}
	return routing.Agent{ID: id, Name: "Agent " + id, Endpoint: "PJSIP/" + id, Topics: m}
}

func (e *env) login(t testing.TB, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if err := e.r.Login(context.Background(), id); err != nil {
			t.Fatalf("login %s: %v", id, err)
		}
		// Distinct idle times make "longest idle" well defined.
		e.clk.Advance(time.Second)
	}
}

func (e *env) enqueue(t testing.TB, id, topic string) routing.QueueInfo {
	t.Helper()
	info, err := e.r.Enqueue(context.Background(), routing.Call{ID: id, Topic: topic, CallerNumber: "+380" + id})
	if err != nil {
		t.Fatalf("enqueue %s: %v", id, err)
	}
	e.clk.Advance(time.Second)
	return info
}

func (e *env) state(t testing.TB, id string) routing.AgentStatus {
	t.Helper()
	a, err := e.r.Agent(context.Background(), id)
	if err != nil {
		t.Fatalf("agent %s: %v", id, err)
	}
	return a
}

// connect enqueues a call and answers it with the agent it is offered to.
func (e *env) connect(t testing.TB, callID, topic string) routing.Offer {
	t.Helper()
	n := len(e.offers.all())
	e.enqueue(t, callID, topic)
	all := e.offers.all()
	if len(all) != n+1 || all[n].CallID != callID {
		t.Fatalf("call %s not offered: %+v", callID, all[n:])
	}
	if err := e.r.Answered(context.Background(), all[n]); err != nil {
		t.Fatalf("answer %s: %v", callID, err)
	}
	return all[n]
}
