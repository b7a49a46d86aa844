package routing

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Router applies the routing rules. Its state lives in the stores; the
// Router itself keeps only the configured agents (to know which topics'
// keys a decision touches) and the per-call delivery locks, so any number
// of Routers on any number of nodes can share one store.
type Router struct {
	q     QueueStore
	cs    CaseStore
	opts  Options
	log   *slog.Logger
	clock Clock

	mu     sync.RWMutex
	agents map[string]Agent // configured agents by id
	topics []string         // every configured topic, sorted

	deliverLocks keyedMutex
	// delivered remembers the offers this node has handed to its call
	// flow (call id → agent and ring deadline), so RecoverOffers hands on
	// only those whose published message never arrived. Guarded by dmu.
	dmu       sync.Mutex
	delivered map[string]deliveredOffer
	// wake tells Run that a due time may have moved earlier (a wrap-up
	// started here), so it recomputes its timer at once.
	wake chan struct{}
}

// New returns a Router on the given stores.
func New(q QueueStore, cs CaseStore, opts Options) *Router {
	if opts.Clock == nil {
		opts.Clock = SystemClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.SweepGrace <= 0 {
		opts.SweepGrace = 30 * time.Second
	}
	if opts.MaxIdleWait <= 0 {
		opts.MaxIdleWait = time.Second
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = 5 * time.Second
	}
	if opts.HeartbeatTTL <= 0 {
		opts.HeartbeatTTL = 3 * opts.Heartbeat
	}
	return &Router{
		q: q, cs: cs, opts: opts, log: opts.Logger, clock: opts.Clock,
		agents:       map[string]Agent{},
		deliverLocks: keyedMutex{m: map[string]*keyedEntry{}},
		delivered:    map[string]deliveredOffer{},
		wake:         make(chan struct{}, 1),
	}
}

func (r *Router) timing() Timing {
	return Timing{Now: r.clock.Now(), RingTimeout: r.opts.Policy.RingTimeout, WrapUp: r.opts.Policy.WrapUp, Node: r.opts.Node}
}

func (r *Router) kick() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// newID is 16 random hex digits: unique across nodes without a shared
// counter.
func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// SyncAgents stores the configured agents, keeping live state, and
// dispatches every topic in case free agents were added. Agents missing
// from agents get no more calls: they leave Agents at once, or when the
// call they are ringing for, talking on or wrapping up ends.
func (r *Router) SyncAgents(ctx context.Context, agents []Agent) error {
	r.mu.Lock()
	r.agents = make(map[string]Agent, len(agents))
	var topics []string
	for _, a := range agents {
		r.agents[a.ID] = a
		for t := range a.Topics {
			if !slices.Contains(topics, t) {
				topics = append(topics, t)
			}
		}
	}
	slices.Sort(topics)
	r.topics = topics
	r.mu.Unlock()
	if err := r.q.SyncAgents(ctx, agents, r.clock.Now()); err != nil {
		return fmt.Errorf("sync agents: %w", err)
	}
	return r.Dispatch(ctx)
}

func (r *Router) agentTopics(id string) []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	a := r.agents[id]
	ts := make([]string, 0, len(a.Topics))
	for t := range a.Topics {
		ts = append(ts, t)
	}
	slices.Sort(ts)
	return ts
}

// change applies one agent transition and delivers the offers it made.
// An agent the store does not know but the configuration does (Redis
// restarted empty) is stored again and the change retried once.
func (r *Router) change(ctx context.Context, ch AgentChange) (Decision, error) {
	ch.Topics = append(ch.Topics, r.agentTopics(ch.AgentID)...)
	d, err := r.q.Change(ctx, ch, r.timing())
	if errors.Is(err, ErrNotFound) && ch.CallID == "" {
		r.mu.RLock()
		a, ok := r.agents[ch.AgentID]
		r.mu.RUnlock()
		if ok {
			if serr := r.q.SyncAgents(ctx, []Agent{a}, r.clock.Now()); serr == nil {
				d, err = r.q.Change(ctx, ch, r.timing())
			}
		}
	}
	if err != nil {
		return Decision{}, fmt.Errorf("agent %s %s: %w", ch.AgentID, ch.Op, err)
	}
	r.deliver(d.Offers)
	return d, nil
}

