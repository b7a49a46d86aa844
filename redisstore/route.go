package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hotline-project/hotline/routing"
)

// errNoNode means a heartbeat named no node: the liveness of "" is not
// recorded, a caller with no node always counts as alive.
var errNoNode = errors.New("heartbeat needs a node name")

// agentWire is an agent as route.lua stores it. Times are Unix ms; they
// are float64 because Lua numbers are doubles.
type agentWire struct {
	ID         string         `json:"id"`
	Name       string         `json:"name"`
	Endpoint   string         `json:"endpoint"`
	Senior     bool           `json:"senior"`
	Topics     map[string]int `json:"topics"`
	State      string         `json:"state"`
	Reason     string         `json:"reason"`
	Since      float64        `json:"since"`
	Idle       float64        `json:"idle"`
	Call       string         `json:"call"`
	PauseAfter string         `json:"pause_after"`
}

func (w agentWire) status() routing.AgentStatus {
	topics := w.Topics
	if topics == nil {
		topics = map[string]int{}
	}
	return routing.AgentStatus{
		Agent:      routing.Agent{ID: w.ID, Name: w.Name, Endpoint: w.Endpoint, Topics: topics, Senior: w.Senior},
		State:      routing.AgentState(w.State),
		Reason:     w.Reason,
		Since:      fromMS(w.Since),
		IdleSince:  fromMS(w.Idle),
		CallID:     w.Call,
		PauseAfter: w.PauseAfter,
	}
}

// callWire is a call as route.lua stores it; the stats fields are only
// filled in replies.
type callWire struct {
	ID       string  `json:"id"`
	Case     string  `json:"case"`
	Topic    string  `json:"topic"`
	Number   string  `json:"number"`
	Lang     string  `json:"lang"`
	Node     string  `json:"node"`
	Agent    string  `json:"agent,omitempty"`
	State    string  `json:"state,omitempty"`
	Score    float64 `json:"score"`
	Enq      float64 `json:"enq,omitempty"`
	CB       string  `json:"cb"`
	Deadline float64 `json:"deadline,omitempty"`
	XAgent   string  `json:"xagent,omitempty"`

	Pos    int     `json:"pos,omitempty"`
	Logged int     `json:"logged,omitempty"`
	Avail  int     `json:"avail,omitempty"`
	Queued int     `json:"queued,omitempty"`
	AHT    float64 `json:"aht,omitempty"`
	// Revived is the heartbeat's reply: the node had no live heartbeat.
	Revived bool `json:"revived,omitempty"`
}

func (w callWire) call() routing.Call {
	return routing.Call{
		ID: w.ID, CaseID: w.Case, Topic: w.Topic, CallerNumber: w.Number, Lang: w.Lang,
		Node: w.Node, AgentID: w.Agent, State: routing.CallState(w.State),
		EnqueuedAt: fromMS(w.Score), CallbackID: w.CB, ConsultAgent: w.XAgent,
	}
}

func (w callWire) stats() routing.TopicStats {
	return routing.TopicStats{
		Queued: w.Queued, AgentsLoggedIn: w.Logged, AgentsAvailable: w.Avail,
		HandleTime: time.Duration(w.AHT) * time.Millisecond,
	}
}

type offerWire struct {
	Call     string    `json:"call"`
	Case     string    `json:"case"`
	Topic    string    `json:"topic"`
	Node     string    `json:"node"`
	CB       string    `json:"cb"`
	Deadline float64   `json:"deadline"`
	Kind     string    `json:"kind"`
	Agent    agentWire `json:"agent"`
}

func (w offerWire) offer() routing.Offer {
	return routing.Offer{
		CallID: w.Call, CaseID: w.Case, Topic: w.Topic, Node: w.Node,
		Agent: w.Agent.status(), RingDeadline: fromMS(w.Deadline), CallbackID: w.CB,
	}
}

