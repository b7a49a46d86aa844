package storetest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hotline-project/hotline/routing"
)

// tracker is the test's own view of who is offered what. Every offer and
// every claimed transfer target is checked against it: an agent offered a
// second call while still holding one, or a call offered to a second agent
// while still offered to one, is a double assignment. A release is
// recorded before the Router is told, because the freed agent may be
// offered a new call (on any node) before the release call returns.
type tracker struct {
	mu       sync.Mutex
	agentHas map[string]string // agent -> call
	callAt   map[string]string // call -> agent ringing or talking
	visited  map[string]map[string]bool
	hops     map[string]int
	errs     []string
	done     atomic.Int64
}

func newTracker() *tracker {
	return &tracker{agentHas: map[string]string{}, callAt: map[string]string{}, visited: map[string]map[string]bool{}, hops: map[string]int{}}
}

func (k *tracker) failf(format string, args ...any) {
	if len(k.errs) < 20 {
		k.errs = append(k.errs, fmt.Sprintf(format, args...))
	}
}

func (k *tracker) take(callID, agentID, what string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if c, ok := k.agentHas[agentID]; ok && c != callID {
		k.failf("double assignment: agent %s given %s (%s) while holding %s", agentID, callID, what, c)
	}
	if what == "offer" {
		if a, ok := k.callAt[callID]; ok {
			k.failf("double assignment: call %s offered to %s while at %s", callID, agentID, a)
		}
		k.callAt[callID] = agentID
	}
	k.agentHas[agentID] = callID
}

func (k *tracker) release(callID, agentID string, dropCall bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.agentHas[agentID] == callID {
		delete(k.agentHas, agentID)
	}
	if dropCall && k.callAt[callID] == agentID {
		delete(k.callAt, callID)
	}
}

func (k *tracker) moveCall(callID, to string) {
	k.mu.Lock()
	k.callAt[callID] = to
	k.mu.Unlock()
}

func (k *tracker) visit(callID, d string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.visited[callID] == nil {
		k.visited[callID] = map[string]bool{}
	}
	k.visited[callID][d] = true
}

// checkTransfer fails the test if a transfer the Router let through goes
// back to where the caller has been or past the hop limit.
func (k *tracker) checkTransfer(tr routing.Transfer, maxHops int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	v := k.visited[tr.CallID]
	if v[tr.To.String()] {
		k.failf("loop let through: %s to %s, visited %v", tr.CallID, tr.To, v)
	}
	if v["agent:"+tr.Target.ID] {
		k.failf("loop let through: %s target %s had the caller", tr.CallID, tr.Target.ID)
	}
	if k.hops[tr.CallID]+1 > maxHops {
		k.failf("hop limit passed: %s", tr.CallID)
	}
}