// Login makes an offline agent available.
func (r *Router) Login(ctx context.Context, agentID string) error {
	_, err := r.change(ctx, AgentChange{Op: OpLogin, AgentID: agentID})
	return err
}

// Resume makes a paused agent available again (or cancels a pause asked
// for during a call).
func (r *Router) Resume(ctx context.Context, agentID string) error {
	_, err := r.change(ctx, AgentChange{Op: OpResume, AgentID: agentID})
	return err
}

// Logout takes an agent who is not ringing or talking offline.
func (r *Router) Logout(ctx context.Context, agentID string) error {
	_, err := r.change(ctx, AgentChange{Op: OpLogout, AgentID: agentID})
	return err
}

// Pause pauses an available agent now, or a ringing or talking one once
// the call is over.
func (r *Router) Pause(ctx context.Context, agentID, reason string) error {
	if reason == "" {
		reason = "pause"
	}
	_, err := r.change(ctx, AgentChange{Op: OpPause, AgentID: agentID, Reason: reason})
	return err
}

// Agent returns one agent's live state.
func (r *Router) Agent(ctx context.Context, id string) (AgentStatus, error) {
	return r.q.Agent(ctx, id)
}

// Agents returns every agent's live state.
func (r *Router) Agents(ctx context.Context) ([]AgentStatus, error) {
	return r.q.Agents(ctx)
}

// OpenCase opens a case for a new caller; its path starts at the topic.
func (r *Router) OpenCase(ctx context.Context, callerNumber, topic, lang string) (Case, error) {
	c := newCase(callerNumber, topic, lang, r.clock.Now())
	if err := r.cs.CreateCase(ctx, c); err != nil {
		return Case{}, fmt.Errorf("open case: %w", err)
	}
	return c, nil
}

// newCase is a new caller's open case; its path starts at the topic.
func newCase(callerNumber, topic, lang string, now time.Time) Case {
	return Case{
		ID: newID(), CallerNumber: callerNumber, Topic: topic, Lang: lang, Status: CaseOpen,
		Path:      []Hop{{To: Destination{Kind: DestTopic, Name: topic}, At: now}},
		CreatedAt: now, UpdatedAt: now,
	}
}

// OpenCaseFor finds a returning caller's open case by number.
func (r *Router) OpenCaseFor(ctx context.Context, callerNumber string) (Case, bool, error) {
	return r.cs.OpenCaseByNumber(ctx, callerNumber)
}

// Case returns one case.
func (r *Router) Case(ctx context.Context, id string) (Case, error) { return r.cs.Case(ctx, id) }

// Cases lists cases matching f.
func (r *Router) Cases(ctx context.Context, f CaseFilter) ([]Case, error) { return r.cs.Cases(ctx, f) }

// SetNote replaces a case's note; by is the agent writing it.
func (r *Router) SetNote(ctx context.Context, caseID, note, by string) error {
	if err := r.cs.SetNote(ctx, caseID, note, r.clock.Now()); err != nil {
		return fmt.Errorf("set note by %s: %w", by, err)
	}
	return nil
}

// Rate records the caller's rating; only the first counts.
func (r *Router) Rate(ctx context.Context, caseID string, score int) (bool, error) {
	return r.cs.Rate(ctx, caseID, score, r.clock.Now())
}

// CloseCase closes a case and reports how many agents the caller talked to.
func (r *Router) CloseCase(ctx context.Context, caseID string) (agents int, err error) {
	return r.cs.CloseCase(ctx, caseID, r.clock.Now())
}

// Enqueue puts the call in its topic's queue (keeping the place it already
// has, or the one EnqueuedAt gives it) and dispatches the topic, in one
// store round trip. Offers for this node are delivered before it returns.
func (r *Router) Enqueue(ctx context.Context, call Call) (QueueInfo, error) {
	return r.enqueue(ctx, call, nil)
}

