package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotline-project/hotline/desk"
	"github.com/hotline-project/hotline/internal/testclock"
	"github.com/hotline-project/hotline/routing"
)

const (
	tokAgent100 = "agent-100-secret-token"
	tokAgent200 = "agent-200-secret-token"
	tokAgent300 = "agent-300-secret-token"
	tokSenior   = "senior-secret-token-1"
	tokAdmin    = "admin-secret-token-01"
)

var testNow = time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC)

type env struct {
	srv       *Server
	router    *fakeRouter
	control   *fakeControl
	callbacks *fakeCallbacks
	requests  *fakeRequests
	queues    *fakeQueues
	published *publishLog
	hub       *Hub
	logs      *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func entryHop(topic string) routing.Hop {
	return routing.Hop{To: routing.Destination{Kind: routing.DestTopic, Name: topic}, At: testNow.Add(-5 * time.Minute)}
}

// newEnv builds a server over fakes: agents 100 (service, on call c1),
// 200 (audit, on call c2), 300 (service, rung for a transfer of c1);
// c3 waits in the service queue.
func newEnv(t testing.TB, mutate ...func(*Options)) *env {
	t.Helper()
	agent := func(id string, topic string, st routing.AgentState, call string) routing.AgentStatus {
		return routing.AgentStatus{
			Agent: routing.Agent{ID: id, Name: "Agent " + id, Endpoint: "PJSIP/" + id, Topics: map[string]int{topic: 1}},
			State: st, CallID: call, Since: testNow,
		}
	}
	e := &env{
		router: &fakeRouter{
			agents: map[string]routing.AgentStatus{
				"100": agent("100", "service", routing.StateOnCall, "c1"),
				"200": agent("200", "audit", routing.StateOnCall, "c2"),
				"300": agent("300", "service", routing.StateRinging, "c1"),
			},
			calls: map[string]Call{
				"c1": {ID: "c1", CaseID: "k1", Topic: "service", CallerNumber: "+380441234567", AgentID: "100", State: CallConsulting},
				"c2": {ID: "c2", CaseID: "k2", Topic: "audit", CallerNumber: "+380447654321", AgentID: "200", State: CallConnected},
				"c3": {ID: "c3", CaseID: "k3", Topic: "service", CallerNumber: "+48221234567", State: CallQueued,
					EnqueuedAt: testNow.Add(-90 * time.Second)},
			},
			cases: map[string]routing.Case{
				"k1": {ID: "k1", CallerNumber: "+380441234567", Topic: "service", Note: "router reboots nightly", Owner: "100",
					Status: routing.CaseOpen, Agents: []string{"100"}, Path: []routing.Hop{entryHop("service")}},
				"k2": {ID: "k2", CallerNumber: "+380447654321", Topic: "audit", Owner: "200", Status: routing.CaseOpen,
					Agents: []string{"200", "100"}, Path: []routing.Hop{entryHop("audit")}},
				"k3": {ID: "k3", CallerNumber: "+48221234567", Topic: "service", Status: routing.CaseOpen, Path: []routing.Hop{entryHop("service")}},
			},
			errs: map[string]error{},
		},
		control: &fakeControl{},
		callbacks: &fakeCallbacks{all: []Callback{
			{ID: "cb1", CaseID: "k1", Owner: "100", Kind: CallbackOwner, State: CallbackScheduled},
			{ID: "cb2", CaseID: "k2", Owner: "200", Kind: CallbackOwner, State: CallbackFailed},
		}},
		requests: &fakeRequests{},
		queues: &fakeQueues{stats: map[string]routing.TopicStats{
			"service": {Queued: 1, AgentsLoggedIn: 2, HandleTime: 4 * time.Minute},
			"audit":   {AgentsLoggedIn: 1, AgentsAvailable: 1, HandleTime: 3 * time.Minute},
		}},
		published: &publishLog{},
		logs:      &syncBuffer{},
	}
	e.hub = NewHub(HubOptions{Buffer: 16})
	opts := Options{
		Agents: e.router, Calls: e.router, Cases: e.router, Callbacks: e.callbacks, Requests: e.requests,
		Control: e.control, Updates: e.hub, Publish: e.published.publish,
		Topics: func(context.Context) ([]TopicConfig, error) {
			// Listed out of order: the API sorts by name.
			return []TopicConfig{
				{Name: "service", Description: "Faults and repairs", WrapUp: time.Minute},
				{Name: "requests", Description: "Vendors and officials"},
				{Name: "audit", Description: "Billing and contracts"},
			}, nil
		},
		Queues: e.queues,
		Authenticate: StaticTokens(map[string]Token{
			tokAgent100: {Role: RoleAgent, AgentID: "100"},
			tokAgent200: {Role: RoleAgent, AgentID: "200"},
			tokAgent300: {Role: RoleAgent, AgentID: "300"},
			tokSenior:   {Role: RoleSenior},
			tokAdmin:    {Role: RoleAdmin},
		}),
		Logger: slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Clock:  testclock.New(testNow),
	}
	for _, m := range mutate {
		m(&opts)
	}
	e.srv = New(opts)
	return e
}

// do sends a request; a non-empty body is sent as application/json.
func (e *env) do(t *testing.T, method, path, token, body string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	e.srv.Handler().ServeHTTP(rec, req)
	return rec
}

func decode[T any](t *testing.T, rec *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("decode %q: %v", rec.Body.String(), err)
	}
	return v
}

