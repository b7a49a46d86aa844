package redisstore_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hotline-project/hotline/internal/redistest"
	"github.com/hotline-project/hotline/routing"
	"github.com/hotline-project/hotline/routing/model"
	"github.com/hotline-project/hotline/routing/storetest"
)

// FuzzStores drives the reference model (routing/model) and the Redis
// store with the same operations, decoded from the fuzz input, and
// compares everything: each operation's results (values, the kind of
// each error, the offers made) and, after each operation, a snapshot of
// every agent, call, queue position, topic, due time, pending offer,
// path, case, callback and request. A difference is a bug in one of them.
//
// The operations are the stores' (QueueStore, CaseStore, CallbackStore,
// RequestStore), in the sequences the Router and the callback service
// use them: an answer records who talked, a transfer is the path check
// then the claim (dropped if no target), an accepted one commits the hop,
// a tick ends due wrap-ups and sweeps stale offers. The clock moves by
// steps the input picks; nodes heartbeat, stop and lapse.
func FuzzStores(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	srv := redistest.Start(f)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, ContextTimeoutEnabled: true})
	f.Cleanup(func() { _ = rdb.Close() })
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx := context.Background()
		if err := rdb.FlushAll(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		m := model.New(model.Options{})
		h := &harness{
			t:     t,
			ctx:   ctx,
			model: storetest.Stores{Queue: m, Cases: m, Callbacks: m, Requests: m},
			redis: openStores(t, srv.Addr, "fz:"),
			in:    data,
			clk:   storetest.NewClock(),
			named: map[string]bool{},
		}
		h.run()
	})
}

var fuzzLog = flag.Bool("fuzzlog", false, "FuzzStores: log the operations of each input")

// The fuzz's little world: few enough of each that operations meet.
var (
	fzAgents    = []string{"a0", "a1", "a2", "a3"}
	fzTopics    = []string{"audit", "service", "billing"}
	fzNodes     = []string{"n1", "n2", "n3"}
	fzCalls     = []string{"c0", "c1", "c2", "c3", "c4", "d0", "d1"}
	fzCases     = []string{"k0", "k1", "k2"}
	fzNumbers   = []string{"+380500", "+380501", "anonymous"}
	fzCallbacks = []string{"cb0", "cb1", "cb2", "cb0-senior"}
	fzRequests  = []string{"rq0", "rq1"}
	fzSteps     = []time.Duration{time.Millisecond, time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 31 * time.Second, 46 * time.Second, 10 * time.Minute}
)

const (
	fzGrace   = 30 * time.Second // the Router's default SweepGrace
	fzTTL     = 15 * time.Second // heartbeat lifetime
	fzMaxHops = 2
	fzMaxOps  = 48
)

type harness struct {
	t            *testing.T
	ctx          context.Context
	model, redis storetest.Stores
	in           []byte
	clk          *storetest.Clock
	wrap         time.Duration
	log          []string
	seq          int
	named        map[string]bool // calls the operation named
}

// next is the input's next byte; 0 once it is used up.
func (h *harness) next() byte {
	if len(h.in) == 0 {
		return 0
	}
	b := h.in[0]
	h.in = h.in[1:]
	return b
}

func pick[T any](h *harness, from []T) T { return from[int(h.next())%len(from)] }

// A selector byte below 0x80 is an index into the fuzz's list; from 0x80
// on it picks among what the operation can act on, as the model has it
// (the stores agree: the last snapshot said so), so that random inputs
// reach deep states as often as they try the refusals.
func choose(b byte, from, candidates []string) string {
	if b < 0x80 || len(candidates) == 0 {
		return from[int(b)%len(from)]
	}
	return candidates[int(b&0x7f)%len(candidates)]
}

// agentIn picks an agent; smart, one in one of the states.
func (h *harness) agentIn(states ...routing.AgentState) string { return h.agentBy(h.next(), states...) }

func (h *harness) agentBy(b byte, states ...routing.AgentState) string {
	var ids []string
	if b >= 0x80 {
		as, _ := h.model.Queue.Agents(h.ctx)
		for _, a := range as {
			if slices.Contains(states, a.State) {
				ids = append(ids, a.ID)
			}
		}
	}
	return choose(b, fzAgents, ids)
}

// callIn picks a call; smart, one in one of the states (none: one the
// stores do not know).
func (h *harness) callIn(states ...routing.CallState) string {
	b := h.next()
	var ids []string
	if b >= 0x80 {
		for _, id := range fzCalls {
			c, ok := h.modelCall(id)
			if (ok && slices.Contains(states, c.State)) || (!ok && len(states) == 0) {
				ids = append(ids, id)
			}
		}
	}
	c := choose(b, fzCalls, ids)
	h.named[c] = true
	return c
}

// agentOn picks an agent for an operation on call c; smart, the agent
// ringing for or talking on it, else one in the states.
func (h *harness) agentOn(b byte, c string, states ...routing.AgentState) string {
	if mc, ok := h.modelCall(c); ok && mc.AgentID != "" && b >= 0x80 {
		return mc.AgentID
	}
	return h.agentBy(b, states...)
}

// callbackIn picks a callback with selector b; smart, one in one of the
// states (none: one the store does not know).
func (h *harness) callbackIn(b byte, states ...routing.CallbackState) string {
	var ids []string
	if b >= 0x80 {
		cbs, _ := h.model.Callbacks.ListCallbacks(h.ctx, routing.CallbackFilter{})
		known := map[string]routing.CallbackState{}
		for _, cb := range cbs {
			known[cb.ID] = cb.State
		}
		for _, id := range fzCallbacks {
			if st, ok := known[id]; (ok && slices.Contains(states, st)) || (!ok && len(states) == 0) {
				ids = append(ids, id)
			}
		}
	}
	return choose(b, fzCallbacks, ids)
}

