package routing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// CallbackKind says why a callback exists and who may take it.
type CallbackKind string

// Callback kinds (docs/behaviour.md, Callbacks and Requests).
const (
	// CallbackQueue keeps the caller's place in a topic queue: the router
	// holds a queue entry carrying the callback id, and when that entry
	// reaches the head and an agent is claimed, the agent is dialled first.
	CallbackQueue CallbackKind = "queue"
	// CallbackOwner is dialled by the case owner and nobody else until its
	// deadline; past the deadline it is escalated to the senior operators.
	CallbackOwner CallbackKind = "owner"
	// CallbackSenior is taken by any available senior operator: an
	// escalated owner callback or a "let me speak to a manager" request.
	CallbackSenior CallbackKind = "senior"
)

// CallbackState is where a callback is in its life.
type CallbackState string

// Callback states. Completed, failed and escalated are final.
const (
	CallbackScheduled CallbackState = "scheduled"
	CallbackDialing   CallbackState = "dialing"
	CallbackCompleted CallbackState = "completed"
	CallbackFailed    CallbackState = "failed"
	CallbackEscalated CallbackState = "escalated"
)

// CallbackStates lists every state, for metrics that pre-create labels. It
// returns a new slice each time.
func CallbackStates() []CallbackState {
	return []CallbackState{CallbackScheduled, CallbackDialing, CallbackCompleted, CallbackFailed, CallbackEscalated}
}

// Final reports whether no further change can happen to a callback in s.
func (s CallbackState) Final() bool {
	return s == CallbackCompleted || s == CallbackFailed || s == CallbackEscalated
}

// Callback is a promise to call a caller back. It is durable: it lives in
// the store, and a node works on it only while it holds its lease.
//
// An escalated owner callback is not changed into a senior one: it ends in
// state escalated with EscalatedTo naming a new senior-kind callback (whose
// EscalatedFrom points back). That keeps each callback's history honest
// (who was supposed to call, until when) and the escalation count exact.
type Callback struct {
	ID, CaseID, Number, Topic, Lang, Owner, Note string
	Kind                                         CallbackKind
	State                                        CallbackState
	DueAt, Deadline                              time.Time // Deadline: owner kind only
	Attempts, MaxAttempts                        int       // Attempts counts failed attempts
	LeaseNode                                    string
	LeaseUntil                                   time.Time
	CreatedAt                                    time.Time

	// CallID is the call under which the router knows this callback: the
	// original call's id for the queue kind (its queue entry), the
	// callback's own id for the owner and senior kinds.
	CallID string
	// EnqueuedAt is the queue kind's place in line.
	EnqueuedAt                 time.Time
	EscalatedFrom, EscalatedTo string
	LastError                  string // reason given with the last failed attempt
	UpdatedAt                  time.Time
}

// call is the routing view of a callback being dialled: what the live views
// show while its agent rings and talks.
func (cb Callback) call() Call {
	return Call{ID: cb.CallID, CaseID: cb.CaseID, Topic: cb.Topic, CallerNumber: cb.Number, Lang: cb.Lang}
}

// CallbackFilter selects callbacks for List; empty fields match all.
type CallbackFilter struct {
	State, Owner string
	CaseID       string
}

// Match reports whether cb passes the filter.
func (f CallbackFilter) Match(cb Callback) bool {
	return (f.State == "" || string(cb.State) == f.State) &&
		(f.Owner == "" || cb.Owner == f.Owner) &&
		(f.CaseID == "" || cb.CaseID == f.CaseID)
}

// Errors of the callback service and store.
var (
	// ErrLeaseLost: this node does not hold the callback's lease (another
	// node took it over after it lapsed, or it was never ours). The caller
	// must not dial or complete it; retrying is not useful.
	ErrLeaseLost = errors.New("callback lease not held by this node")
	// ErrCallbackFinished: the callback is completed, failed or escalated.
	ErrCallbackFinished = errors.New("callback already finished")
	// ErrCallbackBusy: another node holds a live lease on the callback.
	ErrCallbackBusy = errors.New("callback leased by another node")
)

