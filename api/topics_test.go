package api

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/hotline-project/hotline/routing"
)

func TestMe(t *testing.T) {
	tests := []struct {
		name  string
		token string
		want  meJSON
	}{
		{"agent", tokAgent100, meJSON{Role: RoleAgent, AgentID: "100", Name: "Agent 100", Topics: []string{"service"}}},
		{"another agent", tokAgent200, meJSON{Role: RoleAgent, AgentID: "200", Name: "Agent 200", Topics: []string{"audit"}}},
		{"senior", tokSenior, meJSON{Role: RoleSenior, Topics: []string{}}},
		{"admin", tokAdmin, meJSON{Role: RoleAdmin, Topics: []string{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			rec := e.do(t, "GET", "/api/v1/me", tt.token, "")
			wantStatus(t, rec, 200, "")
			got := decode[meJSON](t, rec)
			if got.Role != tt.want.Role || got.AgentID != tt.want.AgentID || got.Name != tt.want.Name || !slices.Equal(got.Topics, tt.want.Topics) {
				t.Errorf("me = %+v, want %+v", got, tt.want)
			}
		})
	}
	t.Run("several topics sorted", func(t *testing.T) {
		e := newEnv(t)
		a := e.router.agents["100"]
		a.Topics = map[string]int{"service": 1, "audit": 2, "connections": 0}
		e.router.agents["100"] = a
		got := decode[meJSON](t, e.do(t, "GET", "/api/v1/me", tokAgent100, ""))
		if want := []string{"audit", "connections", "service"}; !slices.Equal(got.Topics, want) {
			t.Errorf("topics %v, want %v", got.Topics, want)
		}
	})
	t.Run("no token", func(t *testing.T) {
		wantStatus(t, newEnv(t).do(t, "GET", "/api/v1/me", "", ""), 401, "unauthorized")
	})
	t.Run("agent not configured", func(t *testing.T) {
		e := newEnv(t)
		delete(e.router.agents, "300")
		wantStatus(t, e.do(t, "GET", "/api/v1/me", tokAgent300, ""), 403, "forbidden")
	})
	t.Run("store failing", func(t *testing.T) {
		e := newEnv(t)
		e.router.errs["agent"] = errors.New("redis down")
		wantStatus(t, e.do(t, "GET", "/api/v1/me", tokAgent100, ""), 500, "internal")
	})
	t.Run("seniors need no agent service", func(t *testing.T) {
		e := newEnv(t, func(o *Options) { o.Agents = nil })
		wantStatus(t, e.do(t, "GET", "/api/v1/me", tokSenior, ""), 200, "")
	})
}

func TestTopics(t *testing.T) {
	want := []topicJSON{
		// audit: one agent free and nobody waiting, so a new caller
		// is answered at once.
		{Name: "audit", Description: "Billing and contracts", AgentsLoggedIn: 1, AgentsAvailable: 1},
		// requests: nobody staffs it; it is still listed.
		{Name: "requests", Description: "Vendors and officials"},
		// service: c3 waits 90 s; a new caller is second in line for two
		// busy agents: 2 × (4 min + 1 min wrap-up) / 2 = 5 min.
		{Name: "service", Description: "Faults and repairs", Waiting: 1, LongestWait: 90, EstimatedWait: 300, AgentsLoggedIn: 2},
	}
	for _, tok := range []string{tokAgent100, tokAgent200, tokSenior, tokAdmin} {
		t.Run("read by "+tok[:9], func(t *testing.T) {
			e := newEnv(t)
			rec := e.do(t, "GET", "/api/v1/topics", tok, "")
			wantStatus(t, rec, 200, "")
			if got := decode[[]topicJSON](t, rec); !slices.Equal(got, want) {
				t.Errorf("topics\n got %+v\nwant %+v", got, want)
			}
		})
	}
	tests := []struct {
		name   string
		token  string
		opts   func(*Options)
		breaks func(*env)
		status int
		code   string
	}{
		{"no token", "", nil, nil, 401, "unauthorized"},
		{"unknown token", "not-a-token-at-all-xx", nil, nil, 401, "unauthorized"},
		{"stats failing", tokSenior, nil, func(e *env) { e.queues.err = errors.New("redis down") }, 500, "internal"},
		{"stats timing out", tokSenior, nil, func(e *env) { e.queues.err = context.DeadlineExceeded }, 504, "timeout"},
		{"calls failing", tokSenior, nil, func(e *env) { e.router.errs["calls"] = errors.New("redis down") }, 500, "internal"},
		{"topic source failing", tokSenior, func(o *Options) {
			o.Topics = func(context.Context) ([]TopicConfig, error) { return nil, errors.New("no config") }
		}, nil, 500, "internal"},
		{"not wired", tokSenior, func(o *Options) { o.Queues = nil }, nil, 503, "unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mutate []func(*Options)
			if tt.opts != nil {
				mutate = append(mutate, tt.opts)
			}
			e := newEnv(t, mutate...)
			if tt.breaks != nil {
				tt.breaks(e)
			}
			wantStatus(t, e.do(t, "GET", "/api/v1/topics", tt.token, ""), tt.status, tt.code)
		})
	}
	t.Run("no topics is an empty list", func(t *testing.T) {
		e := newEnv(t, func(o *Options) {
			o.Topics = func(context.Context) ([]TopicConfig, error) { return nil, nil }
		})
		rec := e.do(t, "GET", "/api/v1/topics", tokSenior, "")
		if rec.Code != 200 || rec.Body.String() != "[]\n" {
			t.Errorf("status %d body %q", rec.Code, rec.Body.String())
		}
	})
}