// call picks a call, whose path the next snapshot compares.
func (h *harness) call() string {
	c := pick(h, fzCalls)
	h.named[c] = true
	return c
}

func (h *harness) timing(node string) routing.Timing {
	return routing.Timing{Now: h.clk.Now(), RingTimeout: 15 * time.Second, WrapUp: h.wrap, Node: node}
}

// both runs f on the model, then on Redis, and fails the test unless the
// results, normalized, are the same.
func both[T any](h *harness, what string, f func(st storetest.Stores) (T, error)) (T, error) {
	h.t.Helper()
	mv, merr := f(h.model)
	rv, rerr := f(h.redis)
	h.same(what, result{norm(mv), errKind(merr)}, result{norm(rv), errKind(rerr)}, merr, rerr)
	return mv, merr
}

type result struct {
	Value any
	Err   string
}

func (h *harness) same(what string, m, r result, merr, rerr error) {
	h.t.Helper()
	if reflect.DeepEqual(m, r) {
		return
	}
	h.t.Fatalf("%s: the model and Redis differ\nmodel: %+v (%v)\nredis: %+v (%v)\nafter:\n  %s", what, m, merr, r, rerr, strings.Join(h.log, "\n  "))
}

// errKind is what callers can tell of an error: the sentinel it wraps.
func errKind(err error) string {
	kinds := []struct {
		err  error
		name string
	}{
		{routing.ErrNotFound, "not found"}, {routing.ErrIllegalTransition, "illegal"},
		{routing.ErrUnavailable, "unavailable"}, {routing.ErrLeaseLost, "lease lost"},
		{routing.ErrCallbackFinished, "finished"}, {routing.ErrCallbackBusy, "busy"},
		{routing.ErrInvalid, "invalid"},
	}
	if err == nil {
		return ""
	}
	for _, k := range kinds {
		if errors.Is(err, k.err) {
			return k.name
		}
	}
	return "other"
}

func (h *harness) run() {
	h.wrap = []time.Duration{0, 10 * time.Second}[h.next()%2]
	h.syncAgents(0xff)
	for n := 0; len(h.in) > 0 && n < fzMaxOps; n++ {
		before := len(h.log)
		node := h.step()
		if len(h.log) == before {
			continue
		}
		h.snapshot(node, false)
	}
	h.snapshot(fzNodes[0], true)
	if *fuzzLog {
		h.t.Log(strings.Join(h.log, "\n"))
	}
}

func (h *harness) note(format string, args ...any) {
	h.log = append(h.log, fmt.Sprintf("%s %s", h.clk.Now().Sub(storetest.Start), fmt.Sprintf(format, args...)))
}

// syncAgents configures the agents mask names (bit i: agent i), each
// from one input byte: bits 0-2 its topics (audit, service, billing),
// bits 3-5 their priorities (0 or 1), bit 6 senior.
func (h *harness) syncAgents(mask byte) {
	var agents []routing.Agent
	for i, id := range fzAgents {
		if mask&(1<<i) == 0 {
			continue
		}
		b := h.next()
		topics := map[string]int{}
		for j, tp := range fzTopics {
			if b&(1<<j) != 0 {
				topics[tp] = int(b>>(3+j)) & 1
			}
		}
		if len(topics) == 0 {
			topics[fzTopics[i%len(fzTopics)]] = 0
		}
		agents = append(agents, routing.Agent{ID: id, Name: "Agent " + id, Endpoint: "PJSIP/" + id, Topics: topics, Senior: b&0x40 != 0})
	}
	h.note("sync %v", agents)
	both(h, "sync agents", func(st storetest.Stores) (any, error) {
		return nil, st.Queue.SyncAgents(h.ctx, agents, h.clk.Now())
	})
}

// change is one agent transition, as the Router asks it.
func (h *harness) change(op routing.AgentOp, agentID, callID, reason, node string) (routing.Decision, error) {
	h.note("%s %s %s %q by %s", op, agentID, callID, reason, node)
	return both(h, string(op), func(st storetest.Stores) (routing.Decision, error) {
		return st.Queue.Change(h.ctx, routing.AgentChange{Op: op, AgentID: agentID, CallID: callID, Reason: reason}, h.timing(node))
	})
}

// modelCall is the call as the model has it (the stores agree on it: the
// last snapshot said so).
func (h *harness) modelCall(id string) (routing.Call, bool) {
	c, err := h.model.Queue.Call(h.ctx, id)
	return c, err == nil
}

// The operations an input byte picks (modulo opCount).
const (
	opSync byte = iota
	opLogin
	opPause
	opResume
	opLogout
	opAnswered
	opNoAnswer
	opRelease
	opEndCall
	opWrapEnd
	opEnqueue
	opLeave
	opDispatch
	opHeartbeat
	opClock
	opTakeOver
	opBeginTransfer
	opAcceptTransfer
	opCancelTransfer
	opConsultAnswered
	opClaimFor
	opTick
	opCase
	opCallback // and the next: callbacks are twice as likely
	_
	opRequest
	opProgress // and the next: an operation the state allows, on what it allows it
	_
	opSweep // an entry that may not be stale (any more)
	opCount
)