// ClaimedCallback is a callback this node has just leased (state dialing).
type ClaimedCallback struct {
	Callback
	PrevState CallbackState // state before the claim
	PrevNode  string        // lease holder before the claim; set on a takeover
}

// TookOver reports whether the claim took a lapsed lease from another node.
func (c ClaimedCallback) TookOver() bool {
	return c.PrevState == CallbackDialing && c.PrevNode != c.LeaseNode
}

// Escalation is one owner callback escalated to the senior operators.
type Escalation struct{ From, To Callback }

// CallbackStore keeps callbacks durable and arbitrates between nodes. Every
// method that changes a callback is one atomic operation; the lease rules
// (only the holder completes, fails or releases; a lapsed lease may be taken
// by anyone) are enforced by the store, not by the caller.
type CallbackStore interface {
	// CreateCallback stores cb. With a non-empty dedupeKey, an unfinished
	// callback already stored under that key is returned instead (created
	// false), so a repeated key press or API retry makes no second callback.
	// inDue puts it in the due index at cb.DueAt.
	CreateCallback(ctx context.Context, cb Callback, dedupeKey string, inDue bool) (Callback, bool, error)
	GetCallback(ctx context.Context, id string) (Callback, error)
	ListCallbacks(ctx context.Context, f CallbackFilter) ([]Callback, error)
	// ClaimDueCallbacks leases up to max callbacks that are scheduled and
	// due at now, or dialing with a lease that lapsed at now.
	ClaimDueCallbacks(ctx context.Context, node string, now, leaseUntil time.Time, max int) ([]ClaimedCallback, error)
	// ClaimCallback leases one callback: scheduled, or dialing under this
	// node's lease or a lapsed one. ErrCallbackBusy, ErrCallbackFinished.
	ClaimCallback(ctx context.Context, id, node string, now, leaseUntil time.Time) (ClaimedCallback, error)
	// RenewCallbackLeases extends this node's leases; it returns the ids
	// whose lease this node no longer holds.
	RenewCallbackLeases(ctx context.Context, node string, leaseUntil time.Time, ids []string) ([]string, error)
	// ReleaseCallback gives a lease back without counting an attempt: the
	// callback is scheduled again, due at due, or (due zero) parked as a
	// router queue entry that only an offer claims.
	ReleaseCallback(ctx context.Context, id, node string, now, due time.Time) (Callback, error)
	// ParkCallback takes a scheduled callback out of the due index if it is
	// still due at due (its queue entry is in place).
	ParkCallback(ctx context.Context, id string, due time.Time) error
	// CompleteCallback marks it completed. Idempotent for the node that
	// completed it (changed false); ErrLeaseLost for any other node.
	CompleteCallback(ctx context.Context, id, node string, now time.Time) (Callback, bool, error)
	// FailCallbackAttempt counts a failed attempt: scheduled again at
	// retryAt, or failed once Attempts reaches MaxAttempts.
	FailCallbackAttempt(ctx context.Context, id, node string, now, retryAt time.Time, reason string) (Callback, error)
	// EscalateOverdueCallbacks escalates up to max scheduled owner
	// callbacks whose deadline passed at now, each to a new senior callback
	// due at now with maxAttempts.
	EscalateOverdueCallbacks(ctx context.Context, now time.Time, maxAttempts, max int) ([]Escalation, error)
}

var _ callbackRouter = (*Router)(nil)