// EnqueueNewCase opens a case for a first-time caller (as OpenCase does)
// and enqueues the call in it (as Enqueue does), still in one store round
// trip: the case costs the caller no wait of its own before an agent is
// rung. call.CaseID is replaced by the new case's id. If it fails the case
// may exist without the call in the queue (on Cluster the case's keys are
// on another master than the queue's): the case is returned with the
// error, for the caller to close; retrying opens another case.
func (r *Router) EnqueueNewCase(ctx context.Context, call Call) (Case, QueueInfo, error) {
	c := newCase(call.CallerNumber, call.Topic, call.Lang, r.clock.Now())
	call.CaseID = c.ID
	info, err := r.enqueue(ctx, call, &c)
	if err != nil {
		return c, QueueInfo{}, err
	}
	return c, info, nil
}

func (r *Router) enqueue(ctx context.Context, call Call, c *Case) (QueueInfo, error) {
	if call.ID == "" || call.Topic == "" {
		return QueueInfo{}, fmt.Errorf("enqueue %q: %w", call.ID, ErrBadCall)
	}
	if call.Node == "" {
		call.Node = r.opts.Node
	}
	t := r.timing()
	entry := Hop{To: Destination{Kind: DestTopic, Name: call.Topic}, At: t.Now}
	d, info, err := r.q.Enqueue(ctx, Entry{Call: call, Hop: entry, NewCase: c}, t)
	if err != nil {
		return QueueInfo{}, fmt.Errorf("enqueue %s: %w", call.ID, err)
	}
	r.deliver(d.Offers)
	info.EstimatedWait = r.opts.Policy.EstimateWait(call.Topic, info.Position, TopicStats{
		AgentsLoggedIn: info.AgentsLoggedIn, AgentsAvailable: info.AgentsAvailable, HandleTime: info.HandleTime,
	})
	return info, nil
}

// QueueInfo tells a waiting caller their position and estimated wait.
func (r *Router) QueueInfo(ctx context.Context, callID string) (QueueInfo, error) {
	pos, s, err := r.q.QueuePosition(ctx, callID, r.timing())
	if err != nil {
		return QueueInfo{}, fmt.Errorf("queue info: %w", err)
	}
	return QueueInfo{
		Position: pos, EstimatedWait: r.opts.Policy.EstimateWait(s.Topic, pos, s),
		AgentsLoggedIn: s.AgentsLoggedIn, AgentsAvailable: s.AgentsAvailable, HandleTime: s.HandleTime,
	}, nil
}

// TopicStats is the live picture of one topic (queue depth, agents logged
// in and free, mean handle time), read in one store round trip; the API's
// topic overview builds its wait estimate from it with EstimateWait.
func (r *Router) TopicStats(ctx context.Context, topic string) (TopicStats, error) {
	s, err := r.q.TopicStats(ctx, topic, r.timing())
	if err != nil {
		return TopicStats{}, fmt.Errorf("topic stats %s: %w", topic, err)
	}
	return s, nil
}

// Dispatch pairs waiting callers with free agents in topics (all
// configured topics if none given).
func (r *Router) Dispatch(ctx context.Context, topics ...string) error {
	if len(topics) == 0 {
		r.mu.RLock()
		topics = slices.Clone(r.topics)
		r.mu.RUnlock()
	}
	if len(topics) == 0 {
		return nil
	}
	offers, err := r.q.Dispatch(ctx, topics, r.timing())
	r.deliver(offers)
	if err != nil {
		return fmt.Errorf("dispatch: %w", err)
	}
	return nil
}

// Answered connects an offered call: the agent is on the call and
// recorded on the call's path and the case (owner if it has none). An
// error means the agent is not connected (the pairing is gone). Once the
// agent is connected the call goes on whatever follows: a failure to
// record who talked is retried once and logged, never returned, or the
// caller would hang up on an agent the store shows talking.
func (r *Router) Answered(ctx context.Context, o Offer) error {
	d, err := r.change(ctx, AgentChange{Op: OpAnswered, AgentID: o.Agent.ID, CallID: o.CallID, Topics: []string{o.Topic}})
	if err != nil {
		return err
	}
	caseID := d.Call.CaseID
	if caseID == "" {
		caseID = o.CaseID
	}
	r.followUp(ctx, "record answering agent", o.CallID, func() error {
		return r.cs.Talked(ctx, o.CallID, caseID, o.Agent.ID, r.clock.Now())
	})
	return nil
}

