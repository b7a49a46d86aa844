package storetest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/hotline-project/hotline/routing"
)

const cbLease = 30 * time.Second

func cbPolicy() routing.Policy {
	return routing.Policy{
		OfferWaitThreshold: 2 * time.Minute,
		CallbackAttempts:   3,
		CallbackSpacing:    10 * time.Minute,
		OwnerDeadline:      time.Hour,
		KeepPosition:       true,
	}
}

// cbNode is one hotline node's callback service in a test, with what its
// hooks saw.
type cbNode struct {
	name  string
	svc   *routing.Callbacks
	store routing.CallbackStore

	mu     sync.Mutex
	dials  []cbDial
	states []routing.Callback
}

type cbDial struct {
	cb    routing.Callback
	agent routing.AgentStatus
}

func (n *cbNode) takeDials() []cbDial {
	n.mu.Lock()
	defer n.mu.Unlock()
	d := n.dials
	n.dials = nil
	return d
}

func (n *cbNode) stateLog() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for _, cb := range n.states {
		out = append(out, cb.ID+":"+string(cb.State))
	}
	return out
}

// newCBNode builds a node's callback service on the stores.
func newCBNode(tb testing.TB, name string, st Stores, clock routing.Clock, router *fakeCallbackRouter, p routing.Policy) *cbNode {
	tb.Helper()
	n := &cbNode{name: name, store: st.Callbacks}
	n.svc = routing.NewCallbacks(n.store, router, routing.CallbackOptions{
		Node: name, Clock: clock, Policy: p, Lease: cbLease, Retry: 15 * time.Second, Batch: 64,
		Dial: func(cb routing.Callback, a routing.AgentStatus) {
			n.mu.Lock()
			n.dials = append(n.dials, cbDial{cb, a})
			n.mu.Unlock()
		},
		OnState: func(cb routing.Callback) {
			n.mu.Lock()
			n.states = append(n.states, cb)
			n.mu.Unlock()
		},
	})
	return n
}

func tick(tb testing.TB, n *cbNode) {
	tb.Helper()
	if err := n.svc.Tick(context.Background()); err != nil {
		tb.Fatalf("%s tick: %v", n.name, err)
	}
}

func testCase(id string) routing.Case {
	return routing.Case{ID: id, CallerNumber: "+48221234567", Topic: "audit", Lang: "pl", Note: "invoice charged twice", Owner: "100", Status: routing.CaseOpen}
}

