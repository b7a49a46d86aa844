package asterisksim

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// bridgeJSON is ARI's Bridge model as recorded.
type bridgeJSON struct {
	BridgeClass  string   `json:"bridge_class"`
	BridgeType   string   `json:"bridge_type"`
	Channels     []string `json:"channels"`
	Creationtime string   `json:"creationtime"`
	Creator      string   `json:"creator"`
	ID           string   `json:"id"`
	Name         string   `json:"name"`
	Technology   string   `json:"technology"`
	VideoMode    string   `json:"video_mode"`
}

// bridge is an app-created bridge; media is notional, only membership is
// kept. An announcer (music on hold, a playback) counts as a member for
// BRIDGEPEER and connected line, as the channel Asterisk puts in the bridge
// for it does, but is not listed.
type bridge struct {
	id, name, typ, created string
	dtmfEvents             bool
	chans                  []*channel
	subs                   interests // applications that hear of the bridge
	playQ                  []*playback
	moh                    string // the music-on-hold announcer's name, or empty
	player                 string // the playback announcer's name, or empty
}

// technology is what Asterisk reports: a mixing bridge of exactly two
// PJSIP channels goes native_rtp, and then raises no DTMF events, unless it
// was made with dtmf_events (measured with two SIP phones on Asterisk
// 22.10.1; ChannelEnteredBridge and ChannelLeftBridge still show the
// technology from before the join or the departure). Local channels never
// go native (probe dtmf-bridge-mixing).
func (b *bridge) technology() string {
	if b.typ == "holding" {
		return "holding_bridge"
	}
	if b.native() {
		return "native_rtp"
	}
	return "simple_bridge"
}

func (b *bridge) native() bool {
	if b.typ != "mixing" || b.dtmfEvents || len(b.chans) != 2 || b.moh != "" || b.player != "" {
		return false
	}
	for _, c := range b.chans {
		if c.kind != kindPJSIP || c.half != 1 {
			return false
		}
	}
	return true
}

func (b *bridge) snapshot() bridgeJSON {
	ids := make([]string, len(b.chans))
	for i, c := range b.chans {
		ids[i] = c.snap.ID
	}
	return bridgeJSON{BridgeClass: "stasis", BridgeType: b.typ, Channels: ids, Creationtime: b.created,
		Creator: "Stasis", ID: b.id, Name: b.name, Technology: b.technology(), VideoMode: "talker"}
}

// recipients are the applications subscribed to the bridge and those
// subscribed to every bridge.
func (s *Server) bridgeRecipients(b *bridge) []string {
	apps := b.subs.apps()
	for a := range s.allBridge {
		if !slices.Contains(apps, a) {
			apps = append(apps, a)
		}
	}
	slices.Sort(apps)
	return apps
}

func (s *Server) bridgeEvent(b *bridge, typ string, ev event) {
	if apps := s.bridgeRecipients(b); len(apps) > 0 {
		s.emit(apps, typ, ev)
	}
}

// addToBridge joins c to b. The channel's application subscribes to the
// bridge twice (control.c, early enough for ChannelEnteredBridge, and
// res_stasis.c's loop once it sees the bridge): leaving by removal or by
// the bridge's end undoes both, leaving by hangup only one, so an
// application whose channel hung up in a bridge still hears of the bridge.
func (s *Server) addToBridge(b *bridge, c *channel, absorb bool) {
	if c.bridge == b {
		return
	}
	if c.bridge != nil {
		s.leaveBridge(c, leftByRemoval)
	}
	app := c.stasisApp
	c.bridgeApp = app
	b.subs.add(app, 1)
	tech := b.technology() // Asterisk changes technology once the join is done
	b.chans = append(b.chans, c)
	c.bridge = b
	c.absorbDTMF = absorb
	snap := b.snapshot()
	snap.Technology = tech
	s.bridgeEvent(b, "ChannelEnteredBridge", event{"bridge": snap, "channel": c.pub})
	b.subs.add(app, 1)
	s.bridgeChanged(b)
}

type leaveReason int

