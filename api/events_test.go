package api

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hotline-project/hotline/routing"
)

type sseEvent struct{ id, name, data string }

// sseReader parses a text/event-stream response, skipping comments.
type sseReader struct {
	t  *testing.T
	sc *bufio.Scanner
}

func (r *sseReader) next() (sseEvent, bool) {
	r.t.Helper()
	var ev sseEvent
	for r.sc.Scan() {
		line := r.sc.Text()
		switch {
		case line == "":
			if ev.name != "" || ev.data != "" {
				return ev, true
			}
		case strings.HasPrefix(line, ":"), strings.HasPrefix(line, "retry:"):
		case strings.HasPrefix(line, "id: "):
			ev.id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "event: "):
			ev.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			ev.data = strings.TrimPrefix(line, "data: ")
		default:
			r.t.Errorf("unexpected line %q", line)
		}
	}
	return ev, false
}

// startServer runs the API behind the daemon's own http.Server settings,
// with read and write timeouts far shorter than the stream's life so the
// test proves the stream outlives them.
func startServer(t *testing.T, e *env) *httptest.Server {
	t.Helper()
	ts := httptest.NewUnstartedServer(nil)
	ts.Config = e.srv.HTTPServer("")
	ts.Config.ReadTimeout = 100 * time.Millisecond
	ts.Config.WriteTimeout = 100 * time.Millisecond
	ts.Start()
	t.Cleanup(ts.Close)
	return ts
}

func openStream(t *testing.T, ctx context.Context, url string, header string) *sseReader {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if header != "" {
		req.Header.Set("Authorization", "Bearer "+header)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("status %d content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	r := &sseReader{t: t, sc: bufio.NewScanner(resp.Body)}
	if ev, ok := r.next(); !ok || ev.name != "hello" {
		t.Fatalf("first event %+v, want hello", ev)
	}
	return r
}

func TestEventsDeliveryAndRoleFiltering(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.Heartbeat = 30 * time.Millisecond })
	ts := startServer(t, e)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	agent := openStream(t, ctx, ts.URL+"/api/v1/events?token="+tokAgent100, "")
	senior := openStream(t, ctx, ts.URL+"/api/v1/events", tokSenior)

	// Both subscriptions exist once hello has arrived. Wait past the server's
	// read and write timeouts (heartbeats keep flowing) before publishing.
	time.Sleep(250 * time.Millisecond)
	updates := []Update{
		AgentUpdate(e.router.agents["200"]),                                     // not agent 100's
		QueueUpdate("audit", 4),                                                 // not agent 100's topic
		QueueUpdate("service", 2),                                               // agent 100's topic
		AgentUpdate(e.router.agents["100"]),                                     // agent 100 itself
		CallUpdate(Call{ID: "c9", AgentID: "300", State: CallConnected}, "100"), // handed on from 100
	}
	for _, u := range updates {
		e.hub.Publish(u)
	}
	want := []struct{ name, contains string }{
		{"queue", `"topic":"service"`},
		{"agent", `"id":"100"`},
		{"call", `{"id":"c9"}`},
	}
	for _, w := range want {
		ev, ok := agent.next()
		if !ok || ev.name != w.name || !strings.Contains(ev.data, w.contains) || ev.id == "" {
			t.Fatalf("agent got %+v, want %s containing %s", ev, w.name, w.contains)
		}
	}
	for i := range updates {
		ev, ok := senior.next()
		if !ok || ev.name != string(updates[i].Kind) {
			t.Fatalf("senior event %d: %+v, want %s", i, ev, updates[i].Kind)
		}
	}
	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for e.hub.Subscribers() != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := e.hub.Subscribers(); n != 0 {
		t.Errorf("%d subscribers left after clients went away", n)
	}
}

// closedUpdates is an Updates that has already dropped its subscriber.
type closedUpdates struct{}

func (closedUpdates) Subscribe(ctx context.Context, view func(Update) (Update, bool)) <-chan Update {
	ch := make(chan Update)
	close(ch)
	return ch
}

