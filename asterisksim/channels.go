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

// interest is how many times an application subscribed to a channel or a
// bridge: Asterisk counts them (res/stasis/app.c), and the application hears
// of the object while the count is above zero.
type interest struct {
	app string
	n   int
}

type interests []interest

func (is *interests) add(app string, d int) {
	if app == "" {
		return
	}
	for i := range *is {
		if (*is)[i].app == app {
			(*is)[i].n += d
			if (*is)[i].n <= 0 {
				*is = slices.Delete(*is, i, i+1)
			}
			return
		}
	}
	if d > 0 {
		*is = append(*is, interest{app, d})
	}
}

func (is interests) has(app string) bool {
	return slices.ContainsFunc(is, func(x interest) bool { return x.app == app })
}

func (is interests) apps() []string {
	out := make([]string, len(is))
	for i, x := range is {
		out[i] = x.app
	}
	return out
}

// channel is one live channel. Kept small: the bench holds tens of
// thousands. Everything is guarded by Server.mu.
//
// snap is the channel as it is now; pub is the snapshot Asterisk last
// published, which is what events carry. Publishing compares the two the
// way res/stasis/app.c does and raises ChannelStateChange (or
// ChannelDestroyed), ChannelDialplan, ChannelCallerId and
// ChannelConnectedLine, in that order. Some changes (a Local half's caller
// taken from its peer's connected line) are not published when they happen
// and show only with the next snapshot.
type channel struct {
	snap       channelJSON
	pub        channelJSON
	published  bool
	kind       chanKind
	half       int      // 1: the originated half; 2: the half running the dialplan
	peer       *channel // the other half of a pair; nil for snoops
	gone       bool
	cause      int  // hangup cause, once known
	causeSet   bool // cause was set by the dialplan (Busy, Congestion)
	inPBX      bool // runs the dialplan: its hangup ends a PBX too
	stasisApp  string
	prevApp    [2]string // dialplan application and data to restore after Stasis
	subs       interests
	bridge     *bridge
	absorbDTMF bool // joined its bridge with absorbDTMF=true
	losePlay   bool // fault knob: the next play is lost (LosePlayAfterBridgeDestroy)
	vars       map[string]string
	timer      *time.Timer // no-answer timeout while ringing
	pending    *stasisTarget
	after      *dialTarget // where half 1 goes once answered, without app=
	dialString string      // as in Dial events
	created    bool        // made by /channels/create
	dialled    bool        // a /dial was issued on a created channel
	playQ      []*playback // playbacks on this channel; the first one plays
	snoops     []*channel
	spied      *channel
	transfer   *transfer
	bridgeApp  string   // the application that subscribed to bridge for it
	dpWait     *dpWait  // a dialplan application it waits in (Playback, Dial)
	dpCause    int      // the cause a Dial() left, for Hangup()
	byDial     *appDial // half 1 of a pair a Dial() application rings
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

// recipients are the applications that hear of this channel: those
// subscribed to it (by originating it, by a subscription, or by having it
// in Stasis), and those subscribed to every channel.
func (s *Server) recipients(c *channel) []string {
	apps := c.subs.apps()
	for a := range s.allChan {
		if !slices.Contains(apps, a) {
			apps = append(apps, a)
		}
	}
	return apps
}

// publish emits what changed since the last published snapshot. Callers
// hold s.mu.
func (s *Server) publish(c *channel) {
	if !c.published {
		// The first snapshot is a ChannelCreated, which only an
		// application subscribed to every channel can hear.
		c.pub, c.published = c.snap, true
		for a := range s.allChan {
			s.emit([]string{a}, "ChannelCreated", event{"channel": c.snap})
		}
		return
	}
	old := c.pub
	c.pub = c.snap
	apps := s.recipients(c)
	if len(apps) == 0 {
		return
	}
	cur := c.snap
	switch {
	case c.gone:
		s.emit(apps, "ChannelDestroyed", event{"cause": c.cause, "cause_txt": causeText(c.cause), "channel": cur})
	case old.State != cur.State:
		s.emit(apps, "ChannelStateChange", event{"channel": cur})
	}
	if cur.Dialplan.AppName != "" && (old.Dialplan.AppName == "" || old.Dialplan.Priority != cur.Dialplan.Priority ||
		old.Dialplan.Context != cur.Dialplan.Context || old.Dialplan.Exten != cur.Dialplan.Exten) {
		s.emit(apps, "ChannelDialplan", event{"dialplan_app": cur.Dialplan.AppName, "dialplan_app_data": cur.Dialplan.AppData, "channel": cur})
	}
	if old.Caller != cur.Caller {
		s.emit(apps, "ChannelCallerId", event{"caller_presentation": 0,
			"caller_presentation_txt": "Presentation Allowed, Not Screened", "channel": cur})
	}
	if old.Connected != cur.Connected {
		s.emit(apps, "ChannelConnectedLine", event{"channel": cur})
	}
}

// chanEvent emits a channel event, carrying the published snapshot, to the
// channel's recipients.
func (s *Server) chanEvent(c *channel, typ string, ev event) {
	apps := s.recipients(c)
	if len(apps) == 0 {
		return
	}
	if ev == nil {
		ev = make(event, 6)
	}
	ev["channel"] = c.pub
	s.emit(apps, typ, ev)
}

func (s *Server) setState(c *channel, state string) {
	if c.snap.State == state {
		return
	}
	c.snap.State = state
	s.publish(c)
}

// setApp moves the channel to a dialplan application and publishes it.
func (s *Server) setApp(c *channel, app, data string, priority int) {
	c.snap.Dialplan.AppName, c.snap.Dialplan.AppData = app, data
	if priority > 0 {
		c.snap.Dialplan.Priority = priority
	}
	s.publish(c)
}

func (s *Server) dialEvent(c *channel, status, dialstring string) {
	apps := s.recipients(c)
	if len(apps) == 0 {
		return
	}
	s.emit(apps, "Dial", event{"peer": c.pub, "dialstatus": status, "dialstring": dialstring, "forward": ""})
}

func (s *Server) hangupRequest(c *channel, cause int, soft bool) {
	ev := event{"cause": cause}
	if soft {
		ev["soft"] = true
	}
	s.chanEvent(c, "ChannelHangupRequest", ev)
}

// varset sets a plain channel variable and reports it.
func (s *Server) varset(c *channel, name, value string) {
	if c.vars == nil {
		c.vars = make(map[string]string, 2)
	}
	c.vars[name] = value
	s.chanEvent(c, "ChannelVarset", event{"variable": name, "value": value})
}

// setVar is what Set() does: a dialplan function changes the channel (a
// caller id change is published as ChannelCallerId, with no ChannelVarset),
// a plain variable is set and reported. With quiet, nothing is reported
// (variables given to an originate are set before anyone is subscribed).
func (s *Server) setVar(c *channel, name, value string, quiet bool) {
	switch name {
	case "CALLERID(name)":
		c.snap.Caller.Name = value
	case "CALLERID(num)", "CALLERID(number)":
		c.snap.Caller.Number = value
	case "CALLERID(all)":
		c.snap.Caller = parseCallerID(value)
	default:
		if strings.HasSuffix(name, ")") {
			// Another function (PJSIP_TRANSFER_HANDLING(), ...): kept for
			// reading back, reported by nothing.
			if c.vars == nil {
				c.vars = make(map[string]string, 2)
			}
			c.vars[name] = value
			return
		}
		if quiet {
			if c.vars == nil {
				c.vars = make(map[string]string, 2)
			}
			c.vars[name] = value
			return
		}
		s.varset(c, name, value)
		return
	}
	if !quiet {
		s.publish(c)
	}
}

// getVar reads a variable or one of the few dialplan functions the hotline
// asks for. fn reports that name is a function the simulator does not know
// (Asterisk answers 500 "Unable to read provided function").
func (c *channel) getVar(name string) (value string, ok, unknownFn bool) {
	switch name {
	case "CALLERID(name)":
		return c.snap.Caller.Name, true, false
	case "CALLERID(num)", "CALLERID(number)":
		return c.snap.Caller.Number, true, false
	case "CALLERID(all)":
		if c.snap.Caller.Name == "" {
			return c.snap.Caller.Number, true, false
		}
		return `"` + c.snap.Caller.Name + `" <` + c.snap.Caller.Number + `>`, true, false
	case "CHANNEL(state)":
		return c.snap.State, true, false
	case "CHANNEL(name)":
		return c.snap.Name, true, false
	case "CHANNEL(uniqueid)":
		return c.snap.ID, true, false
	case "CHANNEL(language)":
		return c.snap.Language, true, false
	case "CHANNEL(channeltype)":
		return c.techName(), true, false
	case "CHANNEL(pjsip,call-id)", "PJSIP_HEADER(read,Call-ID)":
		if c.kind == kindPJSIP && c.snap.ProtocolID != "" {
			return c.snap.ProtocolID, true, false
		}
		return "", true, false
	case "CHANNEL(pjsip,remote_addr)":
		if c.kind == kindPJSIP {
			return "127.0.0.1:5060", true, false
		}
		return "", true, false
	}
	v, ok := c.vars[name]
	if !ok && strings.HasSuffix(name, ")") {
		return "", false, true
	}
	return v, ok, false
}

func (c *channel) techName() string {
	switch c.kind {
	case kindPJSIP:
		return "PJSIP"
	case kindSnoop:
		return "Snoop"
	}
	return "Local"
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

// setConnected changes a channel's connected line and publishes it. On a
// Local pair, the other half takes it as its caller id at once, without
// publishing (core_unreal.c): it shows with that half's next snapshot.
func (s *Server) setConnected(c *channel, to callerJSON) {
	if c.snap.Connected == to {
		return
	}
	c.snap.Connected = to
	s.publish(c)
	if p := c.livePeer(); p != nil && c.kind == kindLocal {
		p.snap.Caller = to
	}
}

// enterStasis hands c, whose dialplan already shows Stasis(), to app: the
// Stasis() application sets STASISSTATUS, subscribes app to the channel and
// sends it StasisStart (only to app: res_stasis app_send). It reports false
// when app has no websocket, as Stasis() then fails.
func (s *Server) enterStasis(c *channel, app string, args []string) bool {
	s.varset(c, "STASISSTATUS", "")
	if !s.connected(app) {
		s.log.Debug("asterisksim: stasis application not connected", "app", app, "channel", c.snap.ID)
		s.varset(c, "STASISSTATUS", "FAILED")
		return false
	}
	if args == nil {
		args = []string{}
	}
	c.stasisApp = app
	c.subs.add(app, 1)
	s.emit([]string{app}, "StasisStart", event{"args": args, "channel": c.snap})
	return true
}

// endStasis: StasisEnd goes to the application, which gives up its
// interest in the channel first; STASISSTATUS is then set for whoever else
// listens. The dialplan application shown before Stasis() comes back with
// the next snapshot.
func (s *Server) endStasis(c *channel) {
	app := c.stasisApp
	if app == "" {
		return
	}
	c.stasisApp = ""
	c.subs.add(app, -1)
	s.emit([]string{app}, "StasisEnd", event{"channel": c.pub})
	s.varset(c, "STASISSTATUS", "SUCCESS")
	if !c.inPBX {
		c.snap.Dialplan.AppName, c.snap.Dialplan.AppData = c.prevApp[0], c.prevApp[1]
	}
}

// stasisFromOutside puts a channel that runs no dialplan (an originated ;1
// half, a created channel, a snoop) into Stasis(app,args).
func (s *Server) stasisFromOutside(c *channel, app string, args []string) bool {
	c.prevApp = [2]string{c.snap.Dialplan.AppName, c.snap.Dialplan.AppData}
	s.setApp(c, "Stasis", strings.Join(append([]string{app}, args...), ","), 0)
	return s.enterStasis(c, app, args)
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
	if a.byDial != nil {
		s.dialAnswered(a.byDial)
		return
	}
	ds := a.dialString
	if a.dialled {
		ds = "" // as recorded for /channels/{id}/dial
	}
	s.dialEvent(a, "ANSWER", ds)
	switch {
	case a.pending != nil:
		p := a.pending
		a.pending = nil
		if !s.stasisFromOutside(a, p.app, p.args) {
			s.hangupPair(a, 16, nil)
		}
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
	if a.byDial != nil {
		s.dialRinging(a.byDial)
		return
	}
	s.dialEvent(a, "RINGING", dialStringFor(a))
}

func dialStringFor(a *channel) string {
	if a.dialled {
		return ""
	}
	return a.dialString
}

// hangupReq is the ChannelHangupRequest that starts a channel's end.
type hangupReq struct {
	cause int
	soft  bool
}

// endChannel ends c the way Asterisk takes a channel down, as recorded:
// the hangup request, the bridge and the playbacks it leaves, the end of
// Stasis (StasisEnd, STASISSTATUS), the end of its dialplan (a soft hangup
// request with cause 16), then ChannelDestroyed with the published
// snapshot. Callers hold s.mu.
func (s *Server) endChannel(c *channel, cause int, req *hangupReq) {
	if c.gone {
		return
	}
	if req != nil {
		s.hangupRequest(c, req.cause, req.soft)
	}
	if w := c.dpWait; w != nil {
		// The dialplan application it was in sees the hangup first.
		c.dpWait = nil
		w.stop()
		if w.hangup != nil {
			w.hangup()
		}
	}
	c.stopTimer()
	if c.bridge != nil {
		s.leaveBridge(c, leftByHangup)
	}
	s.stopPlaybacks(c)
	s.endStasis(c)
	if c.inPBX {
		s.hangupRequest(c, 16, true)
		c.snap.Dialplan.AppName, c.snap.Dialplan.AppData = "", ""
	}
	if !c.causeSet {
		c.cause = cause
	}
	c.gone = true
	c.transfer = nil
	// Snoops end with the channel they spy on: they only leave Stasis.
	for _, sn := range c.snoops {
		sn.spied = nil
		s.endChannel(sn, 16, nil)
	}
	c.snoops = nil
	if sp := c.spied; sp != nil {
		sp.snoops = slices.DeleteFunc(sp.snoops, func(x *channel) bool { return x == c })
	}
	s.publish(c)
	delete(s.channels, c.snap.ID)
	if d := c.byDial; d != nil {
		s.dialedGone(d, c.cause)
	}
}

// hangupPair ends c and then its peer, which hears of it as a hangup
// request with the same cause.
//
// The far half of an originate that ends before the originated half
// answered ends its dial: a Dial event with the status of the cause
// (main/dial.c), after the originated half is gone.
func (s *Server) hangupPair(c *channel, cause int, req *hangupReq) {
	p := c.livePeer()
	s.endChannel(c, cause, req)
	if p == nil {
		return
	}
	dialling := c.half == 2 && p.half == 1 && p.byDial == nil && p.snap.State != "Up" &&
		(p.pending != nil || p.after != nil || p.dialled)
	if st, ok := c.vars["DIALSTATUS"]; ok && c.half == 2 && c.kind == kindLocal {
		// core_unreal.c: a far half that ran Dial() tells the other.
		s.varset(p, "CHANLOCALSTATUS", st)
	}
	s.endChannel(p, cause, &hangupReq{cause: cause})
	if dialling {
		s.dialEvent(p, dialStatusOfCause(cause), dialStringFor(p))
	}
}

// hangupFromARI is DELETE /channels/{id}.
func (s *Server) hangupFromARI(c *channel, cause int) {
	s.hangupPair(c, cause, &hangupReq{cause: 32, soft: true})
}

// noAnswer fires when an originate's (or dial's) timeout passes before
// answer: cause 19 on both halves, the far one told by a hangup request.
func (s *Server) noAnswer(a *channel) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || a.gone || a.snap.State == "Up" {
		return
	}
	a.timer = nil
	if a.dialled {
		// A created channel's dial gives up by hanging it up, as a DELETE
		// would (no Dial NOANSWER).
		s.hangupPair(a, 19, &hangupReq{cause: 32, soft: true})
		return
	}
	s.hangupPair(a, 19, nil)
}

// farFails is Busy() or Congestion() on the dialplan half: the originated
// channel fails with cause 0, the far half keeps its own cause.
func (s *Server) farFails(c *channel, status string, cause int) {
	c.cause, c.causeSet = cause, true
	s.setState(c, "Busy")
	a := c.livePeer()
	if c.half != 2 || a == nil {
		s.endChannel(c, cause, nil)
		return
	}
	if a.byDial != nil {
		// Dial() hears the indication, reports it and hangs up.
		s.endChannel(a, cause, nil)
		s.endChannel(c, 0, &hangupReq{cause: 0})
		return
	}
	s.dialEvent(a, status, dialStringFor(a))
	s.endChannel(a, 0, nil)
	s.endChannel(c, 0, &hangupReq{cause: 0})
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

// reasonCause maps ARI's DELETE reason to a cause code
// (convert_reason_to_hangup_code in res/ari/resource_channels.c).
func reasonCause(reason string) (int, bool) {
	switch reason {
	case "normal":
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