// flows are what opProgress picks from: an operation and how many of its
// leading arguments are selectors to make smart (see choose).
var flows = []struct {
	op    byte
	smart int
}{
	{opLogin, 1}, {opEnqueue, 1}, {opEnqueue, 1}, {opAnswered, 2}, {opAnswered, 2}, {opNoAnswer, 2}, {opRelease, 2},
	{opEndCall, 2}, {opEndCall, 2}, {opLeave, 1}, {opBeginTransfer, 2}, {opBeginTransfer, 2}, {opAcceptTransfer, 2},
	{opCancelTransfer, 2}, {opConsultAnswered, 2}, {opPause, 1}, {opResume, 1}, {opLogout, 1}, {opTakeOver, 1},
	{opClaimFor, 2}, {opWrapEnd, 1}, {opClock, 0}, {opTick, 0}, {opHeartbeat, 0}, {opCallback, 1}, {opCallback, 1},
}

// step runs one operation, and returns the node that decided it.
func (h *harness) step() string {
	node := pick(h, fzNodes)
	h.do(node, h.next()%opCount)
	return node
}

func (h *harness) do(node string, op byte) {
	switch op {
	case opProgress, opProgress + 1:
		f := flows[int(h.next())%len(flows)]
		smart := make([]byte, f.smart)
		for i := range smart {
			smart[i] = 0x80 | h.next()
		}
		h.in = append(smart, h.in...)
		h.do(node, f.op)
	case opSync:
		h.syncAgents(h.next())
	case opLogin:
		h.change(routing.OpLogin, h.agentIn(routing.StateOffline), "", "", node)
	case opPause:
		h.change(routing.OpPause, h.agentIn(routing.StateAvailable, routing.StateRinging, routing.StateOnCall, routing.StateWrapUp), "", pick(h, []string{"lunch", "coffee", ""}), node)
	case opResume:
		h.change(routing.OpResume, h.agentIn(routing.StatePaused, routing.StateRinging, routing.StateOnCall, routing.StateWrapUp), "", "", node)
	case opLogout:
		h.change(routing.OpLogout, h.agentIn(routing.StateAvailable, routing.StatePaused, routing.StateWrapUp), "", "", node)
	case opAnswered:
		b, c := h.next(), h.callIn(routing.CallRinging)
		a := h.agentOn(b, c, routing.StateRinging)
		if d, err := h.change(routing.OpAnswered, a, c, "", node); err == nil {
			h.talked(c, d.Call.CaseID, a)
		}
	case opNoAnswer:
		b, c := h.next(), h.callIn(routing.CallRinging)
		h.change(routing.OpNoAnswer, h.agentOn(b, c, routing.StateRinging), c, pick(h, []string{routing.ReasonNoAnswer, routing.ReasonUnreachable}), node)
	case opRelease:
		b, c := h.next(), h.callIn(routing.CallRinging)
		h.change(routing.OpRelease, h.agentOn(b, c, routing.StateRinging), c, "", node)
	case opEndCall:
		b, c := h.next(), h.callIn(routing.CallConnected, routing.CallConsulting)
		h.change(routing.OpEndCall, h.agentOn(b, c, routing.StateOnCall), c, "", node)
	case opWrapEnd:
		h.change(routing.OpWrapEnd, h.agentIn(routing.StateWrapUp), "", "", node)
	case opEnqueue:
		h.enqueue(node)
	case opLeave:
		c := h.callIn(routing.CallQueued, routing.CallRinging)
		h.note("leave %s by %s", c, node)
		both(h, "leave", func(st storetest.Stores) (routing.Decision, error) {
			return st.Queue.Leave(h.ctx, c, h.timing(node))
		})
	case opDispatch:
		var topics []string
		for i, tp := range fzTopics {
			if h.next()&(1<<i) != 0 {
				topics = append(topics, tp)
			}
		}
		h.note("dispatch %v by %s", topics, node)
		both(h, "dispatch", func(st storetest.Stores) ([]routing.Offer, error) {
			return st.Queue.Dispatch(h.ctx, topics, h.timing(node))
		})
	case opHeartbeat:
		ttl := pick(h, []time.Duration{fzTTL, fzTTL, -time.Millisecond})
		now := h.clk.Now()
		h.note("heartbeat %s for %v", node, ttl)
		both(h, "heartbeat", func(st storetest.Stores) (bool, error) {
			return st.Queue.Heartbeat(h.ctx, node, now, now.Add(ttl))
		})
	case opClock:
		d := pick(h, fzSteps)
		h.clk.Advance(d)
		h.note("clock +%v", d)
	case opTakeOver:
		c := h.callIn(routing.CallQueued)
		h.note("take over %s by %s", c, node)
		both(h, "take over", func(st storetest.Stores) ([2]any, error) {
			call, d, err := st.Queue.TakeOver(h.ctx, c, h.timing(node))
			return [2]any{call, d}, err
		})
	case opBeginTransfer:
		h.beginTransfer(node)
	case opAcceptTransfer:
		h.acceptTransfer(node)
	case opCancelTransfer:
		h.cancelTransfer(node)
	case opConsultAnswered:
		c := h.callIn(routing.CallConsulting)
		target := h.consultTarget(c)
		until := h.clk.Now().Add(pick(h, fzSteps))
		h.note("consult answered %s by %s until %v", c, target, until.Sub(storetest.Start))
		both(h, "consult answered", func(st storetest.Stores) (any, error) {
			return nil, st.Queue.ConsultAnswered(h.ctx, c, target, until, h.timing(node))
		})
	case opClaimFor:
		h.claimFor(node)
	case opTick:
		h.tick(node)
	case opSweep:
		member := h.callIn(routing.CallRinging, routing.CallConsulting)
		if h.next()%2 == 0 {
			member = "x:" + member
		}
		stale := h.clk.Now().Add(-pick(h, fzSteps))
		h.note("sweep %s stale before %v", member, stale.Sub(storetest.Start))
		both(h, "sweep", func(st storetest.Stores) (routing.Decision, error) {
			return st.Queue.Sweep(h.ctx, member, stale, h.timing(node))
		})
	case opCase:
		h.caseOp()
	case opCallback, opCallback + 1:
		h.callbackOp(node)
	case opRequest:
		h.requestOp()
	}
}

