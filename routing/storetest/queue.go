package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/hotline-project/hotline/routing"
)

func testQueueFIFOAndLongestIdle(t *testing.T, open Open) {
	tests := []struct {
		name   string
		agents []routing.Agent
		logins []string // in order; earlier login = longer idle
		calls  []string // enqueued in order, before any login
		want   []string // offers in order
	}{
		{
			name:   "one agent takes the oldest caller",
			agents: []routing.Agent{agent("a", "audit")},
			logins: []string{"a"},
			calls:  []string{"c1", "c2", "c3"},
			want:   []string{"c1->a"},
		},
		{
			name:   "callers in enqueue order, each to the longest idle agent",
			agents: []routing.Agent{agent("a", "audit"), agent("b", "audit"), agent("c", "audit")},
			logins: []string{"a", "b", "c"},
			calls:  []string{"c1", "c2", "c3", "c4"},
			// a logs in first: c1; then b: c2; then c: c3. c4 waits.
			want: []string{"c1->a", "c2->b", "c3->c"},
		},
		{
			name:   "an agent of another topic is not offered the call",
			agents: []routing.Agent{agent("a", "service"), agent("b", "audit")},
			logins: []string{"a", "b"},
			calls:  []string{"c1"},
			want:   []string{"c1->b"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, open, tc.agents)
			for _, c := range tc.calls {
				e.enqueue(t, c, "audit")
			}
			e.login(t, tc.logins...)
			if got := offeredPairs(e.offers.all()); !slices.Equal(got, tc.want) {
				t.Errorf("offers = %v, want %v", got, tc.want)
			}
		})
	}
}

func testLongestIdleAndPriority(t *testing.T, open Open) {
	pri := func(id string, p int) routing.Agent {
		a := agent(id, "audit")
		a.Topics["audit"] = p
		return a
	}
	tests := []struct {
		name   string
		agents []routing.Agent
		logins []string
		want   string
	}{
		{"longest idle wins at equal priority", []routing.Agent{pri("a", 1), pri("b", 1)}, []string{"b", "a"}, "b"},
		{"lower priority number wins over idle time", []routing.Agent{pri("a", 2), pri("b", 1)}, []string{"a", "b"}, "b"},
		{"priority zero before one", []routing.Agent{pri("a", 1), pri("b", 0), pri("c", 1)}, []string{"a", "c", "b"}, "b"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, open, tc.agents)
			e.login(t, tc.logins...)
			e.enqueue(t, "c1", "audit")
			if got := e.offers.last(t).Agent.ID; got != tc.want {
				t.Errorf("offered to %s, want %s", got, tc.want)
			}
		})
	}
}

func testOnlyAvailableAgentsAreOffered(t *testing.T, open Open) {
	ctx := context.Background()
	tests := []struct {
		name  string
		setup func(t *testing.T, e *env)
	}{
		{"offline", func(t *testing.T, e *env) {}},
		{"paused", func(t *testing.T, e *env) {
			e.login(t, "a")
			if err := e.r.Pause(ctx, "a", "lunch"); err != nil {
				t.Fatal(err)
			}
		}},
		{"on call", func(t *testing.T, e *env) {
			e.login(t, "a")
			e.connect(t, "busy", "audit")
		}},
		{"wrap up", func(t *testing.T, e *env) {
			e.login(t, "a")
			e.connect(t, "busy", "audit")
			if err := e.r.EndCall(ctx, "busy", "a"); err != nil {
				t.Fatal(err)
			}
		}},
		{"ringing", func(t *testing.T, e *env) {
			e.login(t, "a")
			e.enqueue(t, "first", "audit")
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, open, []routing.Agent{agent("a", "audit")})
			tc.setup(t, e)
			before := len(e.offers.all())
			info := e.enqueue(t, "c1", "audit")
			if n := len(e.offers.all()); n != before {
				t.Fatalf("offer made to a non-available agent: %v", offeredPairs(e.offers.all()[before:]))
			}
			if info.Position < 1 {
				t.Errorf("position = %d, want queued", info.Position)
			}
			if err := e.r.Dispatch(ctx); err != nil {
				t.Fatal(err)
			}
			if n := len(e.offers.all()); n != before {
				t.Fatal("dispatch offered to a non-available agent")
			}
		})
	}
}