func wantStatus(t *testing.T, rec *httptest.ResponseRecorder, status int, code string) {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status %d, want %d; body %s", rec.Code, status, rec.Body.String())
	}
	if code == "" {
		return
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("content type %q, want application/json", ct)
	}
	if got := decode[errorBody](t, rec).Error; got != code {
		t.Errorf("error code %q, want %q; body %s", got, code, rec.Body.String())
	}
}

func TestAuthentication(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name   string
		header string
		path   string
		want   int
	}{
		{"no token", "", "/api/v1/agents", 401},
		{"unknown token", "Bearer not-a-real-token-at-all", "/api/v1/agents", 401},
		{"wrong scheme", "Basic " + tokSenior, "/api/v1/agents", 401},
		{"empty bearer", "Bearer ", "/api/v1/agents", 401},
		{"query token outside events", "", "/api/v1/agents?token=" + tokSenior, 401},
		{"lowercase scheme", "bearer " + tokSenior, "/api/v1/agents", 200},
		{"valid", "Bearer " + tokAgent100, "/api/v1/agents", 200},
		{"probe needs none", "", "/healthz", 200},
		{"openapi needs none", "", "/api/v1/openapi.json", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", tt.path, nil)
			if tt.header != "" {
				req.Header.Set("Authorization", tt.header)
			}
			rec := httptest.NewRecorder()
			e.srv.Handler().ServeHTTP(rec, req)
			if rec.Code != tt.want {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.want, rec.Body.String())
			}
			if tt.want == 401 {
				wantStatus(t, rec, 401, "unauthorized")
				if !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("WWW-Authenticate %q", rec.Header().Get("WWW-Authenticate"))
				}
			}
		})
	}
}

func TestUnknownRouteAndMethod(t *testing.T) {
	desk := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("desk")) })
	tests := []struct {
		name       string
		desk       bool
		method     string
		path       string
		want       int
		code, body string
	}{
		{"unknown api route", false, "GET", "/api/v1/nope", 404, "not_found", ""},
		{"unknown root route", false, "GET", "/nope", 404, "not_found", ""},
		{"wrong method", false, "DELETE", "/api/v1/agents", 405, "method_not_allowed", ""},
		{"wrong method on item", false, "GET", "/api/v1/calls/c1/transfer", 405, "method_not_allowed", ""},
		{"desk at root", true, "GET", "/", 200, "", "desk"},
		{"desk under /desk/", true, "GET", "/desk/app.js", 200, "", "desk"},
		{"api stays json with desk", true, "GET", "/api/v1/nope", 404, "not_found", ""},
		{"wrong method with desk", true, "PATCH", "/api/v1/agents", 405, "method_not_allowed", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(o *Options) {
				if tt.desk {
					o.Desk = desk
				}
			})
			rec := e.do(t, tt.method, tt.path, tokSenior, "")
			wantStatus(t, rec, tt.want, tt.code)
			if tt.body != "" && rec.Body.String() != tt.body {
				t.Errorf("body %q, want %q", rec.Body.String(), tt.body)
			}
			if tt.want == 405 && rec.Header().Get("Allow") == "" {
				t.Error("405 without Allow header")
			}
		})
	}
}

func TestAgents(t *testing.T) {
	e := newEnv(t)
	t.Run("list as agent", func(t *testing.T) {
		rec := e.do(t, "GET", "/api/v1/agents", tokAgent200, "")
		wantStatus(t, rec, 200, "")
		got := decode[[]agentJSON](t, rec)
		if len(got) != 3 || got[0].ID != "100" || got[0].State != "on_call" || got[0].Topics["service"] != 1 {
			t.Errorf("agents %+v", got)
		}
	})
	t.Run("one", func(t *testing.T) {
		rec := e.do(t, "GET", "/api/v1/agents/300", tokAgent100, "")
		wantStatus(t, rec, 200, "")
		if got := decode[agentJSON](t, rec); got.CallID != "c1" || got.State != "ringing" {
			t.Errorf("agent %+v", got)
		}
		wantStatus(t, e.do(t, "GET", "/api/v1/agents/999", tokAgent100, ""), 404, "not_found")
	})
}

func TestAgentState(t *testing.T) {
	tests := []struct {
		name    string
		token   string
		agent   string
		body    string
		failOp  string
		want    int
		code    string
		wantLog string
		state   string
	}{
		{"own login", tokAgent100, "100", `{"action":"login"}`, "", 200, "", "login 100", "available"},
		{"own pause", tokAgent100, "100", `{"action":"pause","reason":"lunch"}`, "", 200, "", "pause 100 lunch", "paused"},
		{"own resume", tokAgent100, "100", `{"action":"resume"}`, "", 200, "", "resume 100", "available"},
		{"own logout", tokAgent100, "100", `{"action":"logout"}`, "", 200, "", "logout 100", "offline"},
		{"someone else", tokAgent100, "200", `{"action":"logout"}`, "", 403, "forbidden", "", ""},
		{"senior for anyone", tokSenior, "200", `{"action":"pause","reason":"meeting"}`, "", 200, "", "pause 200 meeting", "paused"},
		{"admin for anyone", tokAdmin, "300", `{"action":"logout"}`, "", 200, "", "logout 300", "offline"},
		{"pause without reason", tokAgent100, "100", `{"action":"pause"}`, "", 400, "bad_request", "", ""},
		{"reason on login", tokAgent100, "100", `{"action":"login","reason":"x"}`, "", 400, "bad_request", "", ""},
		{"unknown action", tokAgent100, "100", `{"action":"dance"}`, "", 400, "bad_request", "", ""},
		{"missing action", tokAgent100, "100", `{}`, "", 400, "bad_request", "", ""},
		{"illegal transition", tokAgent100, "100", `{"action":"resume"}`, "resume", 409, "illegal_transition", "", ""},
		{"unknown agent", tokSenior, "999", `{"action":"login"}`, "", 404, "not_found", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			if tt.failOp != "" {
				e.router.errs[tt.failOp] = routing.ErrIllegalTransition
			}
			rec := e.do(t, "POST", "/api/v1/agents/"+tt.agent+"/state", tt.token, tt.body)
			wantStatus(t, rec, tt.want, tt.code)
			if tt.wantLog != "" && !slices.Contains(e.router.log, tt.wantLog) {
				t.Errorf("router saw %q, want %q", e.router.log, tt.wantLog)
			}
			if tt.want != 200 && len(e.router.log) != 0 {
				t.Errorf("router acted on a refused request: %q", e.router.log)
			}
			if tt.state != "" {
				if got := decode[agentJSON](t, rec); got.State != tt.state {
					t.Errorf("state %q, want %q", got.State, tt.state)
				}
			}
			if tt.want == 400 && decode[errorBody](t, rec).Field == "" {
				t.Errorf("validation error without field: %s", rec.Body.String())
			}
		})
	}
}