func testOwnerCallback(t *testing.T, open Open) {
	ctx := context.Background()
	cases := []struct {
		name string
		// ownerFreeAfter: the owner becomes available this long after due;
		// negative: never.
		ownerFreeAfter time.Duration
		seniorFree     bool
		wantAgent      string // who is dialled in the end
		wantStates     []string
	}{
		{"owner free at due", 0, false, "100",
			[]string{"OWN:scheduled", "OWN:dialing"}},
		{"owner busy, free before the deadline", 40 * time.Minute, false, "100",
			[]string{"OWN:scheduled", "OWN:dialing"}},
		{"owner busy past the deadline: seniors", -1, true, "900",
			[]string{"OWN:scheduled", "OWN:escalated", "OWN-senior:scheduled", "OWN-senior:dialing"}},
		{"escalated, no senior free yet", -1, false, "",
			[]string{"OWN:scheduled", "OWN:escalated", "OWN-senior:scheduled"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := open(t)
			clock := NewClock()
			router := newFakeCallbackRouter()
			router.addCase(testCase("case-1"))
			router.addAgent("100", false, routing.StateOnCall)
			router.addAgent("900", true, routing.StateOffline)
			if tc.seniorFree {
				router.setState("900", routing.StateAvailable)
			}
			n := newCBNode(t, "a", st, clock, router, cbPolicy())
			due := Start.Add(5 * time.Minute)
			cb, err := n.svc.ScheduleOwner(ctx, "case-1", "100", due, "")
			if err != nil {
				t.Fatal(err)
			}
			if cb.Note != "invoice charged twice" || cb.Number != "+48221234567" || !cb.Deadline.Equal(due.Add(time.Hour)) || cb.Kind != routing.CallbackOwner {
				t.Fatalf("scheduled: %+v", cb)
			}
			// Nothing happens before it is due, even with the owner free.
			if tc.ownerFreeAfter == 0 {
				router.setState("100", routing.StateAvailable)
			}
			tick(t, n)
			if d := n.takeDials(); len(d) != 0 {
				t.Fatalf("dialled before due: %+v", d)
			}
			var dialled []cbDial
			for clock.Now().Before(due.Add(2 * time.Hour)) {
				if tc.ownerFreeAfter > 0 && !clock.Now().Before(due.Add(tc.ownerFreeAfter)) && router.agent("100").State == routing.StateOnCall {
					router.setState("100", routing.StateAvailable)
				}
				tick(t, n)
				dialled = append(dialled, n.takeDials()...)
				clock.Advance(5 * time.Second)
			}
			switch {
			case tc.wantAgent == "" && len(dialled) != 0:
				t.Fatalf("dialled %+v", dialled)
			case tc.wantAgent != "" && (len(dialled) != 1 || dialled[0].agent.ID != tc.wantAgent):
				t.Fatalf("dials %+v, want one to %s", dialled, tc.wantAgent)
			}
			if tc.ownerFreeAfter > 0 && len(dialled) == 1 {
				// Retried every Retry while the owner was busy, not at once.
				at := dialled[0].cb.LeaseUntil.Add(-cbLease)
				if at.Before(due.Add(tc.ownerFreeAfter)) || at.After(due.Add(tc.ownerFreeAfter+20*time.Second)) {
					t.Fatalf("dialled at %v, owner free at %v", at, due.Add(tc.ownerFreeAfter))
				}
			}
			got := n.stateLog()
			if len(got) != len(tc.wantStates) {
				t.Fatalf("states %v, want %v", got, tc.wantStates)
			}
			for i, s := range tc.wantStates {
				if want := replaceOwn(s, cb.ID); got[i] != want {
					t.Fatalf("state %d: %s, want %s (all: %v)", i, got[i], want, got)
				}
			}
		})
	}
}

func replaceOwn(s, id string) string {
	if len(s) >= 3 && s[:3] == "OWN" {
		return id + s[3:]
	}
	return s
}

func testAgentMissedCountsNoAttempt(t *testing.T, open Open) {
	ctx := context.Background()
	st := open(t)
	clock := NewClock()
	router := newFakeCallbackRouter()
	router.addCase(testCase("case-1"))
	router.addAgent("100", false, routing.StateAvailable)
	n := newCBNode(t, "a", st, clock, router, cbPolicy())
	cb, err := n.svc.ScheduleOwner(ctx, "case-1", "100", Start, "call about the refund")
	if err != nil {
		t.Fatal(err)
	}
	tick(t, n)
	if d := n.takeDials(); len(d) != 1 {
		t.Fatalf("dials: %+v", d)
	}
	router.setState("100", routing.StateAvailable)
	if err := n.svc.AgentMissed(ctx, cb.ID); err != nil {
		t.Fatal(err)
	}
	if err := n.svc.AgentMissed(ctx, cb.ID); !errors.Is(err, routing.ErrLeaseLost) {
		t.Fatalf("second AgentMissed: %v", err)
	}
	clock.Advance(15*time.Second - time.Millisecond)
	tick(t, n)
	if d := n.takeDials(); len(d) != 0 {
		t.Fatal("redialled before Retry")
	}
	clock.Advance(time.Millisecond)
	tick(t, n)
	d := n.takeDials()
	if len(d) != 1 || d[0].cb.Attempts != 0 || d[0].cb.Note != "call about the refund" {
		t.Fatalf("redial: %+v", d)
	}
}