// followUp runs bookkeeping that comes after a committed state change:
// once more if it fails, then it is logged and left. What it records (a
// path hop, who talked) matters less than the committed state the caller
// must act on.
func (r *Router) followUp(ctx context.Context, what, callID string, f func() error) {
	err := f()
	if err == nil {
		return
	}
	// The retry's error may only say the first attempt got half way
	// (a committed hop is no longer pending): log both.
	if rerr := f(); rerr != nil {
		r.log.Warn(what, "call", callID, "err", err, "retry_err", rerr)
	}
}

// NoAnswer handles an offer that rang out: the agent is paused "no
// answer", the caller goes back to their place and the topic is
// dispatched again.
func (r *Router) NoAnswer(ctx context.Context, o Offer) error {
	_, err := r.change(ctx, AgentChange{Op: OpNoAnswer, AgentID: o.Agent.ID, CallID: o.CallID, Reason: ReasonNoAnswer, Topics: []string{o.Topic}})
	return err
}

// Unreachable takes back an offer whose agent's phone Asterisk would not
// dial (again and again): the agent is paused "unreachable" until they
// resume, and the caller goes back to their place, as for NoAnswer.
func (r *Router) Unreachable(ctx context.Context, o Offer) error {
	_, err := r.change(ctx, AgentChange{Op: OpNoAnswer, AgentID: o.Agent.ID, CallID: o.CallID, Reason: ReasonUnreachable, Topics: []string{o.Topic}})
	return err
}

// ReleaseOffer takes back an offer that rang out through no fault of the
// agent (the node stopped ringing, or restarted): the caller goes back to
// their place and the agent is free again, or paused if they asked for a
// pause during the offer, in one store operation. A call in no queue
// (ClaimAgent) ends.
func (r *Router) ReleaseOffer(ctx context.Context, o Offer) error {
	_, err := r.change(ctx, AgentChange{Op: OpRelease, AgentID: o.Agent.ID, CallID: o.CallID, Topics: []string{o.Topic}})
	return err
}

// Leave handles a caller who hung up while queued or ringing: the call is
// dropped and a ringing agent freed.
func (r *Router) Leave(ctx context.Context, callID string) error {
	d, err := r.q.Leave(ctx, callID, r.timing())
	if err != nil {
		return fmt.Errorf("leave %s: %w", callID, err)
	}
	r.deliver(d.Offers)
	if err := r.cs.EndCallPath(ctx, callID); err != nil {
		return fmt.Errorf("leave %s: %w", callID, err)
	}
	return nil
}

// EndCall ends a talking call: the agent goes to wrap-up (Run frees them
// when it ends) and the call's keys start to expire.
func (r *Router) EndCall(ctx context.Context, callID, agentID string) error {
	d, err := r.change(ctx, AgentChange{Op: OpEndCall, AgentID: agentID, CallID: callID})
	if err != nil {
		return err
	}
	if d.Agent.State == StateWrapUp {
		r.kick()
	}
	if err := r.cs.EndCallPath(ctx, callID); err != nil {
		return fmt.Errorf("end call %s: %w", callID, err)
	}
	return nil
}

// ActiveCalls lists every live call.
func (r *Router) ActiveCalls(ctx context.Context) ([]Call, error) { return r.q.ActiveCalls(ctx) }

// Call returns one live call.
func (r *Router) Call(ctx context.Context, id string) (Call, error) { return r.q.Call(ctx, id) }

// TakeOver makes this node the owner of a waiting caller whose node died
// (its heartbeat lapsed), when this node can reach the caller's channel
// (one Asterisk for both): the caller keeps their place, and is offered
// from here.
func (r *Router) TakeOver(ctx context.Context, callID string) (Call, error) {
	c, d, err := r.q.TakeOver(ctx, callID, r.timing())
	if err != nil {
		return Call{}, err
	}
	r.deliver(d.Offers)
	return c, nil
}

