package callflow

import (
	"github.com/hotline-project/hotline/ari"
	"github.com/hotline-project/hotline/routing"
)

// The ARI values the call flow reads are the adapter's own types; no
// CyCoreSystems type leaves package ari.
type (
	Channel          = ari.Channel
	Playback         = ari.Playback
	Bridge           = ari.Bridge
	ChannelTransfer  = ari.Transfer
	Event            = ari.Event
	OriginateRequest = ari.OriginateRequest
	JoinOptions      = ari.JoinOptions
	HTTPError        = ari.HTTPError
)

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