func TestBadInput(t *testing.T) {
	big := `{"to":"topic:audit","note":"` + strings.Repeat("x", DefaultMaxBodyBytes) + `"}`
	tests := []struct {
		name, ctype, body, wantMsg string
	}{
		{"malformed", "application/json", `{"to":`, "malformed JSON"},
		{"not an object", "application/json", `[1,2]`, "malformed JSON"},
		{"wrong type", "application/json", `{"to":5}`, `field "to"`},
		{"unknown field", "application/json", `{"to":"topic:audit","note":"x","colour":"red"}`, "unknown field"},
		{"trailing data", "application/json", `{"to":"topic:audit","note":"x"} {}`, "trailing data"},
		{"trailing garbage", "application/json", `{"to":"topic:audit","note":"x"}xyz`, "trailing data"},
		{"oversized", "application/json", big, "larger than"},
		{"wrong content type", "text/plain", `{"to":"topic:audit","note":"x"}`, "content type"},
		{"no content type", "", `{"to":"topic:audit","note":"x"}`, "content type"},
		{"empty body", "application/json", ``, "empty body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			req := httptest.NewRequest("POST", "/api/v1/calls/c1/transfer", strings.NewReader(tt.body))
			req.Header.Set("Authorization", "Bearer "+tokAgent100)
			if tt.ctype != "" {
				req.Header.Set("Content-Type", tt.ctype)
			}
			rec := httptest.NewRecorder()
			e.srv.Handler().ServeHTTP(rec, req)
			wantStatus(t, rec, 400, "bad_request")
			if msg := decode[errorBody](t, rec).Message; !strings.Contains(msg, tt.wantMsg) {
				t.Errorf("message %q, want it to mention %q", msg, tt.wantMsg)
			}
			if len(e.control.log) != 0 {
				t.Errorf("call control acted: %q", e.control.log)
			}
		})
	}
	t.Run("charset parameter is fine", func(t *testing.T) {
		e := newEnv(t)
		req := httptest.NewRequest("POST", "/api/v1/calls/c1/transfer", strings.NewReader(`{"to":"topic:audit","note":"x"}`))
		req.Header.Set("Authorization", "Bearer "+tokAgent100)
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
		rec := httptest.NewRecorder()
		e.srv.Handler().ServeHTTP(rec, req)
		wantStatus(t, rec, 202, "")
	})
	t.Run("limit from options", func(t *testing.T) {
		e := newEnv(t, func(o *Options) { o.MaxBodyBytes = 32 })
		rec := e.do(t, "POST", "/api/v1/calls/c1/transfer", tokAgent100, `{"to":"topic:audit","note":"a note longer than the limit"}`)
		wantStatus(t, rec, 400, "bad_request")
	})
}

func TestCalls(t *testing.T) {
	e := newEnv(t)
	ids := func(rec *httptest.ResponseRecorder) []string {
		var out []string
		for _, c := range decode[[]callJSON](t, rec) {
			out = append(out, c.ID)
		}
		return out
	}
	tests := []struct {
		token string
		want  []string
	}{
		{tokAgent100, []string{"c1"}},
		{tokAgent300, []string{"c1"}}, // being rung for the transfer
		{tokAgent200, []string{"c2"}},
		{tokSenior, []string{"c1", "c2", "c3"}},
	}
	for _, tt := range tests {
		t.Run("list as "+tt.token, func(t *testing.T) {
			rec := e.do(t, "GET", "/api/v1/calls", tt.token, "")
			wantStatus(t, rec, 200, "")
			if got := ids(rec); !slices.Equal(got, tt.want) {
				t.Errorf("calls %v, want %v", got, tt.want)
			}
		})
	}
	get := []struct {
		name, token, call string
		want              int
		code              string
	}{
		{"own call", tokAgent100, "c1", 200, ""},
		{"consulted on it", tokAgent300, "c1", 200, ""},
		{"someone else's", tokAgent100, "c2", 403, "forbidden"},
		{"queued call", tokAgent100, "c3", 403, "forbidden"},
		{"senior", tokSenior, "c2", 200, ""},
		{"unknown", tokSenior, "c9", 404, "not_found"},
	}
	for _, tt := range get {
		t.Run("get "+tt.name, func(t *testing.T) {
			rec := e.do(t, "GET", "/api/v1/calls/"+tt.call, tt.token, "")
			wantStatus(t, rec, tt.want, tt.code)
		})
	}
	t.Run("call carries case, note and path", func(t *testing.T) {
		got := decode[callJSON](t, e.do(t, "GET", "/api/v1/calls/c1", tokAgent300, ""))
		if got.Case == nil || got.Case.Note != "router reboots nightly" || len(got.Case.Path) != 1 || got.Case.Path[0].To != "topic:service" {
			t.Errorf("call %+v case %+v", got, got.Case)
		}
	})
	t.Run("gone", func(t *testing.T) {
		e := newEnv(t)
		e.router.errs["call"] = routing.ErrCallGone
		wantStatus(t, e.do(t, "GET", "/api/v1/calls/c1", tokAgent100, ""), 410, "call_gone")
	})
}