// CallPath returns a call's committed path.
func (r *Router) CallPath(ctx context.Context, callID string) ([]Hop, error) {
	return r.cs.CallPath(ctx, callID)
}

// ClaimAgent rings agentID for call, a call in no queue: a callback
// dialled agent first, or a returning caller routed to their case owner.
// call carries what the live views show (ID, CaseID, Topic, CallerNumber,
// Lang). ok is false, with no error, when the agent is not available. The
// caller then owns the agent's state through Answered, NoAnswer and EndCall
// with an Offer for call.ID.
func (r *Router) ClaimAgent(ctx context.Context, agentID string, call Call) (AgentStatus, bool, error) {
	return r.claimFor(ctx, call, agentID, false)
}

// ClaimSenior rings the longest-idle available senior operator for
// call, like ClaimAgent.
func (r *Router) ClaimSenior(ctx context.Context, call Call) (AgentStatus, bool, error) {
	return r.claimFor(ctx, call, "", true)
}

func (r *Router) claimFor(ctx context.Context, call Call, agentID string, senior bool) (AgentStatus, bool, error) {
	callID := call.ID
	a, err := r.q.ClaimFor(ctx, call, agentID, senior, r.timing())
	if errors.Is(err, ErrUnavailable) || (errors.Is(err, ErrNotFound) && !senior) {
		return AgentStatus{}, false, nil
	}
	if err != nil {
		return AgentStatus{}, false, fmt.Errorf("claim agent for %s: %w", callID, err)
	}
	// The call never queued: its path starts at the agent, so transfers
	// of it are checked like any other call's.
	entry := Hop{To: Destination{Kind: DestAgent, Name: a.ID}, At: r.clock.Now()}
	if err := r.cs.StartPath(ctx, callID, entry); err != nil {
		return a, true, fmt.Errorf("claim agent for %s: %w", callID, err)
	}
	return a, true, nil
}

// BeginTransfer starts an attended transfer. Pure rules first (note,
// blind mode), then one atomic path check (loop, hop limit, pending
// transfer) that records the pending hop, then the target is claimed.
// Every refusal is a *Refusal carrying the path.
func (r *Router) BeginTransfer(ctx context.Context, req TransferRequest) (Transfer, error) {
	p := r.opts.Policy
	tr := Transfer{ID: newID(), CallID: req.CallID, By: req.By, To: req.To, Note: req.Note}
	if code, msg := precheck(p, req); code != "" {
		if code == RefuseBlind && p.Blind == BlindConvert {
			tr.Converted = true
		} else {
			path, _ := r.cs.CallPath(ctx, req.CallID)
			return Transfer{}, &Refusal{Code: code, Message: msg, Path: path}
		}
	}
	pc, err := r.cs.CheckTransfer(ctx, req.CallID, PendingTransfer{ID: tr.ID, By: req.By, To: req.To, Note: req.Note, At: r.clock.Now()}, p.MaxHops)
	if err != nil {
		return Transfer{}, fmt.Errorf("begin transfer: %w", err)
	}
	tr.Path = pc.Path
	if pc.Refused != "" {
		return Transfer{}, &Refusal{Code: pc.Refused, Message: refusalMessage(pc.Refused, req.To, p.MaxHops), Path: pc.Path}
	}
	target, err := r.q.Claim(ctx, ClaimRequest{CallID: req.CallID, By: req.By, To: req.To, Exclude: pc.Agents}, r.timing())
	if err != nil {
		if derr := r.cs.DropTransfer(ctx, req.CallID, tr.ID); derr != nil {
			r.log.Warn("drop refused transfer", "call", req.CallID, "err", derr)
		}
		if errors.Is(err, ErrUnavailable) {
			return Transfer{}, &Refusal{Code: RefuseTargetUnavail, Message: refusalMessage(RefuseTargetUnavail, req.To, p.MaxHops), Path: pc.Path}
		}
		return Transfer{}, fmt.Errorf("begin transfer: %w", err)
	}
	tr.Target = target
	return tr, nil
}

