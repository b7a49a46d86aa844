package asterisksim

import (
	"fmt"
	"net/http"
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
	timeout        time.Duration // <0: none
	chanID         string
	otherID        string
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

// target is a parsed endpoint.
type target struct {
	kind           chanKind
	context, exten string // for Local: the dialplan of half 2; PJSIP: the phone's
	resource       string // PJSIP endpoint name
	ownContext     string // PJSIP: the context shown on the channel itself
}

func (s *Server) parseEndpoint(ep string) (target, *apiError) {
	tech, res, ok := strings.Cut(ep, "/")
	if !ok || tech == "" {
		return target{}, msgErr(http.StatusBadRequest, "Invalid endpoint specified")
	}
	switch strings.ToLower(tech) {
	case "local":
		if res == "" {
			return target{}, msgErr(http.StatusBadRequest, "Invalid endpoint specified")
		}
		res, _, _ = strings.Cut(res, "/") // Local/x@y/n options
		exten, ctx, ok := strings.Cut(res, "@")
		if !ok {
			ctx = "default"
		}
		return target{kind: kindLocal, context: ctx, exten: exten}, nil
	case "pjsip":
		name, _, _ := strings.Cut(res, "/")
		if name == "" {
			return target{}, msgErr(http.StatusBadRequest, "Invalid endpoint specified")
		}
		e, ok := s.endpoints[name]
		if !ok || e.Offline {
			return target{}, &apiError{status: http.StatusInternalServerError, body: map[string]string{"error": "Allocation failed"}}
		}
		return target{kind: kindPJSIP, context: e.Context, exten: e.Exten, resource: name, ownContext: e.Context}, nil
	}
	return target{}, &apiError{status: http.StatusInternalServerError, body: map[string]string{"error": "Allocation failed"}}
}

// originate creates the channel pair and starts the call. Callers hold s.mu.
// It returns half 1 as it was when created, which is what Asterisk answers.
func (s *Server) originate(r originateReq) (channelJSON, *apiError) {
	if r.app == "" && r.exten == "" && !r.create {
		return channelJSON{}, msgErr(http.StatusBadRequest, "Application or extension must be specified")
	}
	if r.create && r.app == "" {
		return channelJSON{}, msgErr(http.StatusBadRequest, "Application must be specified")
	}
	t, aerr := s.parseEndpoint(r.endpoint)
	if aerr != nil {
		return channelJSON{}, aerr
	}
	for _, id := range []string{r.chanID, r.otherID} {
		if id != "" && s.channels[id] != nil {
			return channelJSON{}, msgErr(http.StatusConflict, "Channel with given unique ID already exists")
		}
	}
	if r.chanID == "" {
		r.chanID = s.newID()
	}
	if r.otherID == "" || r.otherID == r.chanID {
		r.otherID = s.newID()
	}
	ts := now()
	cid := parseCallerID(r.callerID)
	a := &channel{kind: t.kind, half: 1}
	a.snap = channelJSON{Caller: cid, Connected: cid, Creationtime: ts, ID: r.chanID, Language: "en", State: "Down"}
	b := &channel{kind: t.kind, half: 2, peer: a}
	b.snap = channelJSON{Caller: cid, Connected: cid, Creationtime: ts, ID: r.otherID, Language: "en", State: "Ring",
		Dialplan: dialplanJSON{Context: t.context, Exten: t.exten, Priority: 1}}
	a.peer = b
	switch t.kind {
	case kindLocal:
		n := s.localSeq
		s.localSeq++
		base := fmt.Sprintf("Local/%s@%s-%08x", t.exten, t.context, n)
		a.snap.Name, b.snap.Name = base+";1", base+";2"
		a.snap.Dialplan = dialplanJSON{Context: t.context, Exten: t.exten, Priority: 1, AppName: "AppDial2", AppData: "(Outgoing Line)"}
		a.dialString = t.exten + "@" + t.context
	case kindPJSIP:
		n := s.pjsipSeq
		s.pjsipSeq++
		a.snap.Name = fmt.Sprintf("PJSIP/%s-%08x", t.resource, n)
		b.snap.Name = fmt.Sprintf("Phone/%s-%08x", t.resource, n)
		a.snap.ProtocolID = newUUID()
		b.snap.ProtocolID = a.snap.ProtocolID
		a.snap.Dialplan = dialplanJSON{Context: t.ownContext, Exten: "s", Priority: 1, AppName: "AppDial2", AppData: "(Outgoing Line)"}
		a.dialString = t.resource
	}
	s.channels[a.snap.ID] = a
	if r.app != "" {
		a.subscribe(r.app)
	}
	if r.create {
		// Only half 1 exists for the application until /dial (file 10).
		a.created = true
		a.peer = nil
		a.snap.Dialplan.AppName, a.snap.Dialplan.AppData = "", ""
		a.pendingPeer = b
		for k, v := range r.vars {
			s.setVar(a, k, v)
		}
		snap := a.snap
		a.snap.Dialplan.AppName = "Stasis"
		a.snap.Dialplan.AppData = strings.Join(append([]string{r.app}, r.appArgs...), ",")
		s.enterStasis(a, r.app, r.appArgs)
		return snap, nil
	}
	s.channels[b.snap.ID] = b
	if r.app != "" && t.kind == kindLocal {
		b.subscribe(r.app) // both halves, as files 02 and 04 show
	}
	for k, v := range r.vars {
		s.setVar(a, k, v)
		if !strings.Contains(k, "(") {
			// Local channels inherit plain variables into half 2.
			if b.vars == nil {
				b.vars = make(map[string]string, 1)
			}
			b.vars[k] = v
		}
	}
	if r.app != "" {
		a.pending = &stasisTarget{app: r.app, args: r.appArgs}
	} else {
		a.after = &dialTarget{context: r.context, exten: r.exten}
		if a.after.context == "" {
			a.after.context = "default"
		}
	}
	snap := a.snap
	s.startDial(a, b, r.timeout)
	return snap, nil
}

// startDial rings the far half: Dial event, timeout, then its dialplan.
func (s *Server) startDial(a, b *channel, timeout time.Duration) {
	if _, ok := s.dialplan[b.snap.Dialplan.Context]; !ok {
		// Local's far half fails before anything is dialled: no Dial
		// event, both halves destroyed with cause 0 (file 04).
		s.noSuchContext(b)
		return
	}
	s.dialEvent(a, "", a.dialString)
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	if timeout > 0 {
		a.timer = time.AfterFunc(timeout, func() { s.noAnswer(a) })
	}
	if a.kind == kindPJSIP {
		s.runDialplan(b, b.snap.Dialplan.Context, b.snap.Dialplan.Exten)
		// A registered phone alerts at once (180 Ringing, file 08).
		if !b.gone {
			s.ring(b)
		}
		return
	}
	s.runDialplan(b, b.snap.Dialplan.Context, b.snap.Dialplan.Exten)
}

// dial is POST /channels/{id}/dial on a channel made by /channels/create.
func (s *Server) dial(a *channel, timeout time.Duration) *apiError {
	if !a.created || a.dialled || a.snap.State != "Down" || a.pendingPeer == nil {
		return msgErr(http.StatusConflict, "Channel is not in the 'Down' state")
	}
	b := a.pendingPeer
	a.pendingPeer = nil
	a.dialled = true
	a.peer = b
	s.channels[b.snap.ID] = b
	s.startDial(a, b, timeout)
	return nil
}
