package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hotline-project/hotline/routing"
)

// runCase runs one case.lua op.
func (s *Store) runCase(ctx context.Context, op, caseID string, now time.Time, args any) ([]string, error) {
	start := time.Now()
	js, err := json.Marshal(args)
	if err != nil {
		return nil, fmt.Errorf("case %s: %w", op, err)
	}
	res, err := s.cases.Run(ctx, s.rdb, s.caseKeys(caseID), op, ms(now), string(js)).Result()
	s.observe("case_"+op, start, err)
	if err != nil {
		return nil, fmt.Errorf("case %s: %w", op, err)
	}
	parts, err := replyStrings(res)
	if err != nil {
		return nil, fmt.Errorf("case %s: %w", op, err)
	}
	if len(parts) == 0 || parts[0] == "notfound" {
		return nil, fmt.Errorf("case %s %s: %w", op, caseID, routing.ErrNotFound)
	}
	if parts[0] != "ok" {
		return nil, fmt.Errorf("case %s: %w: %s", op, errScriptReply, parts[0])
	}
	return parts, nil
}

// CreateCase stores a new case with its path so far.
func (s *Store) CreateCase(ctx context.Context, c routing.Case) error {
	start := time.Now()
	pipe := s.rdb.Pipeline()
	s.queueCreateCase(ctx, pipe, c)
	_, err := pipe.Exec(ctx)
	s.observe("create_case", start, err)
	if err != nil {
		return fmt.Errorf("create case: %w", err)
	}
	return nil
}

// queueCreateCase adds the commands that store a new case to pipe, so a
// case can be written in the round trip of whatever needs it (Enqueue).
// They are plain writes of a case nobody else knows yet, not a script: on
// Cluster the case's keys, the case index and the number index live in
// different slots, and the pipeline is split by slot. It returns the
// commands, whose errors say whether the case was written.
func (s *Store) queueCreateCase(ctx context.Context, pipe redis.Pipeliner, c routing.Case) []redis.Cmder {
	keys := s.caseKeys(c.ID)
	cmds := []redis.Cmder{pipe.HSet(ctx, keys[0], map[string]any{
		"id": c.ID, "number": c.CallerNumber, "topic": c.Topic, "lang": c.Lang, "note": c.Note,
		"owner": c.Owner, "status": string(c.Status), "rating": c.Rating, "rated_by": c.RatedBy,
		"created": ms(c.CreatedAt), "updated": ms(c.UpdatedAt),
	})}
	for _, h := range c.Path {
		cmds = append(cmds, pipe.RPush(ctx, keys[1], encodeHop(h)))
	}
	for _, a := range c.Agents {
		cmds = append(cmds, pipe.RPush(ctx, keys[2], a))
	}
	cmds = append(cmds, pipe.ZAdd(ctx, s.casesKey(), redis.Z{Score: float64(ms(c.CreatedAt)), Member: c.ID}))
	if c.Status == routing.CaseOpen && realNumber(c.CallerNumber) {
		cmds = append(cmds, pipe.Set(ctx, s.caseNumKey(c.CallerNumber), c.ID, 0))
	}
	return cmds
}

// Case returns one case with its path and agents.
func (s *Store) Case(ctx context.Context, id string) (routing.Case, error) {
	cs, err := s.loadCases(ctx, []string{id})
	if err != nil {
		return routing.Case{}, err
	}
	if len(cs) == 0 {
		return routing.Case{}, fmt.Errorf("case %s: %w", id, routing.ErrNotFound)
	}
	return cs[0], nil
}

// loadCases fetches cases in one pipeline; missing ones are skipped.
func (s *Store) loadCases(ctx context.Context, ids []string) ([]routing.Case, error) {
	start := time.Now()
	pipe := s.rdb.Pipeline()
	type cmds struct {
		h      *redis.MapStringStringCmd
		path   *redis.StringSliceCmd
		agents *redis.StringSliceCmd
	}
	all := make([]cmds, len(ids))
	for i, id := range ids {
		k := s.caseKeys(id)
		all[i] = cmds{pipe.HGetAll(ctx, k[0]), pipe.LRange(ctx, k[1], 0, -1), pipe.LRange(ctx, k[2], 0, -1)}
	}
	_, err := pipe.Exec(ctx)
	s.observe("cases", start, err)
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("load cases: %w", err)
	}
	out := make([]routing.Case, 0, len(ids))
	for _, c := range all {
		h := c.h.Val()
		if len(h) == 0 {
			continue
		}
		out = append(out, decodeCase(h, c.path.Val(), c.agents.Val()))
	}
	return out, nil
}

