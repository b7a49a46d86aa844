// Package api is the hotline's HTTP API (README, HTTP API): JSON under /api/v1
// with bearer tokens and roles, a server-sent events stream for the agent
// desk, health and readiness probes, and the metrics endpoint. It consumes
// the routing domain through small interfaces declared in contract.go and
// owns no state of its own beyond the live-update Hub.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/hotline-project/hotline/routing"
)

// Options wires a Server. Agents, Calls, Cases, Callbacks, Requests and
// Control are required for their routes; a nil one makes its routes answer
// 503 so a partly wired daemon still serves what it can.
type Options struct {
	Agents    Agents
	Calls     Calls
	Cases     Cases
	Callbacks Callbacks
	Requests  Requests
	Control   CallControl
	Updates   Updates // events stream source; nil: /api/v1/events answers 503
	// Publish announces changes the API itself makes (a request created)
	// on the events stream; the daemon passes its Hub's Publish. Nil: the
	// change is seen at the next refetch only.
	Publish func(Update)

	// Topics lists the configured topics and Queues reads their live
	// figures; both are needed for GET /api/v1/topics (with Calls, for the
	// longest wait).
	Topics func(ctx context.Context) ([]TopicConfig, error)
	Queues Queues

	// Authenticate maps a bearer token to its grant; nil refuses every
	// token. The daemon passes the configuration's token table; tests and
	// the demo use StaticTokens.
	Authenticate func(secret string) (Token, bool)

	// Ready are the readiness checks (ARI connected, Redis reachable); an
	// error's text is reported by /readyz, so make it name the check.
	Ready        []func(context.Context) error
	ReadyTimeout time.Duration // per check; default 2s

	Metrics http.Handler // served at /metrics, unauthenticated for scrapers
	Desk    http.Handler // the agent desk, mounted at / and /desk/ if set

	Logger       *slog.Logger
	Clock        routing.Clock
	MaxBodyBytes int64         // default DefaultMaxBodyBytes
	Heartbeat    time.Duration // events stream keep-alive; default 15s
	WriteWait    time.Duration // events stream: deadline per write; default 10s
}

// Server serves the API. Build it with New.
type Server struct {
	opts    Options
	log     *slog.Logger
	mux     *http.ServeMux  // API, probes and metrics: the routes table
	auth    map[string]bool // pattern → needs a token
	handler http.Handler

	// streams ends every open events stream when the HTTP server shuts
	// down: Shutdown waits for active handlers but cancels no request
	// context, so a desk left open would otherwise hold a stop for its
	// whole deadline.
	streams    context.Context
	endStreams context.CancelFunc
}

// route is one entry of the API: the table both registers the mux and is
// what the OpenAPI test walks.
type route struct {
	pattern string // "METHOD /path"
	auth    bool   // needs a bearer token
	handle  http.HandlerFunc
}

// New builds a Server.
func New(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Clock == nil {
		opts.Clock = routing.SystemClock{}
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = 2 * time.Second
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = 15 * time.Second
	}
	if opts.WriteWait <= 0 {
		opts.WriteWait = 10 * time.Second
	}
	s := &Server{opts: opts, log: opts.Logger, mux: http.NewServeMux(), auth: map[string]bool{}}
	s.streams, s.endStreams = context.WithCancel(context.Background())
	for _, rt := range s.routes() {
		s.mux.Handle(rt.pattern, rt.handle)
		s.auth[rt.pattern] = rt.auth
	}
	s.handler = http.HandlerFunc(s.serve)
	return s
}

func (s *Server) authenticate(secret string) (Token, bool) {
	if secret == "" || s.opts.Authenticate == nil {
		return Token{}, false
	}
	return s.opts.Authenticate(secret)
}

// Handler is the whole HTTP surface: API, probes, metrics and desk.
func (s *Server) Handler() http.Handler { return s.handler }

