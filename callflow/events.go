package callflow

import (
	"errors"
	"time"
)

// The call flow's view of Asterisk: the events it reacts to and the values
// it is given, in its own terms. The ARI adapter (package ari) translates
// Asterisk's events and snapshots into these, and carries out Telephony's
// requests; no ARI event name, dial status or channel variable appears in
// the call flow.

// EventKind is what happened.
type EventKind int

// Event kinds.
const (
	// Entered: a channel entered the application (Asterisk's
	// StasisStart): a caller on a service number (Args: [number]), an
	// agent's own phone (Args: ["agent", extension]), or a channel the
	// engine made (an answered agent leg, a whisper channel, a moved
	// caller).
	Entered EventKind = iota + 1
	// Left: the channel left the application (StasisEnd).
	Left
	// HangupRequested: the channel is being hung up (ChannelHangupRequest).
	HangupRequested
	// Destroyed: the channel is gone (ChannelDestroyed).
	Destroyed
	// DigitPressed: a DTMF digit arrived on the channel
	// (ChannelDtmfReceived). On a Local pair it arrives on the half
	// opposite the one it was sent on.
	DigitPressed
	// PlaybackStarted and PlaybackFinished follow one playback; Failed is
	// set on a finish when the sound did not play (a missing file, or no
	// events within bounds).
	PlaybackStarted
	PlaybackFinished
	// Dialled: an originated channel's dial has an outcome (Dial).
	Dialled
	// JoinedBridge and LeftBridge: the channel entered or left a bridge.
	JoinedBridge
	LeftBridge
	// TransferRequested: a phone asked to transfer the call (a SIP REFER
	// Asterisk handed over instead of performing it: ChannelTransfer).
	TransferRequested
)

// DialOutcome is how an originated channel's dial ended.
type DialOutcome int

// Dial outcomes.
const (
	DialAnswered DialOutcome = iota + 1
	DialNoAnswer             // it rang out
	DialBusy                 // busy, congested, unreachable, cancelled
)

// Event is one thing Asterisk reports about a channel, bridge or playback
// of a call. Fields other than Kind and Channel are set for the kinds that
// carry them.
type Event struct {
	Kind EventKind
	// Channel is the channel the event is about: for Dialled, the dialled
	// one.
	Channel string
	// Entered: the channel's name, caller number, language and the
	// application arguments it entered with.
	Name, CallerNumber, Language string
	Args                         []string
	// DigitPressed: the digit.
	Digit string
	// PlaybackStarted, PlaybackFinished: the playback and, for a finish,
	// the media item Asterisk names and whether it failed.
	Playback string
	Media    string
	Failed   bool
	// Dialled: the outcome.
	Dial DialOutcome
	// JoinedBridge, LeftBridge: the bridge.
	Bridge string
	// TransferRequested: what the phone asked for.
	Transfer *PhoneTransfer
	// Reason says why, where Asterisk says (a lost channel's "lost during
	// reconnect", a hang-up cause's text).
	Reason string
}

// PhoneTransfer is a phone's transfer request: Destination is the
// requested target (a blind transfer); Attended is set when the phone
// asks to replace a consultation it made on its own (REFER with
// Replaces). Source is the channel whose phone asked.
type PhoneTransfer struct {
	Destination string
	Attended    bool
	Source      string
}

// Channel is a channel as a list shows it.
type Channel struct {
	ID, Name, Language, CallerNumber string
}

// Bridge is a bridge as a list shows it.
type Bridge struct {
	ID       string
	Channels []string
}

// OriginateRequest asks for a new outgoing channel that enters App with
// AppArgs when answered. A zero Timeout is Asterisk's default.
// InterceptTransfers has the phone's own transfer button reach the call
// flow (TransferRequested) instead of being carried out by Asterisk.
type OriginateRequest struct {
	ChannelID          string
	Endpoint           string
	App                string
	AppArgs            []string
	CallerID           string
	Timeout            time.Duration
	InterceptTransfers bool
}

// TransferOutcome is what a phone that asked to transfer is told.
type TransferOutcome int

// Transfer outcomes (the NOTIFYs of a REFER: 100, 200, 503, 603).
const (
	TransferProceeding TransferOutcome = iota + 1
	TransferDone
	TransferUnavailable
	TransferRefused
)

// HangupCause is why the call flow hangs a channel up.
type HangupCause int

// Hangup causes.
const (
	HangupNormal     HangupCause = iota // the call is over
	HangupCongestion                    // the hotline cannot take the call: the dialplan may try elsewhere
)

// ErrDialRefused wraps an originate Asterisk refused outright (an
// unregistered phone, an unknown endpoint), as opposed to one it could
// not be asked for (ARI not reached).
var ErrDialRefused = errors.New("dial refused by Asterisk")
