// Package routing is the hotline's domain: queues per topic, agents and
// their states, cases with their transfer paths, the transfer policy and
// callbacks. It decides; it does not talk to Asterisk or Redis itself. All
// shared state goes through the store interfaces declared in this package,
// which the Redis store implements with one atomic script per decision.
package routing

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Clock is the source of time for every rule, so tests can move it.
type Clock interface{ Now() time.Time }

// SystemClock is the wall clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// AgentState is where an agent is in their working cycle. Only
// StateAvailable agents are offered calls.
type AgentState string

// Agent states (docs/behaviour.md, Agents).
const (
	StateOffline   AgentState = "offline"
	StateAvailable AgentState = "available"
	StateRinging   AgentState = "ringing"
	StateOnCall    AgentState = "on_call"
	StateWrapUp    AgentState = "wrap_up"
	StatePaused    AgentState = "paused"
)

// AgentStates lists every state, in the order dashboards show them. It
// returns a new slice each time, so no caller can change another's list.
func AgentStates() []AgentState {
	return []AgentState{StateOffline, StateAvailable, StateRinging, StateOnCall, StateWrapUp, StatePaused}
}

// ReasonNoAnswer is the pause reason given to an agent who let an offered
// call ring out.
const ReasonNoAnswer = "no answer"

// ReasonUnreachable is the pause reason given to an agent whose phone
// Asterisk refused to dial again and again (not registered, unknown).
const ReasonUnreachable = "unreachable"

// Agent is the configured, static part of an agent.
type Agent struct {
	ID       string
	Name     string
	Endpoint string         // dial string, e.g. "PJSIP/100"
	Topics   map[string]int // topic → priority; lower is offered first
	Senior   bool
}

// AgentStatus is an agent with its live state as the store holds it.
type AgentStatus struct {
	Agent
	State      AgentState
	Reason     string    // pause reason
	Since      time.Time // when State was entered
	IdleSince  time.Time // when the agent last became free; longest idle wins
	CallID     string    // the call being offered or handled, if any
	PauseAfter string    // if set, pause with this reason when the current call ends
}

// DestKind says whether a transfer goes to a topic's queue or to one agent.
type DestKind string

// Destination kinds.
const (
	DestTopic DestKind = "topic"
	DestAgent DestKind = "agent"
)

// Destination is a transfer or routing target: "topic:audit" or "agent:100".
type Destination struct {
	Kind DestKind
	Name string
}

func (d Destination) String() string { return string(d.Kind) + ":" + d.Name }

// ErrBadDestination is returned by ParseDestination for anything that is not
// "topic:NAME" or "agent:ID".
var ErrBadDestination = errors.New("destination must be topic:NAME or agent:ID")

// ParseDestination parses "topic:NAME" or "agent:ID".
func ParseDestination(s string) (Destination, error) {
	kind, name, ok := strings.Cut(s, ":")
	if !ok || name == "" || strings.ContainsAny(name, " \t\r\n") {
		return Destination{}, fmt.Errorf("%q: %w", s, ErrBadDestination)
	}
	switch DestKind(kind) {
	case DestTopic, DestAgent:
		return Destination{Kind: DestKind(kind), Name: name}, nil
	}
	return Destination{}, fmt.Errorf("%q: %w", s, ErrBadDestination)
}

// Hop is one step of a call's path: where the caller was and who sent them.
type Hop struct {
	To Destination
	By string    // agent id that transferred; empty for the entry hop
	At time.Time // when the caller arrived there
}

// CaseStatus is open while someone still owes the caller an answer.
type CaseStatus string

// Case statuses.
const (
	CaseOpen   CaseStatus = "open"
	CaseClosed CaseStatus = "closed"
)

// Case is what the hotline knows about a caller's problem. It travels with
// every transfer and outlives the call while it is open.
type Case struct {
	ID           string
	CallerNumber string
	Topic        string
	Lang         string
	Note         string
	Owner        string // first agent who talked to the caller
	Status       CaseStatus
	Path         []Hop
	Agents       []string // every agent the caller talked to, in order
	Rating       int      // 0 until rated; the first press counts
	RatedBy      string   // agent the rating is attached to
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// TransferMode is how a transfer was asked for.
type TransferMode string

// Transfer modes. Blind transfers are refused or converted (docs/behaviour.md, Transfers).
const (
	ModeAttended TransferMode = "attended"
	ModeBlind    TransferMode = "blind"
)

// RefusalCode names the rule that refused a transfer.
type RefusalCode string

// Refusal codes (README, HTTP API).
const (
	RefuseLoop            RefusalCode = "transfer_loop"
	RefuseMaxHops         RefusalCode = "max_hops"
	RefuseBlind           RefusalCode = "blind_transfer_forbidden"
	RefuseNoteRequired    RefusalCode = "note_required"
	RefuseTargetUnavail   RefusalCode = "target_unavailable"
	RefuseTransferPending RefusalCode = "transfer_pending"
)

// RefusalCodes lists every code, for metrics that pre-create their labels.
// It returns a new slice each time.
func RefusalCodes() []RefusalCode {
	return []RefusalCode{RefuseLoop, RefuseMaxHops, RefuseBlind, RefuseNoteRequired, RefuseTargetUnavail, RefuseTransferPending}
}

// Refusal is the error returned when a transfer breaks a rule. It names the
// rule and carries the call's path so the agent sees why.
type Refusal struct {
	Code    RefusalCode
	Message string
	Path    []Hop
}

func (r *Refusal) Error() string { return string(r.Code) + ": " + r.Message }

// AsRefusal reports whether err is (or wraps) a *Refusal.
func AsRefusal(err error) (*Refusal, bool) {
	var r *Refusal
	ok := errors.As(err, &r)
	return r, ok
}

// Sentinel errors that callers branch on.
var (
	ErrNotFound          = errors.New("not found")
	ErrIllegalTransition = errors.New("illegal agent state transition")
	ErrCallGone          = errors.New("call gone")
	// ErrNotYourCall: an agent acted on a call they are not connected to.
	ErrNotYourCall = errors.New("not the agent connected on this call")
	// ErrNoTransfer: complete or cancel with no transfer pending.
	ErrNoTransfer = errors.New("no transfer pending")
)
