// Package redisstore keeps the routing core's shared state in Redis: agents,
// queues, offers and wrap-up timers (routing.QueueStore) and cases with
// each call's transfer path (routing.CaseStore).
//
// Every routing decision and every transfer path check is one Lua script,
// so any number of hotline nodes can share one Redis. Keys that a script
// touches together share a hash tag ({r} for the routing set, {call:ID} for
// a call's path, {case:ID} for a case) and are all passed through KEYS, so
// the same code runs on standalone Redis, Sentinel and Cluster.
//
// The client given to New should be built with ContextTimeoutEnabled set,
// or go-redis ignores context deadlines on socket I/O.
package redisstore

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hotline-project/hotline/routing"
)

var (
	_ routing.QueueStore = (*Store)(nil)
	_ routing.CaseStore  = (*Store)(nil)
)

//go:embed lua/route.lua
var routeLua string

//go:embed lua/path.lua
var pathLua string

//go:embed lua/case.lua
var caseLua string

// pendingLua lists the offers still ringing for node ARGV[1] (deadline
// after ARGV[2] ms): each call id in the deadlines zset KEYS[1] (transfer
// claims, "x:…", aside) whose call in KEYS[2] is ringing on that node, with
// its agent from KEYS[3] — the offers as the router published them.
const pendingLua = `local out = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[2], '+inf')) do
  if string.sub(id, 1, 2) ~= 'x:' then
    local raw = redis.call('HGET', KEYS[2], id)
    if raw then
      local c = cjson.decode(raw)
      if c.state == 'ringing' and c.node == ARGV[1] and c.agent and c.agent ~= '' then
        local a = redis.call('HGET', KEYS[3], c.agent)
        if a then
          local ag = cjson.decode(a)
          if ag.call == c.id then
            table.insert(out, cjson.encode({call = c.id, case = c.case, topic = c.topic, node = c.node,
              cb = c.cb, deadline = c.deadline, kind = 'queue', agent = ag}))
          end
        end
      end
    end
  end
end
return out`