func (h *harness) talked(callID, caseID, agentID string) {
	h.note("talked %s %s %s", callID, caseID, agentID)
	both(h, "talked", func(st storetest.Stores) (any, error) {
		return nil, st.Cases.Talked(h.ctx, callID, caseID, agentID, h.clk.Now())
	})
}

func (h *harness) enqueue(node string) {
	id := h.callIn()
	b := h.next()
	call := routing.Call{ID: id, Topic: pick(h, fzTopics), CallerNumber: pick(h, fzNumbers), Lang: "uk", Node: node}
	if mc, ok := h.modelCall(id); ok && b&8 == 0 {
		call.Topic, call.CaseID = mc.Topic, mc.CaseID // most often, as the call flow does
	}
	if back := pick(h, fzSteps); b&1 != 0 {
		call.EnqueuedAt = h.clk.Now().Add(-back)
	}
	if b&2 != 0 {
		call.CallbackID = "cb-" + id
	}
	entry := routing.Entry{Call: call, Hop: routing.Hop{To: routing.Destination{Kind: routing.DestTopic, Name: call.Topic}, At: h.clk.Now()}}
	if b&4 != 0 && call.CaseID == "" {
		h.seq++
		now := h.clk.Now()
		cs := routing.Case{ID: fmt.Sprintf("k%d", 10+h.seq), CallerNumber: call.CallerNumber, Topic: call.Topic, Lang: call.Lang,
			Status: routing.CaseOpen, Path: []routing.Hop{entry.Hop}, CreatedAt: now, UpdatedAt: now}
		entry.NewCase, entry.Call.CaseID = &cs, cs.ID
	}
	h.note("enqueue %+v", entry.Call)
	both(h, "enqueue", func(st storetest.Stores) ([2]any, error) {
		d, info, err := st.Queue.Enqueue(h.ctx, entry, h.timing(node))
		return [2]any{d, info}, err
	})
}

// consultTarget picks an agent; smart, the one the call is consulting.
func (h *harness) consultTarget(callID string) string {
	b := h.next()
	if mc, ok := h.modelCall(callID); ok && mc.ConsultAgent != "" && b >= 0x80 {
		return mc.ConsultAgent
	}
	return h.agentBy(b, routing.StateRinging)
}

// beginTransfer is Router.BeginTransfer after its pure rules: the path
// check, then the claim, and the pending hop dropped if no target.
func (h *harness) beginTransfer(node string) {
	c := h.callIn(routing.CallConnected)
	by := h.agentOn(h.next(), c, routing.StateOnCall)
	var to routing.Destination
	if b := h.next(); b%2 == 0 {
		to = routing.Destination{Kind: routing.DestTopic, Name: fzTopics[int(b/2)%len(fzTopics)]}
	} else {
		to = routing.Destination{Kind: routing.DestAgent, Name: fzAgents[int(b/2)%len(fzAgents)]}
	}
	h.seq++
	p := routing.PendingTransfer{ID: fmt.Sprintf("t%d", h.seq), By: by, To: to, Note: "needs a refund", At: h.clk.Now()}
	h.note("begin transfer %s by %s to %s", c, by, to)
	pc, err := both(h, "check transfer", func(st storetest.Stores) (routing.PathCheck, error) {
		return st.Cases.CheckTransfer(h.ctx, c, p, fzMaxHops)
	})
	if err != nil || pc.Refused != "" {
		return
	}
	_, err = both(h, "claim", func(st storetest.Stores) (routing.AgentStatus, error) {
		return st.Queue.Claim(h.ctx, routing.ClaimRequest{CallID: c, By: by, To: to, Exclude: pc.Agents}, h.timing(node))
	})
	if err != nil {
		both(h, "drop refused transfer", func(st storetest.Stores) (any, error) {
			return nil, st.Cases.DropTransfer(h.ctx, c, p.ID)
		})
	}
}

func (h *harness) pending(callID string) routing.PendingTransfer {
	p, _, _ := h.model.Cases.Pending(h.ctx, callID)
	return p
}

// acceptTransfer is Router.AcceptTransfer: the claim accepted, then the
// hop committed and the target recorded as having talked.
func (h *harness) acceptTransfer(node string) {
	c := h.callIn(routing.CallConsulting)
	target := h.consultTarget(c)
	p := h.pending(c)
	newTopic := ""
	if p.To.Kind == routing.DestTopic {
		newTopic = p.To.Name
	}
	h.note("accept transfer %s by %s (%s)", c, target, p.ID)
	d, err := both(h, "accept claim", func(st storetest.Stores) (routing.Decision, error) {
		return st.Queue.AcceptClaim(h.ctx, c, target, newTopic, h.timing(node))
	})
	if err != nil {
		return
	}
	both(h, "commit transfer", func(st storetest.Stores) (routing.Hop, error) {
		return st.Cases.CommitTransfer(h.ctx, c, d.Call.CaseID, p.ID, h.clk.Now())
	})
	h.talked(c, d.Call.CaseID, target)
}

