package callflow

import (
	"encoding/json"
	"time"

	"github.com/hotline-project/hotline/routing"
)

// This file mirrors, field for field, the types of the shared contracts
// that other packages are building at the same time: the ARI adapter's
// event and channel values and the routing service's offers, calls and
// callbacks. They live here so the call flow compiles and is tested on its
// own; once ari/ and routing/ export them, each becomes a type alias
// (type Event = ari.Event, type Offer = routing.Offer, ...) and the real
// *ari.Client, *routing.Router and *routing.Callbacks satisfy the
// interfaces of this package without glue.

// Channel is a channel snapshot (ari.Channel).
type Channel struct {
	ID, Name, State, CallerNumber, CallerName, Context, Exten, Language string
	Created                                                             time.Time
}

// Playback is a playback snapshot (ari.Playback).
type Playback struct{ ID, MediaURI, TargetURI, Language, State string }

// Bridge is a bridge snapshot (ari.Bridge).
type Bridge struct {
	ID, Type string
	Channels []string
}

// ChannelTransfer is the payload of a ChannelTransfer event (ari.Transfer):
// a phone's REFER handed to the application by ari-only transfer handling.
type ChannelTransfer struct {
	State, Destination, ProtocolID, DestinationChannel, SourceChannel, ConnectedChannel, BridgeID string
}

// Event is one ARI event (ari.Event).
type Event struct {
	Type, Application string
	Timestamp         time.Time
	Channel           *Channel
	Args              []string
	Digit             string
	DurationMS        int
	Playback          *Playback
	Bridge            *Bridge
	Cause             int
	CauseText         string
	DialStatus        string
	Peer              *Channel
	Variable, Value   string
	Transfer          *ChannelTransfer
	Raw               json.RawMessage
}

// OriginateRequest is the body of an originate (ari.OriginateRequest).
type OriginateRequest struct {
	ChannelID, OtherChannelID, Endpoint, App string
	AppArgs                                  []string
	CallerID                                 string
	Timeout                                  time.Duration
	Formats                                  string
	Variables                                map[string]string
	Originator                               string
}

// CallState is where a call is (routing.CallState).
type CallState string

// Call states.
const (
	CallQueued     CallState = "queued"
	CallRinging    CallState = "ringing"
	CallConnected  CallState = "connected"
	CallConsulting CallState = "consulting"
	CallEnded      CallState = "ended"
)

// Call is a live call as the router knows it (routing.Call).
type Call struct {
	ID, CaseID, Topic, CallerNumber, Lang, Node, AgentID string
	State                                                CallState
	EnqueuedAt                                           time.Time
	CallbackID                                           string
}

// QueueInfo is a caller's place in the queue (routing.QueueInfo).
type QueueInfo struct {
	Position        int // 1-based
	EstimatedWait   time.Duration
	AgentsLoggedIn  int
	AgentsAvailable int
}

// Offer is an agent claimed for a call (routing.Offer).
type Offer struct {
	CallID, CaseID, Topic, Node string
	Agent                       routing.AgentStatus
	RingDeadline                time.Time
	CallbackID                  string // set when the queue entry is a kept-position callback
}

// TransferRequest asks the router for a transfer (routing.TransferRequest).
type TransferRequest struct {
	CallID string
	By     string
	To     routing.Destination
	Note   string
	Mode   routing.TransferMode
}

// Transfer is an accepted transfer request whose target now rings
// (routing.Transfer).
type Transfer struct {
	ID, CallID string
	By         string
	To         routing.Destination
	Target     routing.AgentStatus
	Converted  bool
	Path       []routing.Hop
}

// CallbackKind says why a callback exists (routing.CallbackKind).
type CallbackKind string

// Callback kinds.
const (
	CallbackQueue  CallbackKind = "queue"
	CallbackOwner  CallbackKind = "owner"
	CallbackSenior CallbackKind = "senior"
)

// CallbackState is a callback's life cycle (routing.CallbackState).
type CallbackState string

// Callback is a durable promise to call a caller back (routing.Callback).
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

// Policy is the part of routing.Policy the call flow reads.
type Policy struct {
	RingTimeout        time.Duration
	OfferWaitThreshold time.Duration
}

// Reasons returned by OfferCallback.
const (
	OfferClosed   = "closed"
	OfferNoAgents = "no_agents"
	OfferLongWait = "long_wait"
)

// OfferCallback is the rule of routing.OfferCallback: a caller is offered a
// callback when the topic is closed, when nobody who takes the topic is
// logged in, or when the estimated wait is above the threshold.
func OfferCallback(p Policy, q QueueInfo, open bool) (reason string, ok bool) {
	switch {
	case !open:
		return OfferClosed, true
	case q.AgentsLoggedIn == 0:
		return OfferNoAgents, true
	case p.OfferWaitThreshold > 0 && q.EstimatedWait > p.OfferWaitThreshold:
		return OfferLongWait, true
	}
	return "", false
}

// AgentStatus is routing's agent with its live state.
type AgentStatus = routing.AgentStatus
