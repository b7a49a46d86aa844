package redisstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hotline-project/hotline/internal/redistest"
	"github.com/hotline-project/hotline/redisstore"
	"github.com/hotline-project/hotline/routing"
	"github.com/hotline-project/hotline/routing/storetest"
)

// TestAgentCountsRebuilt: the per-topic agent counts a waiting caller is
// told are kept by the routing script beside the agents; lost (an
// emptied key), they are rebuilt from the agents, and kept from there.
func TestAgentCountsRebuilt(t *testing.T) {
	srv := redistest.Start(t)
	st, _ := newStore(t, srv.Addr, redisstore.Options{})
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	ctx := context.Background()
	tm := routing.Timing{Now: storetest.Start, RingTimeout: 15 * time.Second, Node: "n1"}
	err := st.SyncAgents(ctx, []routing.Agent{
		{ID: "a", Topics: map[string]int{"audit": 0, "service": 0}},
		{ID: "b", Topics: map[string]int{"service": 0}},
	}, tm.Now)
	if err != nil {
		t.Fatal(err)
	}
	change := func(op routing.AgentOp, agent string) {
		t.Helper()
		if _, err := st.Change(ctx, routing.AgentChange{Op: op, AgentID: agent, Reason: "break"}, tm); err != nil {
			t.Fatalf("%s %s: %v", op, agent, err)
		}
	}
	change(routing.OpLogin, "a")
	change(routing.OpLogin, "b")
	steps := []struct {
		name string
		do   func()
		// logged in and available per topic
		audit, service [2]int
	}{
		{"counted", func() {}, [2]int{1, 1}, [2]int{2, 2}},
		{"counts lost", func() {
			if n := rdb.Del(ctx, "hotline:{r}:agentcount").Val(); n != 1 {
				t.Fatalf("deleted %d count keys, want 1", n)
			}
		}, [2]int{1, 1}, [2]int{2, 2}},
		{"b pauses after the rebuild", func() { change(routing.OpPause, "b") }, [2]int{1, 1}, [2]int{2, 1}},
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

// TestCloseCaseRoundTrips: closing a case is two round trips, the case's
// script and the number index's compare-and-delete (on Cluster they are
// in different slots). What it reports is storetest's (CloseCase).
func TestCloseCaseRoundTrips(t *testing.T) {
	srv := redistest.Start(t)
	st, spy := newStore(t, srv.Addr, redisstore.Options{})
	ctx := context.Background()
	now := storetest.Start
	if err := st.CreateCase(ctx, routing.Case{ID: "k1", CallerNumber: "+100", Topic: "audit", Status: routing.CaseOpen, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	before := spy.trips.Load()
	if _, err := st.CloseCase(ctx, "k1", now); err != nil {
		t.Fatal(err)
	}
	if trips := spy.trips.Load() - before; trips != 2 {
		t.Errorf("%d round trips, want 2", trips)
	}
	if _, ok, err := st.OpenCaseByNumber(ctx, "+100"); ok || err != nil {
		t.Errorf("closed case still found: %v %v", ok, err)
	}
}
