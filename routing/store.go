package routing

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// BlindPolicy says what happens to a blind transfer request.
type BlindPolicy string

// Blind transfer policies (docs/behaviour.md, Transfers).
const (
	BlindRefuse  BlindPolicy = "refuse"
	BlindConvert BlindPolicy = "convert"
)

// Policy is the configured behaviour of routing, transfers and callbacks.
type Policy struct {
	RingTimeout   time.Duration
	WrapUp        time.Duration
	MaxHops       int
	MinNoteLength int
	Blind         BlindPolicy
	// OfferWaitThreshold is the estimated wait above which a callback is
	// offered; zero offers one to every caller told a wait at all.
	OfferWaitThreshold time.Duration
	// HandleTimes are the topics' starting mean handle times, used in wait
	// estimates until calls have measured one (a fresh install, a new
	// topic, an emptied Redis); DefaultHandleTime serves topics not listed.
	HandleTimes       map[string]time.Duration
	DefaultHandleTime time.Duration

	CallbackAttempts int
	CallbackSpacing  time.Duration
	OwnerDeadline    time.Duration
	KeepPosition     bool
}

// Options wires a Router.
type Options struct {
	Node   string
	Clock  Clock
	Logger *slog.Logger
	Policy Policy
	// Deliver is called (never concurrently for the same call) for every
	// offer whose call this node owns. It must not block for long, and
	// must not call back into the Router for the same call before it
	// returns (hand the offer to the call's own goroutine): it runs inside
	// whatever freed the agent — an API request, an enqueue, Run.
	Deliver func(Offer)
	// SweepGrace is how long past its ring deadline an offer may stay
	// unanswered before any node assumes the owning node died and puts the
	// caller back in place. Zero means 30 s.
	SweepGrace time.Duration
	// MaxIdleWait caps how long Run sleeps between looking at the store's
	// due times, so wrap-ups ended by other nodes' calls are noticed. Zero
	// means 1 s.
	MaxIdleWait time.Duration
	// Heartbeat is how often Run tells the store this node is alive.
	// Callers of a node whose heartbeat lapsed are not offered (nobody
	// would ring the agent for them) but keep their places until it is
	// back. Zero means 5 s.
	Heartbeat time.Duration
	// HeartbeatTTL is how long one heartbeat keeps the node alive: a few
	// intervals, so one slow or lost heartbeat does not pass the node
	// over, and more than the clock skew between nodes. Zero means three
	// Heartbeat intervals.
	HeartbeatTTL time.Duration
}

// CallState is where a call is in the routing core.
type CallState string

// Call states.
const (
	CallQueued     CallState = "queued"
	CallRinging    CallState = "ringing"
	CallConnected  CallState = "connected"
	CallConsulting CallState = "consulting"
	CallEnded      CallState = "ended"
)

// Call is a caller known to the routing core: queued, ringing an agent or
// talking to one.
type Call struct {
	ID           string
	CaseID       string
	Topic        string
	CallerNumber string
	Lang         string
	Node         string // node whose Asterisk holds the caller's channel
	AgentID      string // agent offered or talking to the caller
	State        CallState
	EnqueuedAt   time.Time // the caller's place in line; kept on re-queue
	CallbackID   string
	// ConsultAgent is the transfer target being rung while State is
	// CallConsulting.
	ConsultAgent string
}

// QueueInfo is what a waiting caller is told.
type QueueInfo struct {
	Position        int // 1-based; 0 when no longer queued (offered)
	EstimatedWait   time.Duration
	AgentsLoggedIn  int
	AgentsAvailable int
	// HandleTime is the topic's measured mean handle time (0 until a call
	// has ended): the store reports it, the Router estimates from it.
	HandleTime time.Duration
}

// Offer is a caller paired with an agent that must now be rung.
type Offer struct {
	CallID       string
	CaseID       string
	Topic        string
	Node         string
	Agent        AgentStatus
	RingDeadline time.Time
	// CallbackID is set when the queue entry is a kept-position callback:
	// dial the agent first, then the caller.
	CallbackID string
}

// TransferRequest is an agent asking to move their caller elsewhere.
type TransferRequest struct {
	CallID string
	By     string // agent id
	To     Destination
	Note   string
	Mode   TransferMode
}

// Transfer is a transfer in progress: the path check passed and a target
// agent is claimed (ringing).
type Transfer struct {
	ID        string
	CallID    string
	By        string
	To        Destination
	Target    AgentStatus
	Converted bool // a blind request converted to attended
	Path      []Hop
	Note      string // what the caller needs, for the target's desk and whisper
}

// CaseFilter selects cases; empty fields match everything.
type CaseFilter struct {
	Status CaseStatus
	Owner  string
}

