package asterisksim

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"
)

// originateReq is POST /channels (or /channels/create) after parsing.
type originateReq struct {
	endpoint       string
	app            string
	appArgs        []string
	context, exten string
	callerID       string
	timeout        time.Duration // <0: none; 0: Asterisk's 30 s
	chanID         string
	otherID        string
	originator     string
	formats        string
	vars           map[string]string
	create         bool // /channels/create: Stasis now, dial later
}

// apiError is an ARI error answer: status plus body.
type apiError struct {
	status int
	body   any
}

func msgErr(status int, msg string) *apiError {
	return &apiError{status: status, body: map[string]string{"message": msg}}
}

// allocFailed is ast_ari_response_alloc_failed: the one error whose body
// has "error", not "message".
func allocFailed() *apiError {
	return &apiError{status: http.StatusInternalServerError, body: map[string]string{"error": "Allocation failed"}}
}

// target is a parsed endpoint.
type target struct {
	kind           chanKind
	context, exten string // for Local: the dialplan of half 2; PJSIP: the phone's
	resource       string // PJSIP endpoint name
	ownContext     string // PJSIP: the context shown on the channel itself
}

// splitEndpoint is the check every originate makes first: TECH/RESOURCE,
// both non-empty.
func splitEndpoint(ep string) (tech, res string, ok bool) {
	tech, res, ok = strings.Cut(ep, "/")
	return tech, res, ok && tech != "" && res != ""
}

// resolve finds what an endpoint dials; an unknown technology, endpoint or
// an unregistered one fails the allocation.
func (s *Server) resolve(tech, res string) (target, *apiError) {
	switch strings.ToLower(tech) {
	case "local":
		res, _, _ = strings.Cut(res, "/") // Local/x@y/n options
		exten, ctx, ok := strings.Cut(res, "@")
		if !ok {
			ctx = "default"
		}
		return target{kind: kindLocal, context: ctx, exten: exten}, nil
	case "pjsip":
		name, _, _ := strings.Cut(res, "/")
		e, ok := s.endpoints[name]
		if !ok || e.Offline {
			return target{}, allocFailed()
		}
		return target{kind: kindPJSIP, context: e.Context, exten: e.Exten, resource: name, ownContext: e.Context}, nil
	}
	return target{}, allocFailed()
}

// knownFormat lists the codecs Asterisk's format cache has.
func knownFormat(f string) bool {
	switch f {
	case "ulaw", "alaw", "gsm", "g722", "g729", "slin", "slin16", "slin48", "slin192", "opus", "ilbc", "speex", "g726", "adpcm", "lpc10", "h264", "vp8":
		return true
	}
	return false
}

