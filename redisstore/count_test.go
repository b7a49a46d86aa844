package redisstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hotline-project/hotline/internal/redistest"
	"github.com/hotline-project/hotline/redisstore"
	"github.com/hotline-project/hotline/routing"
)

// TestTopicStatsCounts follows agents through the state changes that move
// the per-topic counts (login, a call offered and answered, pause, resume,
// logout, a topic taken away by a configuration sync) and checks the
// counts a waiting caller is told after each step, and again after the
// counts were lost (rebuilt from the agents).
func TestTopicStatsCounts(t *testing.T) {
	srv := redistest.Start(t)
	st, _ := newStore(t, srv.Addr, redisstore.Options{})
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	ctx := context.Background()
	tm := routing.Timing{Now: time.Now(), RingTimeout: 15 * time.Second, Node: "n1"}
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
		{"counts lost", func() {
			if err := rdb.Del(ctx, "{r}:agentcount").Err(); err != nil {
				t.Fatal(err)
			}
		}, [2]int{1, 1}, [2]int{2, 2}},
		{"b pauses after the rebuild", func() { change(routing.OpPause, "b", "") }, [2]int{1, 1}, [2]int{2, 1}},
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

// TestCloseCase checks what closing a case reports and that it drops the
// caller number's index only while the index still names that case, in
// two round trips.
func TestCloseCase(t *testing.T) {
	srv := redistest.Start(t)
	st, spy := newStore(t, srv.Addr, redisstore.Options{})
	ctx := context.Background()
	now := time.Now()
	open := func(id, number string) {
		t.Helper()
		if err := st.CreateCase(ctx, routing.Case{ID: id, CallerNumber: number, Topic: "audit", Status: routing.CaseOpen, CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	open("k1", "+100")
	for _, a := range []string{"a", "b", "a"} {
		if err := st.Talked(ctx, "call1", "k1", a, now); err != nil {
			t.Fatal(err)
		}
	}
	open("k2", "+200")
	open("k3", "+200") // a newer case of the same number took the index
	tests := []struct {
		id, number string
		agents     int
		indexed    string // the number's open case after closing, "" for none
	}{
		{"k1", "+100", 3, ""},
		{"k2", "+200", 0, "k3"},
		{"k3", "+200", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			before := spy.trips.Load()
			agents, err := st.CloseCase(ctx, tt.id, now)
			if err != nil {
				t.Fatal(err)
			}
			if trips := spy.trips.Load() - before; trips != 2 {
				t.Errorf("%d round trips, want 2", trips)
			}
			if agents != tt.agents {
				t.Errorf("agents %d, want %d", agents, tt.agents)
			}
			cs, ok, err := st.OpenCaseByNumber(ctx, tt.number)
			if err != nil {
				t.Fatal(err)
			}
			if got := map[bool]string{true: cs.ID}[ok]; got != tt.indexed {
				t.Errorf("open case of %s: %q, want %q", tt.number, got, tt.indexed)
			}
		})
	}
}