func TestEventsOverflowTellsClient(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.Updates = closedUpdates{} })
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/api/v1/events?token="+tokSenior, nil)
	e.srv.Handler().ServeHTTP(rec, req)
	body := rec.Body.String()
	if !strings.Contains(body, "event: hello") || !strings.Contains(body, "event: overflow") {
		t.Errorf("stream %q", body)
	}
}

func TestEventsAuth(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name, path, token string
		want              int
	}{
		{"no token", "/api/v1/events", "", 401},
		{"bad query token", "/api/v1/events?token=nope-nope-nope-nope", "", 401},
		{"query token is not a header", "/api/v1/events", "nope-nope-nope-nope", 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantStatus(t, e.do(t, "GET", tt.path, tt.token, ""), tt.want, "unauthorized")
		})
	}
	t.Run("agent missing from the router", func(t *testing.T) {
		e := newEnv(t)
		e.router.agents = map[string]routing.AgentStatus{}
		wantStatus(t, e.do(t, "GET", "/api/v1/events", tokAgent100, ""), 404, "not_found")
	})
}

// TestEventsShowWhatRESTShows: least privilege on the events stream. For
// each role, every call event carries exactly a call GET /calls shows that
// token, in the same JSON, and the stream names no call REST hides from it
// (a queued caller of the agent's own topic included); an agent the call
// was handed on from learns only its id. Two rounds: the state of newEnv
// (agent 100 on c1 consulting, 300 ringing for it, 200 on c2, c3 queued
// for service, the topic of 100 and 300), then c1 handed on to 300.
func TestEventsShowWhatRESTShows(t *testing.T) {
	e := newEnv(t)
	ts := startServer(t, e)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	viewers := []struct {
		name, token string
		agent       string // "" for senior and admin
		topics      []string
	}{
		{"agent 100", tokAgent100, "100", []string{"service"}},
		{"agent 200", tokAgent200, "200", []string{"audit"}},
		{"agent 300 (transfer target)", tokAgent300, "300", []string{"service"}},
		{"senior", tokSenior, "", []string{"audit", "service"}},
		{"admin", tokAdmin, "", []string{"audit", "service"}},
	}
	streams := make([]*sseReader, len(viewers))
	for i, v := range viewers {
		streams[i] = openStream(t, ctx, ts.URL+"/api/v1/events?token="+v.token, "")
	}
	queuedCaller := e.router.calls["c3"]

	// round publishes what app's state watcher would (agents first, then
	// calls, then queues) and an end marker per agent, then checks every
	// stream against the REST API's answers for the same token.
	round := func(name string, calls []Update, wantBrief map[string]string) {
		t.Helper()
		var ups []Update
		for _, id := range []string{"100", "200", "300"} {
			ups = append(ups, AgentUpdate(e.router.agents[id]))
		}
		ups = append(ups, calls...)
		ups = append(ups, QueueUpdate("service", 1), QueueUpdate("audit", 0))
		for _, id := range []string{"100", "200", "300"} {
			a := e.router.agents[id]
			a.Reason = "end of " + name
			ups = append(ups, AgentUpdate(a))
		}
		for _, u := range ups {
			e.hub.Publish(u)
		}
		for i, v := range viewers {
			var rest []map[string]any
			if err := json.Unmarshal(e.do(t, "GET", "/api/v1/calls", v.token, "").Body.Bytes(), &rest); err != nil {
				t.Fatal(err)
			}
			restByID := map[string]map[string]any{}
			for _, c := range rest {
				restByID[c["id"].(string)] = c
			}
			full, queues := map[string]bool{}, []string{}
			brief := ""
			last := "300"
			if v.agent != "" {
				last = v.agent
			}
			for {
				ev, ok := streams[i].next()
				if !ok {
					t.Fatalf("%s, %s: stream ended", name, v.name)
				}
				if v.agent != "" && (strings.Contains(ev.data, queuedCaller.CallerNumber) || strings.Contains(ev.data, queuedCaller.CaseID) ||
					strings.Contains(ev.data, `"`+queuedCaller.ID+`"`)) {
					t.Errorf("%s, %s: the queued caller is on the stream: %s %s", name, v.name, ev.name, ev.data)
				}
				var data map[string]any
				if err := json.Unmarshal([]byte(ev.data), &data); err != nil {
					t.Fatalf("%s, %s: %s data %q: %v", name, v.name, ev.name, ev.data, err)
				}
				switch ev.name {
				case "call":
					id, _ := data["id"].(string)
					if len(data) == 1 {
						brief += id
						continue
					}
					full[id] = true
					if !reflect.DeepEqual(data, restByID[id]) {
						t.Errorf("%s, %s: call event\n%s\nREST shows\n%v", name, v.name, ev.data, restByID[id])
					}
				case "queue":
					queues = append(queues, data["topic"].(string))
				case "agent":
					if v.agent != "" && data["id"] != v.agent {
						t.Errorf("%s, %s: agent event of %v", name, v.name, data["id"])
					}
				}
				if ev.name == "agent" && data["id"] == last && data["reason"] == "end of "+name {
					break
				}
			}
			for _, u := range calls {
				if id := u.CallID; restByID[id] != nil && !full[id] {
					t.Errorf("%s, %s: REST shows call %s, the stream did not", name, v.name, id)
				}
			}
			if brief != wantBrief[v.agent] {
				t.Errorf("%s, %s: calls told as gone %q, want %q", name, v.name, brief, wantBrief[v.agent])
			}
			slices.Sort(queues)
			if !slices.Equal(queues, v.topics) {
				t.Errorf("%s, %s: queue events for %v, want %v", name, v.name, queues, v.topics)
			}
		}
	}

	var calls []Update
	for _, id := range []string{"c1", "c2", "c3"} {
		calls = append(calls, CallUpdate(e.router.calls[id]))
	}
	round("the start", calls, nil)

	// The transfer completes: 300 has the caller, 100 wraps up.
	e.router.mu.Lock()
	c1 := e.router.calls["c1"]
	c1.AgentID, c1.State = "300", CallConnected
	e.router.calls["c1"] = c1
	a100, a300 := e.router.agents["100"], e.router.agents["300"]
	a100.State, a100.CallID = routing.StateWrapUp, ""
	a300.State = routing.StateOnCall
	e.router.agents["100"], e.router.agents["300"] = a100, a300
	e.router.mu.Unlock()
	wantStatus(t, e.do(t, "GET", "/api/v1/calls/c1", tokAgent100, ""), 403, "forbidden")
	round("the transfer", []Update{CallUpdate(c1, "100")}, map[string]string{"100": "c1"})
}