// callbackRouter is what the callback service needs from the Router.
// *Router implements it; tests use a fake.
type callbackRouter interface {
	// Case returns a case, for the caller's number, topic and language.
	Case(ctx context.Context, id string) (Case, error)
	// Enqueue puts (or keeps) a call in its topic queue. For a call already
	// queued it keeps the place and sets CallbackID; a call re-queued after
	// leaving keeps its place by EnqueuedAt.
	Enqueue(ctx context.Context, c Call) (QueueInfo, error)
	// Leave drops a queue entry and releases an agent claimed for it.
	Leave(ctx context.Context, callID string) error
	// ClaimAgent moves agentID from available to ringing for callID; ok
	// false (no error) when the agent is not available.
	ClaimAgent(ctx context.Context, agentID string, call Call) (AgentStatus, bool, error)
	// ClaimSenior claims the longest-idle available senior operator.
	ClaimSenior(ctx context.Context, call Call) (AgentStatus, bool, error)
}

// CallbackOptions configure the callback service.
type CallbackOptions struct {
	Node   string
	Clock  Clock
	Logger *slog.Logger
	Policy Policy
	// Lease is how long a claim lasts without renewal; a node that dies
	// holds a callback at most this long. Default 30s.
	Lease time.Duration
	// Dial is called when a callback has claimed its agent: dial the agent
	// first, then the caller. The callee reports the outcome with Completed
	// or AttemptFailed, and owns the agent's state from here on (Answered,
	// EndCall, NoAnswer on the router). It must not block.
	Dial func(Callback, AgentStatus)
	// OnState is called after every state change a person would see:
	// created (scheduled), dialing (agent claimed, Dial about to be called),
	// rescheduled after a failed attempt, completed, failed, escalated and
	// the senior callback it created. Internal lease churn (a claim given
	// back because the agent was busy) is not reported. Must not block.
	OnState func(Callback)
	// Interval between Run's passes. Default 1s.
	Interval time.Duration
	// Retry is how soon a callback whose agent was not available is tried
	// again. Default 15s.
	Retry time.Duration
	// Batch caps the callbacks claimed in one pass. Default 16.
	Batch int
}

// Callbacks is the callback service: it creates callbacks, runs due ones on
// this node under a lease, and escalates overdue owner callbacks.
type Callbacks struct {
	store  CallbackStore
	router callbackRouter
	opts   CallbackOptions
	log    *slog.Logger

	mu   sync.Mutex
	held map[string]struct{} // callbacks this node is dialling; leases renewed by Run
}