// TopicStats is the live picture of one topic, for wait estimates.
type TopicStats struct {
	Topic           string
	Queued          int
	AgentsLoggedIn  int
	AgentsAvailable int
	// HandleTime is the exponentially weighted mean talk time of the
	// topic's calls; zero until a call has ended.
	HandleTime time.Duration
}

// AgentOp is a transition asked of the store.
type AgentOp string

// Agent operations the store applies atomically.
const (
	OpLogin    AgentOp = "login"
	OpPause    AgentOp = "pause"
	OpResume   AgentOp = "resume"
	OpLogout   AgentOp = "logout"
	OpAnswered AgentOp = "answered" // ringing → on_call
	OpNoAnswer AgentOp = "noanswer" // ringing → paused "no answer"; caller back in place
	OpRelease  AgentOp = "release"  // ringing → free (or the pause asked for); caller back in place
	OpEndCall  AgentOp = "endcall"  // on_call → wrap_up (or straight to free if no wrap-up)
	OpWrapEnd  AgentOp = "wrapend"  // wrap_up → available/paused once due
)

// AgentChange asks the store for one agent transition.
type AgentChange struct {
	Op      AgentOp
	AgentID string
	CallID  string // the call the op is about (answered, noanswer, endcall)
	Reason  string // pause reason
	// Topics are the topics whose queues may need dispatch if the agent
	// (or, for noanswer, the caller) ends up free. Stores that need keys
	// up front use them; the agent's own topics are added by the store.
	Topics []string
}

// Decision carries what an atomic store operation decided: the state of
// the agent it acted on and every offer it made on the way.
type Decision struct {
	Agent  AgentStatus
	Call   Call
	Offers []Offer
}

// Timing is the per-decision parameters the store needs from the policy.
type Timing struct {
	Now         time.Time
	RingTimeout time.Duration
	WrapUp      time.Duration
	Node        string // the node making the decision; offers for others are published
}

// Entry is a call joining its topic's queue.
type Entry struct {
	Call Call
	// Hop is the call's entry hop: the start of its transfer path unless
	// it has one already.
	Hop Hop
	// NewCase, when set, is a first-time caller's case (Call.CaseID names
	// it), created with the enqueue rather than in a round trip of its
	// own before it: the store that holds cases and queues writes both.
	NewCase *Case
}

// ClaimRequest asks the store to claim a transfer target for a call.
type ClaimRequest struct {
	CallID  string
	By      string // the agent talking to the caller
	To      Destination
	Exclude []string // agents already on the path
}

// QueueStore holds agents, queues, offers and wrap-up timers. Every method
// that pairs a caller with an agent does so in one atomic operation, so any
// number of nodes can share one store.
type QueueStore interface {
	// SyncAgents upserts the configured agents, keeping live state. Agents
	// not in the list are taken off duty: deleted at once if idle, or when
	// their current call (ringing, talking, wrap-up) ends.
	SyncAgents(ctx context.Context, agents []Agent, now time.Time) error
	Agent(ctx context.Context, id string) (AgentStatus, error)
	Agents(ctx context.Context) ([]AgentStatus, error)
	// Change applies one agent transition; illegal ones wrap
	// ErrIllegalTransition, unknown agents ErrNotFound.
	Change(ctx context.Context, ch AgentChange, t Timing) (Decision, error)
	// Enqueue adds the entry's call to its topic's queue, keeping a place
	// it already has, records the call's entry hop, creates the entry's
	// new case if it has one, then dispatches the topic: one round trip.
	Enqueue(ctx context.Context, e Entry, t Timing) (Decision, QueueInfo, error)
	// Dispatch pairs the topics' first callers of live nodes with free
	// agents.
	Dispatch(ctx context.Context, topics []string, t Timing) ([]Offer, error)
	// Leave removes a queued or ringing caller; a ringing agent is freed.
	Leave(ctx context.Context, callID string, t Timing) (Decision, error)
	Call(ctx context.Context, id string) (Call, error)
	ActiveCalls(ctx context.Context) ([]Call, error)
	// QueuePosition and TopicStats count only callers of live nodes (the
	// heartbeats as of t.Now): a dead node's callers are not ahead of
	// anyone.
	QueuePosition(ctx context.Context, callID string, t Timing) (position int, stats TopicStats, err error)
	// TakeOver gives t.Node a dead node's waiting caller (ErrIllegalTransition
	// if the node is alive or the caller not waiting).
	TakeOver(ctx context.Context, callID string, t Timing) (Call, Decision, error)
	TopicStats(ctx context.Context, topic string, t Timing) (TopicStats, error)
	// Claim rings a transfer target for a connected call: the named agent
	// if available, or the longest-idle available agent of the topic not
	// in Exclude. ErrUnavailable when there is none.
	Claim(ctx context.Context, req ClaimRequest, t Timing) (AgentStatus, error)
	// ClaimFor rings an agent for a call that is in no queue (a callback
	// dialled agent first): agentID if available, or with senior the
	// longest-idle available senior operator. ErrUnavailable when none.
	ClaimFor(ctx context.Context, call Call, agentID string, senior bool, t Timing) (AgentStatus, error)
	// AcceptClaim connects the claimed target; the agent who transferred
	// goes to wrap-up. newTopic, if set, becomes the call's topic.
	AcceptClaim(ctx context.Context, callID, target, newTopic string, t Timing) (Decision, error)
	// ConsultAnswered moves a claimed target's ring deadline to until:
	// the target answered and the consult is timed from there.
	ConsultAnswered(ctx context.Context, callID, target string, until time.Time, t Timing) error
	// ReleaseClaim frees the claimed target (paused "no answer" if
	// noAnswer); the caller stays with the agent who transferred.
	ReleaseClaim(ctx context.Context, callID, target string, noAnswer bool, t Timing) (Decision, error)
	// DueWork lists agents whose wrap-up ended and offers whose ring
	// deadline passed before staleBefore, and the earliest future due time.
	DueWork(ctx context.Context, now, staleBefore time.Time) (wrapDone []string, stale []string, next time.Time, err error)
	// PendingOffers lists the offers still ringing (deadline after now)
	// for calls of node: the published ones a node may have missed.
	PendingOffers(ctx context.Context, node string, now time.Time) ([]Offer, error)
	// Sweep puts a stale offer's caller back in place and frees the agent;
	// member is one of DueWork's stale entries.
	Sweep(ctx context.Context, member string, staleBefore time.Time, t Timing) (Decision, error)
	// Offers returns offers published for node until ctx is done.
	Offers(ctx context.Context, node string) (<-chan Offer, error)
	// Heartbeat records that node runs until expires; pairing skips the
	// queued callers of nodes whose heartbeat lapsed. revived is true when
	// the node had no live heartbeat at now.
	Heartbeat(ctx context.Context, node string, now, expires time.Time) (revived bool, err error)
}

