package asterisksim

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
)

// transfer is a REFER the application has been told about and has not yet
// finished reporting progress on.
type transfer struct {
	referTo    map[string]any
	referredBy map[string]any
}

// Refer simulates the phone on channelID sending an in-dialog REFER while
// the channel has PJSIP_TRANSFER_HANDLING()=ari-only: Asterisk does not
// transfer anything, it emits ChannelTransfer to the application. With
// replacesChannelID empty it is a blind transfer to destination (file 06,
// or file 08's shape when the channel is in no bridge); otherwise an
// attended one whose consultation channel is replacesChannelID (file 07).
// The application then reports with POST /channels/{id}/transfer_progress,
// each of which emits a further ChannelTransfer carrying "state".
func (s *Server) Refer(channelID, destination, replacesChannelID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("refer: %w", ErrClosed)
	}
	c := s.channels[channelID]
	if c == nil {
		return fmt.Errorf("refer %s: %w", channelID, ErrChannelNotFound)
	}
	if c.stasisApp == "" {
		return fmt.Errorf("refer %s: %w", channelID, ErrNotInStasis)
	}
	dest := map[string]any{"destination": destination}
	referTo := map[string]any{"requested_destination": dest}
	if replacesChannelID != "" {
		rc := s.channels[replacesChannelID]
		if rc == nil {
			return fmt.Errorf("refer %s: replaces %s: %w", channelID, replacesChannelID, ErrChannelNotFound)
		}
		pid := rc.snap.ProtocolID
		if pid == "" {
			pid = rc.snap.ID + "@asterisksim"
		}
		dest["protocol_id"] = pid
		dest["additional_protocol_params"] = []map[string]string{
			{"parameter_name": "from", "parameter_value": randTag()},
			{"parameter_name": "to", "parameter_value": randTag()},
		}
		referTo["destination_channel"] = rc.pub
	}
	referredBy := map[string]any{"source_channel": c.pub}
	if b := c.bridge; b != nil {
		bj := b.snapshot()
		bj.Technology = "native_rtp" // the transfer framehook flips it (README)
		referredBy["bridge"] = bj
		for _, o := range b.chans {
			if o != c {
				referredBy["connected_channel"] = o.pub
				break
			}
		}
	}
	c.transfer = &transfer{referTo: referTo, referredBy: referredBy}
	s.emit(s.recipients(c), "ChannelTransfer", event{"refer_to": referTo, "referred_by": referredBy})
	return nil
}

// transferStates are the values transfer_progress accepts.
func validTransferState(st string) bool {
	switch st {
	case "channel_progress", "channel_answered", "channel_unavailable", "channel_declined":
		return true
	}
	return false
}

// transferProgress emits the follow-up ChannelTransfer for c's pending REFER.
// Callers hold s.mu and have validated state.
func (s *Server) transferProgress(c *channel, state string) {
	t := c.transfer
	if t == nil {
		return // nothing pending: Asterisk accepts it and nothing happens
	}
	by := maps.Clone(t.referredBy)
	if bj, ok := by["bridge"].(bridgeJSON); ok {
		if state == "channel_progress" {
			bj.Technology = "simple_bridge"
		}
		by["bridge"] = bj
	}
	s.emit(s.recipients(c), "ChannelTransfer", event{"refer_to": t.referTo, "referred_by": by, "state": state})
}

func randTag() string {
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}
