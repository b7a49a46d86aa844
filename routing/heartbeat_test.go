package routing_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hotline-project/hotline/routing"
)

// TestDeadNodesCallersAreSkipped checks that a caller whose node is not
// alive is not offered (an agent would ring for a call nobody connects,
// then again after every sweep), that the live caller behind them gets
// the agent, and that the skipped caller keeps their place and is offered
// once their node heartbeats again.
func TestDeadNodesCallersAreSkipped(t *testing.T) {
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
			clk := newTestClock()
			prefix := fmt.Sprintf("beat%d:", prefixSeq.Add(1))
			agents := []routing.Agent{agent("a", "audit")}
			opt := func(o *routing.Options) {
				o.Policy.WrapUp = 0
				o.HeartbeatTTL = ttl
			}
			n1 := newEnvOn(t, sharedRedis.Addr, prefix, "n1", clk, agents, opt)
			n2 := newEnvOn(t, sharedRedis.Addr, prefix, "n2", clk, agents, opt)
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

// TestLiveCallersKeepTheirOrder checks that callers of live nodes behind a
// dead node's caller are still offered oldest first, across topics.
func TestLiveCallersKeepTheirOrder(t *testing.T) {
	ctx := context.Background()
	clk := newTestClock()
	prefix := fmt.Sprintf("beatorder%d:", prefixSeq.Add(1))
	agents := []routing.Agent{agent("a", "audit", "service"), agent("b", "audit", "service")}
	n1 := newEnvOn(t, sharedRedis.Addr, prefix, "n1", clk, agents)
	n2 := newEnvOn(t, sharedRedis.Addr, prefix, "n2", clk, agents)
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

// TestStoppedNodeIsDeadAtOnce: when a node's Run returns (the node is
// stopping) its heartbeat ends then, not when it would lapse: a peer
// passes over its waiting caller at once instead of ringing an agent for
// a call nobody would connect.
func TestStoppedNodeIsDeadAtOnce(t *testing.T) {
	ctx := context.Background()
	clk := newTestClock()
	prefix := fmt.Sprintf("stop%d:", prefixSeq.Add(1))
	agents := []routing.Agent{agent("a", "audit")}
	opt := func(o *routing.Options) { o.HeartbeatTTL = time.Hour }
	n1 := newEnvOn(t, sharedRedis.Addr, prefix, "n1", clk, agents, opt)
	n2 := newEnvOn(t, sharedRedis.Addr, prefix, "n2", clk, agents, opt)
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

// TestDeadNodesCallersDoNotCount: a dead node's waiting callers are not
// offered, so they are in nobody's way: once its heartbeat has lapsed
// they no longer count in other callers' positions and estimates, nor in
// the queue's length; when it heartbeats again they count again, in the
// places they kept.
func TestDeadNodesCallersDoNotCount(t *testing.T) {
	ctx := context.Background()
	ttl := 15 * time.Second
	clk := newTestClock()
	prefix := fmt.Sprintf("count%d:", prefixSeq.Add(1))
	agents := []routing.Agent{agent("a", "audit")}
	opt := func(o *routing.Options) { o.HeartbeatTTL = ttl }
	n1 := newEnvOn(t, sharedRedis.Addr, prefix, "n1", clk, agents, opt)
	n2 := newEnvOn(t, sharedRedis.Addr, prefix, "n2", clk, agents, opt)
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

// TestTakeOverDeadNodesCaller: a live node sharing the dead node's
// Asterisk takes its waiting callers over: each keeps its place, and is
// offered by the new node; a live node's caller cannot be taken.
func TestTakeOverDeadNodesCaller(t *testing.T) {
	ctx := context.Background()
	ttl := 15 * time.Second
	clk := newTestClock()
	prefix := fmt.Sprintf("take%d:", prefixSeq.Add(1))
	agents := []routing.Agent{agent("a", "audit")}
	opt := func(o *routing.Options) { o.HeartbeatTTL = ttl; o.Policy.WrapUp = 0 }
	n1 := newEnvOn(t, sharedRedis.Addr, prefix, "n1", clk, agents, opt)
	n2 := newEnvOn(t, sharedRedis.Addr, prefix, "n2", clk, agents, opt)
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

// TestLostOfferRecovered: an offer for another node's caller travels over
// pub/sub; published while that node was not subscribed (its Redis
// connection just came back), the message is lost, and the agent rang for
// nobody until the sweep. The node gets it from the store instead — once.
func TestLostOfferRecovered(t *testing.T) {
	ctx := context.Background()
	clk := newTestClock()
	prefix := fmt.Sprintf("lost%d:", prefixSeq.Add(1))
	agents := []routing.Agent{agent("a", "audit")}
	n1 := newEnvOn(t, sharedRedis.Addr, prefix, "n1", clk, agents)
	n2 := newEnvOn(t, sharedRedis.Addr, prefix, "n2", clk, agents)
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