func testRingTimeoutKeepsPlace(t *testing.T, open Open) {
	ctx := context.Background()
	e := newEnv(t, open, []routing.Agent{agent("a", "audit"), agent("b", "audit")})
	e.enqueue(t, "c1", "audit")
	e.enqueue(t, "c2", "audit")
	e.login(t, "a")
	o := e.offers.last(t)
	if o.CallID != "c1" || o.Agent.ID != "a" || o.Agent.State != routing.StateRinging {
		t.Fatalf("offer = %+v", o)
	}
	if !o.RingDeadline.Equal(o.Agent.Since.Add(15 * time.Second)) {
		t.Errorf("ring deadline %v, offered at %v", o.RingDeadline, o.Agent.Since)
	}
	e.clk.Advance(15 * time.Second)
	if err := e.r.NoAnswer(ctx, o); err != nil {
		t.Fatal(err)
	}
	a := e.state(t, "a")
	if a.State != routing.StatePaused || a.Reason != routing.ReasonNoAnswer {
		t.Errorf("agent after no answer = %s %q", a.State, a.Reason)
	}
	info, err := e.r.QueueInfo(ctx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if info.Position != 1 {
		t.Errorf("c1 position after ring timeout = %d, want 1", info.Position)
	}
	// A second NoAnswer for the same offer is stale and refused.
	if err := e.r.NoAnswer(ctx, o); !errors.Is(err, routing.ErrIllegalTransition) {
		t.Errorf("repeated no answer: %v", err)
	}
	e.login(t, "b")
	if o := e.offers.last(t); o.CallID != "c1" || o.Agent.ID != "b" {
		t.Errorf("next offer = %s->%s, want c1->b", o.CallID, o.Agent.ID)
	}
}

func testAgentTransitions(t *testing.T, open Open) {
	ctx := context.Background()
	type step func(t *testing.T, e *env) error
	login := func(t *testing.T, e *env) error { return e.r.Login(ctx, "a") }
	pause := func(t *testing.T, e *env) error { return e.r.Pause(ctx, "a", "coffee") }
	resume := func(t *testing.T, e *env) error { return e.r.Resume(ctx, "a") }
	logout := func(t *testing.T, e *env) error { return e.r.Logout(ctx, "a") }
	ring := func(t *testing.T, e *env) error { e.enqueue(t, "c1", "audit"); return nil }
	answer := func(t *testing.T, e *env) error { return e.r.Answered(ctx, e.offers.last(t)) }
	noAnswer := func(t *testing.T, e *env) error { return e.r.NoAnswer(ctx, e.offers.last(t)) }
	unreachable := func(t *testing.T, e *env) error { return e.r.Unreachable(ctx, e.offers.last(t)) }
	leave := func(t *testing.T, e *env) error { return e.r.Leave(ctx, "c1") }
	end := func(t *testing.T, e *env) error { return e.r.EndCall(ctx, "c1", "a") }
	wrapEnd := func(t *testing.T, e *env) error {
		e.clk.Advance(10 * time.Second)
		_, err := e.r.Tick(ctx)
		return err
	}
	tests := []struct {
		name       string
		steps      []step
		wantErr    bool // last step refused with ErrIllegalTransition (ErrNotFound for a call that ended)
		want       routing.AgentState
		wantReason string
	}{
		{"login", []step{login}, false, routing.StateAvailable, ""},
		{"login twice", []step{login, login}, true, routing.StateAvailable, ""},
		{"pause", []step{login, pause}, false, routing.StatePaused, "coffee"},
		{"pause offline", []step{pause}, true, routing.StateOffline, ""},
		{"resume", []step{login, pause, resume}, false, routing.StateAvailable, ""},
		{"resume available", []step{login, resume}, true, routing.StateAvailable, ""},
		{"logout available", []step{login, logout}, false, routing.StateOffline, ""},
		{"logout paused", []step{login, pause, logout}, false, routing.StateOffline, ""},
		{"logout offline", []step{logout}, true, routing.StateOffline, ""},
		{"offer", []step{login, ring}, false, routing.StateRinging, ""},
		{"logout ringing", []step{login, ring, logout}, true, routing.StateRinging, ""},
		{"answered", []step{login, ring, answer}, false, routing.StateOnCall, ""},
		{"logout on call", []step{login, ring, answer, logout}, true, routing.StateOnCall, ""},
		{"no answer", []step{login, ring, noAnswer}, false, routing.StatePaused, routing.ReasonNoAnswer},
		{"unreachable", []step{login, ring, unreachable}, false, routing.StatePaused, routing.ReasonUnreachable},
		// Resumed, the agent is offered the caller, who kept their place.
		{"resume after unreachable", []step{login, ring, unreachable, resume}, false, routing.StateRinging, ""},
		{"caller left while ringing", []step{login, ring, leave}, false, routing.StateAvailable, ""},
		{"end call", []step{login, ring, answer, end}, false, routing.StateWrapUp, ""},
		{"end call twice", []step{login, ring, answer, end, end}, true, routing.StateWrapUp, ""},
		{"wrap-up ends", []step{login, ring, answer, end, wrapEnd}, false, routing.StateAvailable, ""},
		{"logout in wrap-up", []step{login, ring, answer, end, logout}, false, routing.StateOffline, ""},
		{"pause during call applies after wrap-up", []step{login, ring, answer, pause, end, wrapEnd}, false, routing.StatePaused, "coffee"},
		{"pause while ringing applies when caller leaves", []step{login, ring, pause, leave}, false, routing.StatePaused, "coffee"},
		{"resume cancels pause asked during call", []step{login, ring, answer, pause, resume, end, wrapEnd}, false, routing.StateAvailable, ""},
		{"answer when not ringing", []step{login, ring, answer, answer}, true, routing.StateOnCall, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, open, []routing.Agent{agent("a", "audit")})
			var err error
			for i, s := range tc.steps {
				err = s(t, e)
				if err != nil && i < len(tc.steps)-1 {
					t.Fatalf("step %d: %v", i, err)
				}
			}
			if tc.wantErr != (err != nil) {
				t.Fatalf("last step error = %v, want error %v", err, tc.wantErr)
			}
			if err != nil && !errors.Is(err, routing.ErrIllegalTransition) && !errors.Is(err, routing.ErrNotFound) {
				t.Errorf("error %v wraps neither ErrIllegalTransition nor ErrNotFound", err)
			}
			a := e.state(t, "a")
			if a.State != tc.want || a.Reason != tc.wantReason {
				t.Errorf("state = %s %q, want %s %q", a.State, a.Reason, tc.want, tc.wantReason)
			}
		})
	}
}