// PendingTransfer is a transfer whose path check passed, not yet accepted.
type PendingTransfer struct {
	ID   string
	By   string
	To   Destination
	Note string
	At   time.Time
}

// PathCheck is the outcome of the atomic transfer path check.
type PathCheck struct {
	Refused RefusalCode // empty when the pending hop was recorded
	Path    []Hop
	// Agents are every agent who had the caller: never transfer targets.
	Agents []string
}

// CaseStore holds cases, each call's transfer path and pending transfers.
type CaseStore interface {
	CreateCase(ctx context.Context, c Case) error
	Case(ctx context.Context, id string) (Case, error)
	// OpenCaseByNumber finds the open case of a caller number.
	OpenCaseByNumber(ctx context.Context, number string) (Case, bool, error)
	Cases(ctx context.Context, f CaseFilter) ([]Case, error)
	SetNote(ctx context.Context, caseID, note string, now time.Time) error
	// Rate records the first rating only; counted is false for repeats.
	Rate(ctx context.Context, caseID string, score int, now time.Time) (counted bool, err error)
	// CloseCase closes a case and reports how many agents the caller
	// talked to (the case's agents), which the caller would otherwise
	// read back in another round trip.
	CloseCase(ctx context.Context, caseID string, now time.Time) (agents int, err error)
	// Talked records that agent talked to the call's caller: on the call's
	// path (never a transfer target again), the case's agents, and the
	// case owner if it has none.
	Talked(ctx context.Context, callID, caseID, agentID string, now time.Time) error
	// StartPath records a call's entry hop unless it has a path already.
	// Enqueue does this itself; calls that never queue (ClaimFor) need it.
	StartPath(ctx context.Context, callID string, entry Hop) error
	// CheckTransfer is the one atomic path check: loop, hop limit, pending
	// transfer; if none refuses, p is recorded as the call's pending hop.
	CheckTransfer(ctx context.Context, callID string, p PendingTransfer, maxHops int) (PathCheck, error)
	// CommitTransfer turns the pending hop into a committed one on the
	// call's and the case's path.
	CommitTransfer(ctx context.Context, callID, caseID, transferID string, now time.Time) (Hop, error)
	// DropTransfer forgets the pending hop; ErrNotFound if it is not id.
	DropTransfer(ctx context.Context, callID, transferID string) error
	Pending(ctx context.Context, callID string) (PendingTransfer, bool, error)
	CallPath(ctx context.Context, callID string) ([]Hop, error)
	// EndCallPath lets the call's keys expire.
	EndCallPath(ctx context.Context, callID string) error
}

// Errors of the routing core; see also the sentinels in types.go.
var (
	// ErrUnavailable means no agent could be claimed for a destination.
	ErrUnavailable = errors.New("no agent available")
	// ErrBadCall means a call without an id or a topic was enqueued.
	ErrBadCall = errors.New("call needs an id and a topic")
)
