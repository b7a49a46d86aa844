package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hotline-project/hotline/metrics"
	"github.com/hotline-project/hotline/routing"
)

var errARIDown = errors.New("ari: events websocket not connected")

func (a *App) ariReady(context.Context) error {
	if !a.ARI.Connected() {
		return errARIDown
	}
	return nil
}

// redisReady is /readyz's Redis check: whether a routing decision can be
// made now. The store must be prepared (scripts loaded, agents synced:
// Start retries that until Redis answers) and the node owning the routing
// keys — the Sentinel master, the Cluster master of the {r} slot — must
// take a write; a node that merely answers PING is not enough.
func (a *App) redisReady(ctx context.Context) error {
	if err := a.notPreparedErr(); err != nil {
		return fmt.Errorf("redis: not started: %w", err)
	}
	if err := a.store.CheckRouting(ctx, a.node); err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	return nil
}

// ariState follows the events websocket for metrics; every connection after
// the first is a reconnect.
func (a *App) ariState(up bool) {
	a.metrics.ARIConnected(up)
	if up {
		if a.ariConnects.Add(1) > 1 {
			a.metrics.ARIReconnected()
		}
		a.log.Info("ARI connected")
	} else {
		a.log.Warn("ARI disconnected")
	}
}

// reconcile runs after every (re)connect: events during a gap are lost, so
// the call flow compares what it owns with what Asterisk still has.
func (a *App) reconcile(ctx context.Context) { a.Engine.Reconnected(ctx) }

// watchRedis checks every 5 s that a routing decision could be made (the
// routing keys' master takes a write, as /readyz asks), so
// hotline_redis_up and the logs show an outage even while no call touches
// the store; on Cluster a failed check also has the client reload its slot
// map. go-redis reconnects by itself; the scripts are re-sent on NOSCRIPT
// by redis.Script and the store's pipelines.
func (a *App) watchRedis(ctx context.Context) error {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	up := true
	for {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := a.store.CheckRouting(pctx, a.node)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		a.metrics.RedisUp(err == nil)
		switch {
		case err != nil && up:
			a.log.Error("Redis unreachable", "err", err)
		case err == nil && !up:
			a.log.Info("Redis reachable again")
		}
		up = err == nil
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (a *App) countCallback(cb routing.Callback) {
	switch cb.State {
	case routing.CallbackScheduled:
		if cb.Attempts == 0 {
			a.metrics.Callback(metrics.CallbackScheduled)
		}
	case routing.CallbackCompleted:
		a.metrics.Callback(metrics.CallbackCompleted)
	case routing.CallbackFailed:
		a.metrics.Callback(metrics.CallbackFailed)
	case routing.CallbackEscalated:
		a.metrics.Callback(metrics.CallbackEscalated)
	}
}

// snapshot reads the cluster-wide gauges at scrape time.
func (a *App) snapshot(ctx context.Context) (metrics.Snapshot, error) {
	s := metrics.Snapshot{
		QueueDepth:    map[string]int{},
		LongestWait:   map[string]time.Duration{},
		EstimatedWait: map[string]time.Duration{},
		Agents:        map[string]int{},
	}
	agents, err := a.Router.Agents(ctx)
	if err != nil {
		return s, err
	}
	for _, ag := range agents {
		s.Agents[string(ag.State)]++
	}
	calls, err := a.Router.ActiveCalls(ctx)
	if err != nil {
		return s, err
	}
	now := a.clock.Now()
	for _, c := range calls {
		if c.State != routing.CallQueued {
			continue
		}
		s.QueueDepth[c.Topic]++
		if w := now.Sub(c.EnqueuedAt); w > s.LongestWait[c.Topic] {
			s.LongestWait[c.Topic] = w
		}
	}
	policy := Policy(a.cfg)
	for _, topic := range a.cfg.TopicNames() {
		st, err := a.Router.TopicStats(ctx, topic)
		if err != nil {
			return s, err
		}
		// What a caller joining now would be told.
		s.EstimatedWait[topic] = policy.EstimateWait(topic, st.Queued+1, st)
	}
	cbs, err := a.Callbacks.List(ctx, routing.CallbackFilter{State: string(routing.CallbackScheduled)})
	if err != nil {
		return s, err
	}
	for _, cb := range cbs {
		if callbackOverdue(cb, now) {
			s.CallbacksOverdue++
		}
	}
	return s, nil
}

// callbackDialGrace is how long a due owner or senior callback without a
// deadline may wait for its agent before it counts as overdue: a senior
// callback waits for any senior to become available, which within a
// minute is ordinary.
const callbackDialGrace = time.Minute

// callbackOverdue reports whether a scheduled callback is late enough to
// alarm someone. A queue-kind callback is never overdue: it keeps a place
// in line and waits as long as the queue does (the queue's own gauges
// show that). An owner callback is overdue past its deadline, when it
// should have been escalated; one without a deadline, and a senior
// callback, once it has been due for callbackDialGrace without being
// dialled.
func callbackOverdue(cb routing.Callback, now time.Time) bool {
	if cb.State != routing.CallbackScheduled {
		return false
	}
	switch cb.Kind {
	case routing.CallbackOwner, routing.CallbackSenior:
		if !cb.Deadline.IsZero() {
			return now.After(cb.Deadline)
		}
		return now.After(cb.DueAt.Add(callbackDialGrace))
	}
	return false
}
