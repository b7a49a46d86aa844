package asterisksim

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// params are an ARI request's parameters: the query string first, then the
// fields of a JSON body (Asterisk accepts both).
type params struct {
	q    map[string][]string
	body map[string]any
}

func (p params) get(k string) string {
	if v := p.q[k]; len(v) > 0 {
		return v[0]
	}
	switch v := p.body[k].(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	}
	return ""
}

// has reports whether the request names k at all (empty or not).
func (p params) has(k string) bool {
	if _, ok := p.q[k]; ok {
		return true
	}
	_, ok := p.body[k]
	return ok
}

// list reads a parameter that may repeat and may be comma separated.
func (p params) list(k string) []string {
	var out []string
	add := func(s string) {
		for _, x := range strings.Split(s, ",") {
			if x != "" {
				out = append(out, x)
			}
		}
	}
	for _, v := range p.q[k] {
		add(v)
	}
	if len(out) == 0 {
		switch v := p.body[k].(type) {
		case string:
			add(v)
		case []any:
			for _, x := range v {
				if s, ok := x.(string); ok {
					add(s)
				}
			}
		}
	}
	return out
}

func (p params) vars() map[string]string {
	m, ok := p.body["variables"].(map[string]any)
	if !ok {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = fmt.Sprint(v)
	}
	return out
}

const maxBody = 1 << 20

func readParams(w http.ResponseWriter, r *http.Request) (params, bool) {
	p := params{q: r.URL.Query()}
	if r.Body == nil {
		return p, true
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		writeErr(w, http.StatusBadRequest, "Could not read body")
		return p, false
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return p, true
	}
	if err := json.Unmarshal(b, &p.body); err != nil {
		writeErr(w, http.StatusBadRequest, "Invalid JSON body")
		return p, false
	}
	return p, true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client may have gone; nothing to do
}

func writeErr(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"message": msg})
}

func writeAPIErr(w http.ResponseWriter, e *apiError) { writeJSON(w, e.status, e.body) }

func noContent(w http.ResponseWriter) { w.WriteHeader(http.StatusNoContent) }