// cancelTransfer is Router.CancelTransfer: the target released, then the
// pending hop dropped.
func (h *harness) cancelTransfer(node string) {
	c := h.callIn(routing.CallConsulting)
	target := h.consultTarget(c)
	noAnswer := h.next()%2 == 0
	p := h.pending(c)
	h.note("cancel transfer %s by %s (no answer %v)", c, target, noAnswer)
	if _, err := both(h, "release claim", func(st storetest.Stores) (routing.Decision, error) {
		return st.Queue.ReleaseClaim(h.ctx, c, target, noAnswer, h.timing(node))
	}); err != nil {
		return
	}
	both(h, "drop transfer", func(st storetest.Stores) (any, error) {
		return nil, st.Cases.DropTransfer(h.ctx, c, p.ID)
	})
}

// claimFor is Router.ClaimAgent or ClaimSenior: an agent rung for a call
// in no queue, whose path then starts at the agent.
func (h *harness) claimFor(node string) {
	c := h.callIn()
	agentID, senior := h.agentIn(routing.StateAvailable), h.next()%3 == 0
	call := routing.Call{ID: c, CaseID: pick(h, fzCases), Topic: pick(h, fzTopics), CallerNumber: pick(h, fzNumbers), Lang: "pl"}
	h.note("claim for %s agent %s senior %v by %s", c, agentID, senior, node)
	a, err := both(h, "claim for", func(st storetest.Stores) (routing.AgentStatus, error) {
		return st.Queue.ClaimFor(h.ctx, call, agentID, senior, h.timing(node))
	})
	if err != nil {
		return
	}
	hop := routing.Hop{To: routing.Destination{Kind: routing.DestAgent, Name: a.ID}, At: h.clk.Now()}
	both(h, "start path", func(st storetest.Stores) (any, error) {
		return nil, st.Cases.StartPath(h.ctx, c, hop)
	})
}

// tick is Router.Tick: due wrap-ups ended, stale offers swept (and a
// swept transfer's pending hop dropped).
func (h *harness) tick(node string) {
	now := h.clk.Now()
	stale := now.Add(-fzGrace)
	h.note("tick by %s", node)
	due, _ := both(h, "due work", func(st storetest.Stores) ([3]any, error) {
		w, s, next, err := st.Queue.DueWork(h.ctx, now, stale)
		return [3]any{w, s, next}, err
	})
	wrapDone, _ := due[0].([]string)
	for _, id := range wrapDone {
		h.change(routing.OpWrapEnd, id, "", "", node)
	}
	members, _ := due[1].([]string)
	for _, member := range members {
		h.note("sweep %s", member)
		both(h, "sweep", func(st storetest.Stores) (routing.Decision, error) {
			return st.Queue.Sweep(h.ctx, member, stale, h.timing(node))
		})
		if callID, ok := strings.CutPrefix(member, "x:"); ok {
			if p, ok, _ := h.model.Cases.Pending(h.ctx, callID); ok {
				both(h, "drop swept transfer", func(st storetest.Stores) (any, error) {
					return nil, st.Cases.DropTransfer(h.ctx, callID, p.ID)
				})
			}
		}
	}
}

func (h *harness) caseOp() {
	id := pick(h, fzCases)
	now := h.clk.Now()
	switch h.next() % 5 {
	case 0:
		c := routing.Case{ID: id, CallerNumber: pick(h, fzNumbers), Topic: pick(h, fzTopics), Lang: "en", Status: routing.CaseOpen,
			Path: []routing.Hop{{To: routing.Destination{Kind: routing.DestTopic, Name: "audit"}, At: now}}, CreatedAt: now, UpdatedAt: now}
		h.note("create case %s %s", id, c.CallerNumber)
		both(h, "create case", func(st storetest.Stores) (any, error) { return nil, st.Cases.CreateCase(h.ctx, c) })
	case 1:
		note := pick(h, []string{"invoice twice", "router resets", ""})
		h.note("note %s %q", id, note)
		both(h, "set note", func(st storetest.Stores) (any, error) { return nil, st.Cases.SetNote(h.ctx, id, note, now) })
	case 2:
		score := int(h.next() % 6)
		h.note("rate %s %d", id, score)
		both(h, "rate", func(st storetest.Stores) (bool, error) { return st.Cases.Rate(h.ctx, id, score, now) })
	case 3:
		h.note("close case %s", id)
		both(h, "close case", func(st storetest.Stores) (int, error) { return st.Cases.CloseCase(h.ctx, id, now) })
	case 4:
		h.talked(h.call(), id, pick(h, fzAgents))
	}
}