func TestCreateRequestPublishes(t *testing.T) {
	valid := `{"kind":"complaint","failed_number":"0 800 123 456","found_at":"printed bill","full_name":"Jan Kowalski","contact_phone":"+48221234567"}`
	e := newEnv(t)
	wantStatus(t, e.do(t, "POST", "/api/v1/requests", tokAgent100, `{"kind":"complaint"}`), 400, "bad_request")
	if n := len(e.published.updates()); n != 0 {
		t.Fatalf("a refused request was announced: %d updates", n)
	}
	wantStatus(t, e.do(t, "POST", "/api/v1/requests", tokAgent100, valid), 201, "")
	got := e.published.updates()
	if len(got) != 1 {
		t.Fatalf("updates %+v, want one", got)
	}
	u := got[0]
	rq, ok := u.Data.(requestJSON)
	if u.Kind != UpdateRequest || !slices.Equal(u.Agents, []string{"100"}) || !ok || rq.FullName != "Jan Kowalski" || rq.CreatedBy != "100" {
		t.Errorf("update %+v", u)
	}

	// Who sees it on the events stream: the filer and the seniors.
	for _, tc := range []struct {
		tok  Token
		want bool
	}{
		{Token{Role: RoleAgent, AgentID: "100"}, true},
		{Token{Role: RoleAgent, AgentID: "200"}, false},
		{Token{Role: RoleSenior}, true},
	} {
		view, err := e.srv.eventFilter(context.Background(), tc.tok)
		if err != nil {
			t.Fatal(err)
		}
		got := view == nil
		if !got {
			_, got = view(u)
		}
		if got != tc.want {
			t.Errorf("%+v sees the request update: %v, want %v", tc.tok, got, tc.want)
		}
	}

	t.Run("store failing announces nothing", func(t *testing.T) {
		e := newEnv(t, func(o *Options) { o.Requests = failingRequests{} })
		wantStatus(t, e.do(t, "POST", "/api/v1/requests", tokSenior, valid), 500, "internal")
		if n := len(e.published.updates()); n != 0 {
			t.Errorf("%d updates after a failed create", n)
		}
	})
	t.Run("without a publisher still created", func(t *testing.T) {
		e := newEnv(t, func(o *Options) { o.Publish = nil })
		wantStatus(t, e.do(t, "POST", "/api/v1/requests", tokSenior, valid), 201, "")
	})
}

// failingRequests fails every call, as a Redis outage would.
type failingRequests struct{}

func (failingRequests) List(context.Context, RequestFilter) ([]Request, error) {
	return nil, errors.New("redis down")
}
func (failingRequests) Get(context.Context, string) (Request, error) {
	return Request{}, errors.New("redis down")
}
func (failingRequests) Create(context.Context, Request) (Request, error) {
	return Request{}, errors.New("redis down")
}
func (failingRequests) Done(context.Context, string, string) (Request, error) {
	return Request{}, errors.New("redis down")
}

var _ Queues = (*routing.Router)(nil)

func TestRequestDone(t *testing.T) {
	valid := `{"kind":"request","city":"Kyiv","organisation":"Cable Supply","position":"sales","full_name":"Andrii Savchuk","contact_phone":"+380441234567","purpose":"offers fibre"}`
	e := newEnv(t)
	created := e.do(t, "POST", "/api/v1/requests", tokAgent100, valid)
	wantStatus(t, created, 201, "")
	var rq requestJSON
	if err := json.Unmarshal(created.Body.Bytes(), &rq); err != nil {
		t.Fatal(err)
	}
	path := "/api/v1/requests/" + rq.ID + "/done"
	tests := []struct {
		name, token, body string
		want              int
		code              string
	}{
		{"no token", "", "", 401, "unauthorized"},
		{"agent may not", tokAgent100, "", 403, "forbidden"},
		{"body not allowed", tokSenior, `{"x":1}`, 400, "bad_request"},
		{"senior marks it done", tokSenior, "", 200, ""},
		{"again: still done", tokAdmin, "", 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantStatus(t, e.do(t, "POST", path, tt.token, tt.body), tt.want, tt.code)
		})
	}
	wantStatus(t, e.do(t, "POST", "/api/v1/requests/nope/done", tokSenior, ""), 404, "not_found")
	got, err := e.requests.Get(context.Background(), rq.ID)
	if err != nil || got.State != "done" || got.DoneBy != "senior" || got.DoneAt.IsZero() {
		t.Errorf("request after done: %+v %v", got, err)
	}
	if u := e.published.updates(); len(u) < 2 || u[len(u)-1].Kind != UpdateRequest {
		t.Errorf("done not announced: %+v", u)
	}
}
