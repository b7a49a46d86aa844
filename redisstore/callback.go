package redisstore

import (
	"context"
	_ "embed"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hotline-project/hotline/routing"
)

var _ routing.CallbackStore = (*Callbacks)(nil)

// Every callback script starts with the shared prelude (key names and
// helpers); Lua has no include, so it is prepended here.
var (
	//go:embed lua/callback_lib.lua
	callbackLibLua string
	//go:embed lua/callback_create.lua
	callbackCreateLua string
	//go:embed lua/callback_claim_due.lua
	callbackClaimDueLua string
	//go:embed lua/callback_claim.lua
	callbackClaimLua string
	//go:embed lua/callback_renew.lua
	callbackRenewLua string
	//go:embed lua/callback_release.lua
	callbackReleaseLua string
	//go:embed lua/callback_park.lua
	callbackParkLua string
	//go:embed lua/callback_complete.lua
	callbackCompleteLua string
	//go:embed lua/callback_fail.lua
	callbackFailLua string
	//go:embed lua/callback_escalate.lua
	callbackEscalateLua string
	//go:embed lua/callback_list.lua
	callbackListLua string
)

// DefaultCallbackRetention is how long a finished callback stays readable.
const DefaultCallbackRetention = 30 * 24 * time.Hour

// Callbacks implements routing.CallbackStore on Redis. All its keys share
// the {cb} hash tag: a hash per callback, sorted sets by due time, by lease
// expiry and by owner deadline, per-state indexes and dedupe keys. Every
// change is one Lua script (one round trip), so the lease rules hold
// between any number of nodes.
//
// Leases are judged by the times the nodes pass in, not by Redis's clock:
// nodes must keep their clocks in step (NTP) to well within the lease.
type Callbacks struct {
	rdb    redis.UniversalClient
	prefix string // ends in the hash tag: "hotline:{cb}:"
	// Retention is how long a completed, failed or escalated callback's
	// hash is kept; zero keeps it forever. NewCallbacks sets the default.
	Retention time.Duration

	create, claimDue, claim, renew, release, park, complete, fail, escalate, list *redis.Script
}

// NewCallbacks returns the store on client; prefix defaults to "hotline:".
// The client should have ContextTimeoutEnabled set.
func NewCallbacks(client redis.UniversalClient, prefix string) *Callbacks {
	if prefix == "" {
		prefix = "hotline:"
	}
	script := func(body string) *redis.Script { return redis.NewScript(callbackLibLua + body) }
	return &Callbacks{
		rdb:       client,
		prefix:    prefix + "{cb}:",
		Retention: DefaultCallbackRetention,
		create:    script(callbackCreateLua),
		claimDue:  script(callbackClaimDueLua),
		claim:     script(callbackClaimLua),
		renew:     script(callbackRenewLua),
		release:   script(callbackReleaseLua),
		park:      script(callbackParkLua),
		complete:  script(callbackCompleteLua),
		fail:      script(callbackFailLua),
		escalate:  script(callbackEscalateLua),
		list:      script(callbackListLua),
	}
}

// LoadScripts loads the scripts at start so that a broken script fails the
// start, not the first callback. Afterwards each call falls back to EVAL
// by itself when Redis lost its script cache (restart, failover).
func (s *Callbacks) LoadScripts(ctx context.Context) error {
	for _, sc := range []*redis.Script{s.create, s.claimDue, s.claim, s.renew, s.release, s.park, s.complete, s.fail, s.escalate, s.list} {
		if err := sc.Load(ctx, s.rdb).Err(); err != nil {
			return fmt.Errorf("load callback scripts: %w", err)
		}
	}
	return nil
}

func (s *Callbacks) keys() []string { return []string{s.prefix} }

func (s *Callbacks) hashKey(id string) string { return s.prefix + "cb:" + id }

func (s *Callbacks) retentionMS() int64 { return s.Retention.Milliseconds() }