func TestNote(t *testing.T) {
	tests := []struct {
		name, token, body string
		want              int
		code, wantLog     string
	}{
		{"own call", tokAgent100, `{"note":"modem replaced"}`, 200, "", "note k1 modem replaced 100"},
		{"senior", tokSenior, `{"note":"checked"}`, 200, "", "note k1 checked senior"},
		{"empty note allowed", tokAgent100, `{"note":""}`, 200, "", "note k1  100"},
		{"missing note", tokAgent100, `{}`, 400, "bad_request", ""},
		{"too long", tokAgent100, `{"note":"` + strings.Repeat("я", maxNoteLen+1) + `"}`, 400, "bad_request", ""},
		{"someone else's call", tokAgent200, `{"note":"x"}`, 403, "forbidden", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			rec := e.do(t, "PUT", "/api/v1/calls/c1/note", tt.token, tt.body)
			wantStatus(t, rec, tt.want, tt.code)
			if tt.wantLog != "" {
				if !slices.Contains(e.router.log, tt.wantLog) {
					t.Errorf("router saw %q, want %q", e.router.log, tt.wantLog)
				}
				if got := decode[caseJSON](t, rec); got.ID != "k1" {
					t.Errorf("case %+v", got)
				}
			}
		})
	}
}

func TestTransfer(t *testing.T) {
	path := []routing.Hop{entryHop("service"), {To: routing.Destination{Kind: routing.DestTopic, Name: "audit"}, By: "100", At: testNow}}
	tests := []struct {
		name, token, call, body string
		err                     error
		want                    int
		code, wantLog           string
	}{
		{"attended", tokAgent100, "c1", `{"to":"topic:audit","note":"billing question","mode":"attended"}`, nil, 202, "",
			"transfer c1 100 topic:audit attended billing question"},
		{"mode defaults to attended", tokAgent100, "c1", `{"to":"agent:200","note":"n"}`, nil, 202, "", "transfer c1 100 agent:200 attended n"},
		{"blind passed on for policy", tokAgent100, "c1", `{"to":"agent:200","note":"n","mode":"blind"}`, nil, 202, "", "transfer c1 100 agent:200 blind n"},
		{"senior acts for the call's agent", tokSenior, "c2", `{"to":"topic:service","note":"n"}`, nil, 202, "", "transfer c2 200 topic:service attended n"},
		{"someone else's call", tokAgent200, "c1", `{"to":"topic:audit","note":"n"}`, nil, 403, "forbidden", ""},
		{"bad destination", tokAgent100, "c1", `{"to":"queue:audit","note":"n"}`, nil, 400, "bad_request", ""},
		{"missing destination", tokAgent100, "c1", `{"note":"n"}`, nil, 400, "bad_request", ""},
		{"bad mode", tokAgent100, "c1", `{"to":"topic:audit","note":"n","mode":"warm"}`, nil, 400, "bad_request", ""},
		{"call gone", tokAgent100, "c1", `{"to":"topic:audit","note":"n"}`, routing.ErrCallGone, 410, "call_gone", ""},
		{"internal", tokAgent100, "c1", `{"to":"topic:audit","note":"n"}`, errors.New("redis down"), 500, "internal", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.control.err = tt.err
			e.control.transfer = Transfer{ID: "t1", Target: e.router.agents["300"], Path: path}
			rec := e.do(t, "POST", "/api/v1/calls/"+tt.call+"/transfer", tt.token, tt.body)
			wantStatus(t, rec, tt.want, tt.code)
			if tt.wantLog != "" && !slices.Contains(e.control.log, tt.wantLog) {
				t.Errorf("control saw %q, want %q", e.control.log, tt.wantLog)
			}
			if tt.want == 202 {
				got := decode[transferJSON](t, rec)
				if got.ID != "t1" || got.Target.ID != "300" || len(got.Path) != 2 || got.Path[1].By != "100" {
					t.Errorf("transfer %+v", got)
				}
			}
			if tt.want == 400 && decode[errorBody](t, rec).Field == "" {
				t.Errorf("no field named: %s", rec.Body.String())
			}
		})
	}
	for _, code := range routing.RefusalCodes() {
		t.Run("refusal "+string(code), func(t *testing.T) {
			e := newEnv(t)
			e.control.err = fmt_wrap(&routing.Refusal{Code: code, Message: "refused by rule", Path: path})
			rec := e.do(t, "POST", "/api/v1/calls/c1/transfer", tokAgent100, `{"to":"topic:service","note":"again"}`)
			wantStatus(t, rec, 409, string(code))
			got := decode[errorBody](t, rec)
			if got.Message != "refused by rule" || len(got.Path) != 2 || got.Path[0].To != "topic:service" || got.Path[1].To != "topic:audit" || got.Path[1].By != "100" {
				t.Errorf("refusal body %s", rec.Body.String())
			}
		})
	}
}

