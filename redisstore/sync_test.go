package redisstore_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/hotline-project/hotline/internal/redistest"
	"github.com/hotline-project/hotline/redisstore"
	"github.com/hotline-project/hotline/routing"
)

// TestSyncRemovesAgents follows agents taken out of the configuration: an
// idle one disappears at once (also from a topic no configured agent
// serves, whose keys the sync learns of by retrying), one ringing or
// talking keeps the call and disappears when it ends, and one added back
// before that stays.
func TestSyncRemovesAgents(t *testing.T) {
	srv := redistest.Start(t)
	st, _ := newStore(t, srv.Addr, redisstore.Options{})
	ctx := context.Background()
	tm := routing.Timing{Now: time.Now(), RingTimeout: 15 * time.Second, Node: "n1"}
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