// HTTPServer returns an http.Server for addr with timeouts that bound slow
// clients. WriteTimeout would cut the events stream, so that handler lifts
// the connection's deadlines and sets its own per write instead.
//
// Shutting the returned server down ends the events streams (see
// CloseStreams), so they do not hold the shutdown until its deadline.
func (s *Server) HTTPServer(addr string) *http.Server {
	srv := &http.Server{
		Addr:              addr,
		Handler:           s.handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	srv.RegisterOnShutdown(s.CloseStreams)
	return srv
}

// CloseStreams ends every open events stream and refuses new ones; the
// desks reconnect (to another node, or to this one when it is back). A
// server from HTTPServer calls it on Shutdown.
func (s *Server) CloseStreams() { s.endStreams() }

func (s *Server) routes() []route {
	const v1 = "/api/v1"
	return []route{
		{"GET /healthz", false, s.healthz},
		{"GET /readyz", false, s.readyz},
		{"GET /metrics", false, s.metrics},
		{"GET " + v1 + "/openapi.json", false, s.openapi},
		{"GET " + v1 + "/events", true, s.events},
		{"GET " + v1 + "/me", true, s.me},
		{"GET " + v1 + "/topics", true, s.need(s.opts.Topics != nil && s.opts.Queues != nil && s.opts.Calls != nil, "topics", s.listTopics)},

		{"GET " + v1 + "/agents", true, s.need(s.opts.Agents != nil, "agents", s.listAgents)},
		{"GET " + v1 + "/agents/{id}", true, s.need(s.opts.Agents != nil, "agents", s.getAgent)},
		{"POST " + v1 + "/agents/{id}/state", true, s.need(s.opts.Agents != nil, "agents", s.setAgentState)},

		{"GET " + v1 + "/calls", true, s.need(s.opts.Calls != nil, "calls", s.listCalls)},
		{"GET " + v1 + "/calls/{id}", true, s.need(s.opts.Calls != nil && s.opts.Cases != nil, "calls", s.getCall)},
		{"PUT " + v1 + "/calls/{id}/note", true, s.need(s.opts.Calls != nil && s.opts.Cases != nil, "calls", s.setNote)},
		{"POST " + v1 + "/calls/{id}/transfer", true, s.need(s.opts.Calls != nil && s.opts.Control != nil, "call control", s.transfer)},
		{"POST " + v1 + "/calls/{id}/transfer/complete", true, s.need(s.opts.Calls != nil && s.opts.Control != nil, "call control", s.completeTransfer)},
		{"POST " + v1 + "/calls/{id}/transfer/cancel", true, s.need(s.opts.Calls != nil && s.opts.Control != nil, "call control", s.cancelTransfer)},
		{"POST " + v1 + "/calls/{id}/callback", true, s.need(s.opts.Calls != nil && s.opts.Control != nil, "call control", s.scheduleCallback)},
		{"POST " + v1 + "/calls/{id}/escalate", true, s.need(s.opts.Calls != nil && s.opts.Control != nil, "call control", s.escalate)},

		{"GET " + v1 + "/callbacks", true, s.need(s.opts.Callbacks != nil, "callbacks", s.listCallbacks)},
		{"GET " + v1 + "/callbacks/{id}", true, s.need(s.opts.Callbacks != nil, "callbacks", s.getCallback)},
		{"GET " + v1 + "/cases", true, s.need(s.opts.Cases != nil, "cases", s.listCases)},
		{"GET " + v1 + "/cases/{id}", true, s.need(s.opts.Cases != nil, "cases", s.getCase)},
		{"GET " + v1 + "/requests", true, s.need(s.opts.Requests != nil, "requests", s.listRequests)},
		{"GET " + v1 + "/requests/{id}", true, s.need(s.opts.Requests != nil, "requests", s.getRequest)},
		{"POST " + v1 + "/requests", true, s.need(s.opts.Requests != nil, "requests", s.createRequest)},
		{"POST " + v1 + "/requests/{id}/done", true, s.need(s.opts.Requests != nil, "requests", s.requestDone)},
	}
}

// need answers 503 for a route whose service is not wired.
func (s *Server) need(ok bool, what string, h http.HandlerFunc) http.HandlerFunc {
	if ok {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusServiceUnavailable, "unavailable", what+" service not configured")
	}
}

type ctxKey int

const tokenKey ctxKey = 0

// tokenFrom returns the caller's grant; serve put it there.
func tokenFrom(r *http.Request) Token {
	tok, _ := r.Context().Value(tokenKey).(Token)
	return tok
}

