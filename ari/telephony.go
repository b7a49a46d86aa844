package ari

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hotline-project/hotline/callflow"
)

// Telephony is the call flow's Telephony on a Client: it carries out the
// call flow's requests in ARI's terms, and Translate gives the call flow
// Asterisk's events in its own. What Asterisk needs to be told, and what
// it must not be asked too soon, is decided here (see each method).
type Telephony struct {
	c *Client

	mu sync.Mutex
	// referAt is when each channel's phone last asked to transfer
	// (ReportTransfer waits out referSettle from it).
	referAt map[string]time.Time
}

var _ callflow.Telephony = (*Telephony)(nil)

// NewTelephony adapts c for the call flow.
func NewTelephony(c *Client) *Telephony {
	return &Telephony{c: c, referAt: map[string]time.Time{}}
}

// translated are the event types Translate can pass on.
var translated = []string{"StasisStart", "StasisEnd", "ChannelHangupRequest", "ChannelDestroyed", "ChannelDtmfReceived",
	"PlaybackStarted", "PlaybackFinished", "Dial", "ChannelEnteredBridge", "ChannelLeftBridge", "ChannelTransfer"}

// TranslatedEvents are the event types Translate can pass on: the daemon's
// client asks Asterisk for these alone (Options.Events).
func TranslatedEvents() []string { return slices.Clone(translated) }

// Translate turns an ARI event into the call flow's; ok is false for the
// events the call flow does not react to (variable sets, dialplan steps,
// caller id updates, a dial still ringing: dozens per call), which never
// reach a call's mailbox.
func (t *Telephony) Translate(ev Event) (callflow.Event, bool) {
	ch := ""
	if ev.Channel != nil {
		ch = ev.Channel.ID
	}
	out := callflow.Event{Channel: ch}
	switch ev.Type {
	case "StasisStart":
		if ev.Channel == nil {
			return out, false
		}
		out.Kind, out.Args = callflow.Entered, ev.Args
		out.Name, out.CallerNumber, out.Language = ev.Channel.Name, ev.Channel.CallerNumber, ev.Channel.Language
	case "StasisEnd":
		out.Kind = callflow.Left
		t.forget(ch)
	case "ChannelHangupRequest":
		out.Kind, out.Reason = callflow.HangupRequested, ev.CauseText
	case "ChannelDestroyed":
		out.Kind, out.Reason = callflow.Destroyed, ev.CauseText
		t.forget(ch)
	case "ChannelDtmfReceived":
		out.Kind, out.Digit = callflow.DigitPressed, ev.Digit
	case "PlaybackStarted", "PlaybackFinished":
		if ev.Playback == nil {
			return out, false
		}
		out.Kind, out.Playback, out.Media = callflow.PlaybackStarted, ev.Playback.ID, ev.Playback.MediaURI
		if ev.Type == "PlaybackFinished" {
			out.Kind = callflow.PlaybackFinished
			// A missing sound: PlaybackStarted, then PlaybackFinished
			// "failed" within milliseconds (the log names the file).
			out.Failed = ev.Playback.State == "failed"
			if out.Failed {
				out.Reason = "Asterisk could not play it (a missing sound?)"
			}
		}
	case "Dial":
		// The dialled channel is the peer; an originate has no caller.
		// Dial.dialstatus is the reliable outcome: a busy or congested
		// target is destroyed with cause 0.
		if ev.Peer == nil {
			return out, false
		}
		out.Kind, out.Channel = callflow.Dialled, ev.Peer.ID
		switch ev.DialStatus {
		case "", "RINGING", "PROGRESS", "PROCEEDING":
			return out, false
		case "ANSWER":
			out.Dial = callflow.DialAnswered
		case "NOANSWER":
			out.Dial = callflow.DialNoAnswer
		default: // BUSY, CONGESTION, CHANUNAVAIL, CANCEL, DONTCALL, ...
			out.Dial = callflow.DialBusy
		}
	case "ChannelEnteredBridge", "ChannelLeftBridge":
		if ev.Bridge == nil {
			return out, false
		}
		out.Kind, out.Bridge = callflow.JoinedBridge, ev.Bridge.ID
		if ev.Type == "ChannelLeftBridge" {
			out.Kind = callflow.LeftBridge
		}
	case "ChannelTransfer":
		// A phone's REFER (PJSIP_TRANSFER_HANDLING()=ari-only). Asterisk
		// echoes every progress we report as another ChannelTransfer
		// carrying its state: only the request itself matters.
		tr := ev.Transfer
		if tr == nil || tr.State != "" {
			return out, false
		}
		out.Kind = callflow.TransferRequested
		out.Transfer = &callflow.PhoneTransfer{
			Destination: tr.Destination, Source: tr.SourceChannel,
			Attended: tr.DestinationChannel != "" || tr.ProtocolID != "",
		}
		t.mu.Lock()
		t.referAt[tr.SourceChannel] = time.Now()
		t.mu.Unlock()
	default:
		return out, false
	}
	return out, true
}