func (h *harness) callbackOp(node string) {
	idb, sub := h.next(), h.next()%9
	var id string
	switch sub {
	case 0:
		id = h.callbackIn(idb)
	case 1, 2, 5:
		id = h.callbackIn(idb, routing.CallbackScheduled)
	default:
		id = h.callbackIn(idb, routing.CallbackDialing)
		if cb, err := h.model.Callbacks.GetCallback(h.ctx, id); err == nil && idb >= 0x80 && cb.LeaseNode != "" {
			node = cb.LeaseNode // smart: the node holding the lease
		}
	}
	now := h.clk.Now()
	lease := now.Add(30 * time.Second)
	switch sub {
	case 0:
		b := h.next()
		kind := []routing.CallbackKind{routing.CallbackQueue, routing.CallbackOwner, routing.CallbackSenior}[int(b)%3]
		cb := routing.Callback{ID: id, CaseID: pick(h, fzCases), Number: pick(h, fzNumbers), Topic: pick(h, fzTopics), Lang: "uk",
			Kind: kind, State: routing.CallbackScheduled, DueAt: now.Add(pick(h, fzSteps)), MaxAttempts: 1 + int(b>>2)%3,
			CreatedAt: now, UpdatedAt: now, CallID: id}
		if kind == routing.CallbackOwner {
			cb.Owner, cb.Note, cb.Deadline = pick(h, fzAgents), "call back about the refund", cb.DueAt.Add(pick(h, fzSteps))
		}
		if kind == routing.CallbackQueue {
			cb.CallID, cb.EnqueuedAt = h.call(), now.Add(-time.Minute)
		}
		dedupe := pick(h, []string{"", "owner:" + cb.CaseID, "senior:" + cb.CaseID})
		inDue := b&0x80 == 0
		h.note("create callback %s %s dedupe %q due %v", id, kind, dedupe, inDue)
		both(h, "create callback", func(st storetest.Stores) ([2]any, error) {
			out, created, err := st.Callbacks.CreateCallback(h.ctx, cb, dedupe, inDue)
			return [2]any{out, created}, err
		})
	case 1:
		max := 1 + int(h.next()%3)
		h.note("claim due callbacks by %s, %d", node, max)
		both(h, "claim due callbacks", func(st storetest.Stores) ([]routing.ClaimedCallback, error) {
			return st.Callbacks.ClaimDueCallbacks(h.ctx, node, now, lease, max)
		})
	case 2:
		h.note("claim callback %s by %s", id, node)
		both(h, "claim callback", func(st storetest.Stores) (routing.ClaimedCallback, error) {
			return st.Callbacks.ClaimCallback(h.ctx, id, node, now, lease)
		})
	case 3:
		ids := []string{id, pick(h, fzCallbacks)}
		h.note("renew %v by %s", ids, node)
		both(h, "renew callback leases", func(st storetest.Stores) ([]string, error) {
			return st.Callbacks.RenewCallbackLeases(h.ctx, node, lease, ids)
		})
	case 4:
		due := pick(h, []time.Time{{}, now.Add(15 * time.Second)})
		h.note("release callback %s by %s due %v", id, node, due)
		both(h, "release callback", func(st storetest.Stores) (routing.Callback, error) {
			return st.Callbacks.ReleaseCallback(h.ctx, id, node, now, due)
		})
	case 5:
		due, b := now, h.next()
		if cb, err := h.model.Callbacks.GetCallback(h.ctx, id); err == nil && b%4 != 0 {
			due = cb.DueAt
		}
		h.note("park callback %s at %v", id, due.Sub(storetest.Start))
		both(h, "park callback", func(st storetest.Stores) (any, error) {
			return nil, st.Callbacks.ParkCallback(h.ctx, id, due)
		})
	case 6:
		h.note("complete callback %s by %s", id, node)
		both(h, "complete callback", func(st storetest.Stores) ([2]any, error) {
			cb, changed, err := st.Callbacks.CompleteCallback(h.ctx, id, node, now)
			return [2]any{cb, changed}, err
		})
	case 7:
		h.note("fail callback %s by %s", id, node)
		both(h, "fail callback attempt", func(st storetest.Stores) (routing.Callback, error) {
			return st.Callbacks.FailCallbackAttempt(h.ctx, id, node, now, now.Add(10*time.Second), "caller busy")
		})
	case 8:
		max := int(h.next() % 3)
		h.note("escalate overdue callbacks, %d", max)
		both(h, "escalate", func(st storetest.Stores) ([]routing.Escalation, error) {
			return st.Callbacks.EscalateOverdueCallbacks(h.ctx, now, 2, max)
		})
	}
}

func (h *harness) requestOp() {
	id := pick(h, fzRequests)
	now := h.clk.Now()
	if h.next()%2 == 0 {
		r := routing.Request{ID: id, Kind: routing.KindComplaint, FullName: "Jan Nowak", Phone: "+48 22 123 45 67",
			FailedNumber: "0800", FoundWhere: "invoice", CreatedBy: pick(h, fzAgents), CreatedAt: now, State: routing.RequestNew}
		h.note("create request %s", id)
		both(h, "create request", func(st storetest.Stores) (any, error) { return nil, st.Requests.CreateRequest(h.ctx, r) })
		return
	}
	by := pick(h, fzAgents)
	h.note("request %s done by %s", id, by)
	both(h, "mark request done", func(st storetest.Stores) (routing.Request, error) {
		return st.Requests.MarkRequestDone(h.ctx, id, by, now)
	})
}

// snapshot compares what the stores can be asked: all of it with full
// (at the end), else everything but the paths and cases of calls the
// operation did not name and the answers of nodes other than the
// deciding one that need no node.
func (h *harness) snapshot(node string, full bool) {
	h.t.Helper()
	now := h.clk.Now()
	calls, _ := both(h, "active calls", func(st storetest.Stores) ([]routing.Call, error) { return st.Queue.ActiveCalls(h.ctx) })
	both(h, "agents", func(st storetest.Stores) ([]routing.AgentStatus, error) { return st.Queue.Agents(h.ctx) })
	nodes := []string{node}
	if full {
		nodes = fzNodes
	}
	for _, n := range nodes {
		tm := h.timing(n)
		for _, tp := range fzTopics {
			both(h, "topic stats "+tp+" at "+n, func(st storetest.Stores) (routing.TopicStats, error) {
				return st.Queue.TopicStats(h.ctx, tp, tm)
			})
		}
		for _, c := range fzCalls {
			if !full && !h.named[c] && !slices.ContainsFunc(calls, func(x routing.Call) bool { return x.ID == c }) {
				continue
			}
			both(h, "queue position "+c+" at "+n, func(st storetest.Stores) ([2]any, error) {
				pos, s, err := st.Queue.QueuePosition(h.ctx, c, tm)
				return [2]any{pos, s}, err
			})
		}
	}
	for _, n := range fzNodes {
		both(h, "pending offers "+n, func(st storetest.Stores) ([]routing.Offer, error) {
			return st.Queue.PendingOffers(h.ctx, n, now)
		})
	}
	both(h, "due work", func(st storetest.Stores) ([3]any, error) {
		w, s, next, err := st.Queue.DueWork(h.ctx, now, now.Add(-fzGrace))
		return [3]any{w, s, next}, err
	})
	for _, c := range fzCalls {
		if !full && !h.named[c] {
			continue
		}
		both(h, "path "+c, func(st storetest.Stores) ([]routing.Hop, error) { return st.Cases.CallPath(h.ctx, c) })
		both(h, "pending "+c, func(st storetest.Stores) ([2]any, error) {
			p, ok, err := st.Cases.Pending(h.ctx, c)
			return [2]any{p, ok}, err
		})
	}
	both(h, "cases", func(st storetest.Stores) ([]routing.Case, error) { return st.Cases.Cases(h.ctx, routing.CaseFilter{}) })
	for _, n := range fzNumbers {
		both(h, "open case of "+n, func(st storetest.Stores) ([2]any, error) {
			c, ok, err := st.Cases.OpenCaseByNumber(h.ctx, n)
			return [2]any{c, ok}, err
		})
	}
	both(h, "callbacks", func(st storetest.Stores) ([]routing.Callback, error) {
		return st.Callbacks.ListCallbacks(h.ctx, routing.CallbackFilter{})
	})
	both(h, "requests", func(st storetest.Stores) ([]routing.Request, error) {
		return st.Requests.ListRequests(h.ctx, routing.RequestFilter{})
	})
	clear(h.named)
}

