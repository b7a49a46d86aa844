package redisstore_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hotline-project/hotline/internal/redistest"
	"github.com/hotline-project/hotline/redisstore"
	"github.com/hotline-project/hotline/routing"
)

// TestEnqueueWithPartialScriptCache: a master just promoted (or restarted)
// has in its script cache only what single operations sent with EVAL since
// (their NOSCRIPT fallback): here the routing script, not the path script.
// The enqueue pipeline then runs the routing script — which pairs the
// caller with the free agent — while the path script is refused. The
// pairing's offer must come back from Enqueue, and the routing script must
// not run a second time: run again it finds the caller paired already and
// offers nothing, and the agent rings for a caller nobody rings (found by
// the Cluster failover test: an agent "ringing" for 30 s).
func TestEnqueueWithPartialScriptCache(t *testing.T) {
	srv := redistest.Start(t)
	st, _ := newStore(t, srv.Addr, redisstore.Options{})
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
	if err := rdb.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	// One single routing operation: EVALSHA, NOSCRIPT, EVAL, which caches
	// the routing script and nothing else.
	if _, err := st.TopicStats(ctx, "audit", tm); err != nil {
		t.Fatal(err)
	}
	if n := cachedScripts(t, rdb); n != 1 {
		t.Fatalf("%d scripts cached, want only the routing script", n)
	}

	e := routing.Entry{
		Call: routing.Call{ID: "c1", Topic: "audit", CallerNumber: "+380501", Node: "n1"},
		Hop:  routing.Hop{To: routing.Destination{Kind: routing.DestTopic, Name: "audit"}, At: tm.Now},
	}
	d, info, err := st.Enqueue(ctx, e, tm)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Offers) != 1 || d.Offers[0].CallID != "c1" || d.Offers[0].Agent.ID != "a" {
		t.Errorf("offers %+v (position %d): want c1 offered to a", d.Offers, info.Position)
	}
	path, err := st.CallPath(ctx, "c1")
	if err != nil || len(path) != 1 {
		t.Errorf("path %+v, %v: want the entry hop once", path, err)
	}
	// And with every script gone, the pipeline is repeated whole: the
	// caller is queued once (nobody free now) and the path has one hop.
	if err := rdb.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	e.Call.ID, e.Call.CallerNumber = "c2", "+380502"
	d, info, err = st.Enqueue(ctx, e, tm)
	if err != nil || len(d.Offers) != 0 || info.Position != 1 {
		t.Errorf("second caller: offers %+v, position %d, %v; want queued first", d.Offers, info.Position, err)
	}
	if path, err := st.CallPath(ctx, "c2"); err != nil || len(path) != 1 {
		t.Errorf("second caller's path %+v, %v: want the entry hop once", path, err)
	}
}

func cachedScripts(t *testing.T, rdb *redis.Client) int {
	t.Helper()
	info, err := rdb.Info(context.Background(), "memory").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "number_of_cached_scripts:"); ok {
			n := 0
			for _, c := range v {
				n = n*10 + int(c-'0')
			}
			return n
		}
	}
	t.Fatal("INFO memory has no number_of_cached_scripts")
	return 0
}