// originate creates the channel pair and starts the call, checking in the
// order of res/ari/resource_channels.c. Callers hold s.mu. It returns half
// 1 as it was when created, which is what Asterisk answers.
func (s *Server) originate(r originateReq) (channelJSON, *apiError) {
	if r.create && r.originator != "" && r.formats != "" {
		return channelJSON{}, msgErr(http.StatusBadRequest, "Originator and formats can't both be specified")
	}
	if r.endpoint == "" {
		return channelJSON{}, msgErr(http.StatusBadRequest, "Endpoint must be specified")
	}
	if !r.create && r.originator != "" && r.formats != "" {
		return channelJSON{}, msgErr(http.StatusBadRequest, "Originator and formats can't both be specified")
	}
	tech, res, ok := splitEndpoint(r.endpoint)
	if !ok {
		return channelJSON{}, msgErr(http.StatusBadRequest, "Invalid endpoint specified")
	}
	if !r.create && r.app == "" && r.exten == "" {
		return channelJSON{}, msgErr(http.StatusBadRequest, "Application or extension must be specified")
	}
	if r.originator != "" && s.channels[r.originator] == nil && !r.create {
		return channelJSON{}, msgErr(http.StatusBadRequest, "Provided originator channel was not found")
	}
	if r.formats != "" {
		for _, f := range strings.Split(r.formats, ",") {
			if f = strings.TrimSpace(f); !knownFormat(f) {
				return channelJSON{}, msgErr(http.StatusBadRequest, fmt.Sprintf("Provided format (%s) was not found", f))
			}
		}
	}
	t, aerr := s.resolve(tech, res)
	if aerr != nil {
		return channelJSON{}, aerr
	}
	if r.chanID == "" {
		r.chanID = s.newID()
	}
	if r.otherID == "" {
		if t.kind == kindLocal {
			r.otherID = r.chanID + ";2" // core_unreal.c names it after the first
		} else {
			r.otherID = s.newID()
		}
	}
	for _, id := range []string{r.chanID, r.otherID} {
		if s.channels[id] != nil {
			return channelJSON{}, msgErr(http.StatusConflict, "Channel with given unique ID already exists")
		}
	}
	ts := now()
	a := &channel{kind: t.kind, half: 1}
	a.snap = channelJSON{Creationtime: ts, ID: r.chanID, Language: "en", State: "Down"}
	if r.callerID != "" {
		cid := parseCallerID(r.callerID)
		a.snap.Caller, a.snap.Connected = cid, cid
	}
	b := &channel{kind: t.kind, half: 2, peer: a}
	b.snap = channelJSON{Creationtime: ts, ID: r.otherID, Language: "en", State: "Ring",
		Dialplan: dialplanJSON{Context: t.context, Exten: t.exten, Priority: 1}}
	a.peer = b
	s.namePair(t, a, b)
	switch t.kind {
	case kindLocal:
		a.snap.Dialplan = dialplanJSON{Context: t.context, Exten: t.exten, Priority: 1, AppName: "AppDial2", AppData: "(Outgoing Line)"}
		a.dialString = t.exten + "@" + t.context
	case kindPJSIP:
		a.snap.Dialplan = dialplanJSON{Context: t.ownContext, Exten: "s", Priority: 1, AppName: "AppDial2", AppData: "(Outgoing Line)"}
		a.dialString = t.resource
	}
	for _, k := range sortedKeys(r.vars) {
		s.setVar(a, k, r.vars[k], true)
	}
	s.channels[a.snap.ID] = a
	s.channels[b.snap.ID] = b
	// ast_request publishes both halves before the dial names its
	// application (AppDial2): ChannelCreated, then ChannelDialplan, for an
	// application subscribed to every channel.
	dialApp := a.snap.Dialplan
	a.snap.Dialplan.AppName, a.snap.Dialplan.AppData = "", ""
	s.publish(a)
	s.publish(b)
	if r.create {
		// Only half 1 runs Stasis (from a thread of its own); half 2
		// waits for /dial.
		a.created = true
		snap := a.pub
		if r.app == "" {
			// Stasis() of no application fails at once: the channel is
			// hung up, with nobody to hear of it.
			s.hangupPair(a, 16, nil)
			return snap, nil
		}
		a.subs.add(r.app, 1)
		if !s.stasisFromOutside(a, r.app, r.appArgs) {
			s.hangupPair(a, 16, nil)
		}
		return snap, nil
	}
	a.snap.Dialplan = dialApp
	s.publish(a)
	if r.app != "" {
		a.subs.add(r.app, 1)
		if t.kind == kindLocal {
			b.subs.add(r.app, 1) // "Subscribe to the Local channel peer also."
		}
		a.pending = &stasisTarget{app: r.app, args: r.appArgs}
	} else {
		ctx := r.context
		if ctx == "" {
			ctx = "default"
		}
		a.after = &dialTarget{context: ctx, exten: r.exten}
	}
	snap := a.pub
	s.startDial(a, b, r.timeout)
	return snap, nil
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// startDial rings the far half: Dial event, the far half's inherited
// variables and caller ids, the timeout, then its dialplan.
func (s *Server) startDial(a, b *channel, timeout time.Duration) {
	if _, ok := s.dialplan[b.snap.Dialplan.Context]; !ok {
		// Local's far half fails before anything is dialled: no Dial
		// event, both halves destroyed with cause 0.
		s.endChannel(a, 0, nil)
		s.endChannel(b, 0, nil)
		return
	}
	s.dialEvent(a, "", a.dialString)
	if a.kind == kindLocal {
		// core_unreal.c: the far half inherits the variables, and takes
		// the near half's connected line as its caller and its caller as
		// its connected line.
		for _, k := range sortedKeys(a.vars) {
			if !strings.HasSuffix(k, ")") {
				s.varset(b, k, a.vars[k])
			}
		}
	}
	b.snap.Caller, b.snap.Connected = a.snap.Connected, a.snap.Caller
	s.publish(b)
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	if timeout > 0 {
		a.timer = time.AfterFunc(timeout, func() { s.noAnswer(a) })
	}
	s.runDialplan(b, b.snap.Dialplan.Context, b.snap.Dialplan.Exten)
	if a.kind == kindPJSIP && !b.gone {
		// A registered phone alerts at once (180 Ringing).
		s.ring(b)
	}
}

// dial is POST /channels/{id}/dial on a channel made by /channels/create.
func (s *Server) dial(a *channel, timeout time.Duration) *apiError {
	if a.snap.State != "Down" {
		return msgErr(http.StatusConflict, "Channel is not in the 'Down' state")
	}
	b := a.livePeer()
	if !a.created || a.dialled || b == nil {
		return msgErr(http.StatusConflict, "Dialing a channel not created by ARI")
	}
	a.dialled = true
	s.startDial(a, b, timeout)
	return nil
}

// namePair names a new pair of channels to t as Asterisk does: the two
// halves of Local/EXTEN@CONTEXT-N, or PJSIP/RESOURCE-N and the phone's
// side of it (one SIP call id for both).
func (s *Server) namePair(t target, a, b *channel) {
	switch t.kind {
	case kindLocal:
		n := s.localSeq
		s.localSeq++
		base := fmt.Sprintf("Local/%s@%s-%08x", t.exten, t.context, n)
		a.snap.Name, b.snap.Name = base+";1", base+";2"
	case kindPJSIP:
		n := s.pjsipSeq
		s.pjsipSeq++
		a.snap.Name = fmt.Sprintf("PJSIP/%s-%08x", t.resource, n)
		b.snap.Name = fmt.Sprintf("Phone/%s-%08x", t.resource, n)
		a.snap.ProtocolID = newUUID()
		b.snap.ProtocolID = a.snap.ProtocolID
	}
}
