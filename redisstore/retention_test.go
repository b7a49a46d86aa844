package redisstore_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hotline-project/hotline/internal/redistest"
	"github.com/hotline-project/hotline/redisstore"
	"github.com/hotline-project/hotline/routing"
)

// TestClosedCaseRetention checks that a closed case's keys expire after
// the retention and that listing then drops it from the index, while an
// open case is kept.
func TestClosedCaseRetention(t *testing.T) {
	srv := redistest.Start(t)
	const ttl = 150 * time.Millisecond
	st, _ := newStore(t, srv.Addr, redisstore.Options{ClosedCaseTTL: ttl})
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	ctx := context.Background()
	now := time.Now()
	for _, id := range []string{"k1", "k2"} {
		c := routing.Case{ID: id, CallerNumber: "+1" + id, Topic: "audit", Status: routing.CaseOpen, CreatedAt: now, UpdatedAt: now,
			Path: []routing.Hop{{To: routing.Destination{Kind: routing.DestTopic, Name: "audit"}, At: now}}}
		if err := st.CreateCase(ctx, c); err != nil {
			t.Fatal(err)
		}
		if err := st.Talked(ctx, "call"+id, id, "a", now); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.CloseCase(ctx, "k1", now); err != nil {
		t.Fatal(err)
	}
	ids := func() []string {
		t.Helper()
		cs, err := st.Cases(ctx, routing.CaseFilter{})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, c := range cs {
			out = append(out, c.ID)
		}
		return out
	}
	if got := ids(); !slices.Equal(got, []string{"k1", "k2"}) {
		t.Fatalf("cases before the retention ran out: %v", got)
	}
	// Redis expires keys on access once their time is up.
	time.Sleep(ttl + 100*time.Millisecond)
	if got := ids(); !slices.Equal(got, []string{"k2"}) {
		t.Errorf("cases after the retention: %v, want [k2]", got)
	}
	if n := rdb.ZCard(ctx, "hotline:cases").Val(); n != 1 {
		t.Errorf("index holds %d cases, want 1", n)
	}
	keys := rdb.Keys(ctx, "hotline:{case:*").Val()
	slices.Sort(keys)
	want := []string{"hotline:{case:k2}", "hotline:{case:k2}:agents", "hotline:{case:k2}:path"}
	if !slices.Equal(keys, want) {
		t.Errorf("case keys %v, want %v", keys, want)
	}
	for _, k := range want {
		if d := rdb.PTTL(ctx, k).Val(); d >= 0 {
			t.Errorf("open case key %s expires in %v", k, d)
		}
	}
}