// testManyNodesRace runs four nodes, each with its own Router on one
// store, enqueueing calls, answering, letting offers ring
// out, hanging up and transferring (several transfers of the same call at
// once), and checks that no agent or call is ever double assigned and no
// loop or extra hop gets through.
func testManyNodesRace(t *testing.T, open Open) {
	const (
		nodes        = 4
		callsPerNode = 1000
		workers      = 3
	)
	topics := []string{"audit", "service", "connections"}
	var agents []routing.Agent
	for i := range 14 {
		agents = append(agents, agent(fmt.Sprintf("a%02d", i), topics[i%3], topics[(i+1)%3]))
	}
	clk := NewClock()
	st := open(t)
	k := newTracker()
	maxHops := 3
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	type node struct {
		e     *env
		queue chan routing.Offer
	}
	ns := make([]*node, nodes)
	for i := range ns {
		n := &node{queue: make(chan routing.Offer, 4*callsPerNode*nodes)}
		n.e = newNode(t, st, fmt.Sprintf("n%d", i), clk, agents, func(o *routing.Options) {
			o.Policy.WrapUp = 0
			o.Policy.MaxHops = maxHops
			// One heartbeat, at the start: this test is about the
			// stores' pairing. (Router.RecoverOffers, run with each
			// heartbeat, hands on an offer whose pub/sub message is
			// still on its way, and Run hands it on again when the
			// message arrives: a double delivery of the Router's, not
			// of the stores'.)
			o.Heartbeat = time.Hour
			o.Deliver = func(off routing.Offer) {
				k.take(off.CallID, off.Agent.ID, "offer")
				n.queue <- off
			}
		})
		ns[i] = n
	}
	var bg sync.WaitGroup
	for _, n := range ns {
		bg.Add(1)
		go func() { defer bg.Done(); _ = n.e.r.Run(ctx) }()
	}
	// Let every node subscribe before offers fly.
	time.Sleep(200 * time.Millisecond)
	for _, a := range agents {
		if err := ns[0].e.r.Login(ctx, a.ID); err != nil {
			t.Fatal(err)
		}
	}

	var opErrs atomic.Int64
	handle := func(n *node, rng *rand.Rand, o routing.Offer) {
		r := n.e.r
		switch p := rng.IntN(100); {
		case p < 10: // rings out; the agent comes back at once
			k.release(o.CallID, o.Agent.ID, true)
			if err := r.NoAnswer(ctx, o); err != nil {
				opErrs.Add(1)
				t.Errorf("no answer: %v", err)
			}
			if err := r.Resume(ctx, o.Agent.ID); err != nil {
				t.Errorf("resume: %v", err)
			}
			return
		case p < 15: // caller hangs up while ringing
			k.release(o.CallID, o.Agent.ID, true)
			if err := r.Leave(ctx, o.CallID); err != nil {
				t.Errorf("leave: %v", err)
			}
			k.done.Add(1)
			return
		}
		if err := r.Answered(ctx, o); err != nil {
			t.Errorf("answered: %v", err)
			return
		}
		k.visit(o.CallID, "agent:"+o.Agent.ID)
		current := o.Agent.ID
		for attempt := 0; attempt < 3 && rng.IntN(100) < 60; attempt++ {
			// Three transfers of the same call at once: at most one may pass.
			var wg sync.WaitGroup
			results := make([]routing.Transfer, 3)
			oks := make([]bool, 3)
			for j := range 3 {
				var d routing.Destination
				if rng.IntN(2) == 0 {
					d = routing.Destination{Kind: routing.DestTopic, Name: topics[rng.IntN(3)]}
				} else {
					d = routing.Destination{Kind: routing.DestAgent, Name: agents[rng.IntN(len(agents))].ID}
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					tr, err := r.BeginTransfer(ctx, routing.TransferRequest{CallID: o.CallID, By: current, To: d, Note: goodNote})
					if err != nil {
						if _, ok := routing.AsRefusal(err); !ok {
							t.Errorf("transfer: %v", err)
						}
						return
					}
					k.take(o.CallID, tr.Target.ID, "transfer")
					results[j], oks[j] = tr, true
				}()
			}
			wg.Wait()
			var tr routing.Transfer
			n := 0
			for j := range 3 {
				if oks[j] {
					tr = results[j]
					n++
				}
			}
			if n > 1 {
				k.mu.Lock()
				k.failf("%d transfers of %s passed at once", n, o.CallID)
				k.mu.Unlock()
			}
			if n == 0 {
				continue
			}
			k.checkTransfer(tr, maxHops)
			if rng.IntN(100) < 70 {
				k.release(o.CallID, current, false)
				if err := r.AcceptTransfer(ctx, o.CallID, tr.ID); err != nil {
					t.Errorf("accept: %v", err)
					return
				}
				k.mu.Lock()
				k.hops[o.CallID]++
				k.mu.Unlock()
				k.moveCall(o.CallID, tr.Target.ID)
				k.visit(o.CallID, tr.To.String())
				k.visit(o.CallID, "agent:"+tr.Target.ID)
				current = tr.Target.ID
			} else {
				k.release(o.CallID, tr.Target.ID, false)
				if err := r.CancelTransfer(ctx, o.CallID, tr.ID, false); err != nil {
					t.Errorf("cancel: %v", err)
				}
			}
		}
		k.release(o.CallID, current, true)
		if err := r.EndCall(ctx, o.CallID, current); err != nil {
			t.Errorf("end call: %v", err)
		}
		k.done.Add(1)
	}

	var wg sync.WaitGroup
	for i, n := range ns {
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(uint64(i), uint64(w)))
				for {
					select {
					case <-ctx.Done():
						return
					case o := <-n.queue:
						handle(n, rng, o)
					}
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range callsPerNode {
				id := fmt.Sprintf("n%d-c%d", i, c)
				topic := topics[(c+i)%3]
				k.visit(id, "topic:"+topic)
				if _, err := n.e.r.Enqueue(ctx, routing.Call{ID: id, Topic: topic, Node: fmt.Sprintf("n%d", i)}); err != nil {
					t.Errorf("enqueue: %v", err)
				}
			}
		}()
	}
	total := int64(nodes * callsPerNode)
	for k.done.Load() < total && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	done := k.done.Load()
	cancel()
	wg.Wait()
	bg.Wait()
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, e := range k.errs {
		t.Error(e)
	}
	if done < total {
		t.Errorf("only %d of %d calls finished", done, total)
	}
	hops := 0
	for _, h := range k.hops {
		hops += h
	}
	t.Logf("%d calls over %d nodes, %d transfers accepted, %d errors", total, nodes, hops, opErrs.Load())
}
