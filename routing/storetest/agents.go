package storetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/hotline-project/hotline/routing"
)

// Rules the stores keep without the Router: a configuration sync, the
// per-topic counts, an enqueue that opens a case.

// testSyncRemovesAgents follows agents taken out of the configuration: an
// idle one disappears at once (also from a topic no configured agent
// serves), one ringing or talking keeps the call and disappears when it
// ends, and one added back before that stays.
func testSyncRemovesAgents(t *testing.T, open Open) {
	st := open(t).Queue
	ctx := context.Background()
	tm := routing.Timing{Now: Start, RingTimeout: 15 * time.Second, Node: "n1"}
	all := map[string]routing.Agent{
		"a": {ID: "a", Topics: map[string]int{"audit": 0}},
		"b": {ID: "b", Topics: map[string]int{"audit": 0}},
		"c": {ID: "c", Topics: map[string]int{"audit": 0, "service": 0}},
		"d": {ID: "d", Topics: map[string]int{"billing": 0}},
	}
	sync := func(ids ...string) {
		t.Helper()
		var as []routing.Agent
		for _, id := range ids {
			as = append(as, all[id])
		}
		if err := st.SyncAgents(ctx, as, tm.Now); err != nil {
			t.Fatalf("sync %v: %v", ids, err)
		}
	}
	change := func(op routing.AgentOp, agent, call string) routing.Decision {
		t.Helper()
		tm.Now = tm.Now.Add(time.Second)
		d, err := st.Change(ctx, routing.AgentChange{Op: op, AgentID: agent, CallID: call, Reason: routing.ReasonNoAnswer}, tm)
		if err != nil {
			t.Fatalf("%s %s: %v", op, agent, err)
		}
		return d
	}
	enqueue := func(id, topic string) []routing.Offer {
		t.Helper()
		d, _, err := st.Enqueue(ctx, routing.Entry{Call: routing.Call{ID: id, Topic: topic, Node: "n1"}, Hop: routing.Hop{To: routing.Destination{Kind: routing.DestTopic, Name: topic}}}, tm)
		if err != nil {
			t.Fatalf("enqueue %s: %v", id, err)
		}
		return d.Offers
	}
	offeredTo := func(offers []routing.Offer, agent string) {
		t.Helper()
		if len(offers) != 1 || offers[0].Agent.ID != agent {
			t.Fatalf("offers %+v, want one to %s", offers, agent)
		}
	}

	sync("a", "b", "c", "d")
	for _, id := range []string{"a", "b", "c", "d"} {
		change(routing.OpLogin, id, "")
	}
	offeredTo(enqueue("x1", "audit"), "a")
	change(routing.OpAnswered, "a", "x1")
	offeredTo(enqueue("x2", "audit"), "b")

	steps := []struct {
		name   string
		do     func()
		agents []string
		// logged in and available per topic
		audit, billing [2]int
	}{
		{"before", func() {}, []string{"a", "b", "c", "d"}, [2]int{3, 1}, [2]int{1, 1}},
		{"only c stays configured", func() { sync("c") }, []string{"a", "b", "c"}, [2]int{3, 1}, [2]int{0, 0}},
		{"a billing caller finds no agent", func() {
			if o := enqueue("x3", "billing"); len(o) != 0 {
				t.Fatalf("removed agent offered: %+v", o)
			}
		}, []string{"a", "b", "c"}, [2]int{3, 1}, [2]int{0, 0}},
		{"a ends the call", func() { change(routing.OpEndCall, "a", "x1") }, []string{"b", "c"}, [2]int{2, 1}, [2]int{0, 0}},
		{"b does not answer: c gets the caller", func() {
			offeredTo(change(routing.OpNoAnswer, "b", "x2").Offers, "c")
		}, []string{"c"}, [2]int{1, 0}, [2]int{0, 0}},
		{"c removed while ringing", func() { sync() }, []string{"c"}, [2]int{1, 0}, [2]int{0, 0}},
		{"c added back", func() { sync("c") }, []string{"c"}, [2]int{1, 0}, [2]int{0, 0}},
		{"c does not answer and stays", func() { change(routing.OpNoAnswer, "c", "x2") }, []string{"c"}, [2]int{1, 0}, [2]int{0, 0}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			s.do()
			as, err := st.Agents(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, a := range as {
				ids = append(ids, a.ID)
			}
			if !slices.Equal(ids, s.agents) {
				t.Errorf("agents %v, want %v", ids, s.agents)
			}
			for topic, want := range map[string][2]int{"audit": s.audit, "billing": s.billing} {
				got, err := st.TopicStats(ctx, topic, routing.Timing{})
				if err != nil {
					t.Fatal(err)
				}
				if got.AgentsLoggedIn != want[0] || got.AgentsAvailable != want[1] {
					t.Errorf("%s: logged in %d, available %d; want %d, %d", topic, got.AgentsLoggedIn, got.AgentsAvailable, want[0], want[1])
				}
			}
		})
	}
}

