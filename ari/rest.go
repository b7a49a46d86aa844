package ari

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// OriginateRequest describes a new outgoing channel. Either App (the
// channel enters Stasis with AppArgs when answered) or Context/Extension
// (it runs dialplan) is required. A zero Timeout means Asterisk's default
// of 30 s. Formats defaults to DefaultFormats and is not sent with an
// Originator, whose formats the new channel takes. Variables are set on the
// channel before it dials and may be functions, e.g.
// "PJSIP_TRANSFER_HANDLING()": "ari-only".
type OriginateRequest struct {
	ChannelID, OtherChannelID string
	Endpoint                  string // "PJSIP/agent100", "Local/100@agents"
	App                       string
	AppArgs                   []string
	CallerID                  string // `"Hotline" <5550000>`
	Timeout                   time.Duration
	Formats                   string
	Variables                 map[string]string
	Originator                string // channel id whose codecs and linked id the new channel takes
	Context, Extension        string
	Priority                  int
}

var errEmptyID = errors.New("empty id")

func (r OriginateRequest) query(create bool) url.Values {
	q := url.Values{"endpoint": {r.Endpoint}}
	add := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	add("app", r.App)
	if len(r.AppArgs) > 0 {
		q.Set("appArgs", strings.Join(r.AppArgs, ","))
	}
	add("channelId", r.ChannelID)
	add("otherChannelId", r.OtherChannelID)
	if r.Originator != "" {
		// Asterisk refuses originator together with formats (400
		// "Originator and formats can't both be specified"): the new
		// channel takes the originator's formats.
		q.Set("originator", r.Originator)
	} else {
		formats := r.Formats
		if formats == "" {
			formats = DefaultFormats
		}
		q.Set("formats", formats)
	}
	if create { // /channels/create takes none of the dialplan or dial parameters
		return q
	}
	add("callerId", r.CallerID)
	if r.Timeout > 0 {
		q.Set("timeout", strconv.Itoa(seconds(r.Timeout)))
	}
	add("context", r.Context)
	add("extension", r.Extension)
	if r.Priority > 0 {
		q.Set("priority", strconv.Itoa(r.Priority))
	}
	return q
}

func (r OriginateRequest) body() any {
	if len(r.Variables) == 0 {
		return nil
	}
	return map[string]map[string]string{"variables": r.Variables}
}

// seconds rounds a positive duration up to whole seconds, ARI's unit.
func seconds(d time.Duration) int {
	return int(math.Ceil(d.Seconds()))
}

func (c *Client) channelOp(ctx context.Context, op, method, id string, sub []string, q url.Values) error {
	if id == "" {
		return fmt.Errorf("%s: %w", op, errEmptyID)
	}
	return c.do(ctx, call{op: op, id: id, method: method, path: append([]string{"channels", id}, sub...), query: q})
}

// Answer answers a channel. Retry is safe.
func (c *Client) Answer(ctx context.Context, channelID string) error {
	return c.channelOp(ctx, "answer", http.MethodPost, channelID, []string{"answer"}, nil)
}

// Ring indicates ringing to the caller. Retry is safe.
func (c *Client) Ring(ctx context.Context, channelID string) error {
	return c.channelOp(ctx, "ring", http.MethodPost, channelID, []string{"ring"}, nil)
}

// StopRing stops the ringing indication. Retry is safe.
func (c *Client) StopRing(ctx context.Context, channelID string) error {
	return c.channelOp(ctx, "stop ring", http.MethodDelete, channelID, []string{"ring"}, nil)
}

// Hangup hangs a channel up. reason is ARI's ("normal", "busy",
// "congestion", "no_answer", ...); empty means normal. Retry is safe: a
// repeated hangup returns ErrCallGone.
func (c *Client) Hangup(ctx context.Context, channelID, reason string) error {
	var q url.Values
	if reason != "" {
		q = url.Values{"reason": {reason}}
	}
	return c.channelOp(ctx, "hangup", http.MethodDelete, channelID, nil, q)
}