// CreateCallback stores cb (see routing.CallbackStore).
func (s *Callbacks) CreateCallback(ctx context.Context, cb routing.Callback, dedupeKey string, inDue bool) (routing.Callback, bool, error) {
	if cb.ID == "" {
		return routing.Callback{}, false, fmt.Errorf("create callback: %w", &routing.ValidationError{Field: "id", Reason: "required"})
	}
	args := []any{dedupeKey, cbFlag(inDue)}
	args = append(args, encodeCallback(cb)...)
	v, err := s.create.Run(ctx, s.rdb, s.keys(), args...).Result()
	if err != nil {
		return routing.Callback{}, false, fmt.Errorf("create callback: %w", cbScriptError(err))
	}
	arr, ok := v.([]any)
	if !ok || len(arr) != 2 {
		return routing.Callback{}, false, fmt.Errorf("create callback: %w", errScriptReply)
	}
	created, _ := arr[0].(int64)
	out, err := decodeCallback(arr[1])
	if err != nil {
		return routing.Callback{}, false, fmt.Errorf("create callback: %w", err)
	}
	return out, created == 1, nil
}

// GetCallback returns one callback or routing.ErrNotFound.
func (s *Callbacks) GetCallback(ctx context.Context, id string) (routing.Callback, error) {
	m, err := s.rdb.HGetAll(ctx, s.hashKey(id)).Result()
	if err != nil {
		return routing.Callback{}, fmt.Errorf("get callback: %w", err)
	}
	if len(m) == 0 {
		return routing.Callback{}, fmt.Errorf("callback %s: %w", id, routing.ErrNotFound)
	}
	return callbackFromMap(m)
}

// ListCallbacks returns callbacks matching f, oldest first.
func (s *Callbacks) ListCallbacks(ctx context.Context, f routing.CallbackFilter) ([]routing.Callback, error) {
	v, err := s.list.Run(ctx, s.rdb, s.keys(), f.State, f.Owner, f.CaseID).Result()
	if err != nil {
		return nil, fmt.Errorf("list callbacks: %w", cbScriptError(err))
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("list callbacks: %w", errScriptReply)
	}
	out := make([]routing.Callback, 0, len(arr))
	for _, x := range arr {
		cb, err := decodeCallback(x)
		if err != nil {
			return nil, fmt.Errorf("list callbacks: %w", err)
		}
		out = append(out, cb)
	}
	return out, nil
}

// ClaimDueCallbacks leases due callbacks and lapsed leases to node.
func (s *Callbacks) ClaimDueCallbacks(ctx context.Context, node string, now, leaseUntil time.Time, max int) ([]routing.ClaimedCallback, error) {
	v, err := s.claimDue.Run(ctx, s.rdb, s.keys(), node, ms(now), ms(leaseUntil), max).Result()
	if err != nil {
		return nil, fmt.Errorf("claim due callbacks: %w", cbScriptError(err))
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("claim due callbacks: %w", errScriptReply)
	}
	out := make([]routing.ClaimedCallback, 0, len(arr))
	for _, x := range arr {
		cc, err := decodeClaimed(x)
		if err != nil {
			return nil, fmt.Errorf("claim due callbacks: %w", err)
		}
		out = append(out, cc)
	}
	return out, nil
}

// ClaimCallback leases one callback to node.
func (s *Callbacks) ClaimCallback(ctx context.Context, id, node string, now, leaseUntil time.Time) (routing.ClaimedCallback, error) {
	v, err := s.claim.Run(ctx, s.rdb, s.keys(), id, node, ms(now), ms(leaseUntil)).Result()
	if err != nil {
		return routing.ClaimedCallback{}, fmt.Errorf("claim callback: %w", cbScriptError(err))
	}
	cc, err := decodeClaimed(v)
	if err != nil {
		return routing.ClaimedCallback{}, fmt.Errorf("claim callback: %w", err)
	}
	return cc, nil
}

// RenewCallbackLeases extends node's leases and returns the ids it lost.
func (s *Callbacks) RenewCallbackLeases(ctx context.Context, node string, leaseUntil time.Time, ids []string) ([]string, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	args := make([]any, 0, 2+len(ids))
	args = append(args, node, ms(leaseUntil))
	for _, id := range ids {
		args = append(args, id)
	}
	v, err := s.renew.Run(ctx, s.rdb, s.keys(), args...).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("renew callback leases: %w", cbScriptError(err))
	}
	return v, nil
}