// precheck applies the transfer rules that need no state.
func precheck(p Policy, req TransferRequest) (RefusalCode, string) {
	blind := "blind transfers are not allowed: the caller would be forwarded unannounced"
	// A refused blind transfer is refused as blind whatever its note: a
	// phone's REFER never carries one, and "note required" would tell the
	// agent to fix the wrong thing.
	if req.Mode == ModeBlind && p.Blind != BlindConvert {
		return RefuseBlind, blind
	}
	if n := utf8.RuneCountInString(strings.TrimSpace(req.Note)); n < p.MinNoteLength {
		return RefuseNoteRequired, fmt.Sprintf("a transfer needs a note of at least %d characters saying what the caller needs", p.MinNoteLength)
	}
	if req.Mode == ModeBlind {
		return RefuseBlind, blind // converted to attended by BeginTransfer
	}
	return "", ""
}

func refusalMessage(code RefusalCode, to Destination, maxHops int) string {
	switch code {
	case RefuseLoop:
		return fmt.Sprintf("%s is already on this call's path", to)
	case RefuseMaxHops:
		return fmt.Sprintf("the call has already been transferred the maximum %d times", maxHops)
	case RefuseTransferPending:
		return "another transfer of this call is in progress"
	case RefuseTargetUnavail:
		return fmt.Sprintf("no agent is available for %s", to)
	}
	return string(code)
}

// pendingFor returns the call's pending transfer if it is transferID.
func (r *Router) pendingFor(ctx context.Context, callID, transferID string) (PendingTransfer, Call, error) {
	p, ok, err := r.cs.Pending(ctx, callID)
	if err != nil {
		return PendingTransfer{}, Call{}, err
	}
	if !ok || p.ID != transferID {
		return PendingTransfer{}, Call{}, fmt.Errorf("transfer %s of call %s: %w", transferID, callID, ErrNotFound)
	}
	c, err := r.q.Call(ctx, callID)
	if err != nil {
		return PendingTransfer{}, Call{}, err
	}
	if c.State != CallConsulting || c.ConsultAgent == "" {
		return PendingTransfer{}, Call{}, fmt.Errorf("transfer %s of call %s: call is %s: %w", transferID, callID, c.State, ErrIllegalTransition)
	}
	return p, c, nil
}

// AcceptTransfer completes a transfer: the target talks to the caller,
// the hop joins the call's and the case's path, and the transferring agent
// goes to wrap-up. An error means the target is not connected; once the
// target is, failures to record the hop and who talked are retried once
// and logged, not returned.
func (r *Router) AcceptTransfer(ctx context.Context, callID, transferID string) error {
	p, c, err := r.pendingFor(ctx, callID, transferID)
	if err != nil {
		return fmt.Errorf("accept transfer: %w", err)
	}
	newTopic := ""
	if p.To.Kind == DestTopic {
		newTopic = p.To.Name
	}
	d, err := r.q.AcceptClaim(ctx, callID, c.ConsultAgent, newTopic, r.timing())
	if err != nil {
		return fmt.Errorf("accept transfer: %w", err)
	}
	r.deliver(d.Offers)
	r.kick()
	now := r.clock.Now()
	r.followUp(ctx, "accept transfer: commit hop", callID, func() error {
		_, err := r.cs.CommitTransfer(ctx, callID, c.CaseID, transferID, now)
		return err
	})
	r.followUp(ctx, "accept transfer: record target", callID, func() error {
		return r.cs.Talked(ctx, callID, c.CaseID, c.ConsultAgent, now)
	})
	return nil
}

// ConsultAnswered records that a transfer's target answered: the claim's
// ring deadline, which the sweep enforces in case this node dies, moves to
// until (the end of the consult's own time limit). Without it a consult
// longer than the ring timeout plus the sweep grace would lose its target.
func (r *Router) ConsultAnswered(ctx context.Context, callID, target string, until time.Time) error {
	if err := r.q.ConsultAnswered(ctx, callID, target, until, r.timing()); err != nil {
		return fmt.Errorf("consult answered: %w", err)
	}
	return nil
}