// fmt_wrap wraps like a service would, to prove refusals are found inside.
func fmt_wrap(err error) error { return errors.Join(errors.New("begin transfer"), err) }

func TestTransferCompleteCancel(t *testing.T) {
	tests := []struct {
		name, action, token, ctype, body string
		err                              error
		want                             int
		code, wantLog                    string
	}{
		{"complete no body", "complete", tokAgent100, "", "", nil, 204, "", "complete c1 100"},
		{"complete empty object", "complete", tokAgent100, "application/json", "{}", nil, 204, "", "complete c1 100"},
		{"cancel", "cancel", tokAgent100, "", "", nil, 204, "", "cancel c1 100"},
		{"cancel by target", "cancel", tokAgent300, "", "", nil, 204, "", "cancel c1 300"},
		{"senior completes", "complete", tokSenior, "", "", nil, 204, "", "complete c1 100"},
		{"complete with fields", "complete", tokAgent100, "application/json", `{"now":true}`, nil, 400, "bad_request", ""},
		{"someone else's", "cancel", tokAgent200, "", "", nil, 403, "forbidden", ""},
		{"nothing pending", "complete", tokAgent100, "", "", routing.ErrIllegalTransition, 409, "illegal_transition", ""},
		{"no transfer", "cancel", tokAgent100, "", "", routing.ErrNoTransfer, 409, "no_transfer", ""},
		{"not the agent on the call", "complete", tokAgent100, "", "", routing.ErrNotYourCall, 403, "forbidden", ""},
		{"owning node silent", "complete", tokAgent100, "", "", routing.ErrNodeUnavailable, 503, "node_unavailable", ""},
		{"call ended", "cancel", tokAgent100, "", "", routing.ErrCallGone, 410, "call_gone", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.control.err = tt.err
			req := httptest.NewRequest("POST", "/api/v1/calls/c1/transfer/"+tt.action, strings.NewReader(tt.body))
			req.Header.Set("Authorization", "Bearer "+tt.token)
			if tt.ctype != "" {
				req.Header.Set("Content-Type", tt.ctype)
			}
			rec := httptest.NewRecorder()
			e.srv.Handler().ServeHTTP(rec, req)
			wantStatus(t, rec, tt.want, tt.code)
			if tt.wantLog != "" && !slices.Equal(e.control.log, []string{tt.wantLog}) {
				t.Errorf("control saw %q, want %q", e.control.log, tt.wantLog)
			}
		})
	}
}

func TestScheduleCallback(t *testing.T) {
	tests := []struct {
		name, token, body string
		want              int
		field             string
		at                time.Time
	}{
		{"in 30m", tokAgent100, `{"in":"30m","note":"will check the line"}`, 201, "", testNow.Add(30 * time.Minute)},
		{"at", tokAgent100, `{"at":"2025-03-04T14:00:00+02:00","note":"n"}`, 201, "", time.Date(2025, 3, 4, 12, 0, 0, 0, time.UTC)},
		{"at in the past", tokAgent100, `{"at":"2025-03-04T09:00:00Z"}`, 400, "at", time.Time{}},
		{"both", tokAgent100, `{"at":"2025-03-04T14:00:00Z","in":"1h"}`, 400, "at", time.Time{}},
		{"neither", tokAgent100, `{"note":"n"}`, 400, "at", time.Time{}},
		{"bad duration", tokAgent100, `{"in":"soon"}`, 400, "in", time.Time{}},
		{"negative duration", tokAgent100, `{"in":"-5m"}`, 400, "in", time.Time{}},
		{"too far", tokAgent100, `{"in":"2000h"}`, 400, "in", time.Time{}},
		{"someone else's call", tokAgent200, `{"in":"1h"}`, 403, "", time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			rec := e.do(t, "POST", "/api/v1/calls/c1/callback", tt.token, tt.body)
			if rec.Code != tt.want {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.want, rec.Body.String())
			}
			switch tt.want {
			case 201:
				if !e.control.lastAt.Equal(tt.at) {
					t.Errorf("scheduled at %v, want %v", e.control.lastAt, tt.at)
				}
				if got := decode[callbackJSON](t, rec); got.Owner != "100" || got.State != "scheduled" {
					t.Errorf("callback %+v", got)
				}
			case 400:
				if got := decode[errorBody](t, rec).Field; got != tt.field {
					t.Errorf("field %q, want %q", got, tt.field)
				}
			}
		})
	}
}

