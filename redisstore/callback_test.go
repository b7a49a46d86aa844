package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hotline-project/hotline/internal/redistest"
	"github.com/hotline-project/hotline/redisstore"
	"github.com/hotline-project/hotline/routing"
	"github.com/hotline-project/hotline/routing/storetest"
)

func cbClient(tb testing.TB, addr string) *redis.Client {
	tb.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

func cbNew(tb testing.TB) (*redisstore.Callbacks, *redistest.Server) {
	tb.Helper()
	srv := redistest.Start(tb)
	s := redisstore.NewCallbacks(cbClient(tb, srv.Addr), "test:")
	if err := s.LoadScripts(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return s, srv
}

func cbOwner(id string, due time.Time) routing.Callback {
	return routing.Callback{
		ID: id, CaseID: "case-" + id, Number: "+380441234567", Topic: "service", Lang: "uk",
		Owner: "100", Note: "router reboots nightly", Kind: routing.CallbackOwner,
		State: routing.CallbackScheduled, DueAt: due, Deadline: due.Add(time.Hour),
		MaxAttempts: 3, CreatedAt: storetest.Start, UpdatedAt: storetest.Start, CallID: id,
	}
}

func mustCreate(tb testing.TB, s *redisstore.Callbacks, cb routing.Callback) routing.Callback {
	tb.Helper()
	out, created, err := s.CreateCallback(context.Background(), cb, "", true)
	if err != nil || !created {
		tb.Fatalf("create %s: created=%v err=%v", cb.ID, created, err)
	}
	return out
}

func TestCallbackRetentionExpiresFinished(t *testing.T) {
	ctx := context.Background()
	s, srv := cbNew(t)
	s.Retention = time.Hour
	rdb := cbClient(t, srv.Addr)
	mustCreate(t, s, cbOwner("cb-1", storetest.Start))
	mustCreate(t, s, cbOwner("cb-2", storetest.Start))
	if ttl, _ := rdb.PTTL(ctx, "test:{cb}:cb:cb-1").Result(); ttl != -time.Nanosecond {
		// go-redis reports "no expiry" as -1ns.
		t.Fatalf("unfinished callback has a TTL: %v", ttl)
	}
	if _, err := s.ClaimCallback(ctx, "cb-1", "n", storetest.Start, storetest.Start.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CompleteCallback(ctx, "cb-1", "n", storetest.Start); err != nil {
		t.Fatal(err)
	}
	ttl, err := rdb.PTTL(ctx, "test:{cb}:cb:cb-1").Result()
	if err != nil || ttl <= 0 || ttl > time.Hour {
		t.Fatalf("finished callback TTL %v %v, want (0, 1h]", ttl, err)
	}
	// What expiry leaves behind: index entries without a hash. Listing
	// drops them.
	if err := rdb.Del(ctx, "test:{cb}:cb:cb-1").Err(); err != nil {
		t.Fatal(err)
	}
	got, err := s.ListCallbacks(ctx, routing.CallbackFilter{State: "completed"})
	if err != nil || len(got) != 0 {
		t.Fatalf("list after expiry: %v %v", got, err)
	}
	got, err = s.ListCallbacks(ctx, routing.CallbackFilter{})
	if err != nil || len(got) != 1 || got[0].ID != "cb-2" {
		t.Fatalf("list all after expiry: %v %v", got, err)
	}
	for _, key := range []string{"test:{cb}:all", "test:{cb}:st:completed"} {
		if _, err := rdb.ZScore(ctx, key, "cb-1").Result(); !errors.Is(err, redis.Nil) {
			t.Fatalf("%s keeps the expired entry (%v)", key, err)
		}
	}
}

// TestCallbackSurvivesRedisRestart: a restart flushes the script cache;
// every operation must reload its script by itself (EVALSHA → EVAL).
func TestCallbackSurvivesRedisRestart(t *testing.T) {
	ctx := context.Background()
	s, srv := cbNew(t)
	mustCreate(t, s, cbOwner("cb-1", storetest.Start))
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	// The first command on a pooled connection may meet the closed socket.
	var err error
	for i := 0; i < 3; i++ {
		if _, _, err = s.CreateCallback(ctx, cbOwner("cb-2", storetest.Start), "", true); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("create after restart: %v", err)
	}
	got, err := s.ClaimDueCallbacks(ctx, "a", storetest.Start, storetest.Start.Add(time.Minute), 10)
	if err != nil || len(got) != 1 || got[0].ID != "cb-2" {
		t.Fatalf("claim after restart: %+v %v", got, err)
	}
	if _, _, err := s.CompleteCallback(ctx, "cb-2", "a", storetest.Start); err != nil {
		t.Fatalf("complete after restart: %v", err)
	}
}

// countHook counts commands sent to Redis: one per command, one per
// pipeline (each is one round trip).
type countHook struct{ n atomic.Int64 }

func (h *countHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}
func (h *countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmds)
	}
}

// BenchmarkCallbackClaim: claim one due callback (the Run pass's claim) and
// put it back, against the real Redis. Reports round trips per claim.
func BenchmarkCallbackClaim(b *testing.B) {
	ctx := context.Background()
	srv := redistest.Start(b)
	rdb := cbClient(b, srv.Addr)
	hook := &countHook{}
	rdb.AddHook(hook)
	s := redisstore.NewCallbacks(rdb, "bench:")
	if err := s.LoadScripts(ctx); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		mustCreate(b, s, cbOwner(fmt.Sprintf("cb-%d", i), storetest.Start))
	}
	now := storetest.Start
	var claims int64
	hook.n.Store(0)
	var releaseTrips int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		now = now.Add(time.Millisecond)
		got, err := s.ClaimDueCallbacks(ctx, "a", now, now.Add(time.Minute), 1)
		if err != nil || len(got) != 1 {
			b.Fatalf("claim: %d %v", len(got), err)
		}
		claims++
		b.StopTimer()
		before := hook.n.Load()
		if _, err := s.ReleaseCallback(ctx, got[0].ID, "a", now, now); err != nil {
			b.Fatal(err)
		}
		releaseTrips += hook.n.Load() - before
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(float64(hook.n.Load()-releaseTrips)/float64(claims), "roundtrips/op")
}
