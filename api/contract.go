package api

import (
	"context"
	"time"

	"github.com/hotline-project/hotline/routing"
)

// The types below mirror the routing package's contract field for field.
// They live here only until routing exports them; switching to the routing
// types is a matter of deleting these declarations and qualifying the names.

// CallState is where a call is in its life.
type CallState string

// Call states.
const (
	CallQueued     CallState = "queued"
	CallRinging    CallState = "ringing"
	CallConnected  CallState = "connected"
	CallConsulting CallState = "consulting"
	CallEnded      CallState = "ended"
)

// Call is one live call as the router knows it.
type Call struct {
	ID, CaseID, Topic, CallerNumber, Lang, Node, AgentID string
	State                                                CallState
	EnqueuedAt                                           time.Time
	CallbackID                                           string
}

// Transfer is a pending (attended) transfer: the target agent is claimed
// and ringing while the caller holds.
type Transfer struct {
	ID, CallID string
	By         string
	To         routing.Destination
	Target     routing.AgentStatus
	Converted  bool // a blind request converted to attended
	Path       []routing.Hop
}

// CaseFilter narrows a case listing; empty fields match everything.
type CaseFilter struct {
	Status routing.CaseStatus
	Owner  string
}

// CallbackKind says why a callback exists.
type CallbackKind string

// Callback kinds.
const (
	CallbackQueue  CallbackKind = "queue"
	CallbackOwner  CallbackKind = "owner"
	CallbackSenior CallbackKind = "senior"
)

// CallbackState is where a callback is in its life.
type CallbackState string

// Callback states.
const (
	CallbackScheduled CallbackState = "scheduled"
	CallbackDialing   CallbackState = "dialing"
	CallbackCompleted CallbackState = "completed"
	CallbackFailed    CallbackState = "failed"
	CallbackEscalated CallbackState = "escalated"
)

// Callback is a promise to call a caller back.
type Callback struct {
	ID, CaseID, Number, Topic, Lang, Owner, Note string
	Kind                                         CallbackKind
	State                                        CallbackState
	DueAt, Deadline                              time.Time
	Attempts, MaxAttempts                        int
	LeaseNode                                    string
	LeaseUntil                                   time.Time
	CreatedAt                                    time.Time
}

// CallbackFilter narrows a callback listing; empty fields match everything.
type CallbackFilter struct{ State, Owner string }

// RequestKind separates the two non-target records of SPEC §1.6.
type RequestKind string

// Request kinds.
const (
	KindRequest   RequestKind = "request"   // vendor, advertiser, official...
	KindComplaint RequestKind = "complaint" // a hotline number that failed the caller
)

// Request is a non-target call's record for the senior operators (SPEC
// §1.6). A complaint fills FailedNumber and FoundAt instead of Organisation,
// Position and Purpose.
type Request struct {
	ID           string
	Kind         RequestKind
	State        string // set by the requests service ("new", then "done")
	CaseID       string
	City         string
	Organisation string
	Position     string
	FullName     string
	Phone        string
	Purpose      string
	FailedNumber string // complaint: the number that did not work
	FoundWhere   string // complaint: where the caller found that number
	CreatedBy    string // agent id, or the role of a non-agent token
	CreatedAt    time.Time
}

// RequestFilter narrows a request listing; empty fields match everything.
type RequestFilter struct{ Kind, State string }

// Agents is the agent side of *routing.Router.
type Agents interface {
	Login(ctx context.Context, agentID string) error
	Resume(ctx context.Context, agentID string) error
	Logout(ctx context.Context, agentID string) error
	Pause(ctx context.Context, agentID, reason string) error
	Agent(ctx context.Context, id string) (routing.AgentStatus, error)
	Agents(ctx context.Context) ([]routing.AgentStatus, error)
}

// Calls is the live-call side of *routing.Router.
type Calls interface {
	ActiveCalls(ctx context.Context) ([]Call, error)
	Call(ctx context.Context, id string) (Call, error)
}

// Cases is the case side of *routing.Router.
type Cases interface {
	Case(ctx context.Context, id string) (routing.Case, error)
	Cases(ctx context.Context, f CaseFilter) ([]routing.Case, error)
	SetNote(ctx context.Context, caseID, note, by string) error
}

// Callbacks is the read side of *routing.Callbacks; scheduling goes through
// CallControl because the caller on the line must hear about it.
type Callbacks interface {
	List(ctx context.Context, f CallbackFilter) ([]Callback, error)
	Get(ctx context.Context, id string) (Callback, error)
}

// Requests stores the non-target records of SPEC §1.6.
type Requests interface {
	List(ctx context.Context, f RequestFilter) ([]Request, error)
	Get(ctx context.Context, id string) (Request, error)
	Create(ctx context.Context, r Request) (Request, error)
}

// CallControl is what the call-flow engine offers for a live call: every
// action here also moves media (hold music, the consult leg, an
// announcement), so the router alone cannot do it. Transfer refusals come
// back as *routing.Refusal. "by" is the agent on the call.
type CallControl interface {
	Transfer(ctx context.Context, callID, by string, to routing.Destination, note string, mode routing.TransferMode) (Transfer, error)
	CompleteTransfer(ctx context.Context, callID, by string) error
	CancelTransfer(ctx context.Context, callID, by string) error
	ScheduleCallback(ctx context.Context, callID, by string, at time.Time, note string) (Callback, error)
}

// Updates is a source of live state changes for the events stream; *Hub is
// the implementation. Subscribe returns a channel of the updates accept
// lets through; it is closed when ctx ends or when the subscriber falls too
// far behind.
type Updates interface {
	Subscribe(ctx context.Context, accept func(Update) bool) <-chan Update
}