// Originate creates a channel and dials it at once. Retry is safe only with
// a ChannelID (a duplicate is refused with a 409 *HTTPError); without one a
// retry may ring the endpoint twice. Allocation failures (unknown or
// unregistered endpoint) are a 500 *HTTPError; a failure at the far end
// comes later as Dial/ChannelDestroyed events.
func (c *Client) Originate(ctx context.Context, req OriginateRequest) (Channel, error) {
	var w wireChannel
	err := c.do(ctx, call{op: "originate", id: req.Endpoint, method: http.MethodPost, path: []string{"channels"},
		query: req.query(false), body: req.body(), out: &w})
	return decodedChannel(&w, "originate", req.Endpoint, err)
}

// Create creates a channel without dialling it (it enters Stasis in state
// Down); Dial rings it. This is the stage-subscribe-execute form: set
// things up between Create and Dial so a fast failure is not missed. Only
// the channel, app and format fields of req are used. Retry is safe only
// with a ChannelID.
func (c *Client) Create(ctx context.Context, req OriginateRequest) (Channel, error) {
	var w wireChannel
	err := c.do(ctx, call{op: "create", id: req.Endpoint, method: http.MethodPost, path: []string{"channels", "create"},
		query: req.query(true), body: req.body(), out: &w})
	return decodedChannel(&w, "create", req.Endpoint, err)
}

// Dial rings a channel made by Create. caller is the channel id that the
// dialled one is being called for (optional); zero timeout means 30 s.
// Retry is safe: a second dial is refused with 409.
func (c *Client) Dial(ctx context.Context, channelID, caller string, timeout time.Duration) error {
	q := url.Values{}
	if caller != "" {
		q.Set("caller", caller)
	}
	if timeout > 0 {
		q.Set("timeout", strconv.Itoa(seconds(timeout)))
	}
	return c.channelOp(ctx, "dial", http.MethodPost, channelID, []string{"dial"}, q)
}

func decodedChannel(w *wireChannel, op, id string, err error) (Channel, error) {
	if err != nil {
		return Channel{}, err
	}
	ch, err := w.channel()
	if err != nil {
		return Channel{}, fmt.Errorf("%s %s: decode response: %w", op, id, err)
	}
	return *ch, nil
}

// Play starts media on a channel; media are URIs played in order
// ("sound:hotline-welcome", "digits:3", "number:42"), lang picks the
// language ("" for the channel's). With a playbackID, retry is safe (409
// once it exists); without, a retry plays twice. An unplayable file is
// reported by PlaybackFinished with State "failed", not here.
func (c *Client) Play(ctx context.Context, channelID, playbackID string, media []string, lang string) (Playback, error) {
	return c.play(ctx, "play", "channels", channelID, playbackID, media, lang)
}

// PlayOnBridge starts media on a bridge, heard by every channel in it.
// Retry as for Play.
func (c *Client) PlayOnBridge(ctx context.Context, bridgeID, playbackID string, media []string, lang string) (Playback, error) {
	return c.play(ctx, "play on bridge", "bridges", bridgeID, playbackID, media, lang)
}

func (c *Client) play(ctx context.Context, op, kind, id, playbackID string, media []string, lang string) (Playback, error) {
	if id == "" {
		return Playback{}, fmt.Errorf("%s: %w", op, errEmptyID)
	}
	if len(media) == 0 {
		return Playback{}, fmt.Errorf("%s %s: no media", op, id)
	}
	// ARI splits media on commas; a repeated parameter would replace, not add.
	q := url.Values{"media": {strings.Join(media, ",")}}
	if lang != "" {
		q.Set("lang", lang)
	}
	path := []string{kind, id, "play"}
	if playbackID != "" {
		path = append(path, playbackID)
	}
	var w wirePlayback
	if err := c.do(ctx, call{op: op, id: id, method: http.MethodPost, path: path, query: q, out: &w}); err != nil {
		return Playback{}, err
	}
	return Playback{ID: w.ID, MediaURI: w.MediaURI, TargetURI: w.TargetURI, Language: w.Language, State: w.State}, nil
}