const (
	leftByRemoval leaveReason = iota // removeChannel, or the bridge's end
	leftByHangup
)

func (s *Server) leaveBridge(c *channel, why leaveReason) {
	b := c.bridge
	if b == nil {
		return
	}
	for _, v := range []string{"BRIDGEPEER", "BRIDGEPVTCALLID"} {
		if c.vars[v] != "" {
			s.varset(c, v, "")
		}
	}
	tech := b.technology()
	c.bridge = nil
	c.absorbDTMF = false
	b.chans = slices.DeleteFunc(b.chans, func(x *channel) bool { return x == c })
	snap := b.snapshot()
	snap.Technology = tech
	s.bridgeEvent(b, "ChannelLeftBridge", event{"bridge": snap, "channel": c.pub})
	if why == leftByHangup {
		b.subs.add(c.bridgeApp, -1)
	} else {
		b.subs.add(c.bridgeApp, -2)
	}
	c.bridgeApp = ""
	s.bridgeChanged(b)
}

// party is a bridge member as the other members see it.
type party struct {
	name   string
	caller callerJSON
	c      *channel // nil for an announcer
}

// parties lists the bridge's members, latest first (the order BRIDGEPEER
// names them in).
func (b *bridge) parties() []party {
	var out []party
	if b.player != "" {
		out = append(out, party{name: b.player})
	}
	if b.moh != "" {
		out = append(out, party{name: b.moh})
	}
	for i := len(b.chans) - 1; i >= 0; i-- {
		c := b.chans[i]
		out = append(out, party{name: c.snap.Name, caller: c.snap.Caller, c: c})
	}
	return out
}

// bridgeChanged updates what the members learn of each other once two or
// more are in: BRIDGEPEER (the others' names) and, between exactly two,
// the connected line (each takes the other's caller id).
func (s *Server) bridgeChanged(b *bridge) {
	ps := b.parties()
	if len(ps) < 2 {
		return
	}
	for i, p := range ps {
		if p.c == nil {
			continue
		}
		names := make([]string, 0, len(ps)-1)
		for j, o := range ps {
			if j != i {
				names = append(names, o.name)
			}
		}
		if v := strings.Join(names, ","); p.c.vars["BRIDGEPEER"] != v {
			s.varset(p.c, "BRIDGEPEER", v)
		}
		// chan_pjsip also names the other PJSIP channel's Call-ID.
		if len(ps) == 2 && p.c.kind == kindPJSIP && p.c.half == 1 {
			if o := ps[1-i].c; o != nil && o.kind == kindPJSIP && o.half == 1 && p.c.vars["BRIDGEPVTCALLID"] != o.snap.ProtocolID {
				s.varset(p.c, "BRIDGEPVTCALLID", o.snap.ProtocolID)
			}
		}
	}
	if len(ps) == 2 {
		for i, p := range ps {
			if p.c != nil {
				s.setConnected(p.c, ps[1-i].caller)
			}
		}
	}
}

func (s *Server) destroyBridge(b *bridge) {
	for len(b.chans) > 0 {
		c := b.chans[0]
		s.leaveBridge(c, leftByRemoval)
		if s.opts.LosePlayAfterBridgeDestroy {
			c.losePlay = true
		}
	}
	for len(b.playQ) > 0 {
		s.endPlayback(b.playQ[0], "failed")
	}
	b.moh, b.player = "", ""
	delete(s.bridges, b.id)
	s.bridgeEvent(b, "BridgeDestroyed", event{"bridge": b.snapshot()})
}

// announcerName names the channel Asterisk puts in a bridge to play to it.
func (s *Server) announcerName(moh bool) string {
	n := s.annSeq
	s.annSeq++
	if moh {
		return fmt.Sprintf("Announcer/ARI_MOH-%08x;2", n)
	}
	return fmt.Sprintf("Announcer/ARI-%08x;2", n)
}

