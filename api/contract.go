package api

import (
	"context"
	"time"

	"github.com/hotline-project/hotline/routing"
)

// The domain values the API serves are routing's own.
type (
	Call           = routing.Call
	CallState      = routing.CallState
	Transfer       = routing.Transfer
	CaseFilter     = routing.CaseFilter
	Callback       = routing.Callback
	CallbackKind   = routing.CallbackKind
	CallbackState  = routing.CallbackState
	CallbackFilter = routing.CallbackFilter
	Request        = routing.Request
	RequestKind    = routing.RequestKind
	RequestFilter  = routing.RequestFilter
)

// Constants used by the handlers and their tests, from routing.
const (
	CallQueued        = routing.CallQueued
	CallRinging       = routing.CallRinging
	CallConnected     = routing.CallConnected
	CallConsulting    = routing.CallConsulting
	CallEnded         = routing.CallEnded
	CallbackQueue     = routing.CallbackQueue
	CallbackOwner     = routing.CallbackOwner
	CallbackSenior    = routing.CallbackSenior
	CallbackScheduled = routing.CallbackScheduled
	CallbackDialing   = routing.CallbackDialing
	CallbackCompleted = routing.CallbackCompleted
	CallbackFailed    = routing.CallbackFailed
	CallbackEscalated = routing.CallbackEscalated
	KindRequest       = routing.KindRequest
	KindComplaint     = routing.KindComplaint
)

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

// Requests stores the non-target records of docs/behaviour.md, Requests.
type Requests interface {
	List(ctx context.Context, f RequestFilter) ([]Request, error)
	Get(ctx context.Context, id string) (Request, error)
	Create(ctx context.Context, r Request) (Request, error)
	// Done marks a request handled by a senior operator; marking it again
	// keeps the first senior and time.
	Done(ctx context.Context, id, by string) (Request, error)
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
	// Escalate asks a senior operator to call the caller back with the
	// note ("let me speak to a manager"); the agent's part of the call ends.
	Escalate(ctx context.Context, callID, by, note string) (Callback, error)
}

// TopicConfig is what the configuration says about a topic. The API serves
// it with the topic's live figures; it comes from an injected source so the
// handlers stay free of the configuration's types.
type TopicConfig struct {
	Name        string
	Description string
	// WrapUp follows each call; it counts in the wait estimate, as does
	// HandleTime, the starting mean handle time until calls measure one.
	WrapUp, HandleTime time.Duration
}

// Queues reads a topic's live figures; *routing.Router implements it.
type Queues interface {
	TopicStats(ctx context.Context, topic string) (routing.TopicStats, error)
}

// Updates is a source of live state changes for the events stream; *Hub is
// the implementation. Subscribe returns a channel of the updates as view
// returns them (nil: all, as they are), skipping those it refuses; view
// sees every update in order. The channel is closed when ctx ends or when
// the subscriber falls too far behind.
type Updates interface {
	Subscribe(ctx context.Context, view func(Update) (Update, bool)) <-chan Update
}