func testUnknownAgent(t *testing.T, open Open) {
	e := newEnv(t, open, []routing.Agent{agent("a", "audit")})
	if err := e.r.Login(context.Background(), "nobody"); !errors.Is(err, routing.ErrNotFound) {
		t.Errorf("login unknown agent: %v", err)
	}
}

func testFreedAgentTakesNextCaller(t *testing.T, open Open) {
	ctx := context.Background()
	tests := []struct {
		name string
		free func(t *testing.T, e *env)
	}{
		{"wrap-up ends", func(t *testing.T, e *env) {
			if err := e.r.EndCall(ctx, "c1", "a"); err != nil {
				t.Fatal(err)
			}
			next, err := e.r.Tick(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if want := e.clk.Now().Add(10 * time.Second); !next.Equal(want) {
				t.Errorf("next due = %v, want %v", next, want)
			}
			if n := len(e.offers.all()); n != 1 {
				t.Fatal("offered during wrap-up")
			}
			e.clk.Advance(10 * time.Second)
			if _, err := e.r.Tick(ctx); err != nil {
				t.Fatal(err)
			}
		}},
		{"no wrap-up configured", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var opts []envOpt
			if tc.free == nil {
				opts = append(opts, func(o *routing.Options) { o.Policy.WrapUp = 0 })
				tc.free = func(t *testing.T, e *env) {
					if err := e.r.EndCall(ctx, "c1", "a"); err != nil {
						t.Fatal(err)
					}
				}
			}
			e := newEnv(t, open, []routing.Agent{agent("a", "audit")}, opts...)
			e.login(t, "a")
			e.connect(t, "c1", "audit")
			e.enqueue(t, "c2", "audit")
			tc.free(t, e)
			if o := e.offers.last(t); o.CallID != "c2" || o.Agent.ID != "a" {
				t.Errorf("after freeing: offer %s->%s, want c2->a", o.CallID, o.Agent.ID)
			}
		})
	}
}