// dtmfArrives is a digit read by c: ChannelDtmfReceived on c (not in a
// native_rtp bridge), then, unless c absorbs DTMF, out to the other members
// of its bridge, whose far sides read it in turn.
func (s *Server) dtmfArrives(c *channel, digit string, dur int, seen map[*channel]bool) {
	if seen[c] {
		return
	}
	seen[c] = true
	b := c.bridge
	if b == nil || !b.native() {
		s.chanEvent(c, "ChannelDtmfReceived", event{"digit": digit, "duration_ms": dur})
	}
	// absorbDTMF keeps a digit out of a bridge that sees it; native_rtp
	// sees none (measured with two SIP phones: the digit reaches the
	// other phone, absorbDTMF or not).
	if b == nil || (c.absorbDTMF && !b.native()) {
		return
	}
	for _, m := range b.chans {
		if m == c {
			continue
		}
		if p := m.livePeer(); p != nil {
			s.dtmfArrives(p, digit, dur, seen)
		}
	}
}

// playbackJSON is ARI's Playback model.
type playbackJSON struct {
	ID           string `json:"id"`
	Language     string `json:"language"`
	MediaURI     string `json:"media_uri"`
	NextMediaURI string `json:"next_media_uri,omitempty"`
	State        string `json:"state"`
	TargetURI    string `json:"target_uri"`
}

// playback plays media items one after another on a channel or bridge.
// Playbacks on one target queue: the first in its queue plays.
type playback struct {
	id, lang, state string
	media           []string
	idx             int
	ch              *channel
	br              *bridge
	timer           *time.Timer
	started         bool
}

// queue is the playback queue of p's target.
func (p *playback) queue() *[]*playback {
	if p.ch != nil {
		return &p.ch.playQ
	}
	return &p.br.playQ
}

func (p *playback) stopTimer() {
	if p.timer != nil {
		p.timer.Stop()
		p.timer = nil
	}
}

func (p *playback) snapshot() playbackJSON {
	j := playbackJSON{ID: p.id, Language: p.lang, MediaURI: p.media[p.idx], State: p.state}
	if p.idx+1 < len(p.media) {
		j.NextMediaURI = p.media[p.idx+1]
	}
	if p.ch != nil {
		j.TargetURI = "channel:" + p.ch.snap.ID
	} else {
		j.TargetURI = "bridge:" + p.br.id
	}
	return j
}

func (s *Server) playbackEvent(p *playback, typ string) {
	ev := event{"playback": p.snapshot()}
	if p.ch != nil {
		// Published on the channel's topic: its subscribers hear it.
		if apps := s.recipients(p.ch); len(apps) > 0 {
			s.emit(apps, typ, ev)
		}
		return
	}
	s.bridgeEvent(p.br, typ, ev)
}

// mediaOutcome says what playing one item does.
type mediaOutcome int

const (
	mediaPlays   mediaOutcome = iota // plays for PlaybackDuration
	mediaMissing                     // fails at once
	mediaEndless                     // plays until stopped (tones)
	mediaSkipped                     // an unsupported scheme: skipped with no report
)

func (s *Server) mediaOutcome(media string) mediaOutcome {
	scheme, name, ok := strings.Cut(media, ":")
	if !ok {
		return mediaSkipped
	}
	switch scheme {
	case "sound":
		if s.sounds != nil {
			if s.sounds[name] {
				return mediaPlays
			}
			return mediaMissing
		}
		if strings.HasPrefix(name, "missing") || strings.HasPrefix(name, "no-such") {
			return mediaMissing
		}
		return mediaPlays
	case "digits", "number", "characters", "recording":
		return mediaPlays
	case "tone":
		return mediaEndless
	}
	return mediaSkipped
}

func (s *Server) duration(media string) time.Duration {
	if s.opts.PlaybackDuration != nil {
		return s.opts.PlaybackDuration(media)
	}
	return DefaultPlaybackDuration
}

// queuePlayback registers p and starts it if nothing plays on its target.
// The REST answer carries state "queued" (or "playing", when Asterisk's
// channel thread was quicker): it is sent before this runs.
func (s *Server) queuePlayback(p *playback) {
	s.playbacks[p.id] = append(s.playbacks[p.id], p)
	q := p.queue()
	*q = append(*q, p)
	if len(*q) == 1 {
		s.startPlayback(p)
	}
}