// Answer answers a channel.
func (t *Telephony) Answer(ctx context.Context, channelID string) error {
	return t.c.Answer(ctx, channelID)
}

// Hangup hangs a channel up: congestion tells the dialplan (or trunk)
// that the hotline could not take the call.
func (t *Telephony) Hangup(ctx context.Context, channelID string, cause callflow.HangupCause) error {
	reason := "normal"
	if cause == callflow.HangupCongestion {
		reason = "congestion"
	}
	t.forget(channelID)
	return t.c.Hangup(ctx, channelID, reason)
}

// Originate dials a channel for the call flow. It offers ulaw (left to
// itself Asterisk negotiates slin192 on Local channels and resamples hold
// music for every waiting caller; it refuses formats together with an
// originator, so none is named). InterceptTransfers sets
// PJSIP_TRANSFER_HANDLING()=ari-only on a PJSIP channel, so that the
// phone's transfer button reaches the call flow. Asterisk answering with
// an error status (500 "Allocation failed" for a phone not registered)
// wraps callflow.ErrDialRefused.
func (t *Telephony) Originate(ctx context.Context, req callflow.OriginateRequest) error {
	r := OriginateRequest{
		ChannelID: req.ChannelID, Endpoint: req.Endpoint, App: req.App, AppArgs: req.AppArgs,
		CallerID: req.CallerID, Timeout: req.Timeout, Formats: "ulaw",
	}
	if req.InterceptTransfers && strings.HasPrefix(req.Endpoint, "PJSIP/") {
		r.Variables = map[string]string{"PJSIP_TRANSFER_HANDLING()": "ari-only"}
	}
	_, err := t.c.Originate(ctx, r)
	var he *HTTPError
	if errors.As(err, &he) {
		return fmt.Errorf("%w: %w", callflow.ErrDialRefused, err)
	}
	return err
}

// Play plays media to a channel.
func (t *Telephony) Play(ctx context.Context, channelID, playbackID string, media []string, lang string) error {
	_, err := t.c.Play(ctx, channelID, playbackID, media, lang)
	return err
}

// StopPlayback stops a playback.
func (t *Telephony) StopPlayback(ctx context.Context, playbackID string) error {
	return t.c.StopPlayback(ctx, playbackID)
}

// StartMOH and StopMOH start and stop music on hold on a channel.
func (t *Telephony) StartMOH(ctx context.Context, channelID, class string) error {
	return t.c.StartMOH(ctx, channelID, class)
}

// StopMOH stops a channel's music on hold.
func (t *Telephony) StopMOH(ctx context.Context, channelID string) error {
	return t.c.StopMOH(ctx, channelID)
}

// CreateConversation makes a conversation bridge. Asterisk moves a plain
// mixing bridge of two PJSIP legs with the same codec to native RTP,
// where media (and the agents' feature codes) flow phone to phone and no
// ChannelDtmfReceived is raised: *2, # and the rest would do nothing.
// "dtmf_events" keeps the bridge out of native RTP, so every digit reaches
// the call flow; Join adds every channel with absorbDTMF, so no digit
// reaches the other party: the caller never hears, or receives, the
// agent's codes (nor the agent the caller's). The cost is that Asterisk
// relays the conversation's media itself, which it does anyway for hold
// music and whispers.
func (t *Telephony) CreateConversation(ctx context.Context, bridgeID, name string) error {
	_, err := t.c.CreateBridge(ctx, bridgeID, "mixing,dtmf_events", name)
	return err
}

