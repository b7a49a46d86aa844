package redisstore_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hotline-project/hotline/internal/redistest"
	"github.com/hotline-project/hotline/redisstore"
	"github.com/hotline-project/hotline/routing"
	"github.com/hotline-project/hotline/routing/storetest"
)

// The routing core on Redis where what is checked is Redis's: round trips
// per decision, keys that expire, scripts reloaded after a restart. The
// routing rules themselves are storetest's (TestStores).

// routerEnv is one node's Router on a Redis store, with the round trips
// it makes counted.
type routerEnv struct {
	r      *routing.Router
	st     *redisstore.Store
	rdb    *redis.Client
	spy    *scriptSpy
	clk    *storetest.Clock
	offers *offers
}

// offers records delivered offers.
type offers struct {
	mu  sync.Mutex
	all []routing.Offer
}

func (l *offers) add(o routing.Offer) {
	l.mu.Lock()
	l.all = append(l.all, o)
	l.mu.Unlock()
}

func (l *offers) last(t testing.TB) routing.Offer {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.all) == 0 {
		t.Fatal("no offer delivered")
	}
	return l.all[len(l.all)-1]
}

func (l *offers) first() routing.Offer {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.all[0]
}

func newRouterEnv(t *testing.T, addr, node string, clk *storetest.Clock, agents []routing.Agent, opts ...func(*routing.Options)) *routerEnv {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true, PoolSize: 4})
	t.Cleanup(func() { _ = rdb.Close() })
	spy := &scriptSpy{}
	rdb.AddHook(spy)
	st := redisstore.New(rdb, redisstore.Options{})
	ctx := context.Background()
	if err := st.LoadScripts(ctx); err != nil {
		t.Fatal(err)
	}
	log := &offers{}
	o := routing.Options{Node: node, Clock: clk, Deliver: log.add, Policy: routing.Policy{
		RingTimeout: 15 * time.Second, WrapUp: 10 * time.Second, MaxHops: 3, MinNoteLength: 5, Blind: routing.BlindRefuse,
	}}
	for _, f := range opts {
		f(&o)
	}
	r := routing.New(st, st, o)
	if err := r.SyncAgents(ctx, agents); err != nil {
		t.Fatal(err)
	}
	return &routerEnv{r: r, st: st, rdb: rdb, spy: spy, clk: clk, offers: log}
}

func agent(id string, topics ...string) routing.Agent {
	m := map[string]int{}
	for _, tp := range topics {
		m[tp] = 0
	}
	return routing.Agent{ID: id, Name: "Agent " + id, Endpoint: "PJSIP/" + id, Topics: m}
}

func dest(s string) routing.Destination {
	d, err := routing.ParseDestination(s)
	if err != nil {
		panic(err)
	}
	return d
}

const goodNote = "router resets every night"

func (e *routerEnv) login(t testing.TB, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if err := e.r.Login(context.Background(), id); err != nil {
			t.Fatalf("login %s: %v", id, err)
		}
		e.clk.Advance(time.Second)
	}
}

func (e *routerEnv) enqueue(t testing.TB, id, topic string) {
	t.Helper()
	if _, err := e.r.Enqueue(context.Background(), routing.Call{ID: id, Topic: topic, CallerNumber: "+380" + id}); err != nil {
		t.Fatalf("enqueue %s: %v", id, err)
	}
	e.clk.Advance(time.Second)
}