func decodeOffer(raw string) (routing.Offer, error) {
	var w offerWire
	if err := json.Unmarshal([]byte(raw), &w); err != nil {
		return routing.Offer{}, fmt.Errorf("decode offer: %w", err)
	}
	return w.offer(), nil
}

// routeArgs is ARGV[7] of route.lua.
type routeArgs struct {
	Topics   []string        `json:"topics"`
	Agent    string          `json:"agent,omitempty"`
	Call     json.RawMessage `json:"call,omitempty"`
	Reason   string          `json:"reason,omitempty"`
	Wrap     int64           `json:"wrap"`
	Alpha    float64         `json:"alpha"`
	By       string          `json:"by,omitempty"`
	Kind     string          `json:"kind,omitempty"`
	Dest     string          `json:"dest,omitempty"`
	Case     string          `json:"case,omitempty"`
	Exclude  []string        `json:"exclude"`
	Topic    string          `json:"topic,omitempty"`
	Number   string          `json:"number,omitempty"`
	Lang     string          `json:"lang,omitempty"`
	NoAnswer bool            `json:"noanswer,omitempty"`
	Member   string          `json:"member,omitempty"`
	Stale    int64           `json:"stale,omitempty"`
	XUntil   int64           `json:"xuntil,omitempty"`
	Expires  int64           `json:"expires,omitempty"`
	Agents   []syncAgent     `json:"agents,omitempty"`
}

type syncAgent struct {
	ID       string         `json:"id"`
	Name     string         `json:"name"`
	Endpoint string         `json:"endpoint"`
	Senior   bool           `json:"senior"`
	Topics   map[string]int `json:"topics"`
}

// routeReply is a decoded route.lua reply.
type routeReply struct {
	agent  *agentWire
	call   *callWire
	offers []routing.Offer
}

func (r routeReply) decision() routing.Decision {
	var d routing.Decision
	if r.agent != nil {
		d.Agent = r.agent.status()
	}
	if r.call != nil {
		d.Call = r.call.call()
	}
	d.Offers = r.offers
	return d
}

// scriptError is a refusal from route.lua: code and detail.
type scriptError struct{ code, detail string }

func (e *scriptError) Error() string { return e.code + " " + e.detail }

func (e *scriptError) Unwrap() error {
	switch e.code {
	case "notfound":
		return routing.ErrNotFound
	case "illegal", "busy":
		return routing.ErrIllegalTransition
	case "unavailable":
		return routing.ErrUnavailable
	}
	return nil
}

// routeCall prepares one route.lua invocation.
func (s *Store) routeCall(op string, topics []string, a routeArgs, t routing.Timing) (keys []string, argv []any, err error) {
	topics = uniq(topics)
	a.Topics = topics
	if a.Exclude == nil {
		a.Exclude = []string{}
	}
	a.Wrap = t.WrapUp.Milliseconds()
	a.Alpha = s.opts.HandleTimeAlpha
	js, err := json.Marshal(a)
	if err != nil {
		return nil, nil, err
	}
	keys = make([]string, 0, 7+2*len(topics))
	keys = append(keys, s.rkey("agents"), s.rkey("calls"), s.rkey("due"), s.rkey("wrap"), s.rkey("aht"), s.rkey("agentcount"), s.rkey("alive"))
	for _, tp := range topics {
		keys = append(keys, s.rkey("q:"+tp), s.rkey("avail:"+tp))
	}
	argv = []any{op, ms(t.Now), t.RingTimeout.Milliseconds(), t.Node, s.offerChannel(), maxPairs, string(js)}
	return keys, argv, nil
}