// serve routes, authenticates and logs every request. Every error answer
// is JSON: the mux's own 404 and 405 are plain text, so they are answered
// here instead, and so are the desk's (jsonErrors).
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w}
	_, pattern := s.mux.Handler(r)
	logged := pattern
	var tok Token
	switch {
	case pattern != "":
		if s.auth[pattern] {
			var ok bool
			tok, ok = s.authenticate(bearer(r, strings.HasSuffix(pattern, "/events")))
			if !ok {
				sw.Header().Set("WWW-Authenticate", `Bearer realm="hotline"`)
				writeError(sw, http.StatusUnauthorized, "unauthorized", "missing or unknown bearer token")
				break
			}
			r = r.WithContext(context.WithValue(r.Context(), tokenKey, tok))
		}
		s.mux.ServeHTTP(sw, r)
	default:
		// Nothing of the API's matches. A path the API serves with other
		// methods (POST /healthz) is the API's 405, not the desk's; any
		// other path outside /api/ is the desk's to answer.
		code, hdr := s.missed(r)
		if code == http.StatusNotFound && s.opts.Desk != nil && !strings.HasPrefix(r.URL.Path, "/api/") {
			logged = "desk"
			s.opts.Desk.ServeHTTP(&jsonErrors{ResponseWriter: sw, method: r.Method}, r)
			break
		}
		logged = "unmatched"
		s.noRoute(sw, r, code, hdr)
	}
	attrs := []slog.Attr{
		slog.String("method", r.Method), slog.String("pattern", logged), slog.Int("status", sw.status()),
		slog.Duration("duration", time.Since(start)), slog.Int64("bytes", sw.bytes),
	}
	if tok.Role != "" {
		attrs = append(attrs, slog.String("role", tok.Role))
		if tok.AgentID != "" {
			attrs = append(attrs, slog.String("agent", tok.AgentID))
		}
	}
	s.log.LogAttrs(r.Context(), accessLevel(r, sw.status()), "http request", attrs...)
}

// missed asks the mux what it would answer a request no route matches:
// 404, 405 (the path exists for other methods; hdr has Allow) or a
// redirect to the cleaned path (hdr has Location).
func (s *Server) missed(r *http.Request) (code int, hdr http.Header) {
	rec := &headerRecorder{h: http.Header{}}
	h, _ := s.mux.Handler(r)
	h.ServeHTTP(rec, r)
	return rec.code, rec.h
}

// noRoute answers what the mux would (missed), in JSON.
func (s *Server) noRoute(w http.ResponseWriter, r *http.Request, code int, hdr http.Header) {
	switch code {
	case http.StatusMethodNotAllowed:
		w.Header().Set("Allow", hdr.Get("Allow"))
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" not allowed here")
	case http.StatusMovedPermanently, http.StatusPermanentRedirect, http.StatusTemporaryRedirect, http.StatusFound:
		// The mux cleans paths ("//x", "/x/../y") by redirecting; keep that.
		w.Header().Set("Location", hdr.Get("Location"))
		writeError(w, code, "redirect", "see "+hdr.Get("Location"))
	default:
		writeError(w, http.StatusNotFound, "not_found", "no such route")
	}
}

// jsonErrors is the writer of handlers the API mounts but does not write
// itself (the desk, the metrics handler): their error answers are plain
// text (http.Error), so an error status is answered in the API's JSON
// error shape instead, and the handler's own text dropped. Other answers
// pass through untouched.
type jsonErrors struct {
	http.ResponseWriter
	method string
	failed bool
}

