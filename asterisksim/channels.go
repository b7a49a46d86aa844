package asterisksim

import (
	"slices"
	"strings"
	"time"
)

type callerJSON struct {
	Name   string `json:"name"`
	Number string `json:"number"`
}

type dialplanJSON struct {
	AppData  string `json:"app_data"`
	AppName  string `json:"app_name"`
	Context  string `json:"context"`
	Exten    string `json:"exten"`
	Priority int    `json:"priority"`
}

// channelJSON is ARI's Channel model, field for field as recorded.
type channelJSON struct {
	Accountcode  string       `json:"accountcode"`
	Caller       callerJSON   `json:"caller"`
	Connected    callerJSON   `json:"connected"`
	Creationtime string       `json:"creationtime"`
	Dialplan     dialplanJSON `json:"dialplan"`
	ID           string       `json:"id"`
	Language     string       `json:"language"`
	Name         string       `json:"name"`
	ProtocolID   string       `json:"protocol_id"`
	State        string       `json:"state"`
}

type chanKind uint8

const (
	kindLocal chanKind = iota // one half of a Local/EXTEN@CONTEXT pair
	kindPJSIP                 // a PJSIP channel (half 1) or its simulated phone (half 2)
	kindSnoop
)

// channel is one live channel. Kept small: the bench holds tens of
// thousands. Everything is guarded by Server.mu.
type channel struct {
	snap        channelJSON
	kind        chanKind
	half        int      // 1: the originated half; 2: the half running the dialplan
	peer        *channel // the other half of a pair; nil for snoops
	gone        bool
	stasisApp   string
	subs        []string // applications subscribed to this channel
	bridge      *bridge
	vars        map[string]string
	timer       *time.Timer // no-answer timeout while ringing
	pending     *stasisTarget
	after       *dialTarget // where half 1 goes once answered, without app=
	dialString  string      // as in Dial events
	created     bool        // made by /channels/create and not dialled yet
	dialled     bool        // a /dial was issued on a created channel
	pendingPeer *channel    // half 2 of a created channel, until /dial
	playbacks   []*playback
	snoops      []*channel
	spied       *channel
	transfer    *transfer
}

type stasisTarget struct {
	app  string
	args []string
}

type dialTarget struct {
	context, exten string
}

func (c *channel) stopTimer() {
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
}

// livePeer is the other half if it still exists.
func (c *channel) livePeer() *channel {
	if c.peer != nil && !c.peer.gone {
		return c.peer
	}
	return nil
}

// recipients are the applications that get this channel's events: the one
// it is in Stasis with, and the ones subscribed to it (explicitly, or by
// having originated it).
func (c *channel) recipients() []string {
	if c.stasisApp == "" {
		return c.subs
	}
	if len(c.subs) == 0 {
		return []string{c.stasisApp}
	}
	out := make([]string, 0, len(c.subs)+1)
	out = append(out, c.stasisApp)
	for _, a := range c.subs {
		if a != c.stasisApp {
			out = append(out, a)
		}
	}
	return out
}

func (c *channel) subscribe(app string) {
	if !slices.Contains(c.subs, app) {
		c.subs = append(c.subs, app)
	}
}

// chanEvent emits a channel event to the channel's recipients.
func (s *Server) chanEvent(c *channel, typ string, ev event) {
	apps := c.recipients()
	if len(apps) == 0 {
		return
	}
	if ev == nil {
		ev = make(event, 6)
	}
	ev["channel"] = c.snap
	s.emit(apps, typ, ev)
}

func (s *Server) setState(c *channel, state string) {
	if c.snap.State == state {
		return
	}
	c.snap.State = state
	s.chanEvent(c, "ChannelStateChange", nil)
}

func (s *Server) dialEvent(c *channel, status, dialstring string) {
	apps := c.recipients()
	if len(apps) == 0 {
		return
	}
	s.emit(apps, "Dial", event{"peer": c.snap, "dialstatus": status, "dialstring": dialstring, "forward": ""})
}

func (s *Server) hangupRequest(c *channel, cause int, soft bool) {
	ev := event{"cause": cause}
	if soft {
		ev["soft"] = true
	}
	s.chanEvent(c, "ChannelHangupRequest", ev)
}

func (s *Server) setVar(c *channel, name, value string) {
	switch name {
	case "CALLERID(name)":
		c.snap.Caller.Name = value
	case "CALLERID(num)", "CALLERID(number)":
		c.snap.Caller.Number = value
	case "CALLERID(all)":
		c.snap.Caller = parseCallerID(value)
	default:
		if c.vars == nil {
			c.vars = make(map[string]string, 2)
		}
		c.vars[name] = value
	}
	s.chanEvent(c, "ChannelVarset", event{"variable": name, "value": value})
}