// unindexLua deletes KEYS[1] if it holds ARGV[1]: compare and delete in one
// round trip, where WATCH, GET and MULTI/EXEC took three.
const unindexLua = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`

// Options configures a Store.
type Options struct {
	// Prefix starts every key and channel name; default "hotline:".
	Prefix string
	// CallTTL is how long a call's keys live after the call ends; default 24h.
	CallTTL time.Duration
	// Observe, if set, is told the latency and outcome of every store
	// operation (one Redis round trip each, unless the op name says
	// otherwise), for metrics.
	Observe func(op string, d time.Duration, err error)
	// ClosedCaseTTL is how long a closed case is kept; its keys then
	// expire and listing drops it from the index. Default 90 days.
	ClosedCaseTTL time.Duration
	// HandleTimeAlpha is the weight of the newest call in the per-topic
	// exponentially weighted mean handle time; default 0.1.
	HandleTimeAlpha float64
}

// Store implements routing.QueueStore and routing.CaseStore on Redis.
type Store struct {
	rdb     redis.UniversalClient
	opts    Options
	route   *redis.Script
	path    *redis.Script
	cases   *redis.Script
	unindex *redis.Script
	pending *redis.Script
	scripts []*redis.Script

	// topics caches each agent's topics from SyncAgents, so an op that
	// may free an agent it learns of only from the call (Leave, Sweep)
	// passes that agent's keys at once instead of retrying.
	topics sync.Map // agent id -> []string
}

// maxPairs bounds how many pairs one dispatch script makes, so a long queue
// meeting many freed agents never blocks Redis for long; Dispatch loops
// while the bound is hit.
const maxPairs = 32

// New returns a Store on client. It does not talk to Redis; call
// LoadScripts (or Ping) at start to fail early.
func New(client redis.UniversalClient, opts Options) *Store {
	if opts.Prefix == "" {
		opts.Prefix = "hotline:"
	}
	if opts.CallTTL <= 0 {
		opts.CallTTL = 24 * time.Hour
	}
	if opts.ClosedCaseTTL <= 0 {
		opts.ClosedCaseTTL = 90 * 24 * time.Hour
	}
	if opts.HandleTimeAlpha <= 0 || opts.HandleTimeAlpha > 1 {
		opts.HandleTimeAlpha = 0.1
	}
	s := &Store{
		rdb:     client,
		opts:    opts,
		route:   redis.NewScript(routeLua),
		path:    redis.NewScript(pathLua),
		cases:   redis.NewScript(caseLua),
		unindex: redis.NewScript(unindexLua),
		pending: redis.NewScript(pendingLua),
	}
	s.scripts = []*redis.Script{s.route, s.path, s.cases, s.unindex, s.pending}
	return s
}

// Ping checks that Redis answers.
func (s *Store) Ping(ctx context.Context) error {
	start := time.Now()
	err := s.rdb.Ping(ctx).Err()
	s.observe("ping", start, err)
	if err != nil {
		return fmt.Errorf("redis ping: %w", err)
	}
	return nil
}

// CheckRouting reports whether a routing decision can be made now: it
// writes one short-lived key in the routing set's hash slot ({r}), so
// the write goes where the routing scripts go — the Sentinel master, the
// Cluster master of that slot — and fails as they would if that node is
// gone, read-only (a master just demoted), loading its data, refusing
// writes (out of memory, too few replicas) or cut off from its cluster.
// A PING proves none of that: any node answers it, a replica or a
// Cluster master of other slots included. node names the writer.
func (s *Store) CheckRouting(ctx context.Context, node string) error {
	start := time.Now()
	err := s.rdb.Set(ctx, s.rkey("ready"), node, time.Minute).Err()
	s.observe("check_routing", start, err)
	if err != nil {
		return fmt.Errorf("write to the routing keys' master: %w", err)
	}
	return nil
}

// LoadScripts loads every script into Redis's script cache. Single
// scripts fall back to EVAL by themselves, but pipelines cannot, so the
// store calls this again whenever a pipeline meets NOSCRIPT (a Redis
// restart or failover); callers need only call it at start.
func (s *Store) LoadScripts(ctx context.Context) error {
	start := time.Now()
	var err error
	for _, sc := range s.scripts {
		if err = sc.Load(ctx, s.rdb).Err(); err != nil {
			break
		}
	}
	s.observe("load_scripts", start, err)
	if err != nil {
		return fmt.Errorf("load scripts: %w", err)
	}
	return nil
}

func (s *Store) observe(op string, start time.Time, err error) {
	if s.opts.Observe != nil {
		s.opts.Observe(op, time.Since(start), err)
	}
}

// Keys. The routing set shares {r}; a call's path state shares {call:ID};
// a case shares {case:ID}.
func (s *Store) rkey(name string) string        { return s.opts.Prefix + "{r}:" + name }
func (s *Store) callKey(id, name string) string { return s.opts.Prefix + "{call:" + id + "}:" + name }
func (s *Store) caseKey(id string) string       { return s.opts.Prefix + "{case:" + id + "}" }
func (s *Store) casesKey() string               { return s.opts.Prefix + "cases" }
func (s *Store) caseNumKey(number string) string {
	return s.opts.Prefix + "casenum:" + number
}
func (s *Store) offerChannel() string { return s.opts.Prefix + "offers:" }

func (s *Store) pathKeys(callID string) []string {
	return []string{s.callKey(callID, "path"), s.callKey(callID, "seen"), s.callKey(callID, "pending")}
}

func (s *Store) caseKeys(id string) []string {
	k := s.caseKey(id)
	return []string{k, k + ":path", k + ":agents"}
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v float64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(int64(v))
}

// parseMS is fromMS for a hash field: Unix ms as a decimal string, in UTC.
func parseMS(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, err
	}
	if n == 0 {
		return time.Time{}, nil
	}
	return fromMS(float64(n)).UTC(), nil
}

// errScriptReply means a script answered in a shape this code does not
// know: a version mismatch between the embedded script and the code.
var errScriptReply = errors.New("unexpected script reply")

// isNoScript reports whether err is Redis saying a script is not cached.
func isNoScript(err error) bool {
	return err != nil && redis.HasErrorPrefix(err, "NOSCRIPT")
}

func replyStrings(v any) ([]string, error) {
	arr, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%w: %T", errScriptReply, v)
	}
	out := make([]string, len(arr))
	for i, x := range arr {
		str, ok := x.(string)
		if !ok {
			return nil, fmt.Errorf("%w: element %d is %T", errScriptReply, i, x)
		}
		out[i] = str
	}
	return out, nil
}

func (s *Store) agentTopics(id string) []string {
	if id == "" {
		return nil
	}
	v, _ := s.topics.Load(id)
	ts, _ := v.([]string)
	return ts
}