// ReleaseCallback gives node's lease back; a zero due parks the callback.
func (s *Callbacks) ReleaseCallback(ctx context.Context, id, node string, now, due time.Time) (routing.Callback, error) {
	dueArg := ""
	if !due.IsZero() {
		dueArg = strconv.FormatInt(ms(due), 10)
	}
	v, err := s.release.Run(ctx, s.rdb, s.keys(), id, node, ms(now), dueArg).Result()
	if err != nil {
		return routing.Callback{}, fmt.Errorf("release callback: %w", cbScriptError(err))
	}
	cb, err := decodeCallback(v)
	if err != nil {
		return routing.Callback{}, fmt.Errorf("release callback: %w", err)
	}
	return cb, nil
}

// ParkCallback takes a scheduled callback out of the due index.
func (s *Callbacks) ParkCallback(ctx context.Context, id string, due time.Time) error {
	if err := s.park.Run(ctx, s.rdb, s.keys(), id, ms(due)).Err(); err != nil {
		return fmt.Errorf("park callback: %w", cbScriptError(err))
	}
	return nil
}

// CompleteCallback completes a callback node holds.
func (s *Callbacks) CompleteCallback(ctx context.Context, id, node string, now time.Time) (routing.Callback, bool, error) {
	v, err := s.complete.Run(ctx, s.rdb, s.keys(), id, node, ms(now), s.retentionMS()).Result()
	if err != nil {
		return routing.Callback{}, false, fmt.Errorf("complete callback: %w", cbScriptError(err))
	}
	arr, ok := v.([]any)
	if !ok || len(arr) != 2 {
		return routing.Callback{}, false, fmt.Errorf("complete callback: %w", errScriptReply)
	}
	changed, _ := arr[0].(int64)
	cb, err := decodeCallback(arr[1])
	if err != nil {
		return routing.Callback{}, false, fmt.Errorf("complete callback: %w", err)
	}
	return cb, changed == 1, nil
}

// FailCallbackAttempt counts a failed attempt of a callback node holds.
func (s *Callbacks) FailCallbackAttempt(ctx context.Context, id, node string, now, retryAt time.Time, reason string) (routing.Callback, error) {
	v, err := s.fail.Run(ctx, s.rdb, s.keys(), id, node, ms(now), ms(retryAt), reason, s.retentionMS()).Result()
	if err != nil {
		return routing.Callback{}, fmt.Errorf("fail callback attempt: %w", cbScriptError(err))
	}
	cb, err := decodeCallback(v)
	if err != nil {
		return routing.Callback{}, fmt.Errorf("fail callback attempt: %w", err)
	}
	return cb, nil
}

// EscalateOverdueCallbacks escalates owner callbacks past their deadline.
func (s *Callbacks) EscalateOverdueCallbacks(ctx context.Context, now time.Time, maxAttempts, max int) ([]routing.Escalation, error) {
	v, err := s.escalate.Run(ctx, s.rdb, s.keys(), ms(now), maxAttempts, max, s.retentionMS()).Result()
	if err != nil {
		return nil, fmt.Errorf("escalate callbacks: %w", cbScriptError(err))
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("escalate callbacks: %w", errScriptReply)
	}
	out := make([]routing.Escalation, 0, len(arr))
	for _, x := range arr {
		pair, ok := x.([]any)
		if !ok || len(pair) != 2 {
			return nil, fmt.Errorf("escalate callbacks: %w", errScriptReply)
		}
		from, err := decodeCallback(pair[0])
		if err != nil {
			return nil, fmt.Errorf("escalate callbacks: %w", err)
		}
		to, err := decodeCallback(pair[1])
		if err != nil {
			return nil, fmt.Errorf("escalate callbacks: %w", err)
		}
		out = append(out, routing.Escalation{From: from, To: to})
	}
	return out, nil
}

