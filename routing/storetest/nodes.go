package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hotline-project/hotline/routing"
)

func testOffersReachTheOwningNode(t *testing.T, open Open) {
	clk := NewClock()
	// Its own key space, so a repeated run (-count) starts from nothing.
	st := open(t)
	agents := []routing.Agent{agent("a", "audit")}
	n1 := newNode(t, st, "n1", clk, agents)
	n2 := newNode(t, st, "n2", clk, agents)
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

func testSweepAfterNodeDied(t *testing.T, open Open) {
	ctx := context.Background()
	grace := 30 * time.Second
	t.Run("queue offer", func(t *testing.T) {
		e := newEnv(t, open, []routing.Agent{agent("a", "audit")})
		e.login(t, "a")
		// The call belongs to a node, alive when the call is offered,
		// that dies right after the offer.
		now := e.clk.Now()
		if _, err := e.st.Queue.Heartbeat(ctx, "dead", now, now.Add(15*time.Second)); err != nil {
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
		e := newEnv(t, open, []routing.Agent{agent("a", "audit"), agent("b", "service")})
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
		if _, ok, _ := e.st.Cases.Pending(ctx, "c1"); ok {
			t.Error("pending transfer survived the sweep")
		}
	})
}

// testRunEndsWrapUp checks that Run's timers, computed from the store's
// due times and the injected clock, end a wrap-up and dispatch the next
// caller with no one calling Tick.
func testRunEndsWrapUp(t *testing.T, open Open) {
	e := newEnv(t, open, []routing.Agent{agent("a", "audit")}, func(o *routing.Options) { o.MaxIdleWait = 20 * time.Millisecond })
	e.login(t, "a")
	// Connected before Run starts: Run's start re-delivers pending offers
	// (RecoverOffers), which would race connect's count of c1's offer.
	e.connect(t, "c1", "audit")
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = e.r.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
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

// testDeadNodesCallersAreSkipped checks that a caller whose node is not
// alive is not offered (an agent would ring for a call nobody connects,
// then again after every sweep), that the live caller behind them gets
// the agent, and that the skipped caller keeps their place and is offered
// once their node heartbeats again.
func testDeadNodesCallersAreSkipped(t *testing.T, open Open) {
	ctx := context.Background()
	ttl := 15 * time.Second
	tests := []struct {
		name string
		// n2Beat is whether n2 heartbeats before its caller queues, and
		// lapse how long the clock then moves before an agent is free.
		n2Beat bool
		lapse  time.Duration
		// byRun revives n2 by starting its Run rather than by calling
		// Heartbeat.
		byRun     bool
		wantFirst string
	}{
		{name: "n2 alive: its caller first", n2Beat: true, lapse: ttl / 2, wantFirst: "c2"},
		{name: "n2 never heartbeat", wantFirst: "c1", byRun: true},
		{name: "n2 heartbeat lapsed", n2Beat: true, lapse: ttl + time.Second, wantFirst: "c1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := NewClock()
			st := open(t)
			agents := []routing.Agent{agent("a", "audit")}
			opt := func(o *routing.Options) {
				o.Policy.WrapUp = 0
				o.HeartbeatTTL = ttl
			}
			n1 := newNode(t, st, "n1", clk, agents, opt)
			n2 := newNode(t, st, "n2", clk, agents, opt)
			if err := n1.r.Heartbeat(ctx); err != nil {
				t.Fatal(err)
			}
			if tt.n2Beat {
				if err := n2.r.Heartbeat(ctx); err != nil {
					t.Fatal(err)
				}
			}
			// n2's caller is ahead of n1's; no agent is logged in yet.
			n2.enqueue(t, "c2", "audit")
			n1.enqueue(t, "c1", "audit")
			clk.Advance(tt.lapse)
			if err := n1.r.Heartbeat(ctx); err != nil {
				t.Fatal(err)
			}
			n1.login(t, "a")
			if a := n1.state(t, "a"); a.State != routing.StateRinging || a.CallID != tt.wantFirst {
				t.Fatalf("agent a %s for %q, want ringing for %s", a.State, a.CallID, tt.wantFirst)
			}
			if tt.wantFirst == "c2" {
				return
			}
			if got := n2.offers.all(); len(got) != 0 {
				t.Errorf("dead node's caller offered: %v", offeredPairs(got))
			}
			// The agent is freed; the dead node's caller is still not
			// offered, and still first in line.
			if err := n1.r.Answered(ctx, n1.offers.last(t)); err != nil {
				t.Fatal(err)
			}
			if err := n1.r.EndCall(ctx, "c1", "a"); err != nil {
				t.Fatal(err)
			}
			if a := n1.state(t, "a"); a.State != routing.StateAvailable {
				t.Errorf("agent a %s for %q after the call, want available", a.State, a.CallID)
			}
			if info, err := n1.r.QueueInfo(ctx, "c2"); err != nil || info.Position != 1 {
				t.Errorf("c2: %+v %v, want queued first", info, err)
			}
			if tt.byRun {
				runCtx, cancel := context.WithCancel(ctx)
				var wg sync.WaitGroup
				wg.Add(1)
				go func() { defer wg.Done(); _ = n2.r.Run(runCtx) }()
				defer func() { cancel(); wg.Wait() }()
				deadline := time.Now().Add(5 * time.Second)
				for len(n2.offers.all()) == 0 {
					if time.Now().After(deadline) {
						t.Fatal("Run's heartbeat never brought c2 an offer")
					}
					time.Sleep(5 * time.Millisecond)
				}
			} else if err := n2.r.Heartbeat(ctx); err != nil {
				t.Fatal(err)
			}
			if o := n2.offers.last(t); o.CallID != "c2" || o.Agent.ID != "a" || o.Node != "n2" {
				t.Errorf("after n2 heartbeat offered %s->%s on %s, want c2->a on n2", o.CallID, o.Agent.ID, o.Node)
			}
		})
	}
}

// testLiveCallersKeepTheirOrder checks that callers of live nodes behind a
// dead node's caller are still offered oldest first, across topics.
func testLiveCallersKeepTheirOrder(t *testing.T, open Open) {
	ctx := context.Background()
	clk := NewClock()
	st := open(t)
	agents := []routing.Agent{agent("a", "audit", "service"), agent("b", "audit", "service")}
	n1 := newNode(t, st, "n1", clk, agents)
	n2 := newNode(t, st, "n2", clk, agents)
	n2.enqueue(t, "dead1", "audit")
	n1.enqueue(t, "live1", "service")
	n2.enqueue(t, "dead2", "service")
	n1.enqueue(t, "live2", "audit")
	n1.enqueue(t, "live3", "audit")
	n1.login(t, "a", "b")
	want := []string{"live1", "live2"}
	var got []string
	for _, o := range n1.offers.all() {
		got = append(got, o.CallID)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("offered %v, want %v", got, want)
	}
	for id, pos := range map[string]int{"dead1": 1, "dead2": 1, "live3": 2} {
		if info, err := n1.r.QueueInfo(ctx, id); err != nil || info.Position != pos {
			t.Errorf("%s: %+v %v, want position %d", id, info, err, pos)
		}
	}
}

// testStoppedNodeIsDeadAtOnce: when a node's Run returns (the node is
// stopping) its heartbeat ends then, not when it would lapse: a peer
// passes over its waiting caller at once instead of ringing an agent for
// a call nobody would connect.
func testStoppedNodeIsDeadAtOnce(t *testing.T, open Open) {
	ctx := context.Background()
	clk := NewClock()
	st := open(t)
	agents := []routing.Agent{agent("a", "audit")}
	opt := func(o *routing.Options) { o.HeartbeatTTL = time.Hour }
	n1 := newNode(t, st, "n1", clk, agents, opt)
	n2 := newNode(t, st, "n2", clk, agents, opt)
	// n2 is alive (for an hour) and has a caller waiting.
	if err := n2.r.Heartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	n2.enqueue(t, "c2", "audit")
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = n2.r.Run(runCtx) }()
	cancel()
	<-done
	n1.login(t, "a")
	if a := n1.state(t, "a"); a.State != routing.StateAvailable {
		t.Fatalf("agent a %s for %q: a stopped node's caller was offered", a.State, a.CallID)
	}
	if info, err := n1.r.QueueInfo(ctx, "c2"); err != nil || info.Position != 1 {
		t.Errorf("c2: %+v %v, want still queued first", info, err)
	}
}

// testDeadNodesCallersDoNotCount: a dead node's waiting callers are not
// offered, so they are in nobody's way: once its heartbeat has lapsed
// they no longer count in other callers' positions and estimates, nor in
// the queue's length; when it heartbeats again they count again, in the
// places they kept.
func testDeadNodesCallersDoNotCount(t *testing.T, open Open) {
	ctx := context.Background()
	ttl := 15 * time.Second
	clk := NewClock()
	st := open(t)
	agents := []routing.Agent{agent("a", "audit")}
	opt := func(o *routing.Options) { o.HeartbeatTTL = ttl }
	n1 := newNode(t, st, "n1", clk, agents, opt)
	n2 := newNode(t, st, "n2", clk, agents, opt)
	beat := func(e *env) {
		t.Helper()
		if err := e.r.Heartbeat(ctx); err != nil {
			t.Fatal(err)
		}
	}
	beat(n1)
	beat(n2)
	n2.enqueue(t, "c2", "audit")
	n2.enqueue(t, "c3", "audit")
	n1.enqueue(t, "c1", "audit")
	check := func(what string, pos, queued int) {
		t.Helper()
		q, err := n1.r.QueueInfo(ctx, "c1")
		if err != nil {
			t.Fatal(err)
		}
		st, err := n1.r.TopicStats(ctx, "audit")
		if err != nil {
			t.Fatal(err)
		}
		if q.Position != pos || st.Queued != queued {
			t.Errorf("%s: position %d, queue %d; want %d, %d", what, q.Position, st.Queued, pos, queued)
		}
	}
	check("n2 alive", 3, 3)
	clk.Advance(ttl + time.Second)
	beat(n1)
	check("n2 dead", 1, 1)
	beat(n2)
	check("n2 back", 3, 3)
}

// testTakeOverDeadNodesCaller: a live node sharing the dead node's
// Asterisk takes its waiting callers over: each keeps its place, and is
// offered by the new node; a live node's caller cannot be taken.
func testTakeOverDeadNodesCaller(t *testing.T, open Open) {
	ctx := context.Background()
	ttl := 15 * time.Second
	clk := NewClock()
	st := open(t)
	agents := []routing.Agent{agent("a", "audit")}
	opt := func(o *routing.Options) { o.HeartbeatTTL = ttl; o.Policy.WrapUp = 0 }
	n1 := newNode(t, st, "n1", clk, agents, opt)
	n2 := newNode(t, st, "n2", clk, agents, opt)
	for _, e := range []*env{n1, n2} {
		if err := e.r.Heartbeat(ctx); err != nil {
			t.Fatal(err)
		}
	}
	n2.enqueue(t, "c2", "audit")
	n1.enqueue(t, "c1", "audit")
	if _, err := n1.r.TakeOver(ctx, "c2"); !errors.Is(err, routing.ErrIllegalTransition) {
		t.Fatalf("took a live node's caller over: %v", err)
	}
	clk.Advance(ttl + time.Second)
	if err := n1.r.Heartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	c, err := n1.r.TakeOver(ctx, "c2")
	if err != nil || c.Node != "n1" || c.State != routing.CallQueued {
		t.Fatalf("take over: %+v %v", c, err)
	}
	if q, err := n1.r.QueueInfo(ctx, "c2"); err != nil || q.Position != 1 {
		t.Errorf("c2 after the takeover: %+v %v, want first in line", q, err)
	}
	n1.login(t, "a")
	if o := n1.offers.last(t); o.CallID != "c2" {
		t.Errorf("offer %+v, want c2 (first in line, now n1's)", o)
	}
	if _, err := n1.r.TakeOver(ctx, "c1"); !errors.Is(err, routing.ErrIllegalTransition) {
		t.Errorf("took over a caller not waiting for a dead node: %v", err)
	}
}

// testLostOfferRecovered: an offer for another node's caller travels over
// pub/sub; published while that node was not subscribed (its Redis
// connection just came back), the message is lost, and the agent rang for
// nobody until the sweep. The node gets it from the store instead — once.
func testLostOfferRecovered(t *testing.T, open Open) {
	ctx := context.Background()
	clk := NewClock()
	st := open(t)
	agents := []routing.Agent{agent("a", "audit")}
	n1 := newNode(t, st, "n1", clk, agents)
	n2 := newNode(t, st, "n2", clk, agents)
	for _, e := range []*env{n1, n2} {
		if err := e.r.Heartbeat(ctx); err != nil {
			t.Fatal(err)
		}
	}
	n2.enqueue(t, "c2", "audit")
	n1.login(t, "a") // n1 pairs n2's caller and publishes; n2 is not listening
	if got := n2.offers.all(); len(got) != 0 {
		t.Fatalf("offers reached n2 without a subscription: %v", offeredPairs(got))
	}
	n, err := n2.r.RecoverOffers(ctx)
	if err != nil || n != 1 {
		t.Fatalf("recovered %d, %v; want the lost offer", n, err)
	}
	if o := n2.offers.last(t); o.CallID != "c2" || o.Agent.ID != "a" || o.Agent.Endpoint == "" {
		t.Errorf("recovered offer %+v", o)
	}
	if n, err := n2.r.RecoverOffers(ctx); err != nil || n != 0 {
		t.Errorf("second recovery handed on %d, %v; want none (delivered already)", n, err)
	}
	if n, err := n1.r.RecoverOffers(ctx); err != nil || n != 0 {
		t.Errorf("n1 recovered %d, %v: the offer is n2's", n, err)
	}
}

// testHeartbeatRevived checks what a heartbeat reports: revived when the
// node had no live heartbeat (first one, or after it lapsed), not when it
// refreshes a live one; a heartbeat must name its node.
func testHeartbeatRevived(t *testing.T, open Open) {
	st := open(t).Queue
	ctx := context.Background()
	ttl := 15 * time.Second
	steps := []struct {
		name string
		node string
		at   time.Duration // since Start
		want bool
	}{
		{"first heartbeat", "n1", 0, true},
		{"refreshed before it lapsed", "n1", 5 * time.Second, false},
		{"on its expiry still alive", "n1", 20 * time.Second, false},
		{"after it lapsed", "n1", 36 * time.Second, true},
		{"another node's first", "n2", 36 * time.Second, true},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			now := Start.Add(s.at)
			got, err := st.Heartbeat(ctx, s.node, now, now.Add(ttl))
			if err != nil {
				t.Fatal(err)
			}
			if got != s.want {
				t.Errorf("revived = %v, want %v", got, s.want)
			}
		})
	}
	if _, err := st.Heartbeat(ctx, "", Start, Start.Add(ttl)); err == nil {
		t.Error("heartbeat with no node accepted")
	}
}