// getVar reads a variable or one of the few dialplan functions the hotline
// asks for.
func (c *channel) getVar(name string) (string, bool) {
	switch name {
	case "CALLERID(name)":
		return c.snap.Caller.Name, true
	case "CALLERID(num)", "CALLERID(number)":
		return c.snap.Caller.Number, true
	case "CHANNEL(state)":
		return c.snap.State, true
	case "CHANNEL(name)":
		return c.snap.Name, true
	case "CHANNEL(uniqueid)", "UNIQUEID":
		return c.snap.ID, true
	case "CHANNEL(language)":
		return c.snap.Language, true
	case "CHANNEL(pjsip,call-id)", "PJSIP_HEADER(read,Call-ID)":
		if c.kind == kindPJSIP && c.snap.ProtocolID != "" {
			return c.snap.ProtocolID, true
		}
	case "CHANNEL(pjsip,remote_addr)":
		if c.kind == kindPJSIP {
			return "127.0.0.1:5060", true
		}
	}
	v, ok := c.vars[name]
	return v, ok
}

// parseCallerID reads `"Name" <number>`, `Name <number>` or a bare number.
func parseCallerID(s string) callerJSON {
	s = strings.TrimSpace(s)
	lt := strings.LastIndexByte(s, '<')
	gt := strings.LastIndexByte(s, '>')
	if lt < 0 || gt < lt {
		return callerJSON{Number: s}
	}
	name := strings.TrimSpace(s[:lt])
	name = strings.Trim(name, `"`)
	return callerJSON{Name: name, Number: strings.TrimSpace(s[lt+1 : gt])}
}

// enterStasis hands c to app. An application with no websocket makes
// Stasis() fail; the channel then falls off the end of the dialplan and
// hangs up, as on Asterisk.
func (s *Server) enterStasis(c *channel, app string, args []string) {
	if !s.connected(app) {
		s.log.Debug("asterisksim: stasis application not connected", "app", app, "channel", c.snap.ID)
		s.endBoth(c, 16)
		return
	}
	if args == nil {
		args = []string{}
	}
	c.stasisApp = app
	// Asterisk sends StasisStart and StasisEnd to the application the
	// channel enters or leaves only (res_stasis app_send), not to the
	// others subscribed to it: the originator of a Local pair must not see
	// its far half entering another application as a new call.
	s.emit([]string{app}, "StasisStart", event{"args": args, "channel": c.snap})
}

func (s *Server) endStasis(c *channel) {
	if c.stasisApp == "" {
		return
	}
	s.emit([]string{c.stasisApp}, "StasisEnd", event{"channel": c.snap})
	c.stasisApp = ""
}

// runDialplan executes context's behaviour on c.
func (s *Server) runDialplan(c *channel, context, exten string) {
	c.snap.Dialplan.Context = context
	c.snap.Dialplan.Exten = exten
	st, ok := s.dialplan[context]
	if !ok {
		s.noSuchContext(c)
		return
	}
	dp := &c.snap.Dialplan
	switch st.kind {
	case kindStasis:
		data, args := st.appData(exten)
		*dp = dialplanJSON{AppName: "Stasis", AppData: data, Context: context, Exten: exten, Priority: st.priority}
		s.enterStasis(c, st.app, args)
	case BehaviourAnswerWait:
		dp.AppName, dp.AppData, dp.Priority = "Answer", "", 2
		s.answer(c)
		if !c.gone {
			dp.AppName, dp.AppData, dp.Priority = "Wait", "3600", 3
		}
	case BehaviourRinging:
		dp.AppName, dp.AppData, dp.Priority = "Ringing", "", 1
		s.ring(c)
		dp.AppName, dp.AppData, dp.Priority = "Wait", "3600", 2
	case BehaviourBusy:
		dp.AppName, dp.AppData = "Busy", "10"
		s.farFails(c, "BUSY", 17)
	case BehaviourCongested:
		dp.AppName, dp.AppData = "Congestion", "10"
		s.farFails(c, "CONGESTION", 34)
	}
}

// noSuchContext: Asterisk destroys the pair at once with cause 0 and no
// hangup request (file 04).
func (s *Server) noSuchContext(c *channel) {
	p := c.livePeer()
	s.finish(c, 0)
	if p != nil {
		s.finish(p, 0)
	}
}

// answer answers c; answering the dialplan half of a pair answers the
// originated half too, which then continues (Stasis or its extension).
func (s *Server) answer(c *channel) {
	if c.snap.State == "Up" {
		return
	}
	s.setState(c, "Up")
	if c.half == 2 {
		if a := c.livePeer(); a != nil && a.snap.State != "Up" {
			s.originatedAnswered(a)
		}
	}
}

func (s *Server) originatedAnswered(a *channel) {
	a.stopTimer()
	s.setState(a, "Up")
	ds := a.dialString
	if a.dialled {
		ds = "" // as recorded for /channels/{id}/dial
	}
	s.dialEvent(a, "ANSWER", ds)
	switch {
	case a.pending != nil:
		p := a.pending
		a.pending = nil
		data := strings.Join(append([]string{p.app}, p.args...), ",")
		a.snap.Dialplan.AppName, a.snap.Dialplan.AppData = "Stasis", data
		s.enterStasis(a, p.app, p.args)
	case a.after != nil:
		t := a.after
		a.after = nil
		s.runDialplan(a, t.context, t.exten)
	}
}