// cbScriptError maps the scripts' error replies onto routing's sentinels.
func cbScriptError(err error) error {
	msg := err.Error()
	switch {
	case strings.HasPrefix(msg, "NOTFOUND "):
		return fmt.Errorf("%s: %w", strings.TrimPrefix(msg, "NOTFOUND "), routing.ErrNotFound)
	case strings.HasPrefix(msg, "FINISHED "):
		return fmt.Errorf("%s: %w", strings.TrimPrefix(msg, "FINISHED "), routing.ErrCallbackFinished)
	case strings.HasPrefix(msg, "LEASE "):
		return fmt.Errorf("%s: %w", strings.TrimPrefix(msg, "LEASE "), routing.ErrLeaseLost)
	case strings.HasPrefix(msg, "BUSY "):
		return fmt.Errorf("%s: %w", strings.TrimPrefix(msg, "BUSY "), routing.ErrCallbackBusy)
	}
	return err
}

func cbFlag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// encodeCallback is the field/value list of a callback's hash. The field
// names are the scripts' vocabulary; keep them in step.
func encodeCallback(cb routing.Callback) []any {
	return []any{
		"id", cb.ID, "case", cb.CaseID, "number", cb.Number, "topic", cb.Topic, "lang", cb.Lang,
		"owner", cb.Owner, "note", cb.Note, "kind", string(cb.Kind), "state", string(cb.State),
		"due", ms(cb.DueAt), "deadline", ms(cb.Deadline),
		"attempts", cb.Attempts, "max", cb.MaxAttempts,
		"lnode", cb.LeaseNode, "luntil", ms(cb.LeaseUntil),
		"created", ms(cb.CreatedAt), "updated", ms(cb.UpdatedAt),
		"call", cb.CallID, "enq", ms(cb.EnqueuedAt),
		"from", cb.EscalatedFrom, "to", cb.EscalatedTo, "err", cb.LastError,
	}
}

func decodeClaimed(v any) (routing.ClaimedCallback, error) {
	arr, ok := v.([]any)
	if !ok || len(arr) != 3 {
		return routing.ClaimedCallback{}, errScriptReply
	}
	prevState, _ := arr[0].(string)
	prevNode, _ := arr[1].(string)
	cb, err := decodeCallback(arr[2])
	if err != nil {
		return routing.ClaimedCallback{}, err
	}
	return routing.ClaimedCallback{Callback: cb, PrevState: routing.CallbackState(prevState), PrevNode: prevNode}, nil
}

// decodeCallback reads a flat HGETALL reply.
func decodeCallback(v any) (routing.Callback, error) {
	arr, ok := v.([]any)
	if !ok || len(arr)%2 != 0 || len(arr) == 0 {
		return routing.Callback{}, errScriptReply
	}
	m := make(map[string]string, len(arr)/2)
	for i := 0; i < len(arr); i += 2 {
		k, ok1 := arr[i].(string)
		val, ok2 := arr[i+1].(string)
		if !ok1 || !ok2 {
			return routing.Callback{}, errScriptReply
		}
		m[k] = val
	}
	return callbackFromMap(m)
}

func callbackFromMap(m map[string]string) (routing.Callback, error) {
	cb := routing.Callback{
		ID: m["id"], CaseID: m["case"], Number: m["number"], Topic: m["topic"], Lang: m["lang"],
		Owner: m["owner"], Note: m["note"], Kind: routing.CallbackKind(m["kind"]),
		State: routing.CallbackState(m["state"]), LeaseNode: m["lnode"], CallID: m["call"],
		EscalatedFrom: m["from"], EscalatedTo: m["to"], LastError: m["err"],
	}
	var err error
	times := []struct {
		field string
		dst   *time.Time
	}{
		{"due", &cb.DueAt}, {"deadline", &cb.Deadline}, {"luntil", &cb.LeaseUntil},
		{"created", &cb.CreatedAt}, {"updated", &cb.UpdatedAt}, {"enq", &cb.EnqueuedAt},
	}
	for _, t := range times {
		if *t.dst, err = parseMS(m[t.field]); err != nil {
			return routing.Callback{}, fmt.Errorf("callback %s field %s: %w", cb.ID, t.field, errScriptReply)
		}
	}
	if cb.Attempts, err = strconv.Atoi(m["attempts"]); err != nil {
		return routing.Callback{}, fmt.Errorf("callback %s field attempts: %w", cb.ID, errScriptReply)
	}
	if cb.MaxAttempts, err = strconv.Atoi(m["max"]); err != nil {
		return routing.Callback{}, fmt.Errorf("callback %s field max: %w", cb.ID, errScriptReply)
	}
	return cb, nil
}
