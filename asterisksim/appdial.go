package asterisksim

import (
	"slices"
	"strconv"
	"time"
)

// appDial is a Dial() the dialplan runs on a channel (the deployment's
// [hotline-fallback] dialling FALLBACK): it rings one target until it
// answers, fails or the timeout passes, and bridges the two once it
// answers. As recorded from Asterisk 22.10.1 (probes hotline-hand-back,
// hotline-fallback, hotline-no-stasis):
//
//   - it first clears DIALSTATUS, DIALEDPEERNUMBER, DIALEDPEERNAME and the
//     times (ChannelVarset of each, empty);
//   - the dialled channel's first half ("AppDial (Outgoing Line)", exten
//     s) has the caller's name with the caller's extension as its number,
//     and the caller as its connected line;
//   - Dial events carry "caller" and "peer", reach the applications
//     subscribed to either, and only the first names the dial string;
//   - RINGTIME(_MS) when it rings; DIALSTATUS, DIALEDPEERNAME,
//     DIALEDPEERNUMBER when it answers (Dial answers the caller), then
//     BRIDGEPEER; when the bridged call ends BRIDGEPEER is cleared,
//     ANSWEREDTIME(_MS), DIALEDTIME(_MS) and DIALSTATUS are set and the
//     caller is hung up (no "g" option);
//   - a target that hangs up first makes the Dial event status and
//     DIALSTATUS of its cause (ast_hangup_cause_to_dial_status and
//     handle_cause in app_dial.c: 17 BUSY, 34 CONGESTION, 16 and 19
//     NOANSWER, any other cause NOANSWER and CHANUNAVAIL) and leaves its
//     cause on the caller for a later Hangup();
//   - a caller that hangs up first: DIALSTATUS CANCEL, Dial CANCEL.
type appDial struct {
	caller   *channel
	out      *channel // half 1 of the dialled pair
	number   string   // the dialled resource (399@phones): DIALEDPEERNUMBER
	start    time.Time
	answered time.Time // zero until the target answers
	timer    *time.Timer
	over     bool // ended one way or another; its hooks do nothing more
}

func (d *appDial) stopTimer() {
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
}

// dialVars are the variables Dial() clears before it dials, in its order.
var dialVars = []string{"DIALSTATUS", "DIALEDPEERNUMBER", "DIALEDPEERNAME", "ANSWEREDTIME", "ANSWEREDTIME_MS",
	"DIALEDTIME", "DIALEDTIME_MS", "RINGTIME", "RINGTIME_MS", "PROGRESSTIME", "PROGRESSTIME_MS"}

// dialApp runs Dial(dest,ring) on c. It reports whether the dialplan
// goes on at once (nothing could be dialled: CHANUNAVAIL); otherwise the
// channel waits in Dial() and the dial resumes it.
func (s *Server) dialApp(c *channel, dest string, ring time.Duration) bool {
	for _, v := range dialVars {
		s.varset(c, v, "")
	}
	tech, res, ok := splitEndpoint(dest)
	var t target
	var aerr *apiError
	if ok {
		t, aerr = s.resolve(tech, res)
	}
	if !ok || aerr != nil {
		s.varset(c, "DIALSTATUS", "CHANUNAVAIL")
		return true
	}
	d := &appDial{caller: c, number: res, start: time.Now()}
	ts := now()
	out := &channel{kind: t.kind, half: 1, byDial: d}
	far := &channel{kind: t.kind, half: 2, peer: out}
	out.peer = far
	d.out = out
	out.snap = channelJSON{Creationtime: ts, ID: s.newID(), Language: "en", State: "Down",
		Caller:    callerJSON{Name: c.snap.Caller.Name, Number: c.snap.Dialplan.Exten},
		Connected: c.snap.Caller}
	far.snap = channelJSON{Creationtime: ts, ID: s.newID(), Language: "en", State: "Ring",
		Dialplan: dialplanJSON{Context: t.context, Exten: t.exten, Priority: 1}}
	s.namePair(t, out, far)
	switch t.kind {
	case kindLocal:
		out.snap.Dialplan = dialplanJSON{Context: t.context, Exten: "s", Priority: 1}
	case kindPJSIP:
		out.snap.Dialplan = dialplanJSON{Context: t.ownContext, Exten: "s", Priority: 1}
	}
	out.dialString = res
	s.channels[out.snap.ID] = out
	s.channels[far.snap.ID] = far
	s.publish(out)
	s.publish(far)
	if _, ok := s.dialplan[t.context]; !ok && t.kind == kindLocal {
		// Local's far half fails before anything is dialled.
		s.endChannel(far, 0, nil)
		d.over = true
		s.endChannel(out, 0, nil)
		s.varset(c, "DIALSTATUS", "CHANUNAVAIL")
		return true
	}
	s.setApp(out, "AppDial", "(Outgoing Line)", 0)
	s.appDialEvent(d, "", d.number)
	far.snap.Caller, far.snap.Connected = out.snap.Connected, out.snap.Caller
	s.publish(far)
	w := &dpWait{hangup: func() { s.dialCallerGone(d) }}
	c.dpWait = w
	d.timer = time.AfterFunc(ring, func() { s.dialTimeout(d) })
	s.runDialplan(far, far.snap.Dialplan.Context, far.snap.Dialplan.Exten)
	if t.kind == kindPJSIP && !far.gone {
		s.ring(far)
	}
	return false
}