func testLeave(t *testing.T, open Open) {
	ctx := context.Background()
	e := newEnv(t, open, []routing.Agent{agent("a", "audit")})
	e.enqueue(t, "c1", "audit")
	e.enqueue(t, "c2", "audit")
	e.enqueue(t, "c3", "audit")
	if err := e.r.Leave(ctx, "c2"); err != nil {
		t.Fatal(err)
	}
	if info, err := e.r.QueueInfo(ctx, "c3"); err != nil || info.Position != 2 {
		t.Errorf("c3 after c2 left: %+v %v", info, err)
	}
	e.login(t, "a")
	if err := e.r.Leave(ctx, "c1"); err != nil { // hangs up while ringing
		t.Fatal(err)
	}
	if o := e.offers.last(t); o.CallID != "c3" || o.Agent.ID != "a" {
		t.Errorf("after ringing caller left: %s->%s, want c3->a", o.CallID, o.Agent.ID)
	}
	if _, err := e.r.Call(ctx, "c1"); !errors.Is(err, routing.ErrNotFound) {
		t.Errorf("left call still known: %v", err)
	}
	if err := e.r.Leave(ctx, "c1"); !errors.Is(err, routing.ErrNotFound) {
		t.Errorf("leave twice: %v", err)
	}
	if err := e.r.Answered(ctx, e.offers.last(t)); err != nil {
		t.Fatal(err)
	}
	if err := e.r.Leave(ctx, "c3"); !errors.Is(err, routing.ErrIllegalTransition) {
		t.Errorf("leave while talking: %v", err)
	}
}

func testEnqueueKeepsPlaceAndCallback(t *testing.T, open Open) {
	ctx := context.Background()
	e := newEnv(t, open, []routing.Agent{agent("a", "audit")})
	e.enqueue(t, "c1", "audit")
	e.enqueue(t, "c2", "audit")
	// c1's caller hangs up keeping their place: the same queue entry is
	// marked as a callback and must not move.
	if _, err := e.r.Enqueue(ctx, routing.Call{ID: "c1", Topic: "audit", CallbackID: "cb1", Node: "n1"}); err != nil {
		t.Fatal(err)
	}
	// A call waits in one topic: asked to wait in another, it is refused
	// and keeps its place.
	if _, err := e.r.Enqueue(ctx, routing.Call{ID: "c1", Topic: "service", Node: "n1"}); !errors.Is(err, routing.ErrIllegalTransition) {
		t.Errorf("enqueued again in another topic: %v", err)
	}
	// A re-created entry with its original time goes back to its place.
	c2, err := e.r.Call(ctx, "c2")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.r.Leave(ctx, "c2"); err != nil {
		t.Fatal(err)
	}
	e.enqueue(t, "c3", "audit")
	if _, err := e.r.Enqueue(ctx, routing.Call{ID: "c2b", Topic: "audit", EnqueuedAt: c2.EnqueuedAt}); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]int{"c1": 1, "c2b": 2, "c3": 3} {
		if info, err := e.r.QueueInfo(ctx, id); err != nil || info.Position != want {
			t.Errorf("%s: %+v %v, want position %d", id, info, err, want)
		}
	}
	e.login(t, "a")
	if o := e.offers.last(t); o.CallID != "c1" || o.CallbackID != "cb1" {
		t.Errorf("offer = %+v, want c1 with callback cb1", o)
	}
}

func testQueueInfo(t *testing.T, open Open) {
	ctx := context.Background()
	// Until a call ends, estimates start from the configured handle time.
	e := newEnv(t, open, []routing.Agent{agent("a", "audit"), agent("b", "audit"), agent("c", "service")},
		func(o *routing.Options) { o.Policy.HandleTimes = map[string]time.Duration{"audit": 4 * time.Minute} })
	e.login(t, "a", "c")
	e.connect(t, "c0", "audit") // a busy
	for _, id := range []string{"c1", "c2", "c3"} {
		e.enqueue(t, id, "audit")
	}
	info, err := e.r.QueueInfo(ctx, "c2")
	if err != nil {
		t.Fatal(err)
	}
	// Position 2 behind one busy agent: two calls of 4 min + 10 s wrap-up.
	want := routing.QueueInfo{Position: 2, AgentsLoggedIn: 1, AgentsAvailable: 0, EstimatedWait: 2 * (4*time.Minute + 10*time.Second)}
	if info != want {
		t.Errorf("before any call ended: %+v, want %+v", info, want)
	}
	// The enqueue tells the caller the same.
	q, err := e.r.Enqueue(ctx, routing.Call{ID: "c4", CaseID: "case-c4", Topic: "audit", CallerNumber: "555"})
	if err != nil {
		t.Fatal(err)
	}
	if want := 4 * (4*time.Minute + 10*time.Second); q.Position != 4 || q.EstimatedWait != want {
		t.Errorf("enqueue: %+v, want position 4 and %v", q, want)
	}
	// One call of 5 minutes ended: the topic now has a handle time.
	e.clk.Advance(5 * time.Minute)
	if err := e.r.EndCall(ctx, "c0", "a"); err != nil {
		t.Fatal(err)
	}
	info, err = e.r.QueueInfo(ctx, "c2")
	if err != nil {
		t.Fatal(err)
	}
	// Handle time covers the talk from answer to hang-up (5 min plus
	// the three enqueues' second each), plus the 10 s wrap-up.
	if info.EstimatedWait < 2*5*time.Minute || info.EstimatedWait > 2*6*time.Minute {
		t.Errorf("estimated wait = %v, want about 10m", info.EstimatedWait)
	}
}

