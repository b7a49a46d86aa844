package redisstore_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/hotline-project/hotline/internal/redistest"
	"github.com/hotline-project/hotline/redisstore"
	"github.com/hotline-project/hotline/routing/storetest"
)

// TestStores holds the Redis store to the stores' contract: every routing
// rule, the same table tests routing runs against the reference model.
// Each test has its own key prefix on one redis-server.
func TestStores(t *testing.T) {
	srv := redistest.Start(t)
	var seq atomic.Int64
	storetest.Run(t, func(t *testing.T) storetest.Stores {
		return openStores(t, srv.Addr, fmt.Sprintf("contract%d:", seq.Add(1)))
	})
}

// openStores is every Redis store under prefix, on a client of its own.
func openStores(tb testing.TB, addr, prefix string) storetest.Stores {
	tb.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	tb.Cleanup(func() { _ = rdb.Close() })
	st := redisstore.New(rdb, redisstore.Options{Prefix: prefix})
	cbs := redisstore.NewCallbacks(rdb, prefix)
	ctx := context.Background()
	if err := st.LoadScripts(ctx); err != nil {
		tb.Fatal(err)
	}
	if err := cbs.LoadScripts(ctx); err != nil {
		tb.Fatal(err)
	}
	return storetest.Stores{Queue: st, Cases: st, Callbacks: cbs, Requests: redisstore.NewRequests(rdb, prefix)}
}
