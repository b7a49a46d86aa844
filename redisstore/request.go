package redisstore

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hotline-project/hotline/routing"
)

var _ routing.RequestStore = (*Requests)(nil)

// requestDoneLua marks a request done once; a second mark keeps the first
// senior and time. KEYS: the request's hash.
const requestDoneLua = `
local st = redis.call('HGET', KEYS[1], 'state')
if not st then return redis.error_reply('NOTFOUND ' .. ARGV[1]) end
if st ~= 'done' then
  redis.call('HSET', KEYS[1], 'state', 'done', 'done_by', ARGV[2], 'done_at', ARGV[3])
end
return redis.call('HGETALL', KEYS[1])
`

// Requests implements routing.RequestStore on Redis: a hash per request and
// a sorted set of all of them by creation time, under the {req} hash tag.
type Requests struct {
	rdb    redis.UniversalClient
	prefix string // ends in the hash tag: "hotline:{req}:"
	done   *redis.Script
}

// NewRequests returns the store on client; prefix defaults to "hotline:".
func NewRequests(client redis.UniversalClient, prefix string) *Requests {
	if prefix == "" {
		prefix = "hotline:"
	}
	return &Requests{rdb: client, prefix: prefix + "{req}:", done: redis.NewScript(requestDoneLua)}
}

func (s *Requests) hashKey(id string) string { return s.prefix + "r:" + id }
func (s *Requests) allKey() string           { return s.prefix + "all" }

// CreateRequest stores r; hash and index change together (MULTI).
func (s *Requests) CreateRequest(ctx context.Context, r routing.Request) error {
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, s.hashKey(r.ID), encodeRequest(r)...)
		p.ZAdd(ctx, s.allKey(), redis.Z{Score: float64(ms(r.CreatedAt)), Member: r.ID})
		return nil
	})
	if err != nil {
		return fmt.Errorf("create request: %w", err)
	}
	return nil
}

// GetRequest returns one request or routing.ErrNotFound.
func (s *Requests) GetRequest(ctx context.Context, id string) (routing.Request, error) {
	m, err := s.rdb.HGetAll(ctx, s.hashKey(id)).Result()
	if err != nil {
		return routing.Request{}, fmt.Errorf("get request: %w", err)
	}
	if len(m) == 0 {
		return routing.Request{}, fmt.Errorf("request %s: %w", id, routing.ErrNotFound)
	}
	return requestFromMap(m)
}

// ListRequests returns matching requests, newest first, in two round trips
// (the index, then every hash in one pipeline).
func (s *Requests) ListRequests(ctx context.Context, f routing.RequestFilter) ([]routing.Request, error) {
	ids, err := s.rdb.ZRevRange(ctx, s.allKey(), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("list requests: %w", err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HGetAll(ctx, s.hashKey(id))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list requests: %w", err)
	}
	var out []routing.Request
	for _, c := range cmds {
		m := c.Val()
		if len(m) == 0 {
			continue
		}
		r, err := requestFromMap(m)
		if err != nil {
			return nil, fmt.Errorf("list requests: %w", err)
		}
		if f.Match(r) {
			out = append(out, r)
		}
	}
	return out, nil
}

// MarkRequestDone sets a request's state to done, once.
func (s *Requests) MarkRequestDone(ctx context.Context, id, by string, at time.Time) (routing.Request, error) {
	v, err := s.done.Run(ctx, s.rdb, []string{s.hashKey(id)}, id, by, ms(at)).Result()
	if err != nil {
		return routing.Request{}, fmt.Errorf("mark request done: %w", cbScriptError(err))
	}
	arr, ok := v.([]any)
	if !ok || len(arr)%2 != 0 {
		return routing.Request{}, fmt.Errorf("mark request done: %w", errScriptReply)
	}
	m := make(map[string]string, len(arr)/2)
	for i := 0; i < len(arr); i += 2 {
		k, _ := arr[i].(string)
		val, _ := arr[i+1].(string)
		m[k] = val
	}
	return requestFromMap(m)
}

func encodeRequest(r routing.Request) []any {
	return []any{
		"id", r.ID, "kind", string(r.Kind), "city", r.City, "organisation", r.Organisation,
		"position", r.Position, "full_name", r.FullName, "phone", r.Phone, "purpose", r.Purpose,
		"failed_number", r.FailedNumber, "found_where", r.FoundWhere, "case", r.CaseID,
		"created_by", r.CreatedBy, "created", ms(r.CreatedAt), "state", r.State,
		"done_by", r.DoneBy, "done_at", ms(r.DoneAt),
	}
}

func requestFromMap(m map[string]string) (routing.Request, error) {
	r := routing.Request{
		ID: m["id"], Kind: routing.RequestKind(m["kind"]), City: m["city"], Organisation: m["organisation"],
		Position: m["position"], FullName: m["full_name"], Phone: m["phone"], Purpose: m["purpose"],
		FailedNumber: m["failed_number"], FoundWhere: m["found_where"], CaseID: m["case"],
		CreatedBy: m["created_by"], State: m["state"], DoneBy: m["done_by"],
	}
	var err error
	if r.CreatedAt, err = parseMS(m["created"]); err != nil {
		return routing.Request{}, fmt.Errorf("request %s field created: %w", r.ID, errScriptReply)
	}
	if r.DoneAt, err = parseMS(m["done_at"]); err != nil {
		return routing.Request{}, fmt.Errorf("request %s field done_at: %w", r.ID, errScriptReply)
	}
	return r, nil
}