// CancelTransfer drops a pending transfer (declined, or the target did not
// answer): the caller stays with the transferring agent, the target is
// freed (or paused "no answer").
func (r *Router) CancelTransfer(ctx context.Context, callID, transferID string, noAnswer bool) error {
	_, c, err := r.pendingFor(ctx, callID, transferID)
	if err != nil {
		return fmt.Errorf("cancel transfer: %w", err)
	}
	d, err := r.q.ReleaseClaim(ctx, callID, c.ConsultAgent, noAnswer, r.timing())
	if err != nil {
		return fmt.Errorf("cancel transfer: %w", err)
	}
	r.deliver(d.Offers)
	if err := r.cs.DropTransfer(ctx, callID, transferID); err != nil {
		return fmt.Errorf("cancel transfer: %w", err)
	}
	return nil
}

// deliver hands offers for calls this node owns to Options.Deliver; the
// store has already published the others to their nodes.
func (r *Router) deliver(offers []Offer) {
	for _, o := range offers {
		if o.Node == r.opts.Node {
			r.deliverOne(o)
		}
	}
}

func (r *Router) deliverOne(o Offer) {
	if r.opts.Deliver == nil {
		return
	}
	unlock := r.deliverLocks.lock(o.CallID)
	defer unlock()
	r.dmu.Lock()
	r.delivered[o.CallID] = deliveredOffer{agent: o.Agent.ID, deadline: o.RingDeadline}
	r.dmu.Unlock()
	r.opts.Deliver(o)
}

type deliveredOffer struct {
	agent    string
	deadline time.Time
}

// RecoverOffers hands on the offers still ringing for this node's calls
// that never reached it. Another node's offer for a caller of this node
// travels over pub/sub, and a message published while this node was not
// subscribed (its connection to Redis just came back) is lost: the agent
// would stay ringing for nobody until the sweep (ring timeout plus
// SweepGrace). The store keeps every offer, so Run asks for them after
// each (re)subscription and with each heartbeat. It returns how many it
// recovered.
func (r *Router) RecoverOffers(ctx context.Context) (int, error) {
	now := r.clock.Now()
	pending, err := r.q.PendingOffers(ctx, r.opts.Node, now)
	if err != nil {
		return 0, fmt.Errorf("recover offers: %w", err)
	}
	r.dmu.Lock()
	for id, d := range r.delivered {
		if d.deadline.Before(now) {
			delete(r.delivered, id)
		}
	}
	var lost []Offer
	for _, o := range pending {
		if d, ok := r.delivered[o.CallID]; !ok || d.agent != o.Agent.ID || !d.deadline.Equal(o.RingDeadline) {
			lost = append(lost, o)
		}
	}
	r.dmu.Unlock()
	for _, o := range lost {
		r.log.Warn("offer recovered: its message never reached this node", "call", o.CallID, "agent", o.Agent.ID)
		r.deliverOne(o)
	}
	return len(lost), nil
}

// Tick does one round of due work: ends wrap-ups that are due and sweeps
// offers whose node died. It returns when the next work is due (zero if
// nothing is scheduled). Run calls it on timers; tests call it directly.
func (r *Router) Tick(ctx context.Context) (time.Time, error) {
	now := r.clock.Now()
	staleBefore := now.Add(-r.opts.SweepGrace)
	wrapDone, stale, next, err := r.q.DueWork(ctx, now, staleBefore)
	if err != nil {
		return time.Time{}, fmt.Errorf("tick: %w", err)
	}
	var errs []error
	for _, id := range wrapDone {
		if _, err := r.change(ctx, AgentChange{Op: OpWrapEnd, AgentID: id}); err != nil && !errors.Is(err, ErrNotFound) {
			errs = append(errs, err)
		}
	}
	for _, member := range stale {
		d, err := r.q.Sweep(ctx, member, staleBefore, r.timing())
		if err != nil {
			errs = append(errs, err)
			continue
		}
		r.log.Info("swept stale offer", "member", member, "agent", d.Agent.ID)
		r.deliver(d.Offers)
		if callID, ok := strings.CutPrefix(member, "x:"); ok {
			if p, ok, err := r.cs.Pending(ctx, callID); err == nil && ok {
				_ = r.cs.DropTransfer(ctx, callID, p.ID)
			}
		}
	}
	if len(wrapDone) > 0 || len(stale) > 0 {
		// More may be due than one round took; look again at once.
		next = now
	}
	return next, errors.Join(errs...)
}