// norm makes a value comparable across the stores: times as Unix
// milliseconds (0 for none), nil and empty slices and maps alike, and the
// agents who had a caller as a sorted set.
func norm(v any) any { return normValue(reflect.ValueOf(v)) }

var timeType = reflect.TypeFor[time.Time]()

func normValue(v reflect.Value) any {
	if !v.IsValid() {
		return nil
	}
	if v.Type() == timeType {
		t := v.Interface().(time.Time)
		if t.IsZero() {
			return int64(0)
		}
		return t.UnixMilli()
	}
	if pc, ok := v.Interface().(routing.PathCheck); ok {
		pc.Agents = slices.Sorted(slices.Values(pc.Agents))
		v = reflect.ValueOf(pc)
	}
	switch v.Kind() {
	case reflect.Interface, reflect.Pointer:
		if v.IsNil() {
			return nil
		}
		return normValue(v.Elem())
	case reflect.Struct:
		out := map[string]any{}
		for i := range v.NumField() {
			out[v.Type().Field(i).Name] = normValue(v.Field(i))
		}
		return out
	case reflect.Slice, reflect.Array:
		out := []any{}
		for i := range v.Len() {
			out = append(out, normValue(v.Index(i)))
		}
		return out
	case reflect.Map:
		out := map[string]any{}
		for _, k := range v.MapKeys() {
			out[fmt.Sprint(k.Interface())] = normValue(v.MapIndex(k))
		}
		return out
	}
	return v.Interface()
}

// seed builds an input: the wrap-up (0: none, 1: 10 s), the four
// agents' first configuration (see syncAgents), then steps: a deciding node, an
// operation and its arguments, each an index into the fuzz's lists.
type seed []byte

func newSeed(wrap byte, agents ...byte) seed { return append(seed{wrap}, agents...) }

func (s seed) do(node, op byte, args ...byte) seed { return append(append(s, node, op), args...) }

// Indexes into the fuzz's lists, for readable seeds.
const (
	a0, a1, a2, a3             = 0, 1, 2, 3
	c0, c1, c2, c3, c4, d0, d1 = 0, 1, 2, 3, 4, 5, 6
	audit, service, billing    = 0, 1, 2
	n1, n2, n3                 = 0, 1, 2
	ms1, s1, s5, s10, s15, s31 = 0, 1, 2, 3, 4, 5
	s46, min10                 = 6, 7
	smart                      = 0x80 // the call's agent, target: see choose
)

