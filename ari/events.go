package ari

import (
	"encoding/json"
	"errors"
	"fmt"
	arilib "github.com/CyCoreSystems/ari/v5"
	"strings"
	"time"
)

// Errors from DecodeEvent. The reader logs and skips messages that fail
// with either; the connection stays up.
var (
	// ErrUnknownEvent marks a well-formed message whose type the hotline
	// does not handle (Asterisk sends several, e.g. ChannelToneDetected).
	ErrUnknownEvent = errors.New("unknown event type")
	// ErrMalformedEvent marks a message that is not a valid ARI event or
	// lacks a field its type always carries.
	ErrMalformedEvent = errors.New("malformed event")
)

// Channel is a channel snapshot as ARI reports it.
type Channel struct {
	ID, Name, State          string
	CallerNumber, CallerName string
	Context, Exten           string // dialplan location at the time of the snapshot
	Language                 string
	Created                  time.Time
}

// Playback is a playback's state.
type Playback struct {
	ID, MediaURI, TargetURI, Language, State string
}

// Bridge is a bridge snapshot: its id, type ("mixing", "holding") and the
// channels in it.
type Bridge struct {
	ID, Type string
	Channels []string
}

// Transfer is a ChannelTransfer event's content: a phone's REFER that
// Asterisk handed to the application instead of performing it
// (PJSIP_TRANSFER_HANDLING()=ari-only). Destination is the requested
// target (the Refer-To user part); ProtocolID is set for an attended
// transfer (the Call-ID in Replaces) and DestinationChannel then names the
// consultation channel. SourceChannel is the channel whose phone sent the
// REFER, ConnectedChannel its peer in BridgeID. State is empty on the first
// event and carries the progress the application reported afterwards.
type Transfer struct {
	State              string
	Destination        string
	ProtocolID         string
	DestinationChannel string
	SourceChannel      string
	ConnectedChannel   string
	BridgeID           string
}

// Event is one message from the events websocket, flattened: the fields a
// type does not carry stay zero. Which pointer fields are set per type:
//
//   - StasisStart: Channel, Args. StasisEnd and the Channel* events: Channel.
//   - ChannelDtmfReceived: Channel, Digit, DurationMS.
//   - ChannelDestroyed, ChannelHangupRequest: Channel, Cause, CauseText.
//   - ChannelVarset: Variable, Value, and Channel unless the variable is global.
//   - ChannelEnteredBridge, ChannelLeftBridge: Channel, Bridge.
//   - Bridge* events: Bridge.
//   - Playback* events: Playback.
//   - Dial: Peer (the dialled channel, always), Channel (the caller; nil for
//     an originate), DialStatus ("" while dialling, then RINGING, ANSWER,
//     BUSY, ...). The outcome of an originate is in DialStatus, not in the
//     ChannelDestroyed cause.
//   - ChannelTransfer: Transfer, and Channel = the referring channel.
//   - ApplicationReplaced: Application only.
//
// Raw holds the message as received.
type Event struct {
	Type        string
	Application string
	Timestamp   time.Time
	Channel     *Channel
	Args        []string
	Digit       string
	DurationMS  int
	Playback    *Playback
	Bridge      *Bridge
	Cause       int
	CauseText   string
	DialStatus  string
	Peer        *Channel
	Variable    string
	Value       string
	Transfer    *Transfer
	Raw         json.RawMessage
}

// The wire shapes below mirror Asterisk's JSON. We decode into them rather
// than with the ari library's DecodeEvent: that decoder knows neither
// ChannelTransfer nor several other types Asterisk 22 sends, and its
// per-type structs would only be copied into our flat Event anyway.

type wireChannel struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	State  string `json:"state"`
	Caller struct {
		Name   string `json:"name"`
		Number string `json:"number"`
	} `json:"caller"`
	Dialplan struct {
		Context string `json:"context"`
		Exten   string `json:"exten"`
	} `json:"dialplan"`
	Language     string `json:"language"`
	CreationTime string `json:"creationtime"`
}

func (w *wireChannel) channel() (*Channel, error) {
	if w == nil {
		return nil, nil
	}
	if w.ID == "" {
		return nil, fmt.Errorf("channel without id: %w", ErrMalformedEvent)
	}
	created, err := parseTime(w.CreationTime)
	if err != nil {
		return nil, fmt.Errorf("channel %s creationtime: %w", w.ID, err)
	}
	return &Channel{
		ID: w.ID, Name: w.Name, State: w.State,
		CallerNumber: w.Caller.Number, CallerName: w.Caller.Name,
		Context: w.Dialplan.Context, Exten: w.Dialplan.Exten,
		Language: w.Language, Created: created,
	}, nil
}