func testCallbackAttemptsThenFailed(t *testing.T, open Open) {
	ctx := context.Background()
	st := open(t)
	clock := NewClock()
	router := newFakeCallbackRouter()
	router.addCase(testCase("case-1"))
	router.addAgent("900", true, routing.StateAvailable)
	n := newCBNode(t, "a", st, clock, router, cbPolicy())
	cb, err := n.svc.EscalateToSenior(ctx, "case-1", "wants a manager")
	if err != nil {
		t.Fatal(err)
	}
	// Asking again while it is open gives the same callback.
	if again, err := n.svc.EscalateToSenior(ctx, "case-1", "again"); err != nil || again.ID != cb.ID {
		t.Fatalf("second escalation: %s %v", again.ID, err)
	}
	for attempt := 1; attempt <= 3; attempt++ {
		tick(t, n)
		d := n.takeDials()
		if len(d) != 1 || d[0].cb.ID != cb.ID || d[0].agent.ID != "900" || d[0].cb.Note != "wants a manager" {
			t.Fatalf("attempt %d: dials %+v", attempt, d)
		}
		router.setState("900", routing.StateAvailable) // the agent's call ended
		if err := n.svc.AttemptFailed(ctx, cb.ID, "caller busy"); err != nil {
			t.Fatal(err)
		}
		// Only after the spacing.
		clock.Advance(10*time.Minute - time.Second)
		tick(t, n)
		if d := n.takeDials(); len(d) != 0 {
			t.Fatalf("attempt %d: redialled before the spacing", attempt)
		}
		clock.Advance(time.Second)
	}
	got, err := n.svc.Get(ctx, cb.ID)
	if err != nil || got.State != routing.CallbackFailed || got.Attempts != 3 || got.LastError != "caller busy" {
		t.Fatalf("after 3 attempts: %+v %v", got, err)
	}
	tick(t, n)
	if d := n.takeDials(); len(d) != 0 {
		t.Fatal("failed callback dialled")
	}
	if err := n.svc.AttemptFailed(ctx, cb.ID, "x"); !errors.Is(err, routing.ErrCallbackFinished) {
		t.Fatalf("attempt on a failed callback: %v", err)
	}
	if list, _ := n.svc.List(ctx, routing.CallbackFilter{State: "failed"}); len(list) != 1 {
		t.Fatalf("failed list: %+v", list)
	}
}

