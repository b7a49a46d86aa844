package routing

import (
	"errors"
	"time"
)

// Several nodes serve one hotline (docs/behaviour.md, Several nodes) but only the node whose
// Asterisk holds a call's channels can act on it: an agent's desk may be
// connected to any node, so a live-call command for a call another node
// owns (Call.Node) travels there and its answer comes back. These are the
// messages; the call flow runs them and a store carries them.

// ErrNodeUnavailable: the node that owns a call did not answer a command
// forwarded to it in time (it died or lost Redis). The command may or may
// not have run there: look at the call before retrying a transfer.
var ErrNodeUnavailable = errors.New("node owning the call unavailable")

// CallCommand is a live-call command forwarded to the call's node.
type CallCommand struct {
	ID   string // correlation id, echoed by the reply
	From string // node waiting for the reply
	// Timeout is how long the requester waits from sending; the owner
	// stops working on the command after it. A duration, not a deadline,
	// so clock skew between nodes does not matter.
	Timeout time.Duration
	Kind    string // "transfer", "complete", "cancel", "callback", "escalate"
	CallID  string
	By      string
	To      Destination
	Mode    TransferMode
	Note    string
	At      time.Time
}

// CallReply answers a CallCommand. Err is nil on success.
type CallReply struct {
	ID       string
	Transfer Transfer
	Callback Callback
	Err      *CommandError
}

// CommandError is a forwarded command's failure as the owner saw it.
type CommandError struct {
	// Kind names the condition so the requester returns the same sentinel
	// the owner's own path would ("refusal", "not_your_call",
	// "no_transfer", "call_gone", ...; "other" for the rest).
	Kind    string
	Message string // the owner's err.Error()
	Refusal *Refusal
}

// NodeMessage is what arrives in a node's command inbox: a command for a
// call it owns, or the reply to one it forwarded. Exactly one is set.
type NodeMessage struct {
	Command *CallCommand `json:",omitempty"`
	Reply   *CallReply   `json:",omitempty"`
}