// appDialEvent is a Dial event of d, for the applications that hear of the
// caller or of the dialled channel.
func (s *Server) appDialEvent(d *appDial, status, dialstring string) {
	apps := s.recipients(d.caller)
	for _, a := range s.recipients(d.out) {
		if !slices.Contains(apps, a) {
			apps = append(apps, a)
		}
	}
	if len(apps) == 0 {
		return
	}
	s.emit(apps, "Dial", event{"caller": d.caller.pub, "peer": d.out.pub, "dialstatus": status,
		"dialstring": dialstring, "forward": ""})
}

// sinceVars sets NAME (whole seconds) and NAME_MS to the time since t.
func (s *Server) sinceVars(c *channel, name string, t time.Time) {
	ms := time.Since(t).Milliseconds()
	s.varset(c, name, strconv.FormatInt(ms/1000, 10))
	s.varset(c, name+"_MS", strconv.FormatInt(ms, 10))
}

// dialRinging: the dialled channel rings.
func (s *Server) dialRinging(d *appDial) {
	if d.over || d.caller.gone {
		return
	}
	s.sinceVars(d.caller, "RINGTIME", d.start)
	s.appDialEvent(d, "RINGING", "")
}

// dialAnswered: the dialled channel answered; Dial() answers the caller
// and bridges the two.
func (s *Server) dialAnswered(d *appDial) {
	c, out := d.caller, d.out
	if d.over || c.gone {
		return
	}
	d.stopTimer()
	d.answered = time.Now()
	s.varset(c, "DIALSTATUS", "ANSWER")
	s.varset(c, "DIALEDPEERNAME", out.snap.Name)
	s.varset(c, "DIALEDPEERNUMBER", d.number)
	// As recorded: the answer shows the dialled channel with no extension,
	// and the caller as it was before Dial() answers it.
	out.snap.Dialplan.Exten, out.pub.Dialplan.Exten = "", ""
	s.appDialEvent(d, "ANSWER", "")
	s.answer(c)
	if c.gone {
		return
	}
	s.varset(c, "BRIDGEPEER", out.snap.Name)
	s.varset(out, "BRIDGEPEER", c.snap.Name)
}

// dialBridgeEnded sets what Dial() sets once a bridged call is over.
func (s *Server) dialBridgeEnded(d *appDial) {
	c := d.caller
	s.varset(c, "BRIDGEPEER", "")
	s.sinceVars(c, "ANSWEREDTIME", d.answered)
	s.sinceVars(c, "DIALEDTIME", d.start)
	s.varset(c, "DIALSTATUS", "ANSWER")
}

// dialedGone: the dialled channel's first half is gone (hung up from its
// far side, busy, ...). Unanswered, the dial fails by its cause and the
// caller goes on in the dialplan; answered, the call is over and the
// caller is hung up.
func (s *Server) dialedGone(d *appDial, cause int) {
	if d.over {
		return
	}
	d.over = true
	d.stopTimer()
	c := d.caller
	if c.gone {
		return
	}
	c.dpWait = nil
	if !d.answered.IsZero() {
		s.dialBridgeEnded(d)
		s.hangupPair(c, 16, nil)
		return
	}
	s.appDialEvent(d, dialStatusOfCause(cause), "")
	s.varset(c, "DIALSTATUS", dialResultOfCause(cause))
	c.dpCause = cause
	s.resume(c)
}

// dialCallerGone: the caller hangs up while in Dial().
func (s *Server) dialCallerGone(d *appDial) {
	if d.over {
		return
	}
	d.over = true
	d.stopTimer()
	if !d.answered.IsZero() {
		s.dialBridgeEnded(d)
	} else {
		s.varset(d.caller, "DIALSTATUS", "CANCEL")
		s.appDialEvent(d, "CANCEL", "")
	}
	if !d.out.gone {
		s.hangupPair(d.out, 16, nil)
	}
}

// dialTimeout: nobody answered in time.
func (s *Server) dialTimeout(d *appDial) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || d.over || d.timer == nil || !d.answered.IsZero() {
		return
	}
	d.timer = nil
	d.over = true
	c := d.caller
	s.appDialEvent(d, "NOANSWER", "")
	if !d.out.gone {
		s.hangupPair(d.out, 16, nil)
	}
	if c.gone {
		return
	}
	c.dpWait = nil
	s.varset(c, "DIALSTATUS", "NOANSWER")
	s.resume(c)
}

// dialStatusOfCause is the status of the Dial event for a dialled channel
// hung up with cause (ast_hangup_cause_to_dial_status).
func dialStatusOfCause(cause int) string {
	switch cause {
	case 17:
		return "BUSY"
	case 34:
		return "CONGESTION"
	case 3, 20:
		return "CHANUNAVAIL"
	}
	return "NOANSWER"
}

// dialResultOfCause is Dial()'s DIALSTATUS when its only target was hung
// up with cause (handle_cause in app_dial.c).
func dialResultOfCause(cause int) string {
	switch cause {
	case 17:
		return "BUSY"
	case 34:
		return "CONGESTION"
	case 16, 19:
		return "NOANSWER"
	}
	return "CHANUNAVAIL"
}