// StopPlayback stops a playback. Retry is safe (ErrCallGone once it ended).
func (c *Client) StopPlayback(ctx context.Context, playbackID string) error {
	if playbackID == "" {
		return fmt.Errorf("stop playback: %w", errEmptyID)
	}
	return c.do(ctx, call{op: "stop playback", id: playbackID, method: http.MethodDelete, path: []string{"playbacks", playbackID}})
}

// StartMOH plays music on hold to a channel; class "" is Asterisk's
// default. Retry is safe.
func (c *Client) StartMOH(ctx context.Context, channelID, class string) error {
	return c.channelOp(ctx, "start moh", http.MethodPost, channelID, []string{"moh"}, mohQuery(class))
}

// StopMOH stops a channel's music on hold. Retry is safe.
func (c *Client) StopMOH(ctx context.Context, channelID string) error {
	return c.channelOp(ctx, "stop moh", http.MethodDelete, channelID, []string{"moh"}, nil)
}

// StartBridgeMOH plays music on hold to everyone in a bridge. Retry is safe.
func (c *Client) StartBridgeMOH(ctx context.Context, bridgeID, class string) error {
	return c.bridgeOp(ctx, "start bridge moh", http.MethodPost, bridgeID, []string{"moh"}, mohQuery(class))
}

// StopBridgeMOH stops a bridge's music on hold. Retry is safe.
func (c *Client) StopBridgeMOH(ctx context.Context, bridgeID string) error {
	return c.bridgeOp(ctx, "stop bridge moh", http.MethodDelete, bridgeID, []string{"moh"}, nil)
}

func mohQuery(class string) url.Values {
	if class == "" {
		return nil
	}
	return url.Values{"mohClass": {class}}
}

// SendDTMF sends digits to a channel (on a Local pair they arrive on the
// other half). Not safe to retry: the digits would be sent twice.
func (c *Client) SendDTMF(ctx context.Context, channelID, digits string) error {
	if digits == "" {
		return fmt.Errorf("send dtmf %s: no digits", channelID)
	}
	return c.channelOp(ctx, "send dtmf", http.MethodPost, channelID, []string{"dtmf"}, url.Values{"dtmf": {digits}})
}

// CreateBridge creates a bridge of the given kind ("mixing", "holding";
// "" is mixing; "mixing,dtmf_events" is a mixing bridge Asterisk never
// moves to native RTP, so its channels' DTMF still raises events). With a bridgeID, retry is safe (409 once it exists);
// without, Asterisk picks the id and a retry makes a second bridge.
func (c *Client) CreateBridge(ctx context.Context, bridgeID, kind, name string) (Bridge, error) {
	if kind == "" {
		kind = "mixing"
	}
	q := url.Values{"type": {kind}}
	if name != "" {
		q.Set("name", name)
	}
	path := []string{"bridges"}
	if bridgeID != "" {
		path = append(path, bridgeID)
	}
	var w wireBridge
	if err := c.do(ctx, call{op: "create bridge", id: bridgeID, method: http.MethodPost, path: path, query: q, out: &w}); err != nil {
		return Bridge{}, err
	}
	b, err := bridgeOf(&w)
	if err != nil {
		return Bridge{}, fmt.Errorf("create bridge %s: decode response: %w", bridgeID, err)
	}
	return *b, nil
}

func (c *Client) bridgeOp(ctx context.Context, op, method, id string, sub []string, q url.Values) error {
	if id == "" {
		return fmt.Errorf("%s: %w", op, errEmptyID)
	}
	return c.do(ctx, call{op: op, id: id, method: method, path: append([]string{"bridges", id}, sub...), query: q})
}

// JoinOptions are how channels join a bridge.
type JoinOptions struct {
	// AbsorbDTMF keeps the channels' DTMF out of the bridge: the
	// application still gets ChannelDtmfReceived (in a bridge that raises
	// DTMF events), the other channels receive no digits.
	AbsorbDTMF bool
	// Mute keeps the channels' audio out of the bridge.
	Mute bool
}