// TestEventFilterCallHandedOnFirst: a call handed on is only its id to the
// agent it left, even when that agent's own update (no call any more)
// comes after it, as the desk's fake publishes them.
func TestEventFilterCallHandedOnFirst(t *testing.T) {
	e := newEnv(t)
	view, err := e.srv.eventFilter(context.Background(), Token{Role: RoleAgent, AgentID: "100"}) // on c1
	if err != nil {
		t.Fatal(err)
	}
	c1 := e.router.calls["c1"]
	c1.AgentID = "300"
	got, ok := view(CallUpdate(c1, "100"))
	if b, isBrief := got.Data.(callBrief); !ok || !isBrief || b.ID != "c1" {
		t.Errorf("agent 100 sees %+v, %v; want c1's id alone", got, ok)
	}
	// The offered call is whole: agent 300 is ringing for c1.
	view, err = e.srv.eventFilter(context.Background(), Token{Role: RoleAgent, AgentID: "300"})
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := view(CallUpdate(e.router.calls["c1"])); !ok || got.Data == nil {
		t.Errorf("agent 300 sees %+v, %v; want the call it is offered", got, ok)
	}
	if _, ok := view(CallUpdate(e.router.calls["c3"])); ok {
		t.Error("agent 300 sees a queued caller of its topic")
	}
}
