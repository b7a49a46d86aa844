package asterisksim

import (
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

// bridge is an app-created bridge; media is notional, only membership is kept.
type bridge struct {
	id, name, typ, tech, created string
	chans                        []*channel
	subs                         []string // apps that get BridgeDestroyed etc.
	playbacks                    []*playback
}

func (b *bridge) snapshot() bridgeJSON {
	ids := make([]string, len(b.chans))
	for i, c := range b.chans {
		ids[i] = c.snap.ID
	}
	return bridgeJSON{BridgeClass: "stasis", BridgeType: b.typ, Channels: ids, Creationtime: b.created,
		Creator: "Stasis", ID: b.id, Name: b.name, Technology: b.tech, VideoMode: "talker"}
}

func union(a, b []string) []string {
	if len(b) == 0 {
		return a
	}
	out := slices.Clone(a)
	for _, x := range b {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

func (s *Server) addToBridge(b *bridge, c *channel) {
	if c.bridge == b {
		return
	}
	s.leaveBridge(c)
	b.chans = append(b.chans, c)
	c.bridge = b
	if c.stasisApp != "" && !slices.Contains(b.subs, c.stasisApp) {
		b.subs = append(b.subs, c.stasisApp)
	}
	s.emit(union(c.recipients(), b.subs), "ChannelEnteredBridge", event{"bridge": b.snapshot(), "channel": c.snap})
}

func (s *Server) leaveBridge(c *channel) {
	b := c.bridge
	if b == nil {
		return
	}
	c.bridge = nil
	b.chans = slices.DeleteFunc(b.chans, func(x *channel) bool { return x == c })
	s.emit(union(c.recipients(), b.subs), "ChannelLeftBridge", event{"bridge": b.snapshot(), "channel": c.snap})
}

func (s *Server) destroyBridge(b *bridge) {
	for len(b.chans) > 0 {
		s.leaveBridge(b.chans[0])
	}
	for _, p := range slices.Clone(b.playbacks) {
		s.finishPlayback(p, "done")
	}
	delete(s.bridges, b.id)
	s.emit(b.subs, "BridgeDestroyed", event{"bridge": b.snapshot()})
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
type playback struct {
	id, lang, state string
	media           []string
	idx             int
	ch              *channel
	br              *bridge
	timer           *time.Timer
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

func (p *playback) recipients() []string {
	if p.ch != nil {
		return p.ch.recipients()
	}
	return p.br.subs
}

// mediaOutcome says what playing one item does.
type mediaOutcome int

const (
	mediaPlays   mediaOutcome = iota // plays for PlaybackDuration
	mediaMissing                     // fails at once
	mediaEndless                     // plays until stopped (tones, unknown schemes)
)

func (s *Server) mediaOutcome(media string) mediaOutcome {
	scheme, name, ok := strings.Cut(media, ":")
	if !ok {
		return mediaEndless
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
	}
	// tone: loops until stopped; an unsupported scheme starts and never
	// finishes (file 04).
	return mediaEndless
}

func (s *Server) duration(media string) time.Duration {
	if s.opts.PlaybackDuration != nil {
		return s.opts.PlaybackDuration(media)
	}
	return DefaultPlaybackDuration
}

// startPlayback emits PlaybackStarted and arms the timer of the first item.
// The REST answer carries state "queued", as recorded.
func (s *Server) startPlayback(p *playback) {
	s.playbacks[p.id] = p
	if p.ch != nil {
		p.ch.playbacks = append(p.ch.playbacks, p)
	} else {
		p.br.playbacks = append(p.br.playbacks, p)
	}
	p.state = "playing"
	s.emit(p.recipients(), "PlaybackStarted", event{"playback": p.snapshot()})
	s.armPlayback(p)
}

func (s *Server) armPlayback(p *playback) {
	switch s.mediaOutcome(p.media[p.idx]) {
	case mediaMissing:
		s.finishPlayback(p, "failed")
	case mediaEndless:
	case mediaPlays:
		p.timer = time.AfterFunc(s.duration(p.media[p.idx]), func() { s.playbackTick(p) })
	}
}

func (s *Server) playbackTick(p *playback) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.playbacks[p.id] != p {
		return
	}
	p.timer = nil
	if p.idx+1 < len(p.media) {
		p.idx++
		s.emit(p.recipients(), "PlaybackContinuing", event{"playback": p.snapshot()})
		s.armPlayback(p)
		return
	}
	s.finishPlayback(p, "done")
}

func (s *Server) finishPlayback(p *playback, state string) {
	if s.playbacks[p.id] != p {
		return
	}
	if p.timer != nil {
		p.timer.Stop()
		p.timer = nil
	}
	delete(s.playbacks, p.id)
	if p.ch != nil {
		p.ch.playbacks = slices.DeleteFunc(p.ch.playbacks, func(x *playback) bool { return x == p })
	} else {
		p.br.playbacks = slices.DeleteFunc(p.br.playbacks, func(x *playback) bool { return x == p })
	}
	p.state = state
	s.emit(p.recipients(), "PlaybackFinished", event{"playback": p.snapshot()})
}

// stopPlaybacks ends c's playbacks when it hangs up (state "done"). A
// playback of an unsupported scheme never reports finishing, not even then
// (file 04).
func (s *Server) stopPlaybacks(c *channel) {
	for len(c.playbacks) > 0 {
		p := c.playbacks[0]
		if s.unsupportedScheme(p.media[p.idx]) {
			if p.timer != nil {
				p.timer.Stop()
			}
			delete(s.playbacks, p.id)
			c.playbacks = c.playbacks[1:]
			continue
		}
		s.finishPlayback(p, "done")
	}
}

func (s *Server) unsupportedScheme(media string) bool {
	scheme, _, _ := strings.Cut(media, ":")
	switch scheme {
	case "sound", "digits", "number", "characters", "recording", "tone":
		return false
	}
	return true
}