func testKeepPosition(t *testing.T, open Open) {
	ctx := context.Background()
	st := open(t)
	clock := NewClock()
	router := newFakeCallbackRouter()
	n := newCBNode(t, "a", st, clock, router, cbPolicy())
	call := routing.Call{ID: "call-7", CaseID: "case-7", Topic: "service", CallerNumber: "+380501112233", Lang: "uk",
		State: routing.CallQueued, EnqueuedAt: Start.Add(-3 * time.Minute)}
	cb, err := n.svc.KeepPosition(ctx, call)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := n.svc.KeepPosition(ctx, call); err != nil || again.ID != cb.ID {
		t.Fatalf("second key press: %s %v", again.ID, err)
	}
	enq, _ := router.calls()
	if len(enq) != 1 || enq[0].ID != "call-7" || enq[0].CallbackID != cb.ID || !enq[0].EnqueuedAt.Equal(call.EnqueuedAt) {
		t.Fatalf("queue entry: %+v", enq)
	}
	// The entry is in the queue: Run must not enqueue it again.
	clock.Advance(time.Hour)
	tick(t, n)
	if enq, _ := router.calls(); len(enq) != 1 {
		t.Fatalf("parked callback re-enqueued: %+v", enq)
	}

	// The entry reaches the head: the router offers it with the callback id.
	offer := routing.Offer{CallID: "call-7", CaseID: "case-7", Topic: "service", Node: "a", CallbackID: cb.ID,
		Agent: routing.AgentStatus{Agent: routing.Agent{ID: "101"}, State: routing.StateRinging}}
	if err := n.svc.Offered(ctx, offer); err != nil {
		t.Fatal(err)
	}
	d := n.takeDials()
	if len(d) != 1 || d[0].agent.ID != "101" || d[0].cb.Number != "+380501112233" {
		t.Fatalf("dials: %+v", d)
	}
	// The agent did not answer; the router offers the next agent.
	offer.Agent.ID = "102"
	if err := n.svc.Offered(ctx, offer); err != nil {
		t.Fatal(err)
	}
	if d := n.takeDials(); len(d) != 1 || d[0].agent.ID != "102" {
		t.Fatalf("re-offer dials: %+v", d)
	}
	// The caller did not pick up: back in line at the original place after
	// the spacing.
	if err := n.svc.AttemptFailed(ctx, cb.ID, "caller no answer"); err != nil {
		t.Fatal(err)
	}
	// This time the entry is at the head at once: the router delivers the
	// offer before Enqueue returns.
	router.mu.Lock()
	router.deliver = func(c routing.Call) {
		if err := n.svc.Offered(ctx, offer); err != nil {
			t.Errorf("offer during enqueue: %v", err)
		}
	}
	router.mu.Unlock()
	clock.Advance(10 * time.Minute)
	tick(t, n)
	enq, _ = router.calls()
	if len(enq) != 2 || enq[1].CallbackID != cb.ID || !enq[1].EnqueuedAt.Equal(call.EnqueuedAt) {
		t.Fatalf("requeue after failed attempt: %+v", enq)
	}
	if d := n.takeDials(); len(d) != 1 {
		t.Fatalf("dials after requeue: %+v", d)
	}
	// The dial outlives several passes: the lease is renewed, not lost.
	for i := 0; i < 5; i++ {
		clock.Advance(cbLease / 2)
		tick(t, n)
	}
	if err := n.svc.Completed(ctx, cb.ID); err != nil {
		t.Fatal(err)
	}
	// A stale offer of a finished callback drops the entry and frees the agent.
	err = n.svc.Offered(ctx, offer)
	if !errors.Is(err, routing.ErrCallbackFinished) {
		t.Fatalf("offer of completed callback: %v", err)
	}
	if _, left := router.calls(); len(left) != 1 || left[0] != "call-7" {
		t.Fatalf("left: %v", left)
	}
	want := []string{cb.ID + ":scheduled", cb.ID + ":dialing", cb.ID + ":scheduled", cb.ID + ":dialing", cb.ID + ":completed"}
	if got := n.stateLog(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("states %v, want %v", got, want)
	}
}

func testKeepPositionEnqueueFailsThenRun(t *testing.T, open Open) {
	ctx := context.Background()
	st := open(t)
	clock := NewClock()
	router := newFakeCallbackRouter()
	router.enqueueErr = errors.New("redis down")
	a := newCBNode(t, "a", st, clock, router, cbPolicy())
	b := newCBNode(t, "b", st, clock, router, cbPolicy())
	call := routing.Call{ID: "call-8", Topic: "service", CallerNumber: "+380501112233", EnqueuedAt: Start.Add(-time.Minute)}
	cb, err := a.svc.KeepPosition(ctx, call)
	if err != nil {
		t.Fatal(err)
	}
	router.mu.Lock()
	router.enqueueErr = nil
	router.mu.Unlock()
	// Any node's pass puts it in line once it is due.
	clock.Advance(14 * time.Second)
	tick(t, b)
	if enq, _ := router.calls(); len(enq) != 0 {
		t.Fatalf("enqueued before due: %+v", enq)
	}
	clock.Advance(time.Second)
	tick(t, b)
	tick(t, a)
	enq, _ := router.calls()
	if len(enq) != 1 || enq[0].CallbackID != cb.ID || !enq[0].EnqueuedAt.Equal(call.EnqueuedAt) {
		t.Fatalf("queue entries: %+v", enq)
	}
	got, err := a.svc.Get(ctx, cb.ID)
	if err != nil || got.State != routing.CallbackScheduled || got.LeaseNode != "" {
		t.Fatalf("after requeue: %+v %v", got, err)
	}
}