// AddToBridge puts channels into a bridge (moving them out of any other).
// Retry is safe. ErrCallGone means the bridge or a channel is gone.
func (c *Client) AddToBridge(ctx context.Context, bridgeID string, opts JoinOptions, channelIDs ...string) error {
	if len(channelIDs) == 0 {
		return fmt.Errorf("add to bridge %s: no channels", bridgeID)
	}
	q := url.Values{"channel": {strings.Join(channelIDs, ",")}}
	if opts.AbsorbDTMF {
		q.Set("absorbDTMF", "true")
	}
	if opts.Mute {
		q.Set("mute", "true")
	}
	return c.bridgeOp(ctx, "add to bridge", http.MethodPost, bridgeID, []string{"addChannel"}, q)
}

// RemoveFromBridge takes channels out of a bridge. Retry is safe, though a
// repeated removal may be refused (422) since the channel is no longer in it.
func (c *Client) RemoveFromBridge(ctx context.Context, bridgeID string, channelIDs ...string) error {
	if len(channelIDs) == 0 {
		return fmt.Errorf("remove from bridge %s: no channels", bridgeID)
	}
	return c.bridgeOp(ctx, "remove from bridge", http.MethodPost, bridgeID, []string{"removeChannel"},
		url.Values{"channel": {strings.Join(channelIDs, ",")}})
}

// DestroyBridge destroys a bridge; channels in it stay up. Retry is safe
// (ErrCallGone once it is gone).
func (c *Client) DestroyBridge(ctx context.Context, bridgeID string) error {
	return c.bridgeOp(ctx, "destroy bridge", http.MethodDelete, bridgeID, nil, nil)
}

// Continue hands a channel in Stasis back to the dialplan, at the
// priority after its Stasis() (Asterisk's default; the application's
// StasisEnd follows). Retry is unsafe once it succeeded: the channel is
// no longer ours (ErrCallGone).
func (c *Client) Continue(ctx context.Context, channelID string) error {
	return c.channelOp(ctx, "continue", http.MethodPost, channelID, []string{"continue"}, nil)
}

// Move takes a channel in another Stasis application into app, with
// appArgs for its StasisStart there. Retry is safe (a channel already in
// app is moved again).
func (c *Client) Move(ctx context.Context, channelID, app string, appArgs []string) error {
	if app == "" {
		// Asterisk 22.10.1 does not check the parameter and crashes.
		return fmt.Errorf("move %s: no application", channelID)
	}
	q := url.Values{"app": {app}}
	if len(appArgs) > 0 {
		q.Set("appArgs", strings.Join(appArgs, ","))
	}
	return c.channelOp(ctx, "move", http.MethodPost, channelID, []string{"move"}, q)
}

// SetVar sets a channel variable or writes a function
// ("PJSIP_TRANSFER_HANDLING()"). Retry is safe.
func (c *Client) SetVar(ctx context.Context, channelID, name, value string) error {
	if name == "" {
		return fmt.Errorf("set variable %s: no name", channelID)
	}
	return c.channelOp(ctx, "set variable", http.MethodPost, channelID, []string{"variable"},
		url.Values{"variable": {name}, "value": {value}})
}

// GetVar reads a channel variable or function ("CALLERID(num)"). A variable
// that is not set gives ErrNoVariable, a channel that is gone ErrCallGone.
// Retry is safe.
func (c *Client) GetVar(ctx context.Context, channelID, name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("get variable %s: no name", channelID)
	}
	if channelID == "" {
		return "", fmt.Errorf("get variable: %w", errEmptyID)
	}
	var out struct {
		Value string `json:"value"`
	}
	err := c.do(ctx, call{op: "get variable", id: channelID, method: http.MethodGet,
		path: []string{"channels", channelID, "variable"}, query: url.Values{"variable": {name}}, out: &out})
	return out.Value, err
}