// NewCallbacks wires the service. router is normally the *Router.
func NewCallbacks(store CallbackStore, router callbackRouter, opts CallbackOptions) *Callbacks {
	if opts.Clock == nil {
		opts.Clock = SystemClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Lease <= 0 {
		opts.Lease = 30 * time.Second
	}
	if opts.Interval <= 0 {
		opts.Interval = time.Second
	}
	if opts.Retry <= 0 {
		opts.Retry = 15 * time.Second
	}
	if opts.Batch <= 0 {
		opts.Batch = 16
	}
	if opts.Policy.CallbackAttempts <= 0 {
		opts.Policy.CallbackAttempts = 1
	}
	if opts.Dial == nil {
		opts.Dial = func(Callback, AgentStatus) {}
	}
	if opts.OnState == nil {
		opts.OnState = func(Callback) {}
	}
	return &Callbacks{
		store:  store,
		router: router,
		opts:   opts,
		log:    opts.Logger.With("node", opts.Node), // the wiring names the component
		held:   make(map[string]struct{}),
	}
}

// Reasons OfferCallback gives for offering a callback.
const (
	OfferReasonClosed   = "closed"
	OfferReasonNoAgents = "no_agents"
	OfferReasonLongWait = "long_wait"
)

// OfferCallback decides whether a caller is offered a callback, and why:
// the topic is closed, no agent for it is logged in, or the estimated wait
// is above the policy's threshold (a zero threshold: any wait at all).
func OfferCallback(p Policy, q QueueInfo, open bool) (reason string, ok bool) {
	switch {
	case !open:
		return OfferReasonClosed, true
	case q.AgentsLoggedIn == 0:
		return OfferReasonNoAgents, true
	case q.EstimatedWait > p.OfferWaitThreshold:
		return OfferReasonLongWait, true
	}
	return "", false
}

func (c *Callbacks) now() time.Time { return c.opts.Clock.Now() }

// KeepPosition turns a queued caller's place into a callback: the caller may
// hang up, and when the entry reaches the head of the queue and an agent is
// claimed, the offer (Offer.CallbackID set) goes to Offered, which dials.
// With Policy.KeepPosition false the callback joins the queue's tail now.
//
// After it returns, the caller's hangup must not be reported with
// Router.Leave: that would drop the kept place. Pressing the key twice
// returns the same callback.
func (c *Callbacks) KeepPosition(ctx context.Context, call Call) (Callback, error) {
	now := c.now()
	enq := call.EnqueuedAt
	if !c.opts.Policy.KeepPosition || enq.IsZero() {
		enq = now
	}
	cb := Callback{
		ID: "cb-" + newID(), CaseID: call.CaseID, Number: call.CallerNumber,
		Topic: call.Topic, Lang: call.Lang, Kind: CallbackQueue, State: CallbackScheduled,
		// Due after Retry: if this node dies before the queue entry is
		// marked, a peer's Run re-enqueues it then.
		DueAt:       now.Add(c.opts.Retry),
		MaxAttempts: c.opts.Policy.CallbackAttempts,
		CreatedAt:   now, UpdatedAt: now,
		CallID: call.ID, EnqueuedAt: enq,
	}
	cb, created, err := c.store.CreateCallback(ctx, cb, "call:"+call.ID, true)
	if err != nil {
		return Callback{}, fmt.Errorf("keep position: %w", err)
	}
	if !created {
		return cb, nil
	}
	c.opts.OnState(cb)
	if _, err := c.router.Enqueue(ctx, c.queueCall(cb)); err != nil {
		// The callback is durable and due soon: Run will enqueue it.
		c.log.Warn("keep position: enqueue failed, left to the next pass", "callback", cb.ID, "err", err)
		return cb, nil
	}
	if err := c.store.ParkCallback(ctx, cb.ID, cb.DueAt); err != nil {
		c.log.Warn("keep position: park", "callback", cb.ID, "err", err)
	}
	return cb, nil
}

// KeepPositionAt keeps a caller's place for a topic that is closed now:
// a queue-kind callback due at due (when the topic opens), which joins the
// queue only then — Run claims it and puts it in line, ordered by the
// caller's EnqueuedAt among the others kept overnight. Asking again for
// the same call returns the same callback.
func (c *Callbacks) KeepPositionAt(ctx context.Context, call Call, due time.Time) (Callback, error) {
	now := c.now()
	if due.Before(now) {
		due = now
	}
	enq := call.EnqueuedAt
	if enq.IsZero() {
		enq = now
	}
	cb := Callback{
		ID: "cb-" + newID(), CaseID: call.CaseID, Number: call.CallerNumber,
		Topic: call.Topic, Lang: call.Lang, Kind: CallbackQueue, State: CallbackScheduled,
		DueAt: due, MaxAttempts: c.opts.Policy.CallbackAttempts,
		CreatedAt: now, UpdatedAt: now,
		CallID: call.ID, EnqueuedAt: enq,
	}
	return c.create(ctx, "keep position at opening", cb, "call:"+call.ID)
}

func (c *Callbacks) queueCall(cb Callback) Call {
	return Call{
		ID: cb.CallID, CaseID: cb.CaseID, Topic: cb.Topic, CallerNumber: cb.Number,
		Lang: cb.Lang, Node: c.opts.Node, State: CallQueued, EnqueuedAt: cb.EnqueuedAt, CallbackID: cb.ID,
	}
}

// ScheduleOwner schedules a callback by the case owner at due (docs/behaviour.md, Callbacks: a
// refused transfer leaves the owner to call back). An empty note takes the
// case's note. If the owner is not free to dial it before due plus
// Policy.OwnerDeadline it is escalated to the senior operators. A case has
// at most one unfinished owner callback; asking again returns it.
func (c *Callbacks) ScheduleOwner(ctx context.Context, caseID, owner string, due time.Time, note string) (Callback, error) {
	if owner == "" {
		return Callback{}, fmt.Errorf("schedule owner callback: %w", &ValidationError{Field: "owner", Reason: "required"})
	}
	cs, err := c.router.Case(ctx, caseID)
	if err != nil {
		return Callback{}, fmt.Errorf("schedule owner callback: %w", err)
	}
	now := c.now()
	if due.Before(now) {
		due = now
	}
	if note == "" {
		note = cs.Note
	}
	cb := Callback{
		ID: "cb-" + newID(), CaseID: cs.ID, Number: cs.CallerNumber, Topic: cs.Topic, Lang: cs.Lang,
		Owner: owner, Note: note, Kind: CallbackOwner, State: CallbackScheduled,
		DueAt: due, MaxAttempts: c.opts.Policy.CallbackAttempts, CreatedAt: now, UpdatedAt: now,
	}
	if c.opts.Policy.OwnerDeadline > 0 {
		cb.Deadline = due.Add(c.opts.Policy.OwnerDeadline)
	}
	cb.CallID = cb.ID
	return c.create(ctx, "schedule owner callback", cb, "owner:"+cs.ID)
}

// EscalateToSenior asks the senior operators to call the caller back, with
// the note ("let me speak to a manager", docs/behaviour.md, Requests). It is due at once. A
// case has at most one unfinished senior callback; asking again returns it.
func (c *Callbacks) EscalateToSenior(ctx context.Context, caseID, note string) (Callback, error) {
	cs, err := c.router.Case(ctx, caseID)
	if err != nil {
		return Callback{}, fmt.Errorf("escalate to senior: %w", err)
	}
	now := c.now()
	if note == "" {
		note = cs.Note
	}
	cb := Callback{
		ID: "cb-" + newID(), CaseID: cs.ID, Number: cs.CallerNumber, Topic: cs.Topic, Lang: cs.Lang,
		Note: note, Kind: CallbackSenior, State: CallbackScheduled,
		DueAt: now, MaxAttempts: c.opts.Policy.CallbackAttempts, CreatedAt: now, UpdatedAt: now,
	}
	cb.CallID = cb.ID
	return c.create(ctx, "escalate to senior", cb, "senior:"+cs.ID)
}

func (c *Callbacks) create(ctx context.Context, op string, cb Callback, dedupe string) (Callback, error) {
	cb, created, err := c.store.CreateCallback(ctx, cb, dedupe, true)
	if err != nil {
		return Callback{}, fmt.Errorf("%s: %w", op, err)
	}
	if created {
		c.opts.OnState(cb)
	}
	return cb, nil
}

// Offered handles a router offer whose queue entry is a kept-position
// callback (Offer.CallbackID set): it leases the callback and calls Dial
// with the claimed agent. If the callback cannot be leased (finished, or
// another node is on it) the entry is dropped with Router.Leave, which
// releases the agent, and the error says why. Wire it into Options.Deliver.
func (c *Callbacks) Offered(ctx context.Context, o Offer) error {
	if o.CallbackID == "" {
		return fmt.Errorf("callback offer %s: %w", o.CallID, ErrNotFound)
	}
	now := c.now()
	cc, err := c.store.ClaimCallback(ctx, o.CallbackID, c.opts.Node, now, now.Add(c.opts.Lease))
	if err != nil {
		if errors.Is(err, ErrCallbackFinished) || errors.Is(err, ErrCallbackBusy) || errors.Is(err, ErrNotFound) {
			if lerr := c.router.Leave(ctx, o.CallID); lerr != nil {
				c.log.Warn("callback offer: leave", "callback", o.CallbackID, "call", o.CallID, "err", lerr)
			}
		}
		return fmt.Errorf("callback offer %s: %w", o.CallbackID, err)
	}
	c.dial(cc, o.Agent)
	return nil
}

func (c *Callbacks) dial(cc ClaimedCallback, agent AgentStatus) {
	c.mu.Lock()
	c.held[cc.ID] = struct{}{}
	c.mu.Unlock()
	if cc.PrevState != CallbackDialing || cc.TookOver() {
		c.opts.OnState(cc.Callback)
	}
	c.log.Info("callback dialing", "callback", cc.ID, "kind", cc.Kind, "agent", agent.ID, "took_over_from", cc.PrevNode)
	c.opts.Dial(cc.Callback, agent)
}

func (c *Callbacks) drop(id string) {
	c.mu.Lock()
	delete(c.held, id)
	c.mu.Unlock()
}

// Completed records that the agent and the caller were connected. Calling
// it again on the node that completed it is a no-op; on any other node, or
// after another node took the callback over, it fails with ErrLeaseLost.
func (c *Callbacks) Completed(ctx context.Context, id string) error {
	cb, changed, err := c.store.CompleteCallback(ctx, id, c.opts.Node, c.now())
	if err != nil {
		if errors.Is(err, ErrLeaseLost) {
			c.drop(id)
		}
		return fmt.Errorf("complete callback %s: %w", id, err)
	}
	c.drop(id)
	if changed {
		c.opts.OnState(cb)
	}
	return nil
}

// AttemptFailed records a failed attempt (the caller did not answer, the
// agent's leg failed): the callback is tried again Policy.CallbackSpacing
// later, or fails after its last attempt. A queue-kind callback goes back
// to its place in the queue when it is due again.
func (c *Callbacks) AttemptFailed(ctx context.Context, id, reason string) error {
	now := c.now()
	cb, err := c.store.FailCallbackAttempt(ctx, id, c.opts.Node, now, now.Add(c.opts.Policy.CallbackSpacing), reason)
	if err != nil {
		if errors.Is(err, ErrLeaseLost) {
			c.drop(id)
		}
		return fmt.Errorf("callback attempt failed %s: %w", id, err)
	}
	c.drop(id)
	c.opts.OnState(cb)
	return nil
}

// AgentMissed gives a dialling callback back without counting an attempt:
// the agent's leg failed or was not answered, so the caller was never
// tried. It is due again after Retry (an owner callback still escalates at
// its deadline). A queue-kind callback needs it only when the router did
// not keep its entry: Router.NoAnswer keeps the place and offers the next
// agent by itself.
func (c *Callbacks) AgentMissed(ctx context.Context, id string) error {
	now := c.now()
	if _, err := c.store.ReleaseCallback(ctx, id, c.opts.Node, now, now.Add(c.opts.Retry)); err != nil {
		if errors.Is(err, ErrLeaseLost) {
			c.drop(id)
		}
		return fmt.Errorf("callback agent missed %s: %w", id, err)
	}
	c.drop(id)
	return nil
}

// List returns callbacks matching f, oldest first.
func (c *Callbacks) List(ctx context.Context, f CallbackFilter) ([]Callback, error) {
	cbs, err := c.store.ListCallbacks(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("list callbacks: %w", err)
	}
	return cbs, nil
}

// Get returns one callback; ErrNotFound if there is none.
func (c *Callbacks) Get(ctx context.Context, id string) (Callback, error) {
	cb, err := c.store.GetCallback(ctx, id)
	if err != nil {
		return Callback{}, fmt.Errorf("get callback %s: %w", id, err)
	}
	return cb, nil
}

// Run makes a pass every Interval until ctx is done: renews this node's
// leases, escalates overdue owner callbacks, and claims due callbacks
// (including ones whose holder died and let the lease lapse). Leases held
// when it returns are left to lapse, so a peer finishes them.
func (c *Callbacks) Run(ctx context.Context) error {
	t := time.NewTicker(c.opts.Interval)
	defer t.Stop()
	for {
		if err := c.Tick(ctx); err != nil && ctx.Err() == nil {
			c.log.Warn("callback pass", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Tick is one pass of Run. Tests and tools drive it directly.
func (c *Callbacks) Tick(ctx context.Context) error {
	var errs []error
	if err := c.renew(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := c.escalate(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := c.claimDue(ctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (c *Callbacks) renew(ctx context.Context) error {
	c.mu.Lock()
	ids := make([]string, 0, len(c.held))
	for id := range c.held {
		ids = append(ids, id)
	}
	c.mu.Unlock()
	if len(ids) == 0 {
		return nil
	}
	lost, err := c.store.RenewCallbackLeases(ctx, c.opts.Node, c.now().Add(c.opts.Lease), ids)
	if err != nil {
		return fmt.Errorf("renew callback leases: %w", err)
	}
	for _, id := range lost {
		c.log.Warn("callback lease lost", "callback", id)
		c.drop(id)
	}
	return nil
}

func (c *Callbacks) escalate(ctx context.Context) error {
	escs, err := c.store.EscalateOverdueCallbacks(ctx, c.now(), c.opts.Policy.CallbackAttempts, c.opts.Batch)
	if err != nil {
		return fmt.Errorf("escalate overdue callbacks: %w", err)
	}
	for _, e := range escs {
		c.log.Info("owner callback escalated", "callback", e.From.ID, "owner", e.From.Owner, "senior_callback", e.To.ID)
		c.opts.OnState(e.From)
		c.opts.OnState(e.To)
	}
	return nil
}

func (c *Callbacks) claimDue(ctx context.Context) error {
	now := c.now()
	claimed, err := c.store.ClaimDueCallbacks(ctx, c.opts.Node, now, now.Add(c.opts.Lease), c.opts.Batch)
	if err != nil {
		return fmt.Errorf("claim due callbacks: %w", err)
	}
	var errs []error
	for _, cc := range claimed {
		if err := c.start(ctx, cc); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// start acts on a callback this node has just leased.
func (c *Callbacks) start(ctx context.Context, cc ClaimedCallback) error {
	var (
		agent AgentStatus
		ok    bool
		err   error
	)
	switch cc.Kind {
	case CallbackQueue:
		return c.requeue(ctx, cc)
	case CallbackOwner:
		agent, ok, err = c.router.ClaimAgent(ctx, cc.Owner, cc.call())
	case CallbackSenior:
		agent, ok, err = c.router.ClaimSenior(ctx, cc.call())
	default:
		err = fmt.Errorf("unknown kind %q", cc.Kind)
	}
	if err != nil || !ok {
		// The owner past the deadline is escalated by the next pass.
		if err != nil {
			err = fmt.Errorf("claim agent for callback %s: %w", cc.ID, err)
		}
		return c.release(ctx, cc, c.now().Add(c.opts.Retry), err)
	}
	c.dial(cc, agent)
	return nil
}

// requeue puts a queue-kind callback back in its place in line. The lease
// only decided which node does it: it is given back first (due again after
// Retry, in case this node dies before the entry is in place), because the
// router may deliver the entry's offer to Offered before Enqueue returns,
// and that claim must find the callback scheduled. Once the entry is in
// place the callback is parked, unless the offer has claimed it already.
func (c *Callbacks) requeue(ctx context.Context, cc ClaimedCallback) error {
	safety := c.now().Add(c.opts.Retry)
	if err := c.release(ctx, cc, safety, nil); err != nil {
		return err
	}
	if _, err := c.router.Enqueue(ctx, c.queueCall(cc.Callback)); err != nil {
		return fmt.Errorf("requeue callback %s: %w", cc.ID, err)
	}
	if err := c.store.ParkCallback(ctx, cc.ID, safety); err != nil {
		return fmt.Errorf("requeue callback %s: %w", cc.ID, err)
	}
	return nil
}

func (c *Callbacks) release(ctx context.Context, cc ClaimedCallback, due time.Time, cause error) error {
	if _, err := c.store.ReleaseCallback(ctx, cc.ID, c.opts.Node, c.now(), due); err != nil {
		return errors.Join(cause, fmt.Errorf("release callback %s: %w", cc.ID, err))
	}
	return cause
}