// Heartbeat tells the store this node is alive for Options.HeartbeatTTL,
// so other nodes offer its waiting callers to agents. If it was not alive
// (first start, or back after its heartbeat lapsed) its callers were
// passed over meanwhile and nothing may free an agent for them soon:
// every topic is dispatched at once. Run calls it every
// Options.Heartbeat; tests call it directly.
func (r *Router) Heartbeat(ctx context.Context) error {
	now := r.clock.Now()
	revived, err := r.q.Heartbeat(ctx, r.opts.Node, now, now.Add(r.opts.HeartbeatTTL))
	if err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	if !revived {
		return nil
	}
	if err := r.Dispatch(ctx); err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	return nil
}

// Run receives offers other nodes made for this node's calls, ends
// wrap-ups and sweeps stale offers on timers from the store's due times,
// and keeps this node's heartbeat. It returns nil when ctx is done.
func (r *Router) Run(ctx context.Context) error {
	var offers <-chan Offer
	resub := time.NewTimer(0)
	defer resub.Stop()
	timer := time.NewTimer(0)
	defer timer.Stop()
	// The first heartbeat is at once: until it, other nodes pass over
	// this node's callers.
	beat := time.NewTimer(0)
	defer beat.Stop()
	backoff := 100 * time.Millisecond
	// A node that stops listening for offers says so at once, so peers do
	// not pair its callers with agents for the rest of the heartbeat's
	// lifetime (the offers would ring for nobody until swept).
	defer r.markStopped()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-beat.C:
			if err := r.Heartbeat(ctx); err != nil && ctx.Err() == nil {
				r.log.Warn("routing heartbeat", "err", err)
			}
			if _, err := r.RecoverOffers(ctx); err != nil && ctx.Err() == nil {
				r.log.Warn("routing", "err", err)
			}
			beat.Reset(r.opts.Heartbeat)
		case <-resub.C:
			ch, err := r.q.Offers(ctx, r.opts.Node)
			if err != nil {
				r.log.Warn("subscribe to offers", "err", err, "retry_in", backoff)
				resub.Reset(backoff)
				backoff = min(backoff*2, 5*time.Second)
				continue
			}
			backoff = 100 * time.Millisecond
			offers = ch
			// Offers published while we were not listening are lost:
			// the store still has them.
			if _, err := r.RecoverOffers(ctx); err != nil && ctx.Err() == nil {
				r.log.Warn("routing", "err", err)
			}
		case o, ok := <-offers:
			if !ok {
				offers = nil
				resub.Reset(backoff)
				continue
			}
			r.deliverOne(o)
		case <-r.wake:
			resetTimer(timer, 0)
		case <-timer.C:
			next, err := r.Tick(ctx)
			if err != nil && ctx.Err() == nil {
				r.log.Warn("routing tick", "err", err)
			}
			wait := r.opts.MaxIdleWait
			if !next.IsZero() {
				wait = min(wait, max(0, next.Sub(r.clock.Now())))
			}
			timer.Reset(wait)
		}
	}
}

// markStopped ends this node's heartbeat now rather than when it lapses.
func (r *Router) markStopped() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	now := r.clock.Now()
	if _, err := r.q.Heartbeat(ctx, r.opts.Node, now, now.Add(-time.Millisecond)); err != nil {
		r.log.Warn("routing: end heartbeat", "err", err)
	}
}

func resetTimer(t *time.Timer, d time.Duration) {
	t.Stop()
	t.Reset(d)
}

// keyedMutex serialises work per key (a call id) without one lock for all.
type keyedMutex struct {
	mu sync.Mutex
	m  map[string]*keyedEntry
}

type keyedEntry struct {
	mu sync.Mutex
	n  int
}

func (k *keyedMutex) lock(key string) (unlock func()) {
	k.mu.Lock()
	e := k.m[key]
	if e == nil {
		e = &keyedEntry{}
		k.m[key] = e
	}
	e.n++
	k.mu.Unlock()
	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		k.mu.Lock()
		e.n--
		if e.n == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
}