func TestRoundTripsPerDecision(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	e := newRouterEnv(t, srv.Addr, "n1", storetest.NewClock(), []routing.Agent{agent("a", "audit"), agent("b", "audit"), agent("c", "service"), agent("d", "billing")}, func(o *routing.Options) { o.Policy.WrapUp = 0 })
	e.login(t, "a", "c", "d")
	measure := func(t *testing.T, name string, want int64, f func()) {
		t.Helper()
		before := e.spy.trips.Load()
		f()
		if got := e.spy.trips.Load() - before; got != want {
			t.Errorf("%s: %d Redis round trips, want %d", name, got, want)
		}
	}
	var tr routing.Transfer
	steps := []struct {
		name string
		want int64
		f    func(t *testing.T)
	}{
		{"enqueue to offer", 1, func(t *testing.T) {
			e.enqueue(t, "c1", "audit")
			if e.offers.last(t).CallID != "c1" {
				t.Error("not offered")
			}
		}},
		{"enqueue with no free agent", 1, func(t *testing.T) { e.enqueue(t, "c2", "audit") }},
		// A first-time caller's case is written with the enqueue.
		{"case opened and enqueued", 1, func(t *testing.T) {
			cs, _, err := e.r.EnqueueNewCase(ctx, routing.Call{ID: "c0", Topic: "billing", CallerNumber: "+3805"})
			if err != nil {
				t.Fatal(err)
			}
			if o := e.offers.last(t); o.CallID != "c0" || o.CaseID != cs.ID || o.Agent.ID != "d" {
				t.Errorf("offer %+v, want c0 in case %s to d", o, cs.ID)
			}
		}},
		{"agent freed (login) to offer", 1, func(t *testing.T) {
			e.login(t, "b")
			if o := e.offers.last(t); o.CallID != "c2" || o.Agent.ID != "b" {
				t.Errorf("offer %s->%s", o.CallID, o.Agent.ID)
			}
		}},
		{"dispatch with nothing to pair", 1, func(t *testing.T) {
			if err := e.r.Dispatch(ctx, "audit", "service"); err != nil {
				t.Fatal(err)
			}
		}},
		// Answered is the state change plus one pipeline recording the
		// agent on the path and the case.
		{"answered", 2, func(t *testing.T) {
			if err := e.r.Answered(ctx, e.offers.first()); err != nil {
				t.Fatal(err)
			}
		}},
		{"transfer refused as a loop: the path check alone", 1, func(t *testing.T) {
			_, err := e.r.BeginTransfer(ctx, routing.TransferRequest{CallID: "c1", By: "a", To: dest("topic:audit"), Note: goodNote})
			if ref, ok := routing.AsRefusal(err); !ok || ref.Code != routing.RefuseLoop {
				t.Fatalf("err = %v", err)
			}
		}},
		{"transfer begun: path check plus target claim", 2, func(t *testing.T) {
			var err error
			tr, err = e.r.BeginTransfer(ctx, routing.TransferRequest{CallID: "c1", By: "a", To: dest("topic:service"), Note: goodNote})
			if err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) { measure(t, s.name, s.want, func() { s.f(t) }) })
	}
	if tr.Target.ID != "c" {
		t.Errorf("transfer target %q", tr.Target.ID)
	}
	if cs, ok, err := e.r.OpenCaseFor(ctx, "+3805"); err != nil || !ok || cs.Topic != "billing" || len(cs.Path) != 1 {
		t.Errorf("case opened with the enqueue: %+v %v %v", cs, ok, err)
	}
}

func TestRedisRestartIsSurvived(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	e := newRouterEnv(t, srv.Addr, "n1", storetest.NewClock(), []routing.Agent{agent("a", "audit"), agent("b", "audit")})
	e.login(t, "a")
	e.enqueue(t, "c1", "audit")
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	// Everything is gone, scripts included. The agents come back from the
	// configuration on their next action; the scripts are reloaded.
	steps := []struct {
		name string
		f    func(t *testing.T)
	}{
		{"enqueue (pipeline: scripts reloaded)", func(t *testing.T) { e.enqueue(t, "c2", "audit") }},
		{"login of an agent the store forgot", func(t *testing.T) { e.login(t, "b") }},
		{"offer made", func(t *testing.T) {
			if o := e.offers.last(t); o.CallID != "c2" || o.Agent.ID != "b" {
				t.Errorf("offer %s->%s, want c2->b", o.CallID, o.Agent.ID)
			}
		}},
		{"transfer check (single script: EVAL fallback)", func(t *testing.T) {
			if err := e.r.Answered(ctx, e.offers.last(t)); err != nil {
				t.Fatal(err)
			}
			e.login(t, "a")
			if _, err := e.r.BeginTransfer(ctx, routing.TransferRequest{CallID: "c2", By: "b", To: dest("agent:a"), Note: goodNote}); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, s := range steps {
		t.Run(s.name, s.f)
	}
	if err := e.st.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	agents, err := e.r.Agents(ctx)
	if err != nil || len(agents) != 2 {
		t.Errorf("agents after restart: %d %v", len(agents), err)
	}
}

func TestCallKeysExpireAfterCall(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	e := newRouterEnv(t, srv.Addr, "n1", storetest.NewClock(), []routing.Agent{agent("a", "audit")})
	e.login(t, "a")
	e.enqueue(t, "c1", "audit")
	if err := e.r.Answered(ctx, e.offers.last(t)); err != nil {
		t.Fatal(err)
	}
	key := "hotline:{call:c1}:path"
	if ttl := e.rdb.TTL(ctx, key).Val(); ttl != -1 {
		t.Fatalf("live call path TTL = %v, want none", ttl)
	}
	if err := e.r.EndCall(ctx, "c1", "a"); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"path", "seen"} {
		ttl := e.rdb.TTL(ctx, "hotline:{call:c1}:"+k).Val()
		if ttl <= 23*time.Hour || ttl > 24*time.Hour {
			t.Errorf("%s TTL after end = %v, want about 24h", k, ttl)
		}
	}
}