func testKeepPositionOff(t *testing.T, open Open) {
	st := open(t)
	clock := NewClock()
	router := newFakeCallbackRouter()
	p := cbPolicy()
	p.KeepPosition = false
	n := newCBNode(t, "a", st, clock, router, p)
	if _, err := n.svc.KeepPosition(context.Background(), routing.Call{ID: "c", Topic: "service", EnqueuedAt: Start.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if enq, _ := router.calls(); len(enq) != 1 || !enq[0].EnqueuedAt.Equal(Start) {
		t.Fatalf("without KeepPosition the callback joins the tail: %+v", enq)
	}
}

// testCallbackDurability: node A claims a callback and dies (stops
// renewing); once the lease lapses node B takes it over and completes it
// exactly once, and A's late completion is rejected.
func testCallbackDurability(t *testing.T, open Open) {
	ctx := context.Background()
	for _, aRenews := range []bool{false, true} {
		t.Run(fmt.Sprintf("A renews %v", aRenews), func(t *testing.T) {
			st := open(t)
			clock := NewClock()
			router := newFakeCallbackRouter()
			router.addCase(testCase("case-1"))
			router.unlimited = true
			a := newCBNode(t, "a", st, clock, router, cbPolicy())
			b := newCBNode(t, "b", st, clock, router, cbPolicy())
			cb, err := a.svc.EscalateToSenior(ctx, "case-1", "")
			if err != nil {
				t.Fatal(err)
			}
			tick(t, a)
			if d := a.takeDials(); len(d) != 1 {
				t.Fatalf("A dials: %+v", d)
			}
			tick(t, b)
			if d := b.takeDials(); len(d) != 0 {
				t.Fatal("B dialled a callback A holds")
			}
			// Past A's lease. A alive renews every pass; A dead does not.
			for i := 0; i < 4; i++ {
				clock.Advance(cbLease / 3)
				if aRenews {
					tick(t, a)
				}
				tick(t, b)
			}
			bd := b.takeDials()
			if aRenews {
				if len(bd) != 0 {
					t.Fatalf("B took a live lease: %+v", bd)
				}
				if err := a.svc.Completed(ctx, cb.ID); err != nil {
					t.Fatal(err)
				}
				return
			}
			if len(bd) != 1 || bd[0].cb.ID != cb.ID || bd[0].cb.LeaseNode != "b" {
				t.Fatalf("B dials: %+v", bd)
			}
			if err := b.svc.Completed(ctx, cb.ID); err != nil {
				t.Fatal(err)
			}
			if err := b.svc.Completed(ctx, cb.ID); err != nil {
				t.Fatalf("second completion by B: %v", err)
			}
			if err := a.svc.Completed(ctx, cb.ID); !errors.Is(err, routing.ErrLeaseLost) {
				t.Fatalf("late completion by A: %v, want ErrLeaseLost", err)
			}
			if err := a.svc.AttemptFailed(ctx, cb.ID, "x"); !errors.Is(err, routing.ErrCallbackFinished) {
				t.Fatalf("late failure by A: %v", err)
			}
			completed := 0
			for _, n := range []*cbNode{a, b} {
				for _, s := range n.stateLog() {
					if s == cb.ID+":completed" {
						completed++
					}
				}
			}
			if completed != 1 {
				t.Fatalf("completed reported %d times", completed)
			}
		})
	}
}

// testCallbackConcurrentNodes: four nodes on the one store run
// passes at the same time over a stream of callbacks for hundreds of
// rounds, complete or fail what they dial, and now and then die for longer
// than a lease and come back. Each callback must be held by one node at a
// time (a second node only after the first's lease lapsed), completed at
// most once, and in the end every callback is finished: none lost.
func testCallbackConcurrentNodes(t *testing.T, open Open) {
	ctx := context.Background()
	st := open(t)
	clock := NewClock()
	router := newFakeCallbackRouter()
	router.unlimited = true
	p := cbPolicy()
	p.CallbackSpacing = 3 * time.Second
	const (
		nodes     = 4
		rounds    = 400
		total     = 300
		step      = time.Second
		deadFor   = 40 // rounds, longer than the lease
		perRound  = 2
		creatorNo = 0
	)
	var ns []*cbNode
	for i := 0; i < nodes; i++ {
		ns = append(ns, newCBNode(t, fmt.Sprintf("n%d", i), st, clock, router, p))
	}
	rng := rand.New(rand.NewPCG(7, 11))
	var (
		holder   = map[string]string{}    // callback → node dialling it
		lastTick = map[string]time.Time{} // node → last pass (lease renewal)
		deadTill = make([]int, nodes)
		pending  = make([][]string, nodes) // callbacks each node is dialling
		created  int
		takeover int
		lateRej  int
		forced   bool // the one death every run has
	)
	for i := 0; i < total; i++ {
		router.addCase(testCase(fmt.Sprintf("case-%d", i)))
	}
	for round := 0; ; round++ {
		for i := 0; i < perRound && created < total; i++ {
			if _, err := ns[creatorNo].svc.EscalateToSenior(ctx, fmt.Sprintf("case-%d", created), ""); err != nil {
				t.Fatal(err)
			}
			created++
		}
		now := clock.Now()
		var wg sync.WaitGroup
		for i, n := range ns {
			if round < deadTill[i] {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := n.svc.Tick(ctx); err != nil {
					t.Errorf("%s: %v", n.name, err)
				}
			}()
		}
		wg.Wait()
		// The holder's renewal before this round is what a takeover is
		// judged by: a node back from the dead ticks in the same round as
		// the one that takes its lapsed leases, in either order.
		renewed := maps.Clone(lastTick)
		for i, n := range ns {
			if round < deadTill[i] {
				continue
			}
			lastTick[n.name] = now
			for _, d := range n.takeDials() {
				if prev, ok := holder[d.cb.ID]; ok && prev != n.name {
					// Only a lapsed lease may change hands.
					if now.Before(renewed[prev].Add(cbLease)) {
						t.Fatalf("round %d: %s dialled %s held by %s (last renewed %v, now %v)", round, n.name, d.cb.ID, prev, renewed[prev], now)
					}
					takeover++
				}
				holder[d.cb.ID] = n.name
				pending[i] = append(pending[i], d.cb.ID)
			}
		}
		// Live nodes finish some of what they dial; a node may die.
		for i, n := range ns {
			if round < deadTill[i] {
				continue
			}
			var keep []string
			for _, id := range pending[i] {
				var err error
				switch r := rng.IntN(10); {
				case r < 4:
					err = n.svc.Completed(ctx, id)
				case r < 6:
					err = n.svc.AttemptFailed(ctx, id, "no answer")
				default:
					keep = append(keep, id)
					continue
				}
				switch {
				case err == nil:
					delete(holder, id)
				case errors.Is(err, routing.ErrLeaseLost) || errors.Is(err, routing.ErrCallbackFinished):
					if holder[id] == n.name {
						t.Fatalf("round %d: %s lost %s it still holds: %v", round, n.name, id, err)
					}
					lateRej++
				default:
					t.Fatal(err)
				}
			}
			pending[i] = keep
			if round < rounds-2*deadFor && rng.IntN(60) == 0 {
				deadTill[i] = round + 1 + deadFor
			}
		}
		// Whatever the random deaths did, one node dies holding callbacks
		// (at the first round from 50 on that one holds some), so every
		// run exercises a takeover and a late finish.
		if round >= 50 && !forced {
			most := -1
			for i := range ns {
				if round >= deadTill[i] && (most < 0 || len(pending[i]) > len(pending[most])) {
					most = i
				}
			}
			if most >= 0 && len(pending[most]) > 0 {
				deadTill[most] = round + 1 + deadFor
				forced = true
			}
		}
		clock.Advance(step)
		if round > rounds*10 {
			t.Fatal("callbacks never all finished")
		}
		if created == total && round >= rounds {
			open, err := ns[0].svc.List(ctx, routing.CallbackFilter{State: "scheduled"})
			if err != nil {
				t.Fatal(err)
			}
			dialing, err := ns[0].svc.List(ctx, routing.CallbackFilter{State: "dialing"})
			if err != nil {
				t.Fatal(err)
			}
			if len(open)+len(dialing) == 0 {
				break
			}
			// Keep going until everything is finished; nobody dies now.
			deadTill = make([]int, nodes)
		}
	}
	completedBy := map[string]int{}
	for _, n := range ns {
		for _, s := range n.stateLog() {
			if len(s) > 10 && s[len(s)-10:] == ":completed" {
				completedBy[s[:len(s)-10]]++
			}
		}
	}
	all, err := ns[0].svc.List(ctx, routing.CallbackFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != total {
		t.Fatalf("%d callbacks stored, want %d", len(all), total)
	}
	var done, failed int
	for _, cb := range all {
		switch cb.State {
		case routing.CallbackCompleted:
			done++
			if completedBy[cb.ID] != 1 {
				t.Fatalf("%s completed %d times", cb.ID, completedBy[cb.ID])
			}
		case routing.CallbackFailed:
			failed++
			if completedBy[cb.ID] != 0 || cb.Attempts != p.CallbackAttempts {
				t.Fatalf("%s failed after %d attempts, completed %d times", cb.ID, cb.Attempts, completedBy[cb.ID])
			}
		default:
			t.Fatalf("%s left in state %s", cb.ID, cb.State)
		}
	}
	if takeover == 0 || lateRej == 0 {
		t.Fatalf("the run never exercised a takeover (%d) or a rejected late finish (%d)", takeover, lateRej)
	}
	t.Logf("%d completed, %d failed, %d takeovers, %d late finishes rejected", done, failed, takeover, lateRej)
}

// testCallbacksRunStopsWithContext: Run makes passes on its own timer (a
// due callback gets dialled without anyone calling Tick) and returns once
// its context is done.
func testCallbacksRunStopsWithContext(t *testing.T, open Open) {
	st := open(t)
	router := newFakeCallbackRouter()
	router.addCase(testCase("case-1"))
	router.unlimited = true
	dialled := make(chan string, 1)
	store := st.Callbacks
	svc := routing.NewCallbacks(store, router, routing.CallbackOptions{
		Node: "a", Policy: cbPolicy(), Interval: 5 * time.Millisecond,
		Dial: func(cb routing.Callback, _ routing.AgentStatus) { dialled <- cb.ID },
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	cb, err := svc.EscalateToSenior(ctx, "case-1", "")
	if err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-dialled:
		if id != cb.ID {
			t.Fatalf("dialled %s, want %s", id, cb.ID)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run never dialled the due callback")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

// testKeepPositionAt: a place kept while the topic is closed joins the
// queue when the topic opens, not before, at the caller's place in line.
func testKeepPositionAt(t *testing.T, open Open) {
	ctx := context.Background()
	st := open(t)
	clock := NewClock()
	router := newFakeCallbackRouter()
	n := newCBNode(t, "a", st, clock, router, cbPolicy())
	opens := Start.Add(10 * time.Hour)
	call := routing.Call{ID: "call-8", CaseID: "case-8", Topic: "audit", CallerNumber: "+48221234567", Lang: "pl", EnqueuedAt: Start}
	cb, err := n.svc.KeepPositionAt(ctx, call, opens)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := n.svc.KeepPositionAt(ctx, call, opens); err != nil || again.ID != cb.ID {
		t.Fatalf("second key press: %s %v", again.ID, err)
	}
	if cb.Kind != routing.CallbackQueue || !cb.DueAt.Equal(opens) || cb.CallID != "call-8" {
		t.Fatalf("callback %+v", cb)
	}
	for _, step := range []time.Duration{0, time.Hour, 9*time.Hour - time.Second} {
		clock.Advance(step)
		tick(t, n)
		if enq, _ := router.calls(); len(enq) != 0 {
			t.Fatalf("queued %v before the topic opens: %+v", clock.Now().Sub(Start), enq)
		}
	}
	clock.Advance(time.Second)
	tick(t, n)
	enq, _ := router.calls()
	if len(enq) != 1 || enq[0].CallbackID != cb.ID || !enq[0].EnqueuedAt.Equal(Start) {
		t.Fatalf("at opening: %+v", enq)
	}
	if d := n.takeDials(); len(d) != 0 {
		t.Fatalf("dialled without an offer: %+v", d)
	}
}