// ring makes the originated half of c's pair ring (the far end alerts).
func (s *Server) ring(c *channel) {
	if c.half != 2 {
		return
	}
	a := c.livePeer()
	if a == nil || a.snap.State != "Down" {
		return
	}
	s.setState(a, "Ringing")
	s.dialEvent(a, "RINGING", a.dialString)
}

// farFails is Busy() or Congestion() on the dialplan half (file 09): the
// originated channel goes with cause 0, the far half with the real cause.
func (s *Server) farFails(c *channel, status string, cause int) {
	a := c.livePeer()
	if c.half != 2 || a == nil {
		s.endBoth(c, cause)
		return
	}
	s.setState(c, "Busy")
	s.dialEvent(a, status, dialStringFor(a))
	s.hangupRequest(c, 0, false)
	s.finish(a, 0)
	s.hangupRequest(c, 16, true)
	s.finish(c, cause)
}

func dialStringFor(a *channel) string {
	if a.dialled {
		return ""
	}
	return a.dialString
}

// noAnswer fires when an originate's (or dial's) timeout passes before
// answer: cause 19 on both halves (file 09).
func (s *Server) noAnswer(a *channel) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || a.gone || a.snap.State == "Up" {
		return
	}
	a.timer = nil
	if a.dialled {
		s.dialEvent(a, "NOANSWER", "")
	}
	p := a.livePeer()
	if p != nil {
		s.hangupRequest(p, 19, false)
	}
	s.finish(a, 19)
	if p != nil {
		s.hangupRequest(p, 16, true)
		s.finish(p, 19)
	}
}

// hangupFromARI is DELETE /channels/{id}: the order of events on both
// halves follows files 01-03 and 11.
func (s *Server) hangupFromARI(c *channel, cause int) {
	s.hangupRequest(c, 32, true)
	if c.stasisApp == "" && c.kind != kindSnoop {
		// The dialplan the channel was running ends too.
		s.hangupRequest(c, 16, true)
	}
	s.endBoth(c, cause)
}

// endBoth ends c, then its peer, the way one half hanging up takes the
// other with it.
func (s *Server) endBoth(c *channel, cause int) {
	p := c.livePeer()
	s.release(c)
	if p != nil {
		s.hangupRequest(p, cause, false)
	}
	s.destroy(c, cause)
	if p != nil {
		s.release(p)
		s.hangupRequest(p, 16, true)
		s.destroy(p, cause)
	}
}

// release stops what c is doing: playbacks, bridge, Stasis.
func (s *Server) release(c *channel) {
	s.stopPlaybacks(c)
	s.leaveBridge(c)
	s.endStasis(c)
}

// finish releases and destroys c, without hangup requests.
func (s *Server) finish(c *channel, cause int) {
	s.release(c)
	s.destroy(c, cause)
}

func (s *Server) destroy(c *channel, cause int) {
	if c.gone {
		return
	}
	c.gone = true
	c.stopTimer()
	c.transfer = nil
	// Snoops die with the channel they spy on, before it is gone.
	for _, sn := range c.snoops {
		sn.spied = nil
		if !sn.gone {
			s.hangupRequest(sn, 16, false)
			s.finish(sn, 16)
		}
	}
	c.snoops = nil
	if sp := c.spied; sp != nil {
		sp.snoops = slices.DeleteFunc(sp.snoops, func(x *channel) bool { return x == c })
	}
	s.chanEvent(c, "ChannelDestroyed", event{"cause": cause, "cause_txt": causeText(cause)})
	delete(s.channels, c.snap.ID)
}

func causeText(cause int) string {
	switch cause {
	case 0:
		return "Unknown"
	case 1:
		return "Unallocated (unassigned) number"
	case 16:
		return "Normal Clearing"
	case 17:
		return "User busy"
	case 18:
		return "No user responding"
	case 19:
		return "User alerting, no answer"
	case 21:
		return "Call Rejected"
	case 26:
		return "Answered elsewhere"
	case 28:
		return "Invalid number format"
	case 31:
		return "Normal, unspecified"
	case 34:
		return "Circuit/channel congestion"
	case 38:
		return "Network out of order"
	case 58:
		return "Bearer capability not available"
	case 127:
		return "Interworking, unspecified"
	}
	return "Unknown"
}

// reasonCause maps ARI's DELETE reason to a cause code.
func reasonCause(reason string) (int, bool) {
	switch reason {
	case "", "normal":
		return 16, true
	case "busy":
		return 17, true
	case "congestion":
		return 34, true
	case "no_answer":
		return 19, true
	case "timeout":
		return 18, true
	case "rejected":
		return 21, true
	case "unallocated":
		return 1, true
	case "normal_unspecified":
		return 31, true
	case "number_incomplete":
		return 28, true
	case "codec_mismatch":
		return 58, true
	case "interworking":
		return 127, true
	case "failure":
		return 38, true
	case "answered_elsewhere":
		return 26, true
	}
	return 0, false
}