func testTopicStats(t *testing.T, open Open) {
	ctx := context.Background()
	e := newEnv(t, open, []routing.Agent{agent("a", "audit"), agent("b", "audit"), agent("c", "audit", "service")})
	tests := []struct {
		name  string
		setup func(t *testing.T)
		topic string
		want  routing.TopicStats
	}{
		{"nobody logged in", func(*testing.T) {}, "audit", routing.TopicStats{Topic: "audit"}},
		{"two logged in, both free", func(t *testing.T) { e.login(t, "a", "c") }, "audit",
			routing.TopicStats{Topic: "audit", AgentsLoggedIn: 2, AgentsAvailable: 2}},
		{"the other topic sees its own agent", func(*testing.T) {}, "service",
			routing.TopicStats{Topic: "service", AgentsLoggedIn: 1, AgentsAvailable: 1}},
		{"one busy, two waiting", func(t *testing.T) {
			e.connect(t, "c0", "audit")
			e.connect(t, "c1", "audit")
			e.enqueue(t, "c2", "audit")
			e.enqueue(t, "c3", "audit")
		}, "audit", routing.TopicStats{Topic: "audit", Queued: 2, AgentsLoggedIn: 2}},
		{"unknown topic is empty", func(*testing.T) {}, "nope", routing.TopicStats{Topic: "nope"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.setup(t)
			got, err := e.r.TopicStats(ctx, tc.topic)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("TopicStats(%s) = %+v, want %+v", tc.topic, got, tc.want)
			}
		})
	}
	// A call that ended gives the topic its handle time.
	var first routing.Offer
	for _, o := range e.offers.all() {
		if o.CallID == "c0" {
			first = o
		}
	}
	e.clk.Advance(3 * time.Minute)
	if err := e.r.EndCall(ctx, "c0", first.Agent.ID); err != nil {
		t.Fatal(err)
	}
	got, err := e.r.TopicStats(ctx, "audit")
	if err != nil {
		t.Fatal(err)
	}
	if got.HandleTime < 3*time.Minute || got.HandleTime > 4*time.Minute {
		t.Errorf("handle time after a 3-minute call = %v", got.HandleTime)
	}
}

// testHandleTimeMean: a topic's handle time is the exponentially weighted
// mean of its calls' talk, from answer to hang-up, the newest weighing a
// tenth, in whole milliseconds; another topic's calls do not move it.
func testHandleTimeMean(t *testing.T, open Open) {
	ctx := context.Background()
	e := newEnv(t, open, []routing.Agent{agent("a", "audit", "service")}, func(o *routing.Options) { o.Policy.WrapUp = 0 })
	e.login(t, "a")
	steps := []struct {
		topic string
		talk  time.Duration
		want  time.Duration // audit's mean after the call
	}{
		{"audit", 3 * time.Minute, 3 * time.Minute},
		{"audit", time.Minute, 2*time.Minute + 48*time.Second},             // 0.9 × 180 s + 0.1 × 60 s
		{"service", time.Hour, 2*time.Minute + 48*time.Second},             // another topic's
		{"audit", 2 * time.Minute, 2*time.Minute + 43200*time.Millisecond}, // 0.9 × 168 s + 0.1 × 120 s
	}
	for i, s := range steps {
		id := fmt.Sprintf("c%d", i)
		e.connect(t, id, s.topic)
		e.clk.Advance(s.talk)
		if err := e.r.EndCall(ctx, id, "a"); err != nil {
			t.Fatal(err)
		}
		st, err := e.r.TopicStats(ctx, "audit")
		if err != nil {
			t.Fatal(err)
		}
		if st.HandleTime != s.want {
			t.Errorf("after call %d (%s, %v): audit's handle time %v, want %v", i, s.topic, s.talk, st.HandleTime, s.want)
		}
	}
}