func TestCallbacks(t *testing.T) {
	tests := []struct {
		name, token, query string
		want               int
		ids                []string
		owner              string
	}{
		{"agent sees own", tokAgent100, "", 200, []string{"cb1"}, "100"},
		{"agent asking for self", tokAgent100, "?owner=100", 200, []string{"cb1"}, "100"},
		{"agent asking for another", tokAgent100, "?owner=200", 403, nil, ""},
		{"senior sees all", tokSenior, "", 200, []string{"cb1", "cb2"}, ""},
		{"senior by owner", tokSenior, "?owner=200", 200, []string{"cb2"}, "200"},
		{"by state", tokAdmin, "?state=failed", 200, []string{"cb2"}, ""},
		{"bad state", tokAdmin, "?state=lost", 400, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			rec := e.do(t, "GET", "/api/v1/callbacks"+tt.query, tt.token, "")
			if rec.Code != tt.want {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.want, rec.Body.String())
			}
			if tt.want != 200 {
				return
			}
			var ids []string
			for _, cb := range decode[[]callbackJSON](t, rec) {
				ids = append(ids, cb.ID)
			}
			if !slices.Equal(ids, tt.ids) || e.callbacks.filter.Owner != tt.owner {
				t.Errorf("ids %v filter %+v, want %v owner %q", ids, e.callbacks.filter, tt.ids, tt.owner)
			}
		})
	}
	e := newEnv(t)
	wantStatus(t, e.do(t, "GET", "/api/v1/callbacks/cb1", tokAgent100, ""), 200, "")
	wantStatus(t, e.do(t, "GET", "/api/v1/callbacks/cb2", tokAgent100, ""), 403, "forbidden")
	wantStatus(t, e.do(t, "GET", "/api/v1/callbacks/cb2", tokSenior, ""), 200, "")
	wantStatus(t, e.do(t, "GET", "/api/v1/callbacks/nope", tokSenior, ""), 404, "not_found")
}

func TestCases(t *testing.T) {
	tests := []struct {
		name, token, query string
		want               int
		ids                []string
	}{
		{"agent sees own", tokAgent200, "", 200, []string{"k2"}},
		{"agent asking for another", tokAgent200, "?owner=100", 403, nil},
		{"senior all open", tokSenior, "?status=open", 200, []string{"k1", "k2", "k3"}},
		{"senior by owner", tokSenior, "?owner=100", 200, []string{"k1"}},
		{"bad status", tokSenior, "?status=pending", 400, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			rec := e.do(t, "GET", "/api/v1/cases"+tt.query, tt.token, "")
			if rec.Code != tt.want {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.want, rec.Body.String())
			}
			if tt.want != 200 {
				return
			}
			var ids []string
			for _, c := range decode[[]caseJSON](t, rec) {
				ids = append(ids, c.ID)
			}
			if !slices.Equal(ids, tt.ids) {
				t.Errorf("ids %v, want %v", ids, tt.ids)
			}
		})
	}
	e := newEnv(t)
	wantStatus(t, e.do(t, "GET", "/api/v1/cases/k1", tokAgent100, ""), 200, "")
	wantStatus(t, e.do(t, "GET", "/api/v1/cases/k2", tokAgent100, ""), 200, "") // talked on it
	wantStatus(t, e.do(t, "GET", "/api/v1/cases/k1", tokAgent200, ""), 403, "forbidden")
	wantStatus(t, e.do(t, "GET", "/api/v1/cases/k9", tokAdmin, ""), 404, "not_found")
}

func TestRequests(t *testing.T) {
	valid := `{"kind":"request","city":"Lviv","organisation":"Acme Cables","position":"sales manager",` +
		`"full_name":"Olena Shevchenko","contact_phone":"+380 (32) 123-45-67","purpose":"offers fibre at a discount"}`
	complaint := `{"kind":"complaint","failed_number":"0 800 123 456","found_at":"printed bill","full_name":"Jan Kowalski","contact_phone":"+48221234567"}`
	tests := []struct {
		name, body string
		want       int
		field      string
	}{
		{"request", valid, 201, ""},
		{"complaint", complaint, 201, ""},
		{"missing kind", `{"full_name":"x","contact_phone":"123"}`, 400, "kind"},
		{"unknown kind", `{"kind":"praise"}`, 400, "kind"},
		{"request missing city", strings.Replace(valid, `"city":"Lviv",`, "", 1), 400, "city"},
		{"request blank purpose", strings.Replace(valid, `"offers fibre at a discount"`, `"  "`, 1), 400, "purpose"},
		{"request with failed number", strings.Replace(valid, `"kind":"request",`, `"kind":"request","failed_number":"123",`, 1), 400, "failed_number"},
		{"bad phone", strings.Replace(valid, `+380 (32) 123-45-67`, `call me`, 1), 400, "contact_phone"},
		{"complaint missing failed number", strings.Replace(complaint, `"failed_number":"0 800 123 456",`, "", 1), 400, "failed_number"},
		{"complaint missing found_at", strings.Replace(complaint, `"found_at":"printed bill",`, "", 1), 400, "found_at"},
		{"field too long", strings.Replace(valid, `Lviv`, strings.Repeat("L", 501), 1), 400, "city"},
		// The store's rule counts characters: 500 Cyrillic letters (1000
		// bytes) are accepted, by the API and the requests service alike.
		{"long Cyrillic fields", strings.NewReplacer(`Lviv`, strings.Repeat("Л", 500), `offers fibre at a discount`, strings.Repeat("я", 500)).Replace(valid), 201, ""},
		{"complaint with blank phone", strings.Replace(complaint, `+48221234567`, ` `, 1), 400, "contact_phone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			rec := e.do(t, "POST", "/api/v1/requests", tokAgent100, tt.body)
			if rec.Code != tt.want {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.want, rec.Body.String())
			}
			if tt.want == 400 {
				if got := decode[errorBody](t, rec); got.Field != tt.field || got.Error != "bad_request" {
					t.Errorf("error %+v, want field %q", got, tt.field)
				}
				return
			}
			got := decode[requestJSON](t, rec)
			if got.CreatedBy != "100" || got.State != "new" || got.ID == "" {
				t.Errorf("request %+v", got)
			}
		})
	}
	t.Run("listing and visibility", func(t *testing.T) {
		e := newEnv(t)
		wantStatus(t, e.do(t, "POST", "/api/v1/requests", tokAgent100, valid), 201, "")
		wantStatus(t, e.do(t, "POST", "/api/v1/requests", tokAgent200, complaint), 201, "")
		mine := decode[[]requestJSON](t, e.do(t, "GET", "/api/v1/requests", tokAgent100, ""))
		if len(mine) != 1 || mine[0].CreatedBy != "100" {
			t.Errorf("agent 100 sees %+v", mine)
		}
		all := decode[[]requestJSON](t, e.do(t, "GET", "/api/v1/requests?kind=complaint", tokSenior, ""))
		if len(all) != 1 || all[0].Kind != "complaint" {
			t.Errorf("senior sees %+v", all)
		}
		wantStatus(t, e.do(t, "GET", "/api/v1/requests?kind=praise", tokSenior, ""), 400, "bad_request")
		id := mine[0].ID
		wantStatus(t, e.do(t, "GET", "/api/v1/requests/"+id, tokAgent100, ""), 200, "")
		wantStatus(t, e.do(t, "GET", "/api/v1/requests/"+id, tokAgent200, ""), 403, "forbidden")
		wantStatus(t, e.do(t, "GET", "/api/v1/requests/"+id, tokSenior, ""), 200, "")
		wantStatus(t, e.do(t, "GET", "/api/v1/requests/none", tokSenior, ""), 404, "not_found")
	})
}

