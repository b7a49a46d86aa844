package bench

import (
	"context"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
)

// benchKey marks contexts of Redis work the bench itself asks for (the
// transfer checks), so it is counted apart from the daemon's own traffic.
type benchKey struct{}

// benchContext marks ctx as the bench's; trips, when not nil, counts the
// round trips made under it.
func benchContext(ctx context.Context, trips *atomic.Int64) context.Context {
	if trips == nil {
		trips = new(atomic.Int64)
	}
	return context.WithValue(ctx, benchKey{}, trips)
}

func benchTrips(ctx context.Context) *atomic.Int64 {
	v, _ := ctx.Value(benchKey{}).(*atomic.Int64)
	return v
}

// redisCounter is a go-redis hook counting round trips (a command, or a
// pipeline or transaction as one) and commands.
type redisCounter struct {
	trips, cmds           atomic.Int64 // the daemon's
	benchTrips, benchCmds atomic.Int64 // the bench's transfer checks
	setups                atomic.Int64 // connection handshake round trips
}

// redisCounts is a snapshot of the counter.
type redisCounts struct {
	Trips, Cmds, BenchTrips, BenchCmds int64
}

func (c *redisCounter) snapshot() redisCounts {
	return redisCounts{Trips: c.trips.Load(), Cmds: c.cmds.Load(), BenchTrips: c.benchTrips.Load(), BenchCmds: c.benchCmds.Load()}
}

func (c *redisCounter) count(ctx context.Context, cmds int64) {
	if t := benchTrips(ctx); t != nil {
		t.Add(1)
		c.benchTrips.Add(1)
		c.benchCmds.Add(cmds)
		return
	}
	c.trips.Add(1)
	c.cmds.Add(cmds)
}

func (c *redisCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

// go-redis runs a new connection's handshake (HELLO, then CLIENT SETINFO
// in a pipeline) through the client's hooks, under the context of the
// command that needed the connection. Those belong to the pool growing,
// not to the operation, and are counted apart.
func setup(cmds ...redis.Cmder) bool {
	for _, c := range cmds {
		if n := c.Name(); n != "hello" && n != "client" {
			return false
		}
	}
	return len(cmds) > 0
}

func (c *redisCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if setup(cmd) {
			c.setups.Add(1)
		} else {
			c.count(ctx, 1)
		}
		return next(ctx, cmd)
	}
}

func (c *redisCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if setup(cmds...) {
			c.setups.Add(1)
		} else {
			c.count(ctx, int64(len(cmds)))
		}
		return next(ctx, cmds)
	}
}

var _ redis.Hook = (*redisCounter)(nil)