// testTopicStatsCounts follows agents through the state changes that move
// the per-topic counts (login, a call offered and answered, pause,
// resume, logout, a topic taken away by a configuration sync) and checks
// the counts a waiting caller is told after each step.
func testTopicStatsCounts(t *testing.T, open Open) {
	st := open(t).Queue
	ctx := context.Background()
	tm := routing.Timing{Now: Start, RingTimeout: 15 * time.Second, Node: "n1"}
	both := map[string]int{"audit": 0, "service": 0}
	sync := func(bTopics map[string]int) {
		t.Helper()
		err := st.SyncAgents(ctx, []routing.Agent{
			{ID: "a", Topics: both},
			{ID: "b", Topics: bTopics},
			{ID: "c", Topics: map[string]int{"service": 0}},
		}, tm.Now)
		if err != nil {
			t.Fatal(err)
		}
	}
	change := func(op routing.AgentOp, agent, call string) {
		t.Helper()
		tm.Now = tm.Now.Add(time.Second)
		if _, err := st.Change(ctx, routing.AgentChange{Op: op, AgentID: agent, CallID: call, Reason: "break"}, tm); err != nil {
			t.Fatalf("%s %s: %v", op, agent, err)
		}
	}
	sync(both)
	steps := []struct {
		name string
		do   func()
		// logged in and available per topic
		audit, service [2]int
	}{
		{"all offline", func() {}, [2]int{0, 0}, [2]int{0, 0}},
		{"a and b log in", func() { change(routing.OpLogin, "a", ""); change(routing.OpLogin, "b", "") }, [2]int{2, 2}, [2]int{2, 2}},
		{"c logs in", func() { change(routing.OpLogin, "c", "") }, [2]int{2, 2}, [2]int{3, 3}},
		{"an audit caller rings the longest idle", func() {
			d, _, err := st.Enqueue(ctx, routing.Entry{Call: routing.Call{ID: "x1", Topic: "audit", Node: "n1"}, Hop: routing.Hop{To: routing.Destination{Kind: routing.DestTopic, Name: "audit"}}}, tm)
			if err != nil || len(d.Offers) != 1 || d.Offers[0].Agent.ID != "a" {
				t.Fatalf("enqueue: %v %+v", err, d.Offers)
			}
		}, [2]int{2, 1}, [2]int{3, 2}},
		{"a answers", func() { change(routing.OpAnswered, "a", "x1") }, [2]int{2, 1}, [2]int{3, 2}},
		{"b pauses", func() { change(routing.OpPause, "b", "") }, [2]int{2, 0}, [2]int{3, 1}},
		{"a hangs up", func() { change(routing.OpEndCall, "a", "x1") }, [2]int{2, 1}, [2]int{3, 2}},
		{"b resumes", func() { change(routing.OpResume, "b", "") }, [2]int{2, 2}, [2]int{3, 3}},
		{"b loses audit", func() { sync(map[string]int{"service": 0}) }, [2]int{1, 1}, [2]int{3, 3}},
		{"c logs out", func() { change(routing.OpLogout, "c", "") }, [2]int{1, 1}, [2]int{2, 2}},
		{"b pauses", func() { change(routing.OpPause, "b", "") }, [2]int{1, 1}, [2]int{2, 1}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			s.do()
			for topic, want := range map[string][2]int{"audit": s.audit, "service": s.service} {
				got, err := st.TopicStats(ctx, topic, routing.Timing{})
				if err != nil {
					t.Fatal(err)
				}
				if got.AgentsLoggedIn != want[0] || got.AgentsAvailable != want[1] {
					t.Errorf("%s: logged in %d, available %d; want %d, %d", topic, got.AgentsLoggedIn, got.AgentsAvailable, want[0], want[1])
				}
			}
		})
	}
}