// testDeadCallersAreLookedPast checks that pairing finds a live caller
// behind a dead node's callers however many there are (the Redis store
// reads the queue a page at a time), and leaves the dead node's callers
// queued.
func testDeadCallersAreLookedPast(t *testing.T, open Open) {
	ctx := context.Background()
	for _, dead := range []int{0, 63, 64, 200} {
		t.Run(fmt.Sprintf("%d dead ahead", dead), func(t *testing.T) {
			st := open(t).Queue
			tm := routing.Timing{Now: Start, RingTimeout: 15 * time.Second, Node: "n1"}
			if err := st.SyncAgents(ctx, []routing.Agent{{ID: "a", Topics: map[string]int{"audit": 0}}}, Start); err != nil {
				t.Fatal(err)
			}
			enqueue := func(id, node string, at time.Time) {
				t.Helper()
				call := routing.Call{ID: id, Topic: "audit", Node: node, EnqueuedAt: at}
				hop := routing.Hop{To: routing.Destination{Kind: routing.DestTopic, Name: "audit"}, At: at}
				if _, _, err := st.Enqueue(ctx, routing.Entry{Call: call, Hop: hop}, tm); err != nil {
					t.Fatalf("enqueue %s: %v", id, err)
				}
			}
			for i := range dead {
				enqueue(fmt.Sprintf("dead%03d", i), "gone", Start.Add(time.Duration(i)*time.Millisecond))
			}
			enqueue("live", "n1", Start.Add(time.Second))
			d, err := st.Change(ctx, routing.AgentChange{Op: routing.OpLogin, AgentID: "a", Topics: []string{"audit"}}, tm)
			if err != nil {
				t.Fatal(err)
			}
			if len(d.Offers) != 1 || d.Offers[0].CallID != "live" {
				t.Errorf("offers %+v, want live offered", d.Offers)
			}
			if dead > 0 {
				if c, err := st.Call(ctx, "dead000"); err != nil || c.State != routing.CallQueued {
					t.Errorf("a dead node's caller: %+v %v, want still queued", c, err)
				}
			}
		})
	}
}