// Join adds channels to a conversation bridge, absorbing their digits.
func (t *Telephony) Join(ctx context.Context, bridgeID string, channelIDs ...string) error {
	return t.c.AddToBridge(ctx, bridgeID, JoinOptions{AbsorbDTMF: true}, channelIDs...)
}

// Unjoin takes channels out of a bridge.
func (t *Telephony) Unjoin(ctx context.Context, bridgeID string, channelIDs ...string) error {
	return t.c.RemoveFromBridge(ctx, bridgeID, channelIDs...)
}

// DestroyBridge destroys a bridge.
func (t *Telephony) DestroyBridge(ctx context.Context, bridgeID string) error {
	return t.c.DestroyBridge(ctx, bridgeID)
}

// referSettle is how long after a phone's REFER reached us its first
// transfer_progress waits. Asterisk 22.10 publishes the ChannelTransfer
// event before it records the REFER's state (res_pjsip_refer.c,
// refer_incoming_ari_request: ari_notify, then progress->ari_state): a
// transfer_progress that overtakes that assignment dereferences NULL and
// Asterisk crashes (seen once on a real Asterisk with a real phone). The
// assignment follows at once; this leaves it ample time.
const referSettle = 100 * time.Millisecond

// ReportTransfer tells a phone that asked to transfer how it went (a
// NOTIFY of 100, 200, 503 or 603), no sooner than referSettle after it
// asked.
func (t *Telephony) ReportTransfer(ctx context.Context, channelID string, outcome callflow.TransferOutcome) error {
	state := map[callflow.TransferOutcome]string{
		callflow.TransferProceeding:  TransferStateProgress,
		callflow.TransferDone:        TransferStateAnswered,
		callflow.TransferUnavailable: TransferStateUnavailable,
		callflow.TransferRefused:     TransferStateDeclined,
	}[outcome]
	if state == "" {
		return fmt.Errorf("report transfer %s: outcome %d", channelID, outcome)
	}
	t.mu.Lock()
	at := t.referAt[channelID]
	t.mu.Unlock()
	if d := referSettle - time.Since(at); !at.IsZero() && d > 0 {
		tm := time.NewTimer(d)
		select {
		case <-tm.C:
		case <-ctx.Done():
			tm.Stop()
			return ctx.Err()
		}
	}
	return t.c.TransferProgress(ctx, channelID, state)
}

// Whisper makes a snoop channel that whispers into channelID (heard by it
// alone) and enters app.
func (t *Telephony) Whisper(ctx context.Context, channelID, whisperID, app string, appArgs []string) error {
	_, err := t.c.Snoop(ctx, channelID, whisperID, "none", "out", app, appArgs)
	return err
}

// HandBack sets vars on a channel and continues it in the dialplan after
// its Stasis().
func (t *Telephony) HandBack(ctx context.Context, channelID string, vars map[string]string) error {
	for name, value := range vars {
		if err := t.c.SetVar(ctx, channelID, name, value); err != nil {
			return err
		}
	}
	t.forget(channelID)
	return t.c.Continue(ctx, channelID)
}

// Move takes a channel into app.
func (t *Telephony) Move(ctx context.Context, channelID, app string, appArgs []string) error {
	return t.c.Move(ctx, channelID, app, appArgs)
}

// Channels lists every channel.
func (t *Telephony) Channels(ctx context.Context) ([]callflow.Channel, error) {
	chans, err := t.c.Channels(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]callflow.Channel, len(chans))
	for i, ch := range chans {
		out[i] = callflow.Channel{ID: ch.ID, Name: ch.Name, Language: ch.Language, CallerNumber: ch.CallerNumber}
	}
	return out, nil
}

// Bridges lists every bridge.
func (t *Telephony) Bridges(ctx context.Context) ([]callflow.Bridge, error) {
	bs, err := t.c.Bridges(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]callflow.Bridge, len(bs))
	for i, b := range bs {
		out[i] = callflow.Bridge{ID: b.ID, Channels: b.Channels}
	}
	return out, nil
}

// forget drops what is kept about a channel that is gone from us.
func (t *Telephony) forget(channelID string) {
	t.mu.Lock()
	delete(t.referAt, channelID)
	t.mu.Unlock()
}
