package asterisksim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

const (
	testUser = "hotline"
	testPass = "secret"
)

// startSim runs a simulator on a free loopback port for the test.
func startSim(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.Username == "" {
		opts.Username, opts.Password = testUser, testPass
	}
	s := New(opts)
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

// restClient is a bare ARI REST client for tests.
type restClient struct {
	base       string
	user, pass string
	hc         *http.Client
}

func newREST(s *Server) *restClient {
	return &restClient{base: s.URL(), user: testUser, pass: testPass, hc: &http.Client{Timeout: 5 * time.Second}}
}

// do sends a request; path is relative to /ari (e.g. "/channels").
func (c *restClient) do(t testing.TB, method, path string, q url.Values, body any) (int, []byte) {
	t.Helper()
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatalf("marshal body: %v", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.user != "" {
		req.SetBasicAuth(c.user, c.pass)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return resp.StatusCode, b
}

// mustJSON is do that expects status and decodes the body into a map.
func (c *restClient) mustJSON(t testing.TB, want int, method, path string, q url.Values, body any) map[string]any {
	t.Helper()
	st, b := c.do(t, method, path, q, body)
	if st != want {
		t.Fatalf("%s %s %v: status %d, want %d (body %s)", method, path, q, st, want, b)
	}
	var m map[string]any
	if len(bytes.TrimSpace(b)) > 0 {
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
	return m
}

// wsClient collects the events of one websocket.
type wsClient struct {
	conn   *websocket.Conn
	events chan map[string]any
	closed chan struct{}
}

func dialEvents(t testing.TB, s *Server, apps string) *wsClient {
	t.Helper()
	u := strings.Replace(s.URL(), "http://", "ws://", 1) + "/events?" +
		url.Values{"app": {apps}, "subscribeAll": {"false"}, "api_key": {testUser + ":" + testPass}}.Encode()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, u, nil)
	if err != nil {
		t.Fatalf("dial events: %v", err)
	}
	conn.SetReadLimit(1 << 22)
	w := &wsClient{conn: conn, events: make(chan map[string]any, 100000), closed: make(chan struct{})}
	go func() {
		defer close(w.closed)
		for {
			_, b, err := conn.Read(context.Background())
			if err != nil {
				return
			}
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				continue
			}
			w.events <- m
		}
	}()
	t.Cleanup(func() {
		_ = conn.CloseNow()
		<-w.closed
	})
	// The registration happens in the server's handler after the upgrade;
	// wait until the application is visible so no early event is lost.
	deadline := time.Now().Add(5 * time.Second)
	for _, a := range strings.Split(apps, ",") {
		for {
			s.mu.Lock()
			ok := s.apps[a] != nil
			s.mu.Unlock()
			if ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("application %s never registered", a)
			}
			time.Sleep(time.Millisecond)
		}
	}
	return w
}

// waitEvent returns the first event for which match is true, failing after
// timeout; the events skipped on the way are returned too.
func (w *wsClient) waitEvent(t testing.TB, desc string, match func(map[string]any) bool) map[string]any {
	t.Helper()
	var seen []string
	timer := time.NewTimer(3 * time.Second)
	defer timer.Stop()
	for {
		select {
		case ev := <-w.events:
			if match(ev) {
				return ev
			}
			seen = append(seen, evSummary(ev))
		case <-timer.C:
			t.Fatalf("no event %s; saw %v", desc, seen)
			return nil
		}
	}
}

// drain returns the events that arrive within d.
func (w *wsClient) drain(d time.Duration) []map[string]any {
	var out []map[string]any
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case ev := <-w.events:
			out = append(out, ev)
		case <-timer.C:
			return out
		}
	}
}

func evType(typ string) func(map[string]any) bool {
	return func(ev map[string]any) bool { return ev["type"] == typ }
}

func evOn(typ, chanID string) func(map[string]any) bool {
	return func(ev map[string]any) bool { return ev["type"] == typ && evChanID(ev) == chanID }
}

func evChanID(ev map[string]any) string {
	for _, k := range []string{"channel", "peer"} {
		if c, ok := ev[k].(map[string]any); ok {
			id, _ := c["id"].(string)
			return id
		}
	}
	return ""
}

func evChanName(ev map[string]any) string {
	for _, k := range []string{"channel", "peer"} {
		if c, ok := ev[k].(map[string]any); ok {
			n, _ := c["name"].(string)
			return n
		}
	}
	return ""
}

func evSummary(ev map[string]any) string {
	return fmt.Sprintf("%v(%s)", ev["type"], evChanName(ev))
}
