package api

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
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
		AgentUpdate(e.router.agents["200"]),                                      // not agent 100's
		QueueUpdate("audit", 4),                                                  // not agent 100's topic
		QueueUpdate("service", 2),                                                // agent 100's topic
		AgentUpdate(e.router.agents["100"]),                                      // agent 100 itself
		CallUpdate(Call{ID: "c9", AgentID: "300", State: CallConsulting}, "100"), // names 100
	}
	for _, u := range updates {
		e.hub.Publish(u)
	}
	want := []struct{ name, contains string }{
		{"queue", `"topic":"service"`},
		{"agent", `"id":"100"`},
		{"call", `"id":"c9"`},
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

func (closedUpdates) Subscribe(ctx context.Context, accept func(Update) bool) <-chan Update {
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