func (s *Server) startPlayback(p *playback) {
	p.started = true
	if p.br != nil && p.br.player == "" {
		p.br.player = s.announcerName(false)
		s.bridgeChanged(p.br)
	}
	s.startItem(p)
}

// startItem plays item p.idx: PlaybackStarted, then a timer, at once a
// failure, or nothing for a tone (until stopped).
func (s *Server) startItem(p *playback) {
	for {
		p.state = "playing"
		s.playbackEvent(p, "PlaybackStarted")
		switch s.mediaOutcome(p.media[p.idx]) {
		case mediaMissing:
			s.itemDone(p, true)
		case mediaEndless:
		case mediaPlays:
			p.timer = time.AfterFunc(s.duration(p.media[p.idx]), func() { s.playbackTick(p) })
		case mediaSkipped:
			// res_stasis_playback.c skips it without a final update:
			// no Continuing, no Finished.
			if p.idx+1 < len(p.media) {
				p.idx++
				continue
			}
			s.dropPlayback(p)
		}
		return
	}
}

func (s *Server) playbackTick(p *playback) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || p.timer == nil {
		return
	}
	p.timer = nil
	s.itemDone(p, false)
}

// itemDone: the last item ends the playback (done, or failed); any other
// is followed by PlaybackContinuing for it and PlaybackStarted for the next.
func (s *Server) itemDone(p *playback, failed bool) {
	if p.idx+1 >= len(p.media) {
		st := "done"
		if failed {
			st = "failed"
		}
		s.endPlayback(p, st)
		return
	}
	p.state = "continuing"
	s.playbackEvent(p, "PlaybackContinuing")
	p.idx++
	s.startItem(p)
}

// endPlayback reports PlaybackFinished with state and starts the next
// playback on the target.
func (s *Server) endPlayback(p *playback, state string) {
	p.stopTimer()
	p.state = state
	s.playbackEvent(p, "PlaybackFinished")
	s.dropPlayback(p)
}

// dropPlayback forgets p without a report and starts what waits behind it.
func (s *Server) dropPlayback(p *playback) {
	p.stopTimer()
	ps := slices.DeleteFunc(s.playbacks[p.id], func(x *playback) bool { return x == p })
	if len(ps) == 0 {
		delete(s.playbacks, p.id)
	} else {
		s.playbacks[p.id] = ps
	}
	q := p.queue()
	head := len(*q) > 0 && (*q)[0] == p
	*q = slices.DeleteFunc(*q, func(x *playback) bool { return x == p })
	if p.br != nil && len(*q) == 0 && p.br.player != "" {
		p.br.player = ""
		s.bridgeChanged(p.br)
	}
	if head && len(*q) > 0 {
		if p.ch == nil || !p.ch.gone {
			s.startPlayback((*q)[0])
		}
	}
}

// stopPlayback is DELETE /playbacks/{id}: a playing one finishes "done"
// (Asterisk's stopped state reads "done"); a queued one is cancelled, and
// reports "done" without having started.
func (s *Server) stopPlayback(p *playback) {
	s.endPlayback(p, "done")
}

// stopPlaybacks ends c's playbacks when it hangs up: the one playing
// fails; those queued behind it are dropped unreported.
func (s *Server) stopPlaybacks(c *channel) {
	q := slices.Clone(c.playQ)
	c.playQ = nil
	for i, p := range q {
		if i == 0 && p.started {
			p.stopTimer()
			p.state = "failed"
			s.playbackEvent(p, "PlaybackFinished")
		}
		p.stopTimer()
		ps := slices.DeleteFunc(s.playbacks[p.id], func(x *playback) bool { return x == p })
		if len(ps) == 0 {
			delete(s.playbacks, p.id)
		} else {
			s.playbacks[p.id] = ps
		}
	}
}

// findPlayback is the first live playback with that id.
func (s *Server) findPlayback(id string) *playback {
	if ps := s.playbacks[id]; len(ps) > 0 {
		return ps[0]
	}
	return nil
}
