package asterisksim

import "maps"

// ChannelInfo is a test's view of one live channel.
type ChannelInfo struct {
	ID, Name, State string
	CallerName      string
	CallerNumber    string
	Context, Exten  string // where the channel is in the dialplan
	StasisApp       string // empty when not in Stasis
	Subscribers     []string
	Bridge          string // bridge id, or empty
	PeerID          string // the other half of a pair, or empty
	Vars            map[string]string
}

// Channel returns a snapshot of a live channel.
func (s *Server) Channel(id string) (ChannelInfo, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.channels[id]
	if c == nil {
		return ChannelInfo{}, false
	}
	info := ChannelInfo{
		ID: c.snap.ID, Name: c.snap.Name, State: c.snap.State,
		CallerName: c.snap.Caller.Name, CallerNumber: c.snap.Caller.Number,
		Context: c.snap.Dialplan.Context, Exten: c.snap.Dialplan.Exten,
		StasisApp: c.stasisApp, Subscribers: c.subs.apps(),
		Vars: maps.Clone(c.vars),
	}
	if c.bridge != nil {
		info.Bridge = c.bridge.id
	}
	if p := c.livePeer(); p != nil {
		info.PeerID = p.snap.ID
	}
	return info, true
}

// ChannelIDs lists the ids of the live channels (in no particular order).
func (s *Server) ChannelIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.channels))
	for id := range s.channels {
		out = append(out, id)
	}
	return out
}

// BridgeChannels returns the ids of the channels in a bridge.
func (s *Server) BridgeChannels(id string) ([]string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.bridges[id]
	if b == nil {
		return nil, false
	}
	return b.snapshot().Channels, true
}