// Snoop creates a snoop channel on channelID that enters app with appArgs:
// spy and whisper are "none", "in", "out" or "both" (whisper "out" speaks
// to the snooped channel only, e.g. a note read to the agent). With a
// snoopID, retry is safe (409 once it exists).
func (c *Client) Snoop(ctx context.Context, channelID, snoopID, spy, whisper, app string, appArgs []string) (Channel, error) {
	if channelID == "" {
		return Channel{}, fmt.Errorf("snoop: %w", errEmptyID)
	}
	q := url.Values{"app": {app}}
	for k, v := range map[string]string{"snoopId": snoopID, "spy": spy, "whisper": whisper} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if len(appArgs) > 0 {
		q.Set("appArgs", strings.Join(appArgs, ","))
	}
	var w wireChannel
	err := c.do(ctx, call{op: "snoop", id: channelID, method: http.MethodPost,
		path: []string{"channels", channelID, "snoop"}, query: q, out: &w})
	return decodedChannel(&w, "snoop", channelID, err)
}

// Transfer progress states for TransferProgress: each becomes a NOTIFY to
// the phone that sent the REFER (100, 200, 503, 603).
const (
	TransferStateProgress    = "channel_progress"
	TransferStateAnswered    = "channel_answered"
	TransferStateUnavailable = "channel_unavailable"
	TransferStateDeclined    = "channel_declined"
)

// TransferProgress reports the outcome of a phone's REFER that Asterisk
// handed to us as a ChannelTransfer event. Retry sends the phone another
// NOTIFY, which phones accept.
func (c *Client) TransferProgress(ctx context.Context, channelID, state string) error {
	return c.channelOp(ctx, "transfer progress", http.MethodPost, channelID, []string{"transfer_progress"},
		url.Values{"states": {state}})
}

// Channel returns one channel's snapshot. Retry is safe.
func (c *Client) Channel(ctx context.Context, channelID string) (Channel, error) {
	if channelID == "" {
		return Channel{}, fmt.Errorf("get channel: %w", errEmptyID)
	}
	var w wireChannel
	err := c.do(ctx, call{op: "get channel", id: channelID, method: http.MethodGet, path: []string{"channels", channelID}, out: &w})
	return decodedChannel(&w, "get channel", channelID, err)
}

// Channels lists every channel Asterisk has (not only ours), for
// reconciliation after a reconnect. Retry is safe.
func (c *Client) Channels(ctx context.Context) ([]Channel, error) {
	var ws []wireChannel
	if err := c.do(ctx, call{op: "list channels", method: http.MethodGet, path: []string{"channels"}, out: &ws}); err != nil {
		return nil, err
	}
	out := make([]Channel, 0, len(ws))
	for i := range ws {
		ch, err := ws[i].channel()
		if err != nil {
			return nil, fmt.Errorf("list channels: decode response: %w", err)
		}
		out = append(out, *ch)
	}
	return out, nil
}

// Bridges lists every bridge. Retry is safe.
func (c *Client) Bridges(ctx context.Context) ([]Bridge, error) {
	var ws []wireBridge
	if err := c.do(ctx, call{op: "list bridges", method: http.MethodGet, path: []string{"bridges"}, out: &ws}); err != nil {
		return nil, err
	}
	out := make([]Bridge, 0, len(ws))
	for i := range ws {
		b, err := bridgeOf(&ws[i])
		if err != nil {
			return nil, fmt.Errorf("list bridges: decode response: %w", err)
		}
		out = append(out, *b)
	}
	return out, nil
}

// Subscribe subscribes our application to an event source such as
// "channel:ID" or "bridge:ID" (with subscribeAll=false we hear only of
// channels in Stasis and those we originated). Retry is safe.
func (c *Client) Subscribe(ctx context.Context, eventSource string) error {
	if eventSource == "" {
		return fmt.Errorf("subscribe: %w", errEmptyID)
	}
	return c.do(ctx, call{op: "subscribe", id: eventSource, method: http.MethodPost,
		path: []string{"applications", c.opts.Application, "subscription"}, query: url.Values{"eventSource": {eventSource}}})
}