// auth checks HTTP basic auth or ?api_key=user:pass.
func (s *Server) auth(next http.Handler) http.Handler {
	if s.opts.Username == "" {
		return next
	}
	want := s.opts.Username + ":" + s.opts.Password
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := r.URL.Query().Get("api_key")
		if u, p, ok := r.BasicAuth(); ok {
			got = u + ":" + p
		}
		if subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="Asterisk REST Interface"`)
			writeErr(w, http.StatusUnauthorized, "Authentication required")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// op is a handler that runs under the server lock with the request's params.
type op func(w http.ResponseWriter, r *http.Request, p params)

func (s *Server) locked(f op) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, ok := readParams(w, r)
		if !ok {
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.closed {
			writeErr(w, http.StatusServiceUnavailable, "Shutting down")
			return
		}
		f(w, r, p)
	}
}

// chanOp is a handler on a live channel.
type chanOp func(w http.ResponseWriter, r *http.Request, p params, c *channel)

// need says what a channel operation checks first, in
// res/ari/resource_channels.c's order.
type need int

const (
	needChannel need = iota // the channel exists (404 "Channel not found")
	needControl             // and is in Stasis (409 "Channel not in Stasis application")
	needUpish               // and is not Down, Reserved or Ringing (412)
)

func (s *Server) withChannel(n need, f chanOp) http.HandlerFunc {
	return s.locked(func(w http.ResponseWriter, r *http.Request, p params) {
		c := s.channels[r.PathValue("id")]
		if c == nil {
			writeErr(w, http.StatusNotFound, "Channel not found")
			return
		}
		if n >= needControl && c.stasisApp == "" {
			writeErr(w, http.StatusConflict, "Channel not in Stasis application")
			return
		}
		if n >= needUpish {
			switch c.snap.State {
			case "Down", "Reserved", "Ringing":
				writeErr(w, http.StatusPreconditionFailed, "Channel in invalid state")
				return
			}
		}
		f(w, r, p, c)
	})
}

func (s *Server) routes() http.Handler {
	m := http.NewServeMux()
	m.HandleFunc("GET /ari/events", s.handleEvents)
	m.HandleFunc("POST /ari/events/user/{name}", s.locked(s.userEvent))
	m.HandleFunc("GET /ari/asterisk/info", s.locked(s.asteriskInfo))
	m.HandleFunc("GET /ari/applications", s.locked(s.listApps))
	m.HandleFunc("GET /ari/applications/{app}", s.locked(s.getApp))
	m.HandleFunc("POST /ari/applications/{app}/subscription", s.locked(s.subscribe))
	m.HandleFunc("DELETE /ari/applications/{app}/subscription", s.locked(s.unsubscribe))
	m.HandleFunc("PUT /ari/applications/{app}/eventFilter", s.locked(s.setFilter))
	m.HandleFunc("GET /ari/endpoints", s.locked(s.listEndpoints))
	m.HandleFunc("GET /ari/endpoints/{tech}/{res}", s.locked(s.getEndpoint))

	m.HandleFunc("GET /ari/channels", s.locked(s.listChannels))
	m.HandleFunc("POST /ari/channels", s.locked(s.originateHandler(false)))
	m.HandleFunc("POST /ari/channels/create", s.locked(s.originateHandler(true)))
	m.HandleFunc("POST /ari/channels/{id}", s.locked(s.originateHandler(false)))
	m.HandleFunc("GET /ari/channels/{id}", s.withChannel(needChannel, func(w http.ResponseWriter, _ *http.Request, _ params, c *channel) {
		writeJSON(w, http.StatusOK, c.pub)
	}))
	m.HandleFunc("DELETE /ari/channels/{id}", s.withChannel(needChannel, s.hangupHandler))
	m.HandleFunc("POST /ari/channels/{id}/dial", s.withChannel(needControl, s.dialHandler))
	m.HandleFunc("POST /ari/channels/{id}/answer", s.withChannel(needUpish, func(w http.ResponseWriter, _ *http.Request, _ params, c *channel) {
		s.answer(c)
		noContent(w)
	}))
	m.HandleFunc("POST /ari/channels/{id}/ring", s.withChannel(needUpish, func(w http.ResponseWriter, _ *http.Request, _ params, c *channel) {
		s.ring(c)
		noContent(w)
	}))
	// Indications that raise no event.
	quiet := s.withChannel(needUpish, func(w http.ResponseWriter, _ *http.Request, _ params, _ *channel) { noContent(w) })
	m.HandleFunc("DELETE /ari/channels/{id}/ring", quiet)
	for _, x := range []string{"moh", "hold", "silence"} {
		m.HandleFunc("POST /ari/channels/{id}/"+x, quiet)
		m.HandleFunc("DELETE /ari/channels/{id}/"+x, quiet)
	}
	mute := s.withChannel(needControl, func(w http.ResponseWriter, _ *http.Request, _ params, _ *channel) { noContent(w) })
	m.HandleFunc("POST /ari/channels/{id}/mute", mute)
	m.HandleFunc("DELETE /ari/channels/{id}/mute", mute)
	m.HandleFunc("POST /ari/channels/{id}/dtmf", s.withChannel(needUpish, s.dtmfHandler))
	m.HandleFunc("POST /ari/channels/{id}/play", s.withChannel(needUpish, s.playHandler))
	m.HandleFunc("POST /ari/channels/{id}/play/{pid}", s.withChannel(needUpish, s.playHandler))
	m.HandleFunc("GET /ari/channels/{id}/variable", s.locked(s.getVarHandler))
	m.HandleFunc("POST /ari/channels/{id}/variable", s.locked(s.setVarHandler))
	m.HandleFunc("POST /ari/channels/{id}/snoop", s.locked(s.snoopHandler))
	m.HandleFunc("POST /ari/channels/{id}/snoop/{sid}", s.locked(s.snoopHandler))
	m.HandleFunc("POST /ari/channels/{id}/transfer_progress", s.withChannel(needControl, s.transferProgressHandler))
	m.HandleFunc("POST /ari/channels/{id}/move", s.withChannel(needControl, s.moveHandler))
	m.HandleFunc("POST /ari/channels/{id}/continue", s.withChannel(needUpish, s.continueHandler))

	m.HandleFunc("GET /ari/bridges", s.locked(s.listBridges))
	m.HandleFunc("POST /ari/bridges", s.locked(s.createBridge))
	m.HandleFunc("POST /ari/bridges/{bid}", s.locked(s.createBridge))
	m.HandleFunc("GET /ari/bridges/{bid}", s.withBridge(func(w http.ResponseWriter, _ *http.Request, _ params, b *bridge) {
		writeJSON(w, http.StatusOK, b.snapshot())
	}))
	m.HandleFunc("DELETE /ari/bridges/{bid}", s.withBridge(func(w http.ResponseWriter, _ *http.Request, _ params, b *bridge) {
		s.destroyBridge(b)
		noContent(w)
	}))
	m.HandleFunc("POST /ari/bridges/{bid}/addChannel", s.withBridge(s.addChannelHandler))
	m.HandleFunc("POST /ari/bridges/{bid}/removeChannel", s.withBridge(s.removeChannelHandler))
	m.HandleFunc("POST /ari/bridges/{bid}/moh", s.withBridge(func(w http.ResponseWriter, _ *http.Request, _ params, b *bridge) {
		if b.moh == "" {
			b.moh = s.announcerName(true)
			s.bridgeChanged(b)
		}
		noContent(w)
	}))
	m.HandleFunc("DELETE /ari/bridges/{bid}/moh", s.withBridge(func(w http.ResponseWriter, _ *http.Request, _ params, b *bridge) {
		if b.moh == "" {
			writeErr(w, http.StatusConflict, "Bridge isn't playing music")
			return
		}
		b.moh = ""
		s.bridgeChanged(b)
		noContent(w)
	}))
	m.HandleFunc("POST /ari/bridges/{bid}/play", s.withBridge(s.bridgePlayHandler))
	m.HandleFunc("POST /ari/bridges/{bid}/play/{pid}", s.withBridge(s.bridgePlayHandler))

	m.HandleFunc("GET /ari/playbacks/{pid}", s.locked(func(w http.ResponseWriter, r *http.Request, _ params) {
		p := s.findPlayback(r.PathValue("pid"))
		if p == nil {
			writeErr(w, http.StatusNotFound, "Playback not found")
			return
		}
		writeJSON(w, http.StatusOK, p.snapshot())
	}))
	m.HandleFunc("DELETE /ari/playbacks/{pid}", s.locked(func(w http.ResponseWriter, r *http.Request, _ params) {
		p := s.findPlayback(r.PathValue("pid"))
		if p == nil {
			writeErr(w, http.StatusNotFound, "Playback not found")
			return
		}
		s.stopPlayback(p)
		noContent(w)
	}))
	m.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeErr(w, http.StatusNotFound, "Resource not found")
	})
	return s.auth(m)
}

func (s *Server) asteriskInfo(w http.ResponseWriter, _ *http.Request, _ params) {
	st := s.started.UTC().Format(timeLayout)
	writeJSON(w, http.StatusOK, map[string]any{
		"build": map[string]string{"date": "", "kernel": "", "machine": "x86_64", "options": "", "os": "Linux", "user": "asterisksim"},
		"config": map[string]any{"default_language": "en", "name": "",
			"setid": map[string]string{"group": "", "user": ""}},
		"status": map[string]string{"last_reload_time": st, "startup_time": st},
		"system": map[string]string{"entity_id": s.astID, "version": "22.10.1"},
	})
}

// userEvent is POST /events/user/{name}: a ChannelUserevent for the
// application (its "userevent" holds the body's variables and the name).
func (s *Server) userEvent(w http.ResponseWriter, r *http.Request, p params) {
	app := p.get("application")
	if app == "" || !s.connected(app) {
		writeErr(w, http.StatusNotFound, "Application not found")
		return
	}
	name := r.PathValue("name")
	ue := map[string]any{}
	if vs, ok := p.body["variables"].(map[string]any); ok {
		for k, v := range vs {
			ue[k] = v
		}
	}
	ue["eventname"] = name
	s.emit([]string{app}, "ChannelUserevent", event{"eventname": name, "userevent": ue})
	noContent(w)
}

type appJSON struct {
	BridgeIDs        []string `json:"bridge_ids"`
	ChannelIDs       []string `json:"channel_ids"`
	DeviceNames      []string `json:"device_names"`
	EndpointIDs      []string `json:"endpoint_ids"`
	EventsAllowed    []any    `json:"events_allowed"`
	EventsDisallowed []any    `json:"events_disallowed"`
	Name             string   `json:"name"`
}

// bridgeAll and channelAll are how Asterisk lists a subscription to every
// bridge, every channel.
const (
	bridgeAll  = "__AST_BRIDGE_ALL_TOPIC"
	channelAll = "__AST_CHANNEL_ALL_TOPIC"
)

// appSnapshot scans the channels; it is only used by rare REST calls.
func (s *Server) appSnapshot(name string) appJSON {
	a := appJSON{BridgeIDs: []string{}, ChannelIDs: []string{}, DeviceNames: []string{}, EndpointIDs: []string{},
		EventsAllowed: []any{}, EventsDisallowed: []any{}, Name: name}
	if f := s.filters[name]; f != nil {
		a.EventsAllowed = append(a.EventsAllowed, f.allowed...)
		a.EventsDisallowed = append(a.EventsDisallowed, f.disallowed...)
	}
	for id, c := range s.channels {
		if c.subs.has(name) {
			a.ChannelIDs = append(a.ChannelIDs, id)
		}
	}
	for id, b := range s.bridges {
		if b.subs.has(name) {
			a.BridgeIDs = append(a.BridgeIDs, id)
		}
	}
	if s.allBridge[name] {
		a.BridgeIDs = append(a.BridgeIDs, bridgeAll)
	}
	if s.allChan[name] {
		a.ChannelIDs = append(a.ChannelIDs, channelAll)
	}
	sort.Strings(a.ChannelIDs)
	sort.Strings(a.BridgeIDs)
	return a
}

func (s *Server) listApps(w http.ResponseWriter, _ *http.Request, _ params) {
	names := make([]string, 0, len(s.apps))
	for n := range s.apps {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]appJSON, 0, len(names))
	for _, n := range names {
		out = append(out, s.appSnapshot(n))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getApp(w http.ResponseWriter, r *http.Request, _ params) {
	name := r.PathValue("app")
	if !s.connected(name) {
		writeErr(w, http.StatusNotFound, "Application not found")
		return
	}
	writeJSON(w, http.StatusOK, s.appSnapshot(name))
}

// subscription is POST/DELETE /applications/{app}/subscription. Each
// subscription counts (see interests); "bridge:" with no id is every
// bridge.
func (s *Server) subscription(w http.ResponseWriter, r *http.Request, p params, on bool) {
	name := r.PathValue("app")
	if !s.connected(name) {
		writeErr(w, http.StatusNotFound, "Application not found")
		return
	}
	srcs := p.list("eventSource")
	if len(srcs) == 0 {
		writeErr(w, http.StatusBadRequest, "Missing parameter eventSource")
		return
	}
	type change struct {
		c           *channel
		b           *bridge
		all         bool // every bridge, or with allChannels every channel
		allChannels bool
	}
	var todo []change
	for _, src := range srcs {
		kind, id, _ := strings.Cut(src, ":")
		switch kind {
		case "channel":
			if id == "" {
				todo = append(todo, change{all: true, allChannels: true})
				continue
			}
			if c := s.channels[id]; c != nil {
				todo = append(todo, change{c: c})
				continue
			}
		case "bridge":
			if id == "" {
				todo = append(todo, change{all: true})
				continue
			}
			if b := s.bridges[id]; b != nil {
				todo = append(todo, change{b: b})
				continue
			}
		case "endpoint", "deviceState":
			continue // accepted, nothing to deliver in the simulator
		default:
			writeErr(w, http.StatusBadRequest, "Invalid event source URI scheme")
			return
		}
		writeErr(w, http.StatusUnprocessableEntity, "Event source does not exist")
		return
	}
	d := 1
	if !on {
		d = -1
	}
	for _, t := range todo {
		if t.all && !on {
			// stasis_app_unsubscribe has no way back from "all".
			writeErr(w, http.StatusNotImplemented, "Method not implemented")
			return
		}
	}
	for _, t := range todo {
		switch {
		case t.c != nil:
			t.c.subs.add(name, d)
		case t.b != nil:
			t.b.subs.add(name, d)
		case t.allChannels:
			s.allChan[name] = true
		default:
			s.allBridge[name] = true
		}
	}
	writeJSON(w, http.StatusOK, s.appSnapshot(name))
}

func (s *Server) subscribe(w http.ResponseWriter, r *http.Request, p params) {
	s.subscription(w, r, p, true)
}

func (s *Server) unsubscribe(w http.ResponseWriter, r *http.Request, p params) {
	s.subscription(w, r, p, false)
}

type endpointJSON struct {
	ChannelIDs []string `json:"channel_ids"`
	Resource   string   `json:"resource"`
	State      string   `json:"state"`
	Technology string   `json:"technology"`
}

func (s *Server) endpointSnapshot(name string, e Endpoint) endpointJSON {
	st := "online"
	if e.Offline {
		st = "offline"
	}
	return endpointJSON{ChannelIDs: []string{}, Resource: name, State: st, Technology: "PJSIP"}
}

func (s *Server) listEndpoints(w http.ResponseWriter, _ *http.Request, _ params) {
	names := make([]string, 0, len(s.endpoints))
	for n := range s.endpoints {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]endpointJSON, 0, len(names))
	for _, n := range names {
		out = append(out, s.endpointSnapshot(n, s.endpoints[n]))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getEndpoint(w http.ResponseWriter, r *http.Request, _ params) {
	e, ok := s.endpoints[r.PathValue("res")]
	if !strings.EqualFold(r.PathValue("tech"), "PJSIP") || !ok {
		writeErr(w, http.StatusNotFound, "Endpoint not found")
		return
	}
	writeJSON(w, http.StatusOK, s.endpointSnapshot(r.PathValue("res"), e))
}

func (s *Server) listChannels(w http.ResponseWriter, _ *http.Request, _ params) {
	out := make([]channelJSON, 0, len(s.channels))
	for _, c := range s.channels {
		out = append(out, c.pub)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	writeJSON(w, http.StatusOK, out)
}

// parseTimeout reads a timeout in seconds the way ARI's generated code
// does: a number, anything else being 0 (Asterisk's default); -1 is none.
func parseTimeout(v string) time.Duration {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return 0
	}
	if n < 0 {
		return -1
	}
	return time.Duration(n) * time.Second
}

func (s *Server) originateHandler(create bool) op {
	return func(w http.ResponseWriter, r *http.Request, p params) {
		req := originateReq{
			endpoint:   p.get("endpoint"),
			app:        p.get("app"),
			context:    p.get("context"),
			exten:      p.get("extension"),
			callerID:   p.get("callerId"),
			timeout:    parseTimeout(p.get("timeout")),
			chanID:     p.get("channelId"),
			otherID:    p.get("otherChannelId"),
			originator: p.get("originator"),
			formats:    p.get("formats"),
			vars:       p.vars(),
			create:     create,
		}
		if id := r.PathValue("id"); id != "" {
			req.chanID = id
		}
		if a := p.get("appArgs"); a != "" {
			req.appArgs = strings.Split(a, ",")
		}
		snap, aerr := s.originate(req)
		if aerr != nil {
			writeAPIErr(w, aerr)
			return
		}
		writeJSON(w, http.StatusOK, snap)
	}
}

func (s *Server) hangupHandler(w http.ResponseWriter, _ *http.Request, p params, c *channel) {
	reason, code := p.get("reason"), p.get("reason_code")
	cause := 16
	switch {
	case reason != "" && code != "":
		writeErr(w, http.StatusBadRequest, "The reason and reason_code can't both be specified")
		return
	case code != "":
		n, err := strconv.Atoi(code)
		if err != nil {
			writeErr(w, http.StatusBadRequest, "Invalid reason for hangup reason code provided")
			return
		}
		cause = n
	case reason != "":
		n, ok := reasonCause(reason)
		if !ok {
			writeErr(w, http.StatusBadRequest, "Invalid reason for hangup reason provided")
			return
		}
		cause = n
	}
	s.hangupFromARI(c, cause)
	noContent(w)
}

func (s *Server) dialHandler(w http.ResponseWriter, _ *http.Request, p params, c *channel) {
	if aerr := s.dial(c, parseTimeout(p.get("timeout"))); aerr != nil {
		writeAPIErr(w, aerr)
		return
	}
	noContent(w)
}

// dtmfHandler sends digits out of c: its far side (the other half of a
// Local pair, the phone of a PJSIP channel) reads them, and from there
// they may cross a bridge (dtmfArrives). Timing between digits is not
// simulated.
func (s *Server) dtmfHandler(w http.ResponseWriter, _ *http.Request, p params, c *channel) {
	digits := p.get("dtmf")
	if digits == "" {
		writeErr(w, http.StatusBadRequest, "DTMF is required")
		return
	}
	dur := 100
	if v := p.get("duration"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			dur = n
		}
	}
	if peer := c.livePeer(); peer != nil {
		for _, d := range digits {
			if strings.ContainsRune("0123456789*#ABCDabcd", d) {
				s.dtmfArrives(peer, strings.ToUpper(string(d)), dur, map[*channel]bool{c: true})
			}
		}
	}
	noContent(w)
}

// newPlayback reads a play request. Asterisk accepts a playback id that is
// already in use (the new one queues behind); no media fails.
func (s *Server) newPlayback(w http.ResponseWriter, r *http.Request, p params, lang string) *playback {
	media := p.list("media")
	if len(media) == 0 {
		writeErr(w, http.StatusInternalServerError, "Failed to queue media for playback")
		return nil
	}
	id := r.PathValue("pid")
	if id == "" {
		id = p.get("playbackId")
	}
	if id == "" {
		id = newUUID()
	}
	if l := p.get("lang"); l != "" {
		lang = l
	}
	return &playback{id: id, lang: lang, media: media, state: "queued"}
}

func (s *Server) playHandler(w http.ResponseWriter, r *http.Request, p params, c *channel) {
	pb := s.newPlayback(w, r, p, c.snap.Language)
	if pb == nil {
		return
	}
	pb.ch = c
	writeJSON(w, http.StatusCreated, pb.snapshot())
	if c.losePlay {
		// The fault knob: accepted, and never heard of again.
		c.losePlay = false
		return
	}
	s.queuePlayback(pb)
}

func (s *Server) getVarHandler(w http.ResponseWriter, r *http.Request, p params) {
	name := p.get("variable")
	if name == "" {
		writeErr(w, http.StatusBadRequest, "Variable name is required")
		return
	}
	c := s.channels[r.PathValue("id")]
	if c == nil {
		writeErr(w, http.StatusNotFound, "Provided channel was not found")
		return
	}
	v, ok, unknownFn := c.getVar(name)
	switch {
	case unknownFn:
		writeErr(w, http.StatusInternalServerError, "Unable to read provided function")
	case !ok:
		writeErr(w, http.StatusNotFound, "Provided variable was not found")
	default:
		writeJSON(w, http.StatusOK, map[string]string{"value": v})
	}
}

func (s *Server) setVarHandler(w http.ResponseWriter, r *http.Request, p params) {
	name := p.get("variable")
	if name == "" {
		writeErr(w, http.StatusBadRequest, "Variable name is required")
		return
	}
	s.withChannelNow(w, r, needControl, func(c *channel) {
		s.setVar(c, name, p.get("value"), false)
		noContent(w)
	})
}

// withChannelNow is withChannel for a handler that checked its own
// parameters first. Callers hold s.mu.
func (s *Server) withChannelNow(w http.ResponseWriter, r *http.Request, n need, f func(c *channel)) {
	c := s.channels[r.PathValue("id")]
	if c == nil {
		writeErr(w, http.StatusNotFound, "Channel not found")
		return
	}
	if n >= needControl && c.stasisApp == "" {
		writeErr(w, http.StatusConflict, "Channel not in Stasis application")
		return
	}
	f(c)
}

func snoopDir(d string) (none, ok bool) {
	switch d {
	case "", "none":
		return true, true
	case "both", "out", "in":
		return false, true
	}
	return false, false
}

func (s *Server) snoopHandler(w http.ResponseWriter, r *http.Request, p params) {
	spyNone, ok := snoopDir(p.get("spy"))
	if !ok {
		writeErr(w, http.StatusBadRequest, "Invalid direction specified for spy")
		return
	}
	whisperNone, ok := snoopDir(p.get("whisper"))
	if !ok {
		writeErr(w, http.StatusBadRequest, "Invalid direction specified for whisper")
		return
	}
	app := p.get("app")
	switch {
	case spyNone && whisperNone:
		writeErr(w, http.StatusBadRequest, "Direction must be specified for at least spy or whisper")
		return
	case app == "":
		writeErr(w, http.StatusBadRequest, "Application name is required")
		return
	}
	c := s.channels[r.PathValue("id")]
	if c == nil {
		writeErr(w, http.StatusNotFound, "Provided channel was not found")
		return
	}
	id := r.PathValue("sid")
	if id == "" {
		id = p.get("snoopId")
	}
	if id == "" {
		id = s.newID()
	} else if s.channels[id] != nil {
		writeErr(w, http.StatusInternalServerError, "Snoop channel could not be created")
		return
	}
	n := s.snoopSeq
	s.snoopSeq++
	sn := &channel{kind: kindSnoop, spied: c}
	sn.snap = channelJSON{Creationtime: now(), ID: id, Language: "en", State: "Up",
		Name:     fmt.Sprintf("Snoop/%s-%08x", c.snap.ID, n),
		Dialplan: dialplanJSON{Context: "default", Exten: "s", Priority: 1}}
	s.publish(sn)
	s.channels[id] = sn
	c.snoops = append(c.snoops, sn)
	resp := sn.pub
	var args []string
	if a := p.get("appArgs"); a != "" {
		args = strings.Split(a, ",")
	}
	if !s.stasisFromOutside(sn, app, args) {
		s.endChannel(sn, 16, nil)
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) transferProgressHandler(w http.ResponseWriter, _ *http.Request, p params, c *channel) {
	st := p.get("states")
	if st == "" {
		writeErr(w, http.StatusBadRequest, "states must not be empty")
		return
	}
	st = strings.ToLower(st)
	if !validTransferState(st) {
		writeErr(w, http.StatusBadRequest, "Invalid states value")
		return
	}
	s.transferProgress(c, st)
	noContent(w)
}

func (s *Server) withBridge(f func(w http.ResponseWriter, r *http.Request, p params, b *bridge)) http.HandlerFunc {
	return s.locked(func(w http.ResponseWriter, r *http.Request, p params) {
		b := s.bridges[r.PathValue("bid")]
		if b == nil {
			writeErr(w, http.StatusNotFound, "Bridge not found")
			return
		}
		f(w, r, p, b)
	})
}

func (s *Server) listBridges(w http.ResponseWriter, _ *http.Request, _ params) {
	out := make([]bridgeJSON, 0, len(s.bridges))
	for _, b := range s.bridges {
		out = append(out, b.snapshot())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) createBridge(w http.ResponseWriter, r *http.Request, p params) {
	id := r.PathValue("bid")
	if id == "" {
		id = p.get("bridgeId")
	}
	if id != "" && s.bridges[id] != nil {
		writeErr(w, http.StatusConflict, fmt.Sprintf("Bridge with id '%s' already exists", id))
		return
	}
	typ, dtmfEvents := "mixing", false
	for _, t := range p.list("type") {
		switch t {
		case "holding":
			typ = "holding"
		case "dtmf_events":
			dtmfEvents = true
		case "mixing", "proxy_media", "video_sfu", "video_single", "sdp_label":
		default:
			shown := id
			if shown == "" {
				shown = "(null)"
			}
			writeErr(w, http.StatusInternalServerError, fmt.Sprintf("Unable to create bridge. Possible duplicate bridge id '%s'", shown))
			return
		}
	}
	if id == "" {
		id = newUUID()
	}
	b := &bridge{id: id, name: p.get("name"), typ: typ, dtmfEvents: dtmfEvents, created: now()}
	s.bridges[id] = b
	// Only an application subscribed to every bridge hears of it now.
	s.bridgeEvent(b, "BridgeCreated", event{"bridge": b.snapshot()})
	writeJSON(w, http.StatusOK, b.snapshot())
}

// bridgeChannels resolves ?channel=a,b for add/removeChannel.
func (s *Server) bridgeChannels(w http.ResponseWriter, p params) ([]*channel, bool) {
	ids := p.list("channel")
	if len(ids) == 0 {
		writeErr(w, http.StatusBadRequest, "Missing parameter channel")
		return nil, false
	}
	out := make([]*channel, 0, len(ids))
	for _, id := range ids {
		c := s.channels[id]
		if c == nil {
			writeErr(w, http.StatusBadRequest, "Channel not found")
			return nil, false
		}
		if c.stasisApp == "" {
			writeErr(w, http.StatusUnprocessableEntity, "Channel not in Stasis application")
			return nil, false
		}
		out = append(out, c)
	}
	return out, true
}

func (s *Server) addChannelHandler(w http.ResponseWriter, _ *http.Request, p params, b *bridge) {
	chans, ok := s.bridgeChannels(w, p)
	if !ok {
		return
	}
	absorb := p.get("absorbDTMF") == "true"
	for _, c := range chans {
		s.addToBridge(b, c, absorb)
	}
	noContent(w)
}

func (s *Server) removeChannelHandler(w http.ResponseWriter, _ *http.Request, p params, b *bridge) {
	chans, ok := s.bridgeChannels(w, p)
	if !ok {
		return
	}
	for _, c := range chans {
		if c.bridge != b {
			writeErr(w, http.StatusUnprocessableEntity, "Channel not in this bridge")
			return
		}
	}
	for _, c := range chans {
		s.leaveBridge(c, leftByRemoval)
	}
	noContent(w)
}

func (s *Server) bridgePlayHandler(w http.ResponseWriter, r *http.Request, p params, b *bridge) {
	pb := s.newPlayback(w, r, p, "en")
	if pb == nil {
		return
	}
	pb.br = b
	writeJSON(w, http.StatusCreated, pb.snapshot())
	s.queuePlayback(pb)
}