// fuzzSeeds are scripted sequences: readable starting points for the
// fuzzer, and what the regular test run replays.
func fuzzSeeds() [][]byte {
	agents := []byte{0x01, 0x13, 0x12, 0x44} // a0 audit; a1 audit, service (priority 1); a2 service (1); a3 billing, senior
	queue := newSeed(1, agents...).
		do(n1, opLogin, a0).do(n1, opClock, s1).do(n1, opLogin, a1).do(n1, opClock, s1).
		do(n1, opEnqueue, c0, 0, audit, 0, 0).do(n1, opEnqueue, c1, 0, audit, 1, 0).do(n2, opEnqueue, c2, 1, audit, 2, s5).
		do(n1, opAnswered, a0, c0).do(n1, opNoAnswer, a1, c1, 0).do(n1, opResume, a1).
		do(n1, opRelease, a1, c1).do(n1, opPause, a1, 0).do(n1, opLeave, c1).do(n1, opLeave, c2).
		do(n1, opClock, min10).do(n1, opEndCall, smart, c0).do(n1, opTick).do(n1, opClock, s10).do(n1, opTick).
		do(n1, opEnqueue, c3, 2, service, 0, 0).do(n1, opResume, a1).do(n1, opLogin, a2).do(n1, opDispatch, 7).
		do(n1, opLogout, a0).do(n1, opLogout, a1).do(n1, opSync, 0x0d, 0x02, 0x01, 0x42).do(n1, opLogin, a3)
	transfers := newSeed(0, agents...).
		do(n1, opLogin, a0).do(n1, opLogin, a1).do(n1, opLogin, a2).do(n1, opLogin, a3).
		do(n1, opEnqueue, c0, 4, audit, 0, 0).do(n1, opAnswered, a0, c0).
		do(n1, opBeginTransfer, c0, smart, 2*service).do(n1, opAcceptTransfer, c0, smart).
		do(n1, opBeginTransfer, c0, smart, 2*audit).do(n1, opBeginTransfer, c0, smart, 2*a2+1).
		do(n1, opBeginTransfer, c0, smart, 2*a3+1).
		do(n1, opConsultAnswered, c0, smart, s5).do(n1, opCancelTransfer, c0, smart, 0).
		do(n1, opBeginTransfer, c0, smart, 2*a3+1).do(n1, opClock, s46).do(n1, opClock, s10).do(n1, opTick).
		do(n1, opBeginTransfer, c0, smart, 2*a2+1).do(n1, opEndCall, smart, c0).
		do(n1, opClaimFor, d0, a1, 1, 0, service, 0).do(n1, opAnswered, smart, d0).
		do(n1, opBeginTransfer, d0, smart, 2*billing).do(n1, opAcceptTransfer, d0, smart).
		do(n1, opClaimFor, d1, a0, 0, 1, audit, 1).do(n1, opNoAnswer, a3, d1, 1)
	nodes := newSeed(0, agents...).
		do(n1, opHeartbeat, 0).do(n2, opHeartbeat, 0).
		do(n2, opEnqueue, c0, 0, audit, 0, 0).do(n1, opClock, s1).do(n1, opEnqueue, c1, 0, audit, 1, 0).
		do(n1, opClock, s31).do(n1, opHeartbeat, 0).do(n1, opLogin, a0).do(n1, opLogin, a1).
		do(n1, opTakeOver, c1).do(n1, opTakeOver, c0).do(n3, opTakeOver, c0).
		do(n2, opHeartbeat, 2).do(n2, opEnqueue, c2, 0, audit, 2, 0).do(n2, opLogin, a2).
		do(n3, opHeartbeat, 0).do(n3, opEnqueue, c3, 0, service, 0, 0).do(n1, opLogin, a3).
		do(n1, opClock, s46).do(n1, opTick).do(n3, opHeartbeat, 0).do(n1, opTick)
	callbacks := newSeed(0, agents...).
		do(n1, opCallback, 0, 0, 4, 0, 0, audit, s5, a1, s10, 1).
		do(n1, opCallback, 1, 0, 4, 0, 0, audit, s5, a1, s10, 1).
		do(n1, opCallback, 1, 0, 0, 1, 1, service, s1, c1, 0).
		do(n1, opCallback, 2, 0, 5, 2, 2, billing, ms1, 2).
		do(n1, opCallback, 0, 1, 2).do(n1, opClock, s1).do(n2, opCallback, 0, 1, 2).
		do(n2, opCallback, 2, 7).do(n1, opCallback, 1, 6).do(n2, opCallback, 1, 6).do(n2, opCallback, 1, 6).
		do(n1, opClock, s46).do(n1, opCallback, 0, 8, 2).do(n3, opCallback, 0, 1, 2).
		do(n3, opCallback, 2, 4, 0).do(n1, opCallback, 2, 2).do(n1, opCallback, 3, 2).
		do(n1, opClock, s31).do(n1, opCallback, 0, 1, 2).do(n3, opCallback, 3, 3, 2).
		do(n1, opCallback, 2, 7).do(n1, opCallback, 3, 4, 1).do(n1, opCallback, 3, 5, 1)
	cases := newSeed(0, agents...).
		do(n1, opCase, 0, 0, 0, audit).do(n1, opCase, 1, 0, 0, audit).do(n1, opCase, 0, 4, c0, a1).
		do(n1, opCase, 0, 4, c0, a2).do(n1, opCase, 0, 2, 4).do(n1, opCase, 0, 2, 5).do(n1, opCase, 0, 1, 0).
		do(n1, opCase, 0, 3).do(n1, opCase, 1, 3).do(n1, opCase, 2, 3).
		do(n1, opRequest, 0, 0, a1).do(n1, opRequest, 1, 0, a2).do(n1, opRequest, 0, 1, a3).do(n1, opRequest, 0, 1, a0)
	consults := newSeed(1, agents...).
		do(n1, opLogin, a0).do(n1, opLogin, a2).
		do(n1, opEnqueue, c0, 0, audit, 0, 0).do(n1, opAnswered, smart, c0).
		do(n1, opBeginTransfer, c0, smart, 2*a2+1).do(n1, opEndCall, smart, c0).
		do(n1, opClock, s5).do(n1, opWrapEnd, a0).do(n1, opTick).do(n1, opClock, s5).do(n1, opTick).
		do(n1, opLogin, a1).do(n1, opEnqueue, c1, 0, audit, 1, 0).do(n1, opAnswered, smart, c1).
		do(n1, opBeginTransfer, c1, smart, 2*service).do(n1, opCancelTransfer, c1, smart, 1).
		do(n1, opBeginTransfer, c1, smart, 2*a2+1).do(n1, opAcceptTransfer, c1, smart).
		do(n1, opBeginTransfer, c1, smart, 2*a1+1).do(n1, opAcceptTransfer, c1, smart).
		do(n1, opBeginTransfer, c1, smart, 2*billing).do(n1, opBeginTransfer, c1, smart, 2*a0+1).
		do(n1, opClaimFor, d0, a0, 1, 0, service, 0).do(n1, opRelease, smart, d0).
		do(n1, opClaimFor, d1, a0, 1, 0, service, 0).do(n2, opEnqueue, c2, 0, service, 0, 0).
		do(n1, opLeave, c1).do(n1, opEndCall, smart, c1)
	return [][]byte{queue, transfers, nodes, callbacks, cases, consults}
}
