package callflow

import "github.com/hotline-project/hotline/routing"

// The routing service's types, used as they are.
type (
	CallState       = routing.CallState
	Call            = routing.Call
	QueueInfo       = routing.QueueInfo
	Offer           = routing.Offer
	TransferRequest = routing.TransferRequest
	Transfer        = routing.Transfer
	Callback        = routing.Callback
	CallbackKind    = routing.CallbackKind
	CallbackState   = routing.CallbackState
	Policy          = routing.Policy
	AgentStatus     = routing.AgentStatus
)

// CallQueued is the state of a call that waits in a queue.
const CallQueued = routing.CallQueued
