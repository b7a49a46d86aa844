package routing_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hotline-project/hotline/internal/redistest"
	"github.com/hotline-project/hotline/routing"
)

func TestRoundTripsPerDecision(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, []routing.Agent{agent("a", "audit"), agent("b", "audit"), agent("c", "service"), agent("d", "billing")}, func(o *routing.Options) { o.Policy.WrapUp = 0 })
	e.login(t, "a", "c", "d")
	measure := func(t *testing.T, name string, want int64, f func()) {
		t.Helper()
		before := e.trips.n.Load()
		f()
		if got := e.trips.n.Load() - before; got != want {
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
			if err := e.r.Answered(ctx, e.offers.all()[0]); err != nil {
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

func TestOffersReachTheOwningNode(t *testing.T) {
	clk := newTestClock()
	// Its own key space, so a repeated run (-count) starts from nothing.
	prefix := fmt.Sprintf("remote-%d:", time.Now().UnixNano())
	agents := []routing.Agent{agent("a", "audit")}
	n1 := newEnvOn(t, sharedRedis.Addr, prefix, "n1", clk, agents)
	n2 := newEnvOn(t, sharedRedis.Addr, prefix, "n2", clk, agents)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = n2.r.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	// Run subscribes asynchronously; keep offering until it listens.
	n1.login(t, "a")
	deadline := time.Now().Add(5 * time.Second)
	for i := 0; len(n2.offers.all()) == 0; i++ {
		if time.Now().After(deadline) {
			t.Fatal("offer never reached node n2")
		}
		id := "c" + string(rune('a'+i%26))
		if _, err := n1.r.Enqueue(ctx, routing.Call{ID: id, Topic: "audit", Node: "n2"}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
		if len(n2.offers.all()) == 0 {
			// Not heard: free the agent for the next try.
			if err := n1.r.Leave(ctx, id); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got := n1.offers.all(); len(got) != 0 {
		t.Errorf("node n1 was handed another node's offer: %v", offeredPairs(got))
	}
	if o := n2.offers.last(t); o.Node != "n2" || o.Agent.ID != "a" {
		t.Errorf("n2 got %+v", o)
	}
}

func TestSweepAfterNodeDied(t *testing.T) {
	ctx := context.Background()
	grace := 30 * time.Second
	t.Run("queue offer", func(t *testing.T) {
		e := newEnv(t, []routing.Agent{agent("a", "audit")})
		e.login(t, "a")
		// The call belongs to a node, alive when the call is offered,
		// that dies right after the offer.
		now := e.clk.Now()
		if _, err := e.st.Heartbeat(ctx, "dead", now, now.Add(15*time.Second)); err != nil {
			t.Fatal(err)
		}
		if _, err := e.r.Enqueue(ctx, routing.Call{ID: "c1", Topic: "audit", Node: "dead"}); err != nil {
			t.Fatal(err)
		}
		e.clk.Advance(time.Second)
		e.enqueue(t, "c2", "audit")
		if err := e.r.Pause(ctx, "a", "lunch"); err != nil { // asked for while ringing
			t.Fatal(err)
		}
		e.clk.Advance(15*time.Second + grace - 3*time.Second)
		if _, err := e.r.Tick(ctx); err != nil {
			t.Fatal(err)
		}
		if a := e.state(t, "a"); a.State != routing.StateRinging {
			t.Fatalf("swept before the grace ran out: %s", a.State)
		}
		e.clk.Advance(2 * time.Second)
		if _, err := e.r.Tick(ctx); err != nil {
			t.Fatal(err)
		}
		if a := e.state(t, "a"); a.State != routing.StatePaused || a.Reason != "lunch" {
			t.Errorf("agent after sweep = %s %q, want paused lunch", a.State, a.Reason)
		}
		// c1 is back in its place, first; its node is dead, so it is in
		// nobody's way: c2 is told position 1 too.
		for id, want := range map[string]int{"c1": 1, "c2": 1} {
			if info, err := e.r.QueueInfo(ctx, id); err != nil || info.Position != want {
				t.Errorf("%s after sweep: %+v %v, want position %d", id, info, err, want)
			}
		}
	})
	t.Run("transfer target", func(t *testing.T) {
		e := newEnv(t, []routing.Agent{agent("a", "audit"), agent("b", "service")})
		e.login(t, "a")
		e.connect(t, "c1", "audit")
		e.login(t, "b")
		if _, err := e.r.BeginTransfer(ctx, routing.TransferRequest{CallID: "c1", By: "a", To: dest("agent:b"), Note: goodNote}); err != nil {
			t.Fatal(err)
		}
		e.clk.Advance(15*time.Second + grace)
		if _, err := e.r.Tick(ctx); err != nil {
			t.Fatal(err)
		}
		if b := e.state(t, "b"); b.State != routing.StateAvailable {
			t.Errorf("target after sweep = %s", b.State)
		}
		if c, _ := e.r.Call(ctx, "c1"); c.State != routing.CallConnected || c.AgentID != "a" {
			t.Errorf("call after sweep: %s with %s", c.State, c.AgentID)
		}
		if _, ok, _ := e.st.Pending(ctx, "c1"); ok {
			t.Error("pending transfer survived the sweep")
		}
	})
}

func TestRedisRestartIsSurvived(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	e := newEnvOn(t, srv.Addr, "restart:", "n1", newTestClock(), []routing.Agent{agent("a", "audit"), agent("b", "audit")})
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

// TestRunEndsWrapUp checks that Run's timers, computed from the store's
// due times and the injected clock, end a wrap-up and dispatch the next
// caller with no one calling Tick.
func TestRunEndsWrapUp(t *testing.T) {
	e := newEnv(t, []routing.Agent{agent("a", "audit")}, func(o *routing.Options) { o.MaxIdleWait = 20 * time.Millisecond })
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = e.r.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	e.login(t, "a")
	e.connect(t, "c1", "audit")
	e.enqueue(t, "c2", "audit")
	if err := e.r.EndCall(ctx, "c1", "a"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if a := e.state(t, "a"); a.State != routing.StateWrapUp {
		t.Fatalf("wrap-up ended before its time: %s", a.State)
	}
	e.clk.Advance(10 * time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for e.offers.last(t).CallID != "c2" {
		if time.Now().After(deadline) {
			t.Fatalf("Run never ended the wrap-up: agent %s", e.state(t, "a").State)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