// runRoute runs one route.lua op in one round trip. When the script finds
// an agent serving a topic whose keys were not passed (configuration
// changed under us), it changes nothing and names the topics; the op is
// retried with them.
func (s *Store) runRoute(ctx context.Context, op string, topics []string, a routeArgs, t routing.Timing) (routeReply, error) {
	start := time.Now()
	for attempt := 0; ; attempt++ {
		keys, argv, err := s.routeCall(op, topics, a, t)
		if err != nil {
			return routeReply{}, fmt.Errorf("%s: %w", op, err)
		}
		res, err := s.route.Run(ctx, s.rdb, keys, argv...).Result()
		rep, err := parseRoute(res, err)
		var se *scriptError
		if errors.As(err, &se) && se.code == "keys" && attempt < 3 {
			var more []string
			if json.Unmarshal([]byte(se.detail), &more) == nil {
				topics = append(topics, more...)
				continue
			}
		}
		s.observe(op, start, err)
		if err != nil {
			return rep, fmt.Errorf("%s: %w", op, err)
		}
		return rep, nil
	}
}

func parseRoute(res any, err error) (routeReply, error) {
	if err != nil {
		return routeReply{}, err
	}
	parts, err := replyStrings(res)
	if err != nil {
		return routeReply{}, err
	}
	if len(parts) == 0 {
		return routeReply{}, errScriptReply
	}
	if parts[0] == "err" {
		if len(parts) < 3 {
			return routeReply{}, errScriptReply
		}
		return routeReply{}, &scriptError{code: parts[1], detail: parts[2]}
	}
	if parts[0] != "ok" || len(parts) < 3 {
		return routeReply{}, fmt.Errorf("%w: %q", errScriptReply, parts[0])
	}
	var rep routeReply
	if parts[1] != "" {
		rep.agent = new(agentWire)
		if err := json.Unmarshal([]byte(parts[1]), rep.agent); err != nil {
			return routeReply{}, fmt.Errorf("decode agent: %w", err)
		}
	}
	if parts[2] != "" {
		rep.call = new(callWire)
		if err := json.Unmarshal([]byte(parts[2]), rep.call); err != nil {
			return routeReply{}, fmt.Errorf("decode call: %w", err)
		}
	}
	for _, raw := range parts[3:] {
		o, err := decodeOffer(raw)
		if err != nil {
			return routeReply{}, err
		}
		rep.offers = append(rep.offers, o)
	}
	return rep, nil
}