// testEnqueueNewCase: a first-time caller's case is written with the
// enqueue, with a free agent (offered at once, the offer naming the case)
// and without, for a real and a withheld number, and the call's path
// starts at its topic.
func testEnqueueNewCase(t *testing.T, open Open) {
	st := open(t)
	ctx := context.Background()
	tm := routing.Timing{Now: Start, RingTimeout: 15 * time.Second, Node: "n1"}
	if err := st.Queue.SyncAgents(ctx, []routing.Agent{{ID: "a", Topics: map[string]int{"audit": 0}}}, tm.Now); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Queue.Change(ctx, routing.AgentChange{Op: routing.OpLogin, AgentID: "a", Topics: []string{"audit"}}, tm); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, call, number string
		offered            bool // agent a is free and gets the call
		position           int
		indexed            bool // the number finds the case
	}{
		{name: "agent free", call: "c1", number: "+380501", offered: true, indexed: true},
		{name: "nobody free", call: "c2", number: "+380502", position: 1, indexed: true},
		{name: "withheld number", call: "c3", number: "anonymous", position: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			entry := routing.Hop{To: routing.Destination{Kind: routing.DestTopic, Name: "audit"}, At: tm.Now}
			cs := routing.Case{ID: "k" + tt.call, CallerNumber: tt.number, Topic: "audit", Status: routing.CaseOpen,
				Path: []routing.Hop{entry}, CreatedAt: tm.Now, UpdatedAt: tm.Now}
			e := routing.Entry{
				Call:    routing.Call{ID: tt.call, CaseID: cs.ID, Topic: "audit", CallerNumber: tt.number, Node: "n1"},
				Hop:     entry,
				NewCase: &cs,
			}
			d, info, err := st.Queue.Enqueue(ctx, e, tm)
			if err != nil {
				t.Fatal(err)
			}
			if got := len(d.Offers) == 1 && d.Offers[0].CaseID == cs.ID; got != tt.offered {
				t.Errorf("offers %+v, want offered %v with case %s", d.Offers, tt.offered, cs.ID)
			}
			if info.Position != tt.position {
				t.Errorf("position %d, want %d", info.Position, tt.position)
			}
			got, err := st.Cases.Case(ctx, cs.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.CallerNumber != tt.number || got.Status != routing.CaseOpen || len(got.Path) != 1 {
				t.Errorf("case %+v", got)
			}
			found, ok, err := st.Cases.OpenCaseByNumber(ctx, tt.number)
			if err != nil {
				t.Fatal(err)
			}
			if ok != tt.indexed || (ok && found.ID != cs.ID) {
				t.Errorf("open case of %s: %q %v, want indexed %v", tt.number, found.ID, ok, tt.indexed)
			}
			if path, err := st.Cases.CallPath(ctx, tt.call); err != nil || len(path) != 1 || path[0].To != entry.To {
				t.Errorf("call path %v %v", path, err)
			}
			if call, err := st.Queue.Call(ctx, tt.call); err != nil || call.CaseID != cs.ID {
				t.Errorf("call %+v %v", call, err)
			}
		})
	}
}

// testPauseWithoutReason: a pause asked for with no reason during a call
// is no pause: the agent is free after the call, and there is nothing
// for a resume to cancel. (The Router always gives a reason, "pause" if
// the agent gave none.)
func testPauseWithoutReason(t *testing.T, open Open) {
	st := open(t).Queue
	ctx := context.Background()
	tm := routing.Timing{Now: Start, RingTimeout: 15 * time.Second, Node: "n1"}
	if err := st.SyncAgents(ctx, []routing.Agent{{ID: "a", Topics: map[string]int{"audit": 0}}}, Start); err != nil {
		t.Fatal(err)
	}
	change := func(op routing.AgentOp, call, reason string) (routing.Decision, error) {
		return st.Change(ctx, routing.AgentChange{Op: op, AgentID: "a", CallID: call, Reason: reason}, tm)
	}
	if _, err := change(routing.OpLogin, "", ""); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.Enqueue(ctx, routing.Entry{Call: routing.Call{ID: "c1", Topic: "audit", Node: "n1"}}, tm); err != nil {
		t.Fatal(err)
	}
	if d, err := change(routing.OpPause, "", ""); err != nil || d.Agent.State != routing.StateRinging || d.Agent.PauseAfter != "" {
		t.Fatalf("pause without a reason while ringing: %+v %v", d.Agent, err)
	}
	if _, err := change(routing.OpResume, "", ""); !errors.Is(err, routing.ErrIllegalTransition) {
		t.Errorf("resume with no pause asked for: %v, want refused", err)
	}
	if d, err := change(routing.OpRelease, "c1", ""); err != nil || d.Agent.State != routing.StateAvailable {
		t.Errorf("released: %+v %v, want available", d.Agent, err)
	}
}