func (w *jsonErrors) WriteHeader(code int) {
	if w.failed {
		return
	}
	if code < 400 {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	w.failed = true
	h := w.Header()
	for _, k := range []string{"Content-Length", "Content-Encoding", "Content-Disposition", "Content-Range", "ETag", "Last-Modified"} {
		h.Del(k)
	}
	switch code {
	case http.StatusNotFound:
		writeError(w.ResponseWriter, code, "not_found", "no such route")
	case http.StatusMethodNotAllowed:
		writeError(w.ResponseWriter, code, "method_not_allowed", w.method+" not allowed here")
	default:
		writeError(w.ResponseWriter, code, errorCode(code), http.StatusText(code))
	}
}

func (w *jsonErrors) Write(b []byte) (int, error) {
	if w.failed {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

func (w *jsonErrors) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// errorCode is the error code of a status without one of its own:
// "Requested Range Not Satisfiable" → "requested_range_not_satisfiable".
func errorCode(status int) string {
	text := http.StatusText(status)
	if text == "" {
		return "error"
	}
	return strings.ReplaceAll(strings.ToLower(strings.ReplaceAll(text, "-", " ")), " ", "_")
}

// headerRecorder captures the mux's no-match answer to learn its status.
type headerRecorder struct {
	h    http.Header
	code int
}

func (r *headerRecorder) Header() http.Header { return r.h }
func (r *headerRecorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return len(b), nil
}
func (r *headerRecorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}

// statusWriter records status and size for the access log. Unwrap lets
// http.ResponseController reach the connection (flush, deadlines).
type statusWriter struct {
	http.ResponseWriter
	code  int
	bytes int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}

// errorBody is every error response. Path is set for transfer refusals,
// Field for validation errors.
type errorBody struct {
	Error   string    `json:"error"`
	Message string    `json:"message"`
	Field   string    `json:"field,omitempty"`
	Path    []hopJSON `json:"path,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	// An encode error here means the client went away mid-body.
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, errorBody{Error: code, Message: msg})
}

// fail maps a service error to its HTTP answer.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, op string, err error) {
	var fe *FieldError
	var ve *routing.ValidationError
	if ref, ok := routing.AsRefusal(err); ok {
		path := pathView(ref.Path)
		writeJSON(w, http.StatusConflict, errorBody{Error: string(ref.Code), Message: ref.Message, Path: path})
		return
	}
	switch {
	case errors.As(err, &fe):
		writeJSON(w, http.StatusBadRequest, errorBody{Error: "bad_request", Message: fe.Error(), Field: fe.Field})
	case errors.As(err, &ve):
		writeJSON(w, http.StatusBadRequest, errorBody{Error: "bad_request", Message: ve.Error(), Field: ve.Field})
	case errors.Is(err, routing.ErrInvalid):
		// A validation error that came back from another node: its text
		// names the field.
		writeError(w, http.StatusBadRequest, "bad_request", op+": "+err.Error())
	case errors.Is(err, ErrBadRequest):
		writeError(w, http.StatusBadRequest, "bad_request", strings.TrimSuffix(err.Error(), ": "+ErrBadRequest.Error()))
	case errors.Is(err, errForbidden):
		writeError(w, http.StatusForbidden, "forbidden", strings.TrimSuffix(err.Error(), ": "+errForbidden.Error()))
	case errors.Is(err, routing.ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", op+": not found")
	case errors.Is(err, routing.ErrCallGone):
		writeError(w, http.StatusGone, "call_gone", op+": the call has ended")
	case errors.Is(err, routing.ErrNotYourCall):
		writeError(w, http.StatusForbidden, "forbidden", op+": "+err.Error())
	case errors.Is(err, routing.ErrNoTransfer):
		writeError(w, http.StatusConflict, "no_transfer", op+": "+err.Error())
	case errors.Is(err, routing.ErrIllegalTransition):
		writeError(w, http.StatusConflict, "illegal_transition", op+": "+err.Error())
	case errors.Is(err, routing.ErrNodeUnavailable):
		writeError(w, http.StatusServiceUnavailable, "node_unavailable", op+": the node holding the call did not answer")
	case errors.Is(err, context.DeadlineExceeded):
		s.log.Warn("request timed out", "op", op, "err", err)
		writeError(w, http.StatusGatewayTimeout, "timeout", op+": timed out")
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		// The client left; nobody reads the answer.
		writeError(w, http.StatusServiceUnavailable, "canceled", op+": canceled")
	default:
		s.log.Error("request failed", "op", op, "err", err)
		writeError(w, http.StatusInternalServerError, "internal", op+": internal error")
	}
}

// errForbidden marks errors that are the caller's rights, not the state.
var errForbidden = errors.New("forbidden")

// accessLevel is the log level of one request: a failure on our side is a
// warning, a change (a login, a transfer, a note) is worth an info line,
// and what only reads — the probes every few seconds, the desk's views —
// is debug, so that the log says what happened, not that someone looked.
func accessLevel(r *http.Request, status int) slog.Level {
	switch {
	case status >= 500:
		return slog.LevelWarn
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return slog.LevelInfo
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		return slog.LevelDebug
	}
	return slog.LevelInfo
}
