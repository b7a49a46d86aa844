package asterisksim

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
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

// withChannel resolves {id}; stasis requires the channel to be in Stasis.
func (s *Server) withChannel(stasis bool, f func(w http.ResponseWriter, r *http.Request, p params, c *channel)) http.HandlerFunc {
	return s.locked(func(w http.ResponseWriter, r *http.Request, p params) {
		c := s.channels[r.PathValue("id")]
		if c == nil {
			writeErr(w, http.StatusNotFound, "Channel not found")
			return
		}
		if stasis && c.stasisApp == "" {
			writeErr(w, http.StatusConflict, "Channel not in Stasis application")
			return
		}
		f(w, r, p, c)
	})
}

func (s *Server) routes() http.Handler {
	m := http.NewServeMux()
	m.HandleFunc("GET /ari/events", s.handleEvents)
	m.HandleFunc("GET /ari/asterisk/info", s.locked(s.asteriskInfo))
	m.HandleFunc("GET /ari/applications", s.locked(s.listApps))
	m.HandleFunc("GET /ari/applications/{app}", s.locked(s.getApp))
	m.HandleFunc("POST /ari/applications/{app}/subscription", s.locked(s.subscribe))
	m.HandleFunc("DELETE /ari/applications/{app}/subscription", s.locked(s.unsubscribe))
	m.HandleFunc("GET /ari/endpoints", s.locked(s.listEndpoints))
	m.HandleFunc("GET /ari/endpoints/{tech}/{res}", s.locked(s.getEndpoint))

	m.HandleFunc("GET /ari/channels", s.locked(s.listChannels))
	m.HandleFunc("POST /ari/channels", s.locked(s.originateHandler(false)))
	m.HandleFunc("POST /ari/channels/create", s.locked(s.originateHandler(true)))
	m.HandleFunc("POST /ari/channels/{id}", s.locked(s.originateHandler(false)))
	m.HandleFunc("GET /ari/channels/{id}", s.withChannel(false, func(w http.ResponseWriter, _ *http.Request, _ params, c *channel) {
		writeJSON(w, http.StatusOK, c.snap)
	}))
	m.HandleFunc("DELETE /ari/channels/{id}", s.withChannel(false, s.hangupHandler))
	m.HandleFunc("POST /ari/channels/{id}/dial", s.withChannel(true, s.dialHandler))
	m.HandleFunc("POST /ari/channels/{id}/answer", s.withChannel(true, func(w http.ResponseWriter, _ *http.Request, _ params, c *channel) {
		s.answer(c)
		noContent(w)
	}))
	m.HandleFunc("POST /ari/channels/{id}/ring", s.withChannel(true, func(w http.ResponseWriter, _ *http.Request, _ params, c *channel) {
		s.ring(c)
		noContent(w)
	}))
	// Indications without events in the recordings (file 11).
	quiet := s.withChannel(true, func(w http.ResponseWriter, _ *http.Request, _ params, _ *channel) { noContent(w) })
	m.HandleFunc("DELETE /ari/channels/{id}/ring", quiet)
	for _, x := range []string{"moh", "hold", "silence", "mute"} {
		m.HandleFunc("POST /ari/channels/{id}/"+x, quiet)
		m.HandleFunc("DELETE /ari/channels/{id}/"+x, quiet)
	}
	m.HandleFunc("POST /ari/channels/{id}/dtmf", s.withChannel(true, s.dtmfHandler))
	m.HandleFunc("POST /ari/channels/{id}/play", s.withChannel(true, s.playHandler))
	m.HandleFunc("POST /ari/channels/{id}/play/{pid}", s.withChannel(true, s.playHandler))
	m.HandleFunc("GET /ari/channels/{id}/variable", s.withChannel(false, s.getVarHandler))
	m.HandleFunc("POST /ari/channels/{id}/variable", s.withChannel(false, s.setVarHandler))
	m.HandleFunc("POST /ari/channels/{id}/snoop", s.withChannel(false, s.snoopHandler))
	m.HandleFunc("POST /ari/channels/{id}/snoop/{sid}", s.withChannel(false, s.snoopHandler))
	m.HandleFunc("POST /ari/channels/{id}/transfer_progress", s.withChannel(false, s.transferProgressHandler))

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
	bquiet := s.withBridge(func(w http.ResponseWriter, _ *http.Request, _ params, _ *bridge) { noContent(w) })
	m.HandleFunc("POST /ari/bridges/{bid}/moh", bquiet)
	m.HandleFunc("DELETE /ari/bridges/{bid}/moh", bquiet)
	m.HandleFunc("POST /ari/bridges/{bid}/play", s.withBridge(s.bridgePlayHandler))
	m.HandleFunc("POST /ari/bridges/{bid}/play/{pid}", s.withBridge(s.bridgePlayHandler))

	m.HandleFunc("GET /ari/playbacks/{pid}", s.locked(func(w http.ResponseWriter, r *http.Request, _ params) {
		p := s.playbacks[r.PathValue("pid")]
		if p == nil {
			writeErr(w, http.StatusNotFound, "Playback not found")
			return
		}
		writeJSON(w, http.StatusOK, p.snapshot())
	}))
	m.HandleFunc("DELETE /ari/playbacks/{pid}", s.locked(func(w http.ResponseWriter, r *http.Request, _ params) {
		p := s.playbacks[r.PathValue("pid")]
		if p == nil {
			writeErr(w, http.StatusNotFound, "Playback not found")
			return
		}
		s.finishPlayback(p, "done")
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

type appJSON struct {
	BridgeIDs        []string `json:"bridge_ids"`
	ChannelIDs       []string `json:"channel_ids"`
	DeviceNames      []string `json:"device_names"`
	EndpointIDs      []string `json:"endpoint_ids"`
	EventsAllowed    []any    `json:"events_allowed"`
	EventsDisallowed []any    `json:"events_disallowed"`
	Name             string   `json:"name"`
}

// appSnapshot scans the channels; it is only used by rare REST calls.
func (s *Server) appSnapshot(name string) appJSON {
	a := appJSON{BridgeIDs: []string{}, ChannelIDs: []string{}, DeviceNames: []string{}, EndpointIDs: []string{},
		EventsAllowed: []any{}, EventsDisallowed: []any{}, Name: name}
	for id, c := range s.channels {
		if c.stasisApp == name || slices.Contains(c.subs, name) {
			a.ChannelIDs = append(a.ChannelIDs, id)
		}
	}
	for id, b := range s.bridges {
		if slices.Contains(b.subs, name) {
			a.BridgeIDs = append(a.BridgeIDs, id)
		}
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
		c *channel
		b *bridge
	}
	var todo []change
	for _, src := range srcs {
		kind, id, _ := strings.Cut(src, ":")
		switch kind {
		case "channel":
			if c := s.channels[id]; c != nil {
				todo = append(todo, change{c: c})
				continue
			}
		case "bridge":
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
		writeErr(w, http.StatusUnprocessableEntity, "Unable to find event source")
		return
	}
	for _, t := range todo {
		switch {
		case t.c != nil && on:
			t.c.subscribe(name)
		case t.c != nil:
			t.c.subs = slices.DeleteFunc(t.c.subs, func(x string) bool { return x == name })
		case on:
			if !slices.Contains(t.b.subs, name) {
				t.b.subs = append(t.b.subs, name)
			}
		default:
			t.b.subs = slices.DeleteFunc(t.b.subs, func(x string) bool { return x == name })
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
		out = append(out, c.snap)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	writeJSON(w, http.StatusOK, out)
}

func parseTimeout(v string) (time.Duration, bool) {
	if v == "" {
		return 0, true
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, false
	}
	if n < 0 {
		return -1, true
	}
	return time.Duration(n) * time.Second, true
}

func (s *Server) originateHandler(create bool) op {
	return func(w http.ResponseWriter, r *http.Request, p params) {
		timeout, ok := parseTimeout(p.get("timeout"))
		if !ok {
			writeErr(w, http.StatusBadRequest, "Invalid timeout")
			return
		}
		req := originateReq{
			endpoint: p.get("endpoint"),
			app:      p.get("app"),
			context:  p.get("context"),
			exten:    p.get("extension"),
			callerID: p.get("callerId"),
			timeout:  timeout,
			chanID:   p.get("channelId"),
			otherID:  p.get("otherChannelId"),
			vars:     p.vars(),
			create:   create,
		}
		if id := r.PathValue("id"); id != "" {
			req.chanID = id
		}
		if a := p.get("appArgs"); a != "" {
			req.appArgs = strings.Split(a, ",")
		}
		if req.endpoint == "" {
			writeErr(w, http.StatusBadRequest, "Endpoint must be specified")
			return
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
	cause, ok := reasonCause(p.get("reason"))
	if rc := p.get("reason_code"); rc != "" {
		n, err := strconv.Atoi(rc)
		cause, ok = n, err == nil
	}
	if !ok {
		writeErr(w, http.StatusBadRequest, "Invalid reason for hangup reason provided")
		return
	}
	s.hangupFromARI(c, cause)
	noContent(w)
}

func (s *Server) dialHandler(w http.ResponseWriter, _ *http.Request, p params, c *channel) {
	timeout, ok := parseTimeout(p.get("timeout"))
	if !ok {
		writeErr(w, http.StatusBadRequest, "Invalid timeout")
		return
	}
	if aerr := s.dial(c, timeout); aerr != nil {
		writeAPIErr(w, aerr)
		return
	}
	noContent(w)
}

func (s *Server) dtmfHandler(w http.ResponseWriter, _ *http.Request, p params, c *channel) {
	digits := p.get("dtmf")
	if digits == "" {
		writeErr(w, http.StatusBadRequest, "DTMF is required")
		return
	}
	dur := 100
	if v := p.get("duration"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			writeErr(w, http.StatusBadRequest, "Invalid duration")
			return
		}
		dur = n
	}
	// The digit travels towards the far end: on a pair it is received on
	// the other half (files 01, 02). Timing between digits is not simulated.
	if peer := c.livePeer(); peer != nil {
		for _, d := range digits {
			if strings.ContainsRune("0123456789*#ABCDabcd", d) {
				s.chanEvent(peer, "ChannelDtmfReceived", event{"digit": strings.ToUpper(string(d)), "duration_ms": dur})
			}
		}
	}
	noContent(w)
}

func (s *Server) newPlayback(w http.ResponseWriter, r *http.Request, p params) *playback {
	media := p.list("media")
	if len(media) == 0 {
		writeErr(w, http.StatusBadRequest, "Missing parameter media")
		return nil
	}
	id := r.PathValue("pid")
	if id == "" {
		id = p.get("playbackId")
	}
	if id == "" {
		id = newUUID()
	} else if s.playbacks[id] != nil {
		writeErr(w, http.StatusConflict, "Playback with the same ID already exists")
		return nil
	}
	lang := p.get("lang")
	if lang == "" {
		lang = "en"
	}
	return &playback{id: id, lang: lang, media: media, state: "queued"}
}

func (s *Server) playHandler(w http.ResponseWriter, r *http.Request, p params, c *channel) {
	pb := s.newPlayback(w, r, p)
	if pb == nil {
		return
	}
	pb.ch = c
	writeJSON(w, http.StatusCreated, pb.snapshot())
	s.startPlayback(pb)
}

func (s *Server) getVarHandler(w http.ResponseWriter, _ *http.Request, p params, c *channel) {
	name := p.get("variable")
	if name == "" {
		writeErr(w, http.StatusBadRequest, "Variable name is required")
		return
	}
	v, ok := c.getVar(name)
	if !ok {
		writeErr(w, http.StatusNotFound, "Provided variable was not found")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"value": v})
}

func (s *Server) setVarHandler(w http.ResponseWriter, _ *http.Request, p params, c *channel) {
	name := p.get("variable")
	if name == "" {
		writeErr(w, http.StatusBadRequest, "Variable name is required")
		return
	}
	s.setVar(c, name, p.get("value"))
	noContent(w)
}

func validSnoopDir(d string) bool {
	switch d {
	case "", "none", "both", "out", "in":
		return true
	}
	return false
}

func (s *Server) snoopHandler(w http.ResponseWriter, r *http.Request, p params, c *channel) {
	app := p.get("app")
	if app == "" {
		writeErr(w, http.StatusBadRequest, "Application name is required")
		return
	}
	if !validSnoopDir(p.get("spy")) || !validSnoopDir(p.get("whisper")) {
		writeErr(w, http.StatusBadRequest, "Invalid direction specified")
		return
	}
	id := r.PathValue("sid")
	if id == "" {
		id = p.get("snoopId")
	}
	if id == "" {
		id = s.newID()
	} else if s.channels[id] != nil {
		writeErr(w, http.StatusConflict, "Channel with given unique ID already exists")
		return
	}
	n := s.snoopSeq
	s.snoopSeq++
	sn := &channel{kind: kindSnoop, spied: c}
	sn.snap = channelJSON{Creationtime: now(), ID: id, Language: "en", State: "Up",
		Name:     fmt.Sprintf("Snoop/%s-%08x", c.snap.ID, n),
		Dialplan: dialplanJSON{Context: "default", Exten: "s", Priority: 1}}
	s.channels[id] = sn
	c.snoops = append(c.snoops, sn)
	resp := sn.snap
	var args []string
	if a := p.get("appArgs"); a != "" {
		args = strings.Split(a, ",")
	}
	sn.snap.Dialplan.AppName = "Stasis"
	sn.snap.Dialplan.AppData = strings.Join(append([]string{app}, args...), ",")
	s.enterStasis(sn, app, args)
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) transferProgressHandler(w http.ResponseWriter, _ *http.Request, p params, c *channel) {
	st := p.get("states")
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
	if id == "" {
		id = newUUID()
	} else if s.bridges[id] != nil {
		writeErr(w, http.StatusConflict, fmt.Sprintf("Bridge with id '%s' already exists", id))
		return
	}
	typ, tech := "mixing", "simple_bridge"
	for _, t := range p.list("type") {
		switch t {
		case "holding":
			typ, tech = "holding", "holding_bridge"
		case "mixing", "dtmf_events", "proxy_media", "video_sfu", "video_single", "sdp_label":
		default:
			writeErr(w, http.StatusBadRequest, "Invalid bridge type")
			return
		}
	}
	b := &bridge{id: id, name: p.get("name"), typ: typ, tech: tech, created: now()}
	s.bridges[id] = b
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
	for _, c := range chans {
		s.addToBridge(b, c)
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
		s.leaveBridge(c)
	}
	noContent(w)
}

func (s *Server) bridgePlayHandler(w http.ResponseWriter, r *http.Request, p params, b *bridge) {
	pb := s.newPlayback(w, r, p)
	if pb == nil {
		return
	}
	pb.br = b
	writeJSON(w, http.StatusCreated, pb.snapshot())
	s.startPlayback(pb)
}