func TestProbesAndMetrics(t *testing.T) {
	errARI := errors.New("ari: not connected")
	tests := []struct {
		name   string
		checks []func(context.Context) error
		want   int
		failed string
	}{
		{"no checks", nil, 200, ""},
		{"all pass", []func(context.Context) error{func(context.Context) error { return nil }}, 200, ""},
		{"ari down", []func(context.Context) error{
			func(context.Context) error { return nil },
			func(context.Context) error { return errARI },
		}, 503, "check 1: ari: not connected"},
		{"hung check times out", []func(context.Context) error{
			func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() },
		}, 503, "check 0: context deadline exceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(o *Options) { o.Ready = tt.checks; o.ReadyTimeout = 20 * time.Millisecond })
			rec := e.do(t, "GET", "/readyz", "", "")
			if rec.Code != tt.want {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.want, rec.Body.String())
			}
			got := decode[readyJSON](t, rec)
			if tt.failed != "" && !slices.Contains(got.Failed, tt.failed) {
				t.Errorf("failed %q, want %q", got.Failed, tt.failed)
			}
			wantStatus(t, e.do(t, "GET", "/healthz", "", ""), 200, "")
		})
	}
	t.Run("metrics", func(t *testing.T) {
		e := newEnv(t, func(o *Options) {
			o.Metrics = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("hotline_up 1\n")) })
		})
		rec := e.do(t, "GET", "/metrics", "", "")
		if rec.Code != 200 || rec.Body.String() != "hotline_up 1\n" {
			t.Errorf("metrics %d %q", rec.Code, rec.Body.String())
		}
		wantStatus(t, newEnv(t).do(t, "GET", "/metrics", "", ""), 404, "not_found")
	})
	t.Run("unwired service", func(t *testing.T) {
		e := newEnv(t, func(o *Options) { o.Requests = nil; o.Updates = nil })
		wantStatus(t, e.do(t, "GET", "/api/v1/requests", tokSenior, ""), 503, "unavailable")
		wantStatus(t, e.do(t, "GET", "/api/v1/events", tokSenior, ""), 503, "unavailable")
	})
}

func TestAccessLog(t *testing.T) {
	e := newEnv(t)
	e.do(t, "GET", "/api/v1/calls/c1", tokAgent100, "")
	e.do(t, "GET", "/api/v1/agents", "wrong-token-but-secret", "")
	req := httptest.NewRequest("GET", "/api/v1/events?token="+tokAgent200, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the stream ends at once; only its log line matters here
	e.srv.Handler().ServeHTTP(httptest.NewRecorder(), req.WithContext(ctx))

	logs := e.logs.String()
	for _, secret := range []string{tokAgent100, tokAgent200, "wrong-token-but-secret"} {
		if strings.Contains(logs, secret) {
			t.Fatalf("a token reached the log: %s", logs)
		}
	}
	var lines []map[string]any
	for line := range strings.Lines(logs) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if m["msg"] == "http request" {
			lines = append(lines, m)
		}
	}
	if len(lines) != 3 {
		t.Fatalf("want 3 access log lines, got %d: %s", len(lines), logs)
	}
	first := lines[0]
	if first["pattern"] != "GET /api/v1/calls/{id}" || first["status"] != float64(200) || first["method"] != "GET" ||
		first["agent"] != "100" || first["duration"] == nil {
		t.Errorf("access log %v", first)
	}
	if lines[1]["status"] != float64(401) {
		t.Errorf("401 logged as %v", lines[1])
	}
	// What only reads is debug; a refused token is info.
	if lines[0]["level"] != "DEBUG" || lines[1]["level"] != "INFO" {
		t.Errorf("levels %v and %v, want DEBUG for a read and INFO for a refusal", lines[0]["level"], lines[1]["level"])
	}
}