// Bridge and playback snapshots decode into the ari library's own values;
// its ChannelData cannot be used the same way (its creation time is a
// protobuf timestamp that ARI's JSON does not fit), hence wireChannel.
type (
	wireBridge   = arilib.BridgeData
	wirePlayback = arilib.PlaybackData
)

func bridgeOf(w *wireBridge) (*Bridge, error) {
	if w == nil {
		return nil, nil
	}
	if w.ID == "" {
		return nil, fmt.Errorf("bridge without id: %w", ErrMalformedEvent)
	}
	return &Bridge{ID: w.ID, Type: w.Type, Channels: w.ChannelIDs}, nil
}

func playbackOf(w *wirePlayback) (*Playback, error) {
	if w == nil {
		return nil, nil
	}
	if w.ID == "" {
		return nil, fmt.Errorf("playback without id: %w", ErrMalformedEvent)
	}
	return &Playback{ID: w.ID, MediaURI: w.MediaURI, TargetURI: w.TargetURI, Language: w.Language, State: w.State}, nil
}

type wireTransfer struct {
	ReferTo *struct {
		Requested *struct {
			Destination string `json:"destination"`
			ProtocolID  string `json:"protocol_id"`
		} `json:"requested_destination"`
		DestinationChannel *wireChannel `json:"destination_channel"`
	} `json:"refer_to"`
	ReferredBy *struct {
		SourceChannel    *wireChannel `json:"source_channel"`
		ConnectedChannel *wireChannel `json:"connected_channel"`
		Bridge           *wireBridge  `json:"bridge"`
	} `json:"referred_by"`
}

type wireEvent struct {
	Type        string        `json:"type"`
	Application string        `json:"application"`
	Timestamp   string        `json:"timestamp"`
	Channel     *wireChannel  `json:"channel"`
	Args        []string      `json:"args"`
	Digit       string        `json:"digit"`
	DurationMS  int           `json:"duration_ms"`
	Playback    *wirePlayback `json:"playback"`
	Bridge      *wireBridge   `json:"bridge"`
	Cause       int           `json:"cause"`
	CauseText   string        `json:"cause_txt"`
	DialStatus  string        `json:"dialstatus"`
	Caller      *wireChannel  `json:"caller"`
	Peer        *wireChannel  `json:"peer"`
	Variable    string        `json:"variable"`
	Value       string        `json:"value"`
	State       string        `json:"state"` // ChannelTransfer progress
	wireTransfer
}

// needs says which fields an event type always carries, so handlers can
// rely on them without nil checks.
type needs uint8

const (
	needChannel needs = 1 << iota
	needBridge
	needPlayback
	needPeer
	needTransfer
)

// eventNeeds reports whether the hotline decodes an event type, and which
// fields that type always carries. Anything else is skipped with
// ErrUnknownEvent.
func eventNeeds(typ string) (needs, bool) {
	switch typ {
	case "StasisStart", "StasisEnd", "ChannelCreated", "ChannelDestroyed", "ChannelStateChange", "ChannelDialplan", "ChannelCallerId", "ChannelConnectedLine", "ChannelHangupRequest", "ChannelDtmfReceived", "ChannelHold", "ChannelUnhold", "ChannelTalkingStarted", "ChannelTalkingFinished", "ApplicationMoveFailed", "BridgeBlindTransfer":
		return needChannel, true
	case "ChannelVarset", "BridgeAttendedTransfer", "ApplicationReplaced", "ChannelUserevent":
		return 0, true
	case "ChannelEnteredBridge", "ChannelLeftBridge":
		return needChannel | needBridge, true
	case "BridgeCreated", "BridgeDestroyed", "BridgeVideoSourceChanged":
		return needBridge, true
	case "PlaybackStarted", "PlaybackContinuing", "PlaybackFinished":
		return needPlayback, true
	case "Dial":
		return needPeer, true
	case "ChannelTransfer":
		return needTransfer, true
	}
	return 0, false
}

// DecodeEvent decodes one websocket message. It returns ErrUnknownEvent for
// types the hotline does not handle and ErrMalformedEvent (wrapped) for
// messages that are not ARI events; it never panics.
func DecodeEvent(msg []byte) (Event, error) { return decodeEvent(msg, false) }