// testTakeOverOffersAtOnce: a dead node's caller is passed over, so an
// agent can be free while they wait; taken over, they are offered to that
// agent at once, by the taking node, not when something next frees an
// agent.
func testTakeOverOffersAtOnce(t *testing.T, open Open) {
	ctx := context.Background()
	clk := NewClock()
	st := open(t)
	agents := []routing.Agent{agent("a", "audit")}
	opt := func(o *routing.Options) { o.HeartbeatTTL = 15 * time.Second }
	n1 := newNode(t, st, "n1", clk, agents, opt)
	n2 := newNode(t, st, "n2", clk, agents, opt)
	for _, e := range []*env{n1, n2} {
		if err := e.r.Heartbeat(ctx); err != nil {
			t.Fatal(err)
		}
	}
	n2.enqueue(t, "c2", "audit")
	clk.Advance(16 * time.Second)
	if err := n1.r.Heartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	n1.login(t, "a")
	if a := n1.state(t, "a"); a.State != routing.StateAvailable {
		t.Fatalf("agent a %s for %q, want available (c2's node is dead)", a.State, a.CallID)
	}
	c, err := n1.r.TakeOver(ctx, "c2")
	if err != nil {
		t.Fatal(err)
	}
	if c.State != routing.CallRinging || c.AgentID != "a" || c.Node != "n1" {
		t.Errorf("taken over: %+v, want ringing a on n1", c)
	}
	if o := n1.offers.all(); len(o) != 1 || o[0].CallID != "c2" || o[0].Agent.ID != "a" || o[0].Node != "n1" {
		t.Errorf("offers %v, want c2 to a, delivered on n1", offeredPairs(o))
	}
}
