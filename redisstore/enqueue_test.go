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

// TestEnqueueNewCase checks that a first-time caller's case is written in
// the enqueue's own round trip, with a free agent (offered at once) and
// without, for a real and a withheld number; and that after Redis lost its
// script cache the repeated pipeline does not write the case twice.
func TestEnqueueNewCase(t *testing.T) {
	srv := redistest.Start(t)
	st, spy := newStore(t, srv.Addr, redisstore.Options{})
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	ctx := context.Background()
	tm := routing.Timing{Now: time.Now(), RingTimeout: 15 * time.Second, Node: "n1"}
	if err := st.SyncAgents(ctx, []routing.Agent{{ID: "a", Topics: map[string]int{"audit": 0}}}, tm.Now); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Change(ctx, routing.AgentChange{Op: routing.OpLogin, AgentID: "a", Topics: []string{"audit"}}, tm); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, call, number string
		flush              bool  // Redis forgets its scripts first
		trips              int64 // round trips of the enqueue
		offered            bool  // agent a is free and gets the call
		indexed            bool  // the number finds the case
	}{
		{name: "agent free", call: "c1", number: "+380501", trips: 1, offered: true, indexed: true},
		{name: "nobody free", call: "c2", number: "+380502", trips: 1, indexed: true},
		{name: "withheld number", call: "c3", number: "anonymous", trips: 1},
		// The pipeline, one load per script, the pipeline again (scripts
		// only).
		{name: "script cache lost", call: "c4", number: "+380504", flush: true, indexed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.flush {
				if err := rdb.ScriptFlush(ctx).Err(); err != nil {
					t.Fatal(err)
				}
			}
			cs := routing.Case{ID: "k" + tt.call, CallerNumber: tt.number, Topic: "audit", Status: routing.CaseOpen,
				Path:      []routing.Hop{{To: routing.Destination{Kind: routing.DestTopic, Name: "audit"}, At: tm.Now}},
				CreatedAt: tm.Now, UpdatedAt: tm.Now}
			e := routing.Entry{
				Call:    routing.Call{ID: tt.call, CaseID: cs.ID, Topic: "audit", CallerNumber: tt.number, Node: "n1"},
				Hop:     routing.Hop{To: routing.Destination{Kind: routing.DestTopic, Name: "audit"}, At: tm.Now},
				NewCase: &cs,
			}
			before := spy.trips.Load()
			d, _, err := st.Enqueue(ctx, e, tm)
			if err != nil {
				t.Fatal(err)
			}
			if trips := spy.trips.Load() - before; tt.trips != 0 && trips != tt.trips {
				t.Errorf("%d round trips, want %d", trips, tt.trips)
			}
			if got := len(d.Offers) == 1 && d.Offers[0].CaseID == cs.ID; got != tt.offered {
				t.Errorf("offers %+v, want offered %v with case %s", d.Offers, tt.offered, cs.ID)
			}
			got, err := st.Case(ctx, cs.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.CallerNumber != tt.number || got.Status != routing.CaseOpen || len(got.Path) != 1 {
				t.Errorf("case %+v", got)
			}
			found, ok, err := st.OpenCaseByNumber(ctx, tt.number)
			if err != nil {
				t.Fatal(err)
			}
			if ok != tt.indexed || (ok && found.ID != cs.ID) {
				t.Errorf("open case of %s: %q %v, want indexed %v", tt.number, found.ID, ok, tt.indexed)
			}
			path, err := st.CallPath(ctx, tt.call)
			if err != nil || len(path) != 1 {
				t.Errorf("call path %v %v", path, err)
			}
			call, err := st.Call(ctx, tt.call)
			if err != nil || call.CaseID != cs.ID {
				t.Errorf("call %+v %v", call, err)
			}
		})
	}
}