func TestAccessLevel(t *testing.T) {
	tests := []struct {
		method, path string
		status       int
		want         slog.Level
	}{
		{"GET", "/readyz", 200, slog.LevelDebug},
		{"GET", "/healthz", 200, slog.LevelDebug},
		{"GET", "/api/v1/calls", 200, slog.LevelDebug},
		{"GET", "/readyz", 503, slog.LevelWarn},
		{"GET", "/api/v1/calls", 401, slog.LevelInfo},
		{"GET", "/api/v1/calls/x", 403, slog.LevelInfo},
		{"POST", "/api/v1/agents/100/state", 200, slog.LevelInfo},
		{"POST", "/api/v1/calls/c1/transfer", 500, slog.LevelWarn},
	}
	for _, tt := range tests {
		if got := accessLevel(httptest.NewRequest(tt.method, tt.path, nil), tt.status); got != tt.want {
			t.Errorf("%s %s %d: %v, want %v", tt.method, tt.path, tt.status, got, tt.want)
		}
	}
}

func TestEscalate(t *testing.T) {
	tests := []struct {
		name, token, body string
		want              int
	}{
		{"own call", tokAgent100, `{"note":"wants a manager about the refund"}`, 201},
		{"case note", tokAgent100, `{}`, 201},
		{"unknown field", tokAgent100, `{"to":"senior"}`, 400},
		{"someone else's call", tokAgent200, `{"note":"x"}`, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			rec := e.do(t, "POST", "/api/v1/calls/c1/escalate", tt.token, tt.body)
			if rec.Code != tt.want {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.want, rec.Body.String())
			}
			if tt.want == 201 {
				if got := decode[callbackJSON](t, rec); got.Kind != "senior" || got.State != "scheduled" {
					t.Errorf("callback %+v", got)
				}
			}
		})
	}
}

// TestEveryErrorIsJSON: every error status the server answers is the
// API's JSON error, whoever produced it: the probes' and metrics' wrong
// methods (which used to fall through to the desk), unknown paths inside
// and outside /api/, the desk's own refusals and a failing metrics handler.
// It runs with the real desk mounted, as the daemon serves, and without.
func TestEveryErrorIsJSON(t *testing.T) {
	metrics := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("fail") {
			http.Error(w, "gathering failed", http.StatusInternalServerError) // as promhttp does
			return
		}
		_, _ = w.Write([]byte("hotline_up 1\n"))
	})
	tests := []struct {
		method, path string
		want         int
		code, allow  string
	}{
		{"POST", "/healthz", 405, "method_not_allowed", "GET, HEAD"},
		{"DELETE", "/healthz", 405, "method_not_allowed", "GET, HEAD"},
		{"POST", "/readyz", 405, "method_not_allowed", "GET, HEAD"},
		{"PUT", "/readyz", 405, "method_not_allowed", "GET, HEAD"},
		{"POST", "/metrics", 405, "method_not_allowed", "GET, HEAD"},
		{"PATCH", "/metrics", 405, "method_not_allowed", "GET, HEAD"},
		{"POST", "/api/v1/openapi.json", 405, "method_not_allowed", "GET, HEAD"},
		{"DELETE", "/api/v1/me", 405, "method_not_allowed", "GET, HEAD"},
		{"GET", "/api/v1/nope", 404, "not_found", ""},
		{"GET", "/nope", 404, "not_found", ""},
		{"GET", "/healthz/extra", 404, "not_found", ""},
		{"GET", "/desk/assets/nope.js", 404, "not_found", ""},
		{"GET", "/metrics?fail", 500, "internal_server_error", ""},
	}
	withDesk := []struct {
		method, path string
		want         int
		code, allow  string
	}{
		{"POST", "/", 405, "method_not_allowed", "GET, HEAD"},
		{"DELETE", "/desk/", 405, "method_not_allowed", "GET, HEAD"},
	}
	for _, mounted := range []bool{false, true} {
		e := newEnv(t, func(o *Options) {
			o.Metrics = metrics
			if mounted {
				o.Desk = desk.New(desk.Options{})
			}
		})
		cases := tests
		if mounted {
			cases = append(cases, withDesk...)
		}
		for _, tt := range cases {
			t.Run(fmt.Sprintf("desk %v/%s %s", mounted, tt.method, tt.path), func(t *testing.T) {
				rec := e.do(t, tt.method, tt.path, "", "")
				wantStatus(t, rec, tt.want, tt.code)
				dec := json.NewDecoder(rec.Body)
				dec.DisallowUnknownFields()
				var body errorBody
				if err := dec.Decode(&body); err != nil || body.Message == "" || dec.More() {
					t.Errorf("body %q is not one JSON error (%v)", rec.Body.String(), err)
				}
				if got := rec.Header().Get("Allow"); got != tt.allow {
					t.Errorf("Allow %q, want %q", got, tt.allow)
				}
			})
		}
		// What is no error is as it was.
		if rec := e.do(t, "GET", "/healthz", "", ""); rec.Code != 200 {
			t.Errorf("GET /healthz: %d", rec.Code)
		}
		if rec := e.do(t, "GET", "/metrics", "", ""); rec.Code != 200 || rec.Body.String() != "hotline_up 1\n" {
			t.Errorf("GET /metrics: %d %q", rec.Code, rec.Body.String())
		}
		if rec := e.do(t, "GET", "/", "", ""); mounted && (rec.Code != 200 || !strings.Contains(rec.Header().Get("Content-Type"), "text/html")) {
			t.Errorf("GET / with the desk: %d %q", rec.Code, rec.Header().Get("Content-Type"))
		}
	}
}