func uniq(ts []string) []string {
	out := make([]string, 0, len(ts))
	for _, t := range ts {
		if t != "" && !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// SyncAgents upserts the configured agents, keeping their live state, and
// deletes the agents no longer configured (those with a call when it ends).
func (s *Store) SyncAgents(ctx context.Context, agents []routing.Agent, now time.Time) error {
	a := routeArgs{Agents: make([]syncAgent, 0, len(agents))}
	var topics []string
	for _, ag := range agents {
		tp := ag.Topics
		if tp == nil {
			tp = map[string]int{}
		}
		mine := make([]string, 0, len(tp))
		for t := range tp {
			topics = append(topics, t)
			mine = append(mine, t)
		}
		s.topics.Store(ag.ID, mine)
		a.Agents = append(a.Agents, syncAgent{ID: ag.ID, Name: ag.Name, Endpoint: ag.Endpoint, Senior: ag.Senior, Topics: tp})
	}
	slices.Sort(topics)
	_, err := s.runRoute(ctx, "sync", topics, a, routing.Timing{Now: now})
	return err
}

// Agent returns one agent's live state.
func (s *Store) Agent(ctx context.Context, id string) (routing.AgentStatus, error) {
	start := time.Now()
	raw, err := s.rdb.HGet(ctx, s.rkey("agents"), id).Result()
	s.observe("agent", start, err)
	if errors.Is(err, redis.Nil) {
		return routing.AgentStatus{}, fmt.Errorf("agent %s: %w", id, routing.ErrNotFound)
	}
	if err != nil {
		return routing.AgentStatus{}, fmt.Errorf("agent %s: %w", id, err)
	}
	var w agentWire
	if err := json.Unmarshal([]byte(raw), &w); err != nil {
		return routing.AgentStatus{}, fmt.Errorf("agent %s: %w", id, err)
	}
	return w.status(), nil
}

// Agents returns every agent, sorted by id.
func (s *Store) Agents(ctx context.Context) ([]routing.AgentStatus, error) {
	start := time.Now()
	all, err := s.rdb.HGetAll(ctx, s.rkey("agents")).Result()
	s.observe("agents", start, err)
	if err != nil {
		return nil, fmt.Errorf("agents: %w", err)
	}
	out := make([]routing.AgentStatus, 0, len(all))
	for _, raw := range all {
		var w agentWire
		if err := json.Unmarshal([]byte(raw), &w); err != nil {
			return nil, fmt.Errorf("agents: %w", err)
		}
		out = append(out, w.status())
	}
	slices.SortFunc(out, func(a, b routing.AgentStatus) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// Change applies one agent transition atomically.
func (s *Store) Change(ctx context.Context, ch routing.AgentChange, t routing.Timing) (routing.Decision, error) {
	a := routeArgs{Agent: ch.AgentID, Reason: ch.Reason}
	if ch.CallID != "" {
		a.Call = json.RawMessage(strconv.Quote(ch.CallID))
	}
	rep, err := s.runRoute(ctx, string(ch.Op), ch.Topics, a, t)
	if err != nil {
		return routing.Decision{}, err
	}
	return rep.decision(), nil
}

func (s *Store) enqueueArgs(call routing.Call) (routeArgs, error) {
	w := callWire{ID: call.ID, Case: call.CaseID, Topic: call.Topic, Number: call.CallerNumber,
		Lang: call.Lang, Node: call.Node, CB: call.CallbackID, Score: float64(ms(call.EnqueuedAt))}
	js, err := json.Marshal(w)
	if err != nil {
		return routeArgs{}, err
	}
	return routeArgs{Call: js}, nil
}

type hopWire struct {
	To string  `json:"to"`
	By string  `json:"by"`
	At float64 `json:"at"`
}

func (h hopWire) hop() routing.Hop {
	d, err := routing.ParseDestination(h.To)
	if err != nil {
		d = routing.Destination{Name: h.To}
	}
	return routing.Hop{To: d, By: h.By, At: fromMS(h.At)}
}

func encodeHop(h routing.Hop) string {
	js, _ := json.Marshal(hopWire{To: h.To.String(), By: h.By, At: float64(ms(h.At))})
	return string(js)
}

// Enqueue records the call's entry hop, creates the entry's new case if it
// has one, and queues the call (keeping a place it already has), then
// dispatches its topic: one pipeline, so one round trip. The path, the
// case and the queue have different hash tags, so they cannot share a
// script; each script's keys stay within one slot.
func (s *Store) Enqueue(ctx context.Context, e routing.Entry, t routing.Timing) (routing.Decision, routing.QueueInfo, error) {
	start := time.Now()
	call := e.Call
	a, err := s.enqueueArgs(call)
	if err != nil {
		return routing.Decision{}, routing.QueueInfo{}, fmt.Errorf("enqueue: %w", err)
	}
	keys, argv, err := s.routeCall("enqueue", []string{call.Topic}, a, t)
	if err != nil {
		return routing.Decision{}, routing.QueueInfo{}, fmt.Errorf("enqueue: %w", err)
	}
	initArgs, _ := json.Marshal(map[string]string{"hop": encodeHop(e.Hop), "dest": e.Hop.To.String()})
	newCase := e.NewCase
	var routeCmd *redis.Cmd
	for attempt := 0; ; attempt++ {
		pipe := s.rdb.Pipeline()
		var caseCmds []redis.Cmder
		if newCase != nil {
			caseCmds = s.queueCreateCase(ctx, pipe, *newCase)
		}
		pathCmd := s.path.EvalSha(ctx, pipe, s.pathKeys(call.ID), "init", ms(t.Now), string(initArgs))
		routeCmd = s.route.EvalSha(ctx, pipe, keys, argv...)
		_, err = pipe.Exec(ctx)
		if err == nil {
			err = pathCmd.Err()
		}
		// Redis lost its script cache: a restart, or a failover to a
		// replica, whose cache is its own. A master just promoted may
		// know some scripts already (single operations fall back to
		// EVAL, which caches), so either script may have been refused
		// alone. One refused with NOSCRIPT did not run; one that ran
		// must not run again.
		switch {
		case isNoScript(routeCmd.Err()) && attempt == 0:
			// The routing script did not run: repeat the pipeline. The
			// path's init records the entry hop only on an empty path;
			// the case's plain writes ran unless they failed, and are
			// not sent twice (its path would get the entry hop twice).
			if cmdsOK(caseCmds) {
				newCase = nil
			}
			if err = s.LoadScripts(ctx); err == nil {
				continue
			}
		case isNoScript(pathCmd.Err()) && !isNoScript(routeCmd.Err()):
			// The routing script ran, and its reply carries the offers
			// it made: run again it would find the caller paired and
			// offer nothing, leaving the agent ringing for nobody. Only
			// the path's init is sent again, alone (EVAL if need be).
			err = s.path.Run(ctx, s.rdb, s.pathKeys(call.ID), "init", ms(t.Now), string(initArgs)).Err()
			if err == nil {
				err = firstErr(caseCmds)
			}
			if err == nil {
				err = routeCmd.Err()
			}
		}
		break
	}
	var rep routeReply
	if err == nil {
		rep, err = parseRoute(routeCmd.Result())
	}
	s.observe("enqueue", start, err)
	if err != nil {
		return routing.Decision{}, routing.QueueInfo{}, fmt.Errorf("enqueue: %w", err)
	}
	var info routing.QueueInfo
	if rep.call != nil {
		st := rep.call.stats()
		info = routing.QueueInfo{Position: rep.call.Pos, AgentsLoggedIn: st.AgentsLoggedIn,
			AgentsAvailable: st.AgentsAvailable, HandleTime: st.HandleTime}
	}
	return rep.decision(), info, nil
}

// Dispatch pairs queue heads with free agents in topics. It repeats while
// a script made as many pairs as it is allowed, so one call drains what
// can be paired without holding Redis for long.
func (s *Store) Dispatch(ctx context.Context, topics []string, t routing.Timing) ([]routing.Offer, error) {
	var offers []routing.Offer
	for {
		rep, err := s.runRoute(ctx, "dispatch", topics, routeArgs{}, t)
		if err != nil {
			return offers, err
		}
		offers = append(offers, rep.offers...)
		if len(rep.offers) < maxPairs {
			return offers, nil
		}
	}
}

// Call returns a live call (queued, ringing or talking).
func (s *Store) Call(ctx context.Context, id string) (routing.Call, error) {
	w, err := s.callWire(ctx, id)
	if err != nil {
		return routing.Call{}, err
	}
	return w.call(), nil
}

// TakeOver makes t.Node the node of a dead node's waiting caller, in one
// round trip; the router may offer the caller at once (Decision).
func (s *Store) TakeOver(ctx context.Context, callID string, t routing.Timing) (routing.Call, routing.Decision, error) {
	rep, err := s.runRoute(ctx, "takeover", nil, routeArgs{Call: json.RawMessage(strconv.Quote(callID))}, t)
	if err != nil {
		return routing.Call{}, routing.Decision{}, fmt.Errorf("take over %s: %w", callID, err)
	}
	if rep.call == nil {
		return routing.Call{}, routing.Decision{}, errScriptReply
	}
	return rep.call.call(), rep.decision(), nil
}

func (s *Store) callWire(ctx context.Context, id string) (callWire, error) {
	start := time.Now()
	raw, err := s.rdb.HGet(ctx, s.rkey("calls"), id).Result()
	s.observe("call", start, err)
	if errors.Is(err, redis.Nil) {
		return callWire{}, fmt.Errorf("call %s: %w", id, routing.ErrNotFound)
	}
	if err != nil {
		return callWire{}, fmt.Errorf("call %s: %w", id, err)
	}
	var w callWire
	if err := json.Unmarshal([]byte(raw), &w); err != nil {
		return callWire{}, fmt.Errorf("call %s: %w", id, err)
	}
	return w, nil
}

// ActiveCalls returns every live call, oldest first.
func (s *Store) ActiveCalls(ctx context.Context) ([]routing.Call, error) {
	start := time.Now()
	all, err := s.rdb.HGetAll(ctx, s.rkey("calls")).Result()
	s.observe("calls", start, err)
	if err != nil {
		return nil, fmt.Errorf("active calls: %w", err)
	}
	out := make([]routing.Call, 0, len(all))
	for _, raw := range all {
		var w callWire
		if err := json.Unmarshal([]byte(raw), &w); err != nil {
			return nil, fmt.Errorf("active calls: %w", err)
		}
		out = append(out, w.call())
	}
	slices.SortFunc(out, func(a, b routing.Call) int {
		if c := a.EnqueuedAt.Compare(b.EnqueuedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// Leave removes a queued or ringing caller and frees a ringing agent. The
// call is read first to learn which keys the script needs; the script
// checks again, so a change in between is safe.
func (s *Store) Leave(ctx context.Context, callID string, t routing.Timing) (routing.Decision, error) {
	w, err := s.callWire(ctx, callID)
	if err != nil {
		return routing.Decision{}, fmt.Errorf("leave: %w", err)
	}
	a := routeArgs{Call: json.RawMessage(strconv.Quote(callID))}
	rep, err := s.runRoute(ctx, "leave", append([]string{w.Topic}, s.agentTopics(w.Agent)...), a, t)
	if err != nil {
		return routing.Decision{}, err
	}
	return rep.decision(), nil
}

// QueuePosition returns where a queued caller is and the topic's stats.
func (s *Store) QueuePosition(ctx context.Context, callID string, t routing.Timing) (int, routing.TopicStats, error) {
	w, err := s.callWire(ctx, callID)
	if err != nil {
		return 0, routing.TopicStats{}, fmt.Errorf("queue position: %w", err)
	}
	a := routeArgs{Call: json.RawMessage(strconv.Quote(callID))}
	rep, err := s.runRoute(ctx, "info", []string{w.Topic}, a, t)
	if err != nil {
		return 0, routing.TopicStats{}, err
	}
	if rep.call == nil {
		return 0, routing.TopicStats{}, errScriptReply
	}
	st := rep.call.stats()
	st.Topic = w.Topic
	return rep.call.Pos, st, nil
}

// TopicStats returns the live picture of one topic.
func (s *Store) TopicStats(ctx context.Context, topic string, t routing.Timing) (routing.TopicStats, error) {
	rep, err := s.runRoute(ctx, "stats", []string{topic}, routeArgs{Topic: topic}, t)
	if err != nil {
		return routing.TopicStats{}, err
	}
	if rep.call == nil {
		return routing.TopicStats{}, errScriptReply
	}
	st := rep.call.stats()
	st.Topic = topic
	return st, nil
}

// Claim rings a transfer target for a connected call in one round trip.
func (s *Store) Claim(ctx context.Context, req routing.ClaimRequest, t routing.Timing) (routing.AgentStatus, error) {
	a := routeArgs{Call: json.RawMessage(strconv.Quote(req.CallID)), By: req.By,
		Kind: string(req.To.Kind), Dest: req.To.Name, Exclude: req.Exclude}
	var topics []string
	if req.To.Kind == routing.DestTopic {
		topics = []string{req.To.Name}
	}
	rep, err := s.runRoute(ctx, "claim", topics, a, t)
	if err != nil {
		return routing.AgentStatus{}, err
	}
	if rep.agent == nil {
		return routing.AgentStatus{}, errScriptReply
	}
	return rep.agent.status(), nil
}

// ClaimFor rings an agent for a call in no queue, in one round trip.
func (s *Store) ClaimFor(ctx context.Context, call routing.Call, agentID string, senior bool, t routing.Timing) (routing.AgentStatus, error) {
	a := routeArgs{Call: json.RawMessage(strconv.Quote(call.ID)), Kind: "agent", Dest: agentID, Case: call.CaseID,
		Topic: call.Topic, Number: call.CallerNumber, Lang: call.Lang}
	if senior {
		a.Kind, a.Dest = "senior", ""
	}
	rep, err := s.runRoute(ctx, "claimfor", nil, a, t)
	if err != nil {
		return routing.AgentStatus{}, err
	}
	if rep.agent == nil {
		return routing.AgentStatus{}, errScriptReply
	}
	return rep.agent.status(), nil
}

// AcceptClaim connects the claimed target and sends the transferring agent
// to wrap-up.
func (s *Store) AcceptClaim(ctx context.Context, callID, target, newTopic string, t routing.Timing) (routing.Decision, error) {
	a := routeArgs{Agent: target, Call: json.RawMessage(strconv.Quote(callID)), Topic: newTopic}
	rep, err := s.runRoute(ctx, "xaccept", nil, a, t)
	if err != nil {
		return routing.Decision{}, err
	}
	return rep.decision(), nil
}

// ConsultAnswered moves the claimed target's ring deadline to until: they
// answered, and the consult is timed from there.
func (s *Store) ConsultAnswered(ctx context.Context, callID, target string, until time.Time, t routing.Timing) error {
	a := routeArgs{Agent: target, Call: json.RawMessage(strconv.Quote(callID)), XUntil: ms(until)}
	if _, err := s.runRoute(ctx, "xanswered", nil, a, t); err != nil {
		return err
	}
	return nil
}

// ReleaseClaim frees the claimed target; the caller stays where they were.
func (s *Store) ReleaseClaim(ctx context.Context, callID, target string, noAnswer bool, t routing.Timing) (routing.Decision, error) {
	a := routeArgs{Agent: target, Call: json.RawMessage(strconv.Quote(callID)), NoAnswer: noAnswer, Reason: routing.ReasonNoAnswer}
	rep, err := s.runRoute(ctx, "xrelease", nil, a, t)
	if err != nil {
		return routing.Decision{}, err
	}
	return rep.decision(), nil
}

// PendingOffers lists the offers still ringing for calls of node, in one
// round trip: what the router recovers when a published offer was lost.
func (s *Store) PendingOffers(ctx context.Context, node string, now time.Time) ([]routing.Offer, error) {
	start := time.Now()
	res, err := s.pending.Run(ctx, s.rdb, []string{s.rkey("due"), s.rkey("calls"), s.rkey("agents")}, node, ms(now)).StringSlice()
	s.observe("pending offers", start, err)
	if err != nil {
		return nil, fmt.Errorf("pending offers: %w", err)
	}
	out := make([]routing.Offer, 0, len(res))
	for _, raw := range res {
		o, err := decodeOffer(raw)
		if err != nil {
			return nil, fmt.Errorf("pending offers: %w", err)
		}
		out = append(out, o)
	}
	return out, nil
}

// DueWork lists wrap-ups due by now and offers whose deadline passed
// before staleBefore, and the earliest due time after them (zero if none).
func (s *Store) DueWork(ctx context.Context, now, staleBefore time.Time) ([]string, []string, time.Time, error) {
	start := time.Now()
	pipe := s.rdb.Pipeline()
	wrapDue := pipe.ZRangeByScore(ctx, s.rkey("wrap"), &redis.ZRangeBy{Min: "-inf", Max: strconv.FormatInt(ms(now), 10), Count: 256})
	stale := pipe.ZRangeByScore(ctx, s.rkey("due"), &redis.ZRangeBy{Min: "-inf", Max: strconv.FormatInt(ms(staleBefore), 10), Count: 256})
	nextWrap := pipe.ZRangeByScoreWithScores(ctx, s.rkey("wrap"), &redis.ZRangeBy{Min: "(" + strconv.FormatInt(ms(now), 10), Max: "+inf", Count: 1})
	nextDue := pipe.ZRangeByScoreWithScores(ctx, s.rkey("due"), &redis.ZRangeBy{Min: "(" + strconv.FormatInt(ms(staleBefore), 10), Max: "+inf", Count: 1})
	_, err := pipe.Exec(ctx)
	s.observe("due_work", start, err)
	if err != nil {
		return nil, nil, time.Time{}, fmt.Errorf("due work: %w", err)
	}
	var next time.Time
	if z := nextWrap.Val(); len(z) > 0 {
		next = time.UnixMilli(int64(z[0].Score))
	}
	if z := nextDue.Val(); len(z) > 0 {
		// The offer becomes stale this long after its deadline.
		at := time.UnixMilli(int64(z[0].Score)).Add(now.Sub(staleBefore))
		if next.IsZero() || at.Before(next) {
			next = at
		}
	}
	return wrapDue.Val(), stale.Val(), next, nil
}

// Sweep puts a stale offer's caller back in place and frees the agent.
// member is a DueWork entry: a call id, or "x:" and a call id for a
// transfer target claimed by a node that died.
func (s *Store) Sweep(ctx context.Context, member string, staleBefore time.Time, t routing.Timing) (routing.Decision, error) {
	callID := strings.TrimPrefix(member, "x:")
	var topics []string
	if w, err := s.callWire(ctx, callID); err == nil {
		topics = append([]string{w.Topic}, s.agentTopics(w.Agent)...)
		topics = append(topics, s.agentTopics(w.XAgent)...)
	}
	a := routeArgs{Call: json.RawMessage(strconv.Quote(callID)), Member: member, Stale: ms(staleBefore)}
	rep, err := s.runRoute(ctx, "sweep", topics, a, t)
	if err != nil {
		return routing.Decision{}, err
	}
	return rep.decision(), nil
}

// Heartbeat records that node is running until expires, as seen by
// route.lua, which offers no caller of a node whose heartbeat lapsed.
// revived is true when the node had no live heartbeat at now (first start,
// or back after dying): its callers were skipped and want a dispatch.
func (s *Store) Heartbeat(ctx context.Context, node string, now, expires time.Time) (revived bool, err error) {
	if node == "" {
		return false, fmt.Errorf("heartbeat: %w", errNoNode)
	}
	rep, err := s.runRoute(ctx, "alive", nil, routeArgs{Expires: ms(expires)}, routing.Timing{Now: now, Node: node})
	if err != nil {
		return false, err
	}
	if rep.call == nil {
		return false, fmt.Errorf("heartbeat: %w", errScriptReply)
	}
	return rep.call.Revived, nil
}

// Offers subscribes to the offers other nodes publish for node. The
// channel closes when ctx is done or the subscription fails.
func (s *Store) Offers(ctx context.Context, node string) (<-chan routing.Offer, error) {
	ch, err := subscribe(ctx, s.rdb, s.offerChannel()+node, func(payload string) (routing.Offer, bool) {
		o, err := decodeOffer(payload)
		return o, err == nil
	})
	if err != nil {
		return nil, fmt.Errorf("subscribe offers: %w", err)
	}
	return ch, nil
}

// cmdsOK reports whether every command ran without error.
// firstErr is the first error of cmds.
func firstErr(cmds []redis.Cmder) error {
	for _, c := range cmds {
		if err := c.Err(); err != nil {
			return err
		}
	}
	return nil
}

func cmdsOK(cmds []redis.Cmder) bool {
	for _, c := range cmds {
		if c.Err() != nil {
			return false
		}
	}
	return true
}