// decodeEvent is DecodeEvent; owned says msg is the caller's to give away,
// so it becomes Raw without a copy.
func decodeEvent(msg []byte, owned bool) (Event, error) {
	var w wireEvent
	if err := json.Unmarshal(msg, &w); err != nil {
		return Event{}, fmt.Errorf("decode event: %w: %v", ErrMalformedEvent, err)
	}
	if w.Type == "" {
		return Event{}, fmt.Errorf("decode event: no type: %w", ErrMalformedEvent)
	}
	need, ok := eventNeeds(w.Type)
	if !ok {
		return Event{Type: w.Type}, fmt.Errorf("decode event %q: %w", w.Type, ErrUnknownEvent)
	}
	ev, err := w.event(need)
	if err != nil {
		return Event{Type: w.Type}, fmt.Errorf("decode event %s: %w", w.Type, err)
	}
	if owned {
		ev.Raw = msg
	} else {
		ev.Raw = append(json.RawMessage(nil), msg...)
	}
	return ev, nil
}

func (w *wireEvent) event(need needs) (Event, error) {
	ts, err := parseTime(w.Timestamp)
	if err != nil {
		return Event{}, fmt.Errorf("timestamp: %w", err)
	}
	ev := Event{
		Type: w.Type, Application: w.Application, Timestamp: ts,
		Args: w.Args, Digit: w.Digit, DurationMS: w.DurationMS,
		Cause: w.Cause, CauseText: w.CauseText, DialStatus: w.DialStatus,
		Variable: w.Variable, Value: w.Value,
	}
	if ev.Channel, err = w.Channel.channel(); err != nil {
		return Event{}, err
	}
	if w.Type == "Dial" {
		// A Dial names the dialling side "caller"; it is our Channel.
		if ev.Channel, err = w.Caller.channel(); err != nil {
			return Event{}, err
		}
	}
	if ev.Peer, err = w.Peer.channel(); err != nil {
		return Event{}, err
	}
	if ev.Bridge, err = bridgeOf(w.Bridge); err != nil {
		return Event{}, err
	}
	if ev.Playback, err = playbackOf(w.Playback); err != nil {
		return Event{}, err
	}
	if w.Type == "ChannelTransfer" {
		if ev.Transfer, ev.Channel, err = w.transfer(); err != nil {
			return Event{}, err
		}
	}
	switch {
	case need&needChannel != 0 && ev.Channel == nil:
		return Event{}, fmt.Errorf("no channel: %w", ErrMalformedEvent)
	case need&needBridge != 0 && ev.Bridge == nil:
		return Event{}, fmt.Errorf("no bridge: %w", ErrMalformedEvent)
	case need&needPlayback != 0 && ev.Playback == nil:
		return Event{}, fmt.Errorf("no playback: %w", ErrMalformedEvent)
	case need&needPeer != 0 && ev.Peer == nil:
		return Event{}, fmt.Errorf("no peer: %w", ErrMalformedEvent)
	case need&needTransfer != 0 && ev.Transfer == nil:
		return Event{}, fmt.Errorf("no transfer: %w", ErrMalformedEvent)
	}
	return ev, nil
}

// transfer flattens a ChannelTransfer; the referring channel becomes the
// event's Channel so that per-channel dispatch works as for other events.
func (w *wireEvent) transfer() (*Transfer, *Channel, error) {
	if w.ReferredBy == nil || w.ReferredBy.SourceChannel == nil {
		return nil, nil, fmt.Errorf("no referred_by.source_channel: %w", ErrMalformedEvent)
	}
	src, err := w.ReferredBy.SourceChannel.channel()
	if err != nil {
		return nil, nil, err
	}
	t := &Transfer{State: w.State, SourceChannel: src.ID}
	if c := w.ReferredBy.ConnectedChannel; c != nil {
		t.ConnectedChannel = c.ID
	}
	if b := w.ReferredBy.Bridge; b != nil {
		t.BridgeID = b.ID
	}
	if r := w.ReferTo; r != nil {
		if r.Requested != nil {
			t.Destination = r.Requested.Destination
			t.ProtocolID = r.Requested.ProtocolID
		}
		if r.DestinationChannel != nil {
			t.DestinationChannel = r.DestinationChannel.ID
		}
	}
	return t, src, nil
}

// parseTime reads ARI's times: 2026-11-21T23:51:13.543+0000, which is not
// RFC 3339 (no colon in the offset).
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, l := range [...]string{arilib.DateFormat, "2006-01-02T15:04:05-0700", time.RFC3339Nano} {
		if t, err := time.Parse(l, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("time %q: %w", truncate(s, 40), ErrMalformedEvent)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