func decodeCase(h map[string]string, path, agents []string) routing.Case {
	num := func(k string) int64 { v, _ := strconv.ParseInt(h[k], 10, 64); return v }
	c := routing.Case{
		ID: h["id"], CallerNumber: h["number"], Topic: h["topic"], Lang: h["lang"], Note: h["note"],
		Owner: h["owner"], Status: routing.CaseStatus(h["status"]), Rating: int(num("rating")),
		RatedBy: h["rated_by"], CreatedAt: fromMS(float64(num("created"))), UpdatedAt: fromMS(float64(num("updated"))),
		Agents: agents,
	}
	for _, raw := range path {
		var w hopWire
		if json.Unmarshal([]byte(raw), &w) == nil {
			c.Path = append(c.Path, w.hop())
		}
	}
	return c
}

// realNumber reports whether a caller number is a phone number (digits,
// an optional leading +). Withheld callers arrive as "anonymous",
// "unknown" or nothing: indexed, every such caller would find the same
// stranger's open case.
func realNumber(number string) bool {
	digits := strings.TrimPrefix(number, "+")
	if digits == "" {
		return false
	}
	for _, r := range digits {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// OpenCaseByNumber finds the open case of a caller number. A number that
// is not a phone number has none (see realNumber).
func (s *Store) OpenCaseByNumber(ctx context.Context, number string) (routing.Case, bool, error) {
	if !realNumber(number) {
		return routing.Case{}, false, nil
	}
	start := time.Now()
	id, err := s.rdb.Get(ctx, s.caseNumKey(number)).Result()
	s.observe("case_by_number", start, err)
	if errors.Is(err, redis.Nil) {
		return routing.Case{}, false, nil
	}
	if err != nil {
		return routing.Case{}, false, fmt.Errorf("case by number: %w", err)
	}
	c, err := s.Case(ctx, id)
	if errors.Is(err, routing.ErrNotFound) {
		return routing.Case{}, false, nil
	}
	if err != nil {
		return routing.Case{}, false, err
	}
	return c, c.Status == routing.CaseOpen, nil
}

// Cases lists cases matching f, oldest first. Closed cases whose
// retention ran out are gone; the index forgets them here.
func (s *Store) Cases(ctx context.Context, f routing.CaseFilter) ([]routing.Case, error) {
	start := time.Now()
	ids, err := s.rdb.ZRange(ctx, s.casesKey(), 0, -1).Result()
	s.observe("case_ids", start, err)
	if err != nil {
		return nil, fmt.Errorf("cases: %w", err)
	}
	all, err := s.loadCases(ctx, ids)
	if err != nil {
		return nil, err
	}
	if len(all) < len(ids) {
		if err := s.unindexExpired(ctx, ids, all); err != nil {
			return nil, err
		}
	}
	out := all[:0]
	for _, c := range all {
		if (f.Status == "" || c.Status == f.Status) && (f.Owner == "" || c.Owner == f.Owner) {
			out = append(out, c)
		}
	}
	return out, nil
}

// unindexExpired removes from the cases index the ids that loaded no case
// (expired closed cases).
func (s *Store) unindexExpired(ctx context.Context, ids []string, found []routing.Case) error {
	have := make(map[string]bool, len(found))
	for _, c := range found {
		have[c.ID] = true
	}
	var gone []any
	for _, id := range ids {
		if !have[id] {
			gone = append(gone, id)
		}
	}
	start := time.Now()
	err := s.rdb.ZRem(ctx, s.casesKey(), gone...).Err()
	s.observe("unindex_expired_cases", start, err)
	if err != nil {
		return fmt.Errorf("cases: %w", err)
	}
	return nil
}

// SetNote replaces a case's note.
func (s *Store) SetNote(ctx context.Context, caseID, note string, now time.Time) error {
	_, err := s.runCase(ctx, "note", caseID, now, map[string]string{"note": note})
	return err
}

// Rate records the first rating of a case.
func (s *Store) Rate(ctx context.Context, caseID string, score int, now time.Time) (bool, error) {
	parts, err := s.runCase(ctx, "rate", caseID, now, map[string]int{"score": score})
	if err != nil {
		return false, err
	}
	return len(parts) > 1 && parts[1] == "1", nil
}

// CloseCase closes a case (a returning caller no longer finds it) in two
// round trips, and reports how many agents the caller talked to. The
// case's keys expire after Options.ClosedCaseTTL.
func (s *Store) CloseCase(ctx context.Context, caseID string, now time.Time) (int, error) {
	parts, err := s.runCase(ctx, "close", caseID, now, map[string]int64{"ttl": s.opts.ClosedCaseTTL.Milliseconds()})
	if err != nil {
		return 0, err
	}
	agents := 0
	if len(parts) > 2 {
		agents, _ = strconv.Atoi(parts[2])
	}
	if len(parts) > 1 && parts[1] != "" {
		// The number index lives in its own slot; drop it only if it
		// still points at this case (a newer case may have replaced it).
		start := time.Now()
		err := s.unindex.Run(ctx, s.rdb, []string{s.caseNumKey(parts[1])}, caseID).Err()
		s.observe("unindex_case", start, err)
		if err != nil {
			return agents, fmt.Errorf("close case: %w", err)
		}
	}
	return agents, nil
}

// Talked records that agent talked to the call's caller, in one pipeline.
func (s *Store) Talked(ctx context.Context, callID, caseID, agentID string, now time.Time) error {
	start := time.Now()
	js, _ := json.Marshal(map[string]string{"agent": agentID})
	var err error
	for attempt := 0; attempt < 2; attempt++ {
		pipe := s.rdb.Pipeline()
		pipe.SAdd(ctx, s.callKey(callID, "seen"), "agent:"+agentID)
		var caseCmd *redis.Cmd
		if caseID != "" {
			caseCmd = s.cases.EvalSha(ctx, pipe, s.caseKeys(caseID), "talked", ms(now), string(js))
		}
		_, err = pipe.Exec(ctx)
		if err == nil && caseCmd != nil {
			err = caseCmd.Err()
		}
		if isNoScript(err) && attempt == 0 {
			if err = s.LoadScripts(ctx); err != nil {
				break
			}
			continue
		}
		break
	}
	s.observe("talked", start, err)
	if err != nil {
		return fmt.Errorf("talked: %w", err)
	}
	return nil
}

type pendingWire struct {
	ID   string  `json:"id"`
	By   string  `json:"by"`
	To   string  `json:"to"`
	Note string  `json:"note"`
	At   float64 `json:"at"`
}

// StartPath records a call's entry hop unless it has a path already.
func (s *Store) StartPath(ctx context.Context, callID string, entry routing.Hop) error {
	start := time.Now()
	js, _ := json.Marshal(map[string]string{"hop": encodeHop(entry), "dest": entry.To.String()})
	_, err := s.path.Run(ctx, s.rdb, s.pathKeys(callID), "init", ms(entry.At), string(js)).Result()
	s.observe("start_path", start, err)
	if err != nil {
		return fmt.Errorf("start path: %w", err)
	}
	return nil
}

// CheckTransfer is the transfer path check: one script on the call's keys.
func (s *Store) CheckTransfer(ctx context.Context, callID string, p routing.PendingTransfer, maxHops int) (routing.PathCheck, error) {
	start := time.Now()
	pw, _ := json.Marshal(pendingWire{ID: p.ID, By: p.By, To: p.To.String(), Note: p.Note, At: float64(ms(p.At))})
	js, _ := json.Marshal(map[string]any{"dest": p.To.String(), "max": maxHops, "pending": string(pw)})
	res, err := s.path.Run(ctx, s.rdb, s.pathKeys(callID), "check", ms(p.At), string(js)).Result()
	s.observe("check_transfer", start, err)
	if err != nil {
		return routing.PathCheck{}, fmt.Errorf("check transfer: %w", err)
	}
	parts, err := replyStrings(res)
	if err != nil || len(parts) == 0 {
		return routing.PathCheck{}, fmt.Errorf("check transfer: %w", errScriptReply)
	}
	if parts[0] == "nocall" {
		return routing.PathCheck{}, fmt.Errorf("check transfer %s: %w", callID, routing.ErrNotFound)
	}
	pc := routing.PathCheck{Refused: routing.RefusalCode(parts[0])}
	rest := parts[1:]
	i := 0
	for ; i < len(rest) && rest[i] != "|"; i++ {
		var w hopWire
		if json.Unmarshal([]byte(rest[i]), &w) == nil {
			pc.Path = append(pc.Path, w.hop())
		}
	}
	if i < len(rest) {
		pc.Agents = append(pc.Agents, rest[i+1:]...)
	}
	return pc, nil
}

// CommitTransfer turns the pending hop into a committed one on the call's
// path, then appends it to the case's path.
func (s *Store) CommitTransfer(ctx context.Context, callID, caseID, transferID string, now time.Time) (routing.Hop, error) {
	start := time.Now()
	js, _ := json.Marshal(map[string]string{"id": transferID})
	res, err := s.path.Run(ctx, s.rdb, s.pathKeys(callID), "commit", ms(now), string(js)).Result()
	s.observe("commit_transfer", start, err)
	if err != nil {
		return routing.Hop{}, fmt.Errorf("commit transfer: %w", err)
	}
	parts, err := replyStrings(res)
	if err != nil || len(parts) == 0 {
		return routing.Hop{}, fmt.Errorf("commit transfer: %w", errScriptReply)
	}
	if parts[0] != "ok" || len(parts) < 2 {
		return routing.Hop{}, fmt.Errorf("commit transfer %s: %w", transferID, routing.ErrNotFound)
	}
	var w hopWire
	if err := json.Unmarshal([]byte(parts[1]), &w); err != nil {
		return routing.Hop{}, fmt.Errorf("commit transfer: %w", err)
	}
	if caseID != "" {
		hj, _ := json.Marshal(map[string]string{"hop": parts[1]})
		if _, err := s.runCase(ctx, "hop", caseID, now, json.RawMessage(hj)); err != nil {
			return w.hop(), fmt.Errorf("commit transfer: %w", err)
		}
	}
	return w.hop(), nil
}

// DropTransfer forgets the pending hop if it is transferID.
func (s *Store) DropTransfer(ctx context.Context, callID, transferID string) error {
	start := time.Now()
	js, _ := json.Marshal(map[string]string{"id": transferID})
	res, err := s.path.Run(ctx, s.rdb, s.pathKeys(callID), "drop", 0, string(js)).Result()
	s.observe("drop_transfer", start, err)
	if err != nil {
		return fmt.Errorf("drop transfer: %w", err)
	}
	parts, err := replyStrings(res)
	if err != nil || len(parts) == 0 {
		return fmt.Errorf("drop transfer: %w", errScriptReply)
	}
	if parts[0] != "ok" {
		return fmt.Errorf("drop transfer %s: %w", transferID, routing.ErrNotFound)
	}
	return nil
}

// Pending returns the call's pending transfer, if any.
func (s *Store) Pending(ctx context.Context, callID string) (routing.PendingTransfer, bool, error) {
	start := time.Now()
	raw, err := s.rdb.Get(ctx, s.callKey(callID, "pending")).Result()
	s.observe("pending", start, err)
	if errors.Is(err, redis.Nil) {
		return routing.PendingTransfer{}, false, nil
	}
	if err != nil {
		return routing.PendingTransfer{}, false, fmt.Errorf("pending transfer: %w", err)
	}
	var w pendingWire
	if err := json.Unmarshal([]byte(raw), &w); err != nil {
		return routing.PendingTransfer{}, false, fmt.Errorf("pending transfer: %w", err)
	}
	d, _ := routing.ParseDestination(w.To)
	return routing.PendingTransfer{ID: w.ID, By: w.By, To: d, Note: w.Note, At: fromMS(w.At)}, true, nil
}

// CallPath returns the call's committed path.
func (s *Store) CallPath(ctx context.Context, callID string) ([]routing.Hop, error) {
	start := time.Now()
	raw, err := s.rdb.LRange(ctx, s.callKey(callID, "path"), 0, -1).Result()
	s.observe("call_path", start, err)
	if err != nil {
		return nil, fmt.Errorf("call path: %w", err)
	}
	if len(raw) == 0 {
		return nil, fmt.Errorf("call path %s: %w", callID, routing.ErrNotFound)
	}
	out := make([]routing.Hop, 0, len(raw))
	for _, r := range raw {
		var w hopWire
		if err := json.Unmarshal([]byte(r), &w); err != nil {
			return nil, fmt.Errorf("call path: %w", err)
		}
		out = append(out, w.hop())
	}
	return out, nil
}

// EndCallPath lets the call's keys expire after CallTTL.
func (s *Store) EndCallPath(ctx context.Context, callID string) error {
	start := time.Now()
	js, _ := json.Marshal(map[string]int64{"ttl": s.opts.CallTTL.Milliseconds()})
	_, err := s.path.Run(ctx, s.rdb, s.pathKeys(callID), "expire", 0, string(js)).Result()
	s.observe("end_call_path", start, err)
	if err != nil {
		return fmt.Errorf("end call path: %w", err)
	}
	return nil
}
