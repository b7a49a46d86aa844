package callflow

import (
	"encoding/json"
	"time"

	"github.com/hotline-project/hotline/routing"
)

// This file mirrors, field for field, the ARI adapter's event and channel
// values, which the ari package is building at the same time. Once ari/
// exports them each becomes a type alias (type Event = ari.Event, ...) and
// the real *ari.Client satisfies Telephony without glue. The routing
// types are aliases already.

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
