package ari

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// fakeEvents is an events websocket server. script decides, per
// connection (numbered from 1), what the server does with it.
type fakeEvents struct {
	t     *testing.T
	mu    sync.Mutex
	conns int
	// unregistered is how many times GET /applications/hotline answers
	// 404 before the application is known.
	unregistered int
	script       func(ctx context.Context, n int, conn *websocket.Conn)
	// reject, if set, answers connection n with this HTTP status instead.
	reject func(n int) int
	// filters are the bodies of the event filters set, in order;
	// filterStatus, if set, is the answer to each.
	filters      []string
	filterStatus int
}

func (f *fakeEvents) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && r.URL.Path == "/ari/applications/hotline" {
		// The client waits for its application to be registered.
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.unregistered > 0 {
			f.unregistered--
			http.Error(w, `{"message":"Application not found"}`, http.StatusNotFound)
			return
		}
		_, _ = w.Write([]byte(`{"name":"hotline"}`))
		return
	}
	if r.Method == http.MethodPut && r.URL.Path == "/ari/applications/hotline/eventFilter" {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		defer f.mu.Unlock()
		f.filters = append(f.filters, strings.TrimSpace(string(body)))
		if f.filterStatus != 0 {
			http.Error(w, `{"message":"Application not found"}`, f.filterStatus)
			return
		}
		_, _ = w.Write([]byte(`{"name":"hotline"}`))
		return
	}
	f.mu.Lock()
	f.conns++
	n := f.conns
	f.mu.Unlock()
	if u, p, ok := r.BasicAuth(); !ok || u != testUser || p != testPassword {
		http.Error(w, `{"message":"Authentication required"}`, http.StatusUnauthorized)
		return
	}
	if r.URL.Path != "/ari/events" || r.URL.Query().Get("app") != "hotline" || r.URL.Query().Get("subscribeAll") != "false" {
		f.t.Errorf("websocket request %s", r.URL)
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	if f.reject != nil {
		if st := f.reject(n); st != 0 {
			http.Error(w, `{"message":"nope"}`, st)
			return
		}
	}
	conn, err := websocket.Accept(w, r, nil)
	if err != nil {
		f.t.Errorf("accept: %v", err)
		return
	}
	defer conn.CloseNow()
	f.script(r.Context(), n, conn)
}

func (f *fakeEvents) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.conns
}

// holdOpen keeps a connection up (answering pings) until the client goes.
func holdOpen(ctx context.Context, conn *websocket.Conn) {
	for {
		if _, _, err := conn.Read(ctx); err != nil {
			return
		}
	}
}

func send(ctx context.Context, t *testing.T, conn *websocket.Conn, msgs ...string) {
	for _, m := range msgs {
		if err := conn.Write(ctx, websocket.MessageText, []byte(m)); err != nil {
			t.Errorf("write: %v", err)
			return
		}
	}
}

func stasis(id string) string {
	return `{"type":"StasisStart","application":"hotline","timestamp":"2026-11-21T23:51:13.546+0000","args":["100"],"channel":{"id":"` + id + `","name":"PJSIP/caller1-1","state":"Ring","caller":{"name":"","number":"5551234"},"creationtime":"2026-11-21T23:51:13.543+0000"}}`
}

// recorder collects what the client reports.
type recorder struct {
	mu       sync.Mutex
	events   []string
	connects int
	states   []bool
	changed  chan struct{}
}

func newRecorder() *recorder { return &recorder{changed: make(chan struct{}, 1000)} }

func (r *recorder) note() {
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

func (r *recorder) options(o *Options) {
	o.Handler = func(ev Event) {
		r.mu.Lock()
		r.events = append(r.events, ev.Type+":"+ev.Channel.ID)
		r.mu.Unlock()
		r.note()
	}
	o.OnConnect = func(context.Context) {
		r.mu.Lock()
		r.connects++
		r.mu.Unlock()
		r.note()
	}
	o.OnState = func(up bool) {
		r.mu.Lock()
		r.states = append(r.states, up)
		r.mu.Unlock()
		r.note()
	}
	o.BackoffMin = 5 * time.Millisecond
	o.BackoffMax = 20 * time.Millisecond
}

// waitFor waits until cond holds; the bound only keeps a broken test
// from hanging.
func (r *recorder) waitFor(t *testing.T, what string, cond func(r *recorder) bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		r.mu.Lock()
		ok := cond(r)
		r.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-r.changed:
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			r.mu.Lock()
			defer r.mu.Unlock()
			t.Fatalf("timed out waiting for %s; events %v connects %d states %v", what, r.events, r.connects, r.states)
		}
	}
}

// startRun runs the client and returns a function that stops it and
// returns Run's error.
func startRun(t *testing.T, c *Client) func() error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	var err error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not return after cancel")
			}
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

func TestRunDeliversInOrderAndReconnects(t *testing.T) {
	fake := &fakeEvents{t: t}
	fake.script = func(ctx context.Context, n int, conn *websocket.Conn) {
		switch n {
		case 1:
			send(ctx, t, conn,
				stasis("c1"),
				`{"type":"ChannelToneDetected","channel":{"id":"c1"}}`, // unknown: skipped
				`not json at all`, // malformed: skipped
				`{"type":"StasisEnd","timestamp":"2026-11-21T23:51:14.000+0000","channel":{"id":"c1"}}`)
			conn.Close(websocket.StatusGoingAway, "asterisk restarting")
		default:
			send(ctx, t, conn, stasis("c2"))
			holdOpen(ctx, conn)
		}
	}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	rec := newRecorder()
	c, logs := newTestClient(t, srv.URL, rec.options)
	stop := startRun(t, c)

	// The first connection may end before its registration check does, so
	// OnConnect runs once or twice.
	rec.waitFor(t, "second connection's event", func(r *recorder) bool {
		return len(r.events) >= 3 && fake.count() >= 2 && c.Connected()
	})
	rec.mu.Lock()
	got := strings.Join(rec.events, " ")
	rec.mu.Unlock()
	if got != "StasisStart:c1 StasisEnd:c1 StasisStart:c2" {
		t.Errorf("events %q", got)
	}
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Errorf("Run returned %v, want context.Canceled", err)
	}
	if c.Connected() {
		t.Error("connected after Run returned")
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if n := len(rec.states); (n != 2 && n != 4) || !slices.Equal(rec.states, []bool{true, false, true, false}[:n]) {
		t.Errorf("state changes %v, want up, down (, up, down)", rec.states)
	}
	if l := logs.String(); !strings.Contains(l, "skipping unknown event type") || !strings.Contains(l, "skipping undecodable message") {
		t.Errorf("skipped messages not logged:\n%s", l)
	}
}

func TestRunCancelEndsPromptly(t *testing.T) {
	fake := &fakeEvents{t: t, script: func(ctx context.Context, _ int, conn *websocket.Conn) { holdOpen(ctx, conn) }}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	rec := newRecorder()
	blocked := make(chan struct{})
	c, _ := newTestClient(t, srv.URL, func(o *Options) {
		rec.options(o)
		// A reconciliation still running when Run is cancelled must see
		// its context end, or Run could not return.
		o.OnConnect = func(ctx context.Context) {
			close(blocked)
			<-ctx.Done()
		}
	})
	stop := startRun(t, c)
	<-blocked
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Errorf("Run returned %v", err)
	}
	if c.Connected() {
		t.Error("still connected")
	}
}

// TestRunStopClosesCleanly: a stop ends the events websocket with the
// close handshake (status 1000). Dropping the connection instead makes
// Asterisk log "Web socket closed abruptly" and "WebSocket read error" at
// every stop of the daemon.
func TestRunStopClosesCleanly(t *testing.T) {
	status := make(chan websocket.StatusCode, 1)
	fake := &fakeEvents{t: t, script: func(ctx context.Context, _ int, conn *websocket.Conn) {
		_, _, err := conn.Read(ctx) // the client sends nothing but its close
		status <- websocket.CloseStatus(err)
	}}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	rec := newRecorder()
	c, _ := newTestClient(t, srv.URL, rec.options)
	stop := startRun(t, c)
	rec.waitFor(t, "connected", func(r *recorder) bool { return r.connects >= 1 })
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Errorf("Run returned %v", err)
	}
	select {
	case st := <-status:
		if st != websocket.StatusNormalClosure {
			t.Errorf("server saw close status %v, want %v (a close handshake)", st, websocket.StatusNormalClosure)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("server never saw the connection end")
	}
}

func TestRunCancelDuringBackoff(t *testing.T) {
	fake := &fakeEvents{t: t, reject: func(int) int { return http.StatusServiceUnavailable }}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	c, _ := newTestClient(t, srv.URL, func(o *Options) { o.BackoffMin, o.BackoffMax = time.Hour, time.Hour })
	stop := startRun(t, c)
	for fake.count() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Errorf("Run returned %v", err)
	}
}

func TestRunRetriesFailedConnects(t *testing.T) {
	fake := &fakeEvents{t: t,
		reject: func(n int) int {
			if n <= 3 {
				return http.StatusServiceUnavailable
			}
			return 0
		},
		script: func(ctx context.Context, _ int, conn *websocket.Conn) {
			send(ctx, t, conn, stasis("c9"))
			holdOpen(ctx, conn)
		},
	}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	rec := newRecorder()
	c, logs := newTestClient(t, srv.URL, rec.options)
	startRun(t, c)
	rec.waitFor(t, "event after failed attempts", func(r *recorder) bool { return len(r.events) == 1 && r.connects == 1 })
	if n := fake.count(); n != 4 {
		t.Errorf("%d connection attempts, want 4", n)
	}
	// A connection that never existed is not "lost".
	if l := logs.String(); strings.Count(l, "cannot connect, retrying") != 3 || strings.Contains(l, "connection lost") {
		t.Errorf("want three failed-connect logs and no lost connection:\n%s", l)
	}
}

func TestRunWrongPassword(t *testing.T) {
	fake := &fakeEvents{t: t}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	c, logs := newTestClient(t, srv.URL, func(o *Options) {
		o.Password = "wrong-" + testPassword
		o.BackoffMin, o.BackoffMax = time.Millisecond, time.Millisecond
	})
	stop := startRun(t, c)
	for fake.count() < 3 {
		time.Sleep(5 * time.Millisecond)
	}
	_ = stop()
	if c.Connected() {
		t.Error("connected with a wrong password")
	}
	if l := logs.String(); !strings.Contains(l, "401") || strings.Contains(l, "wrong-"+testPassword) {
		t.Errorf("log should name the 401 and never the password:\n%s", l)
	}
}

func TestRunApplicationReplaced(t *testing.T) {
	fake := &fakeEvents{t: t}
	fake.script = func(ctx context.Context, n int, conn *websocket.Conn) {
		if n == 1 {
			send(ctx, t, conn, `{"type":"ApplicationReplaced","application":"hotline","timestamp":"2026-11-21T23:51:14.000+0000"}`)
		} else {
			send(ctx, t, conn, stasis("after"))
		}
		holdOpen(ctx, conn)
	}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	rec := newRecorder()
	c, logs := newTestClient(t, srv.URL, rec.options)
	startRun(t, c)
	// The replaced connection may end before its registration check does,
	// so OnConnect runs once or twice.
	rec.waitFor(t, "reconnect after replacement", func(r *recorder) bool {
		return len(r.events) == 1 && r.connects >= 1 && fake.count() == 2
	})
	if l := logs.String(); !strings.Contains(l, "level=ERROR") || !strings.Contains(l, "application replaced") {
		t.Errorf("replacement not logged at error level:\n%s", l)
	}
}

// TestRunKeepalive: a peer that stops answering pings (as a vanished host
// does) is noticed and the client reconnects.
func TestRunKeepalive(t *testing.T) {
	fake := &fakeEvents{t: t}
	fake.script = func(ctx context.Context, n int, conn *websocket.Conn) {
		if n == 1 {
			<-ctx.Done() // never reads, so never answers a ping
			return
		}
		holdOpen(ctx, conn)
	}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	rec := newRecorder()
	c, logs := newTestClient(t, srv.URL, func(o *Options) {
		rec.options(o)
		o.PingInterval, o.PingTimeout = 20*time.Millisecond, 50*time.Millisecond
	})
	startRun(t, c)
	rec.waitFor(t, "reconnect after a dead peer", func(r *recorder) bool { return r.connects == 2 })
	if !strings.Contains(logs.String(), "keepalive") {
		t.Errorf("keepalive failure not logged:\n%s", logs.String())
	}
}

// TestRunAwaitsRegistration: Asterisk registers the application a moment
// after the upgrade; the client is connected, and reconciles, only once
// the application is known, while the events sent meanwhile still arrive.
func TestRunAwaitsRegistration(t *testing.T) {
	fake := &fakeEvents{t: t, unregistered: 3, script: func(ctx context.Context, _ int, conn *websocket.Conn) {
		send(ctx, t, conn, stasis("early"))
		holdOpen(ctx, conn)
	}}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	rec := newRecorder()
	c, _ := newTestClient(t, srv.URL, rec.options)
	startRun(t, c)
	rec.waitFor(t, "connect", func(r *recorder) bool { return r.connects == 1 && len(r.events) == 1 })
	fake.mu.Lock()
	left := fake.unregistered
	fake.mu.Unlock()
	if left != 0 {
		t.Errorf("connected with the application still unknown (%d more 404s due)", left)
	}
}

func TestRunRefuses(t *testing.T) {
	fake := &fakeEvents{t: t, script: func(ctx context.Context, _ int, conn *websocket.Conn) { holdOpen(ctx, conn) }}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	t.Run("no handler", func(t *testing.T) {
		c, _ := newTestClient(t, srv.URL, func(o *Options) { o.Handler = nil })
		if err := c.Run(context.Background()); !errors.Is(err, ErrNoHandler) {
			t.Errorf("err %v", err)
		}
	})
	t.Run("second Run", func(t *testing.T) {
		rec := newRecorder()
		c, _ := newTestClient(t, srv.URL, rec.options)
		startRun(t, c)
		rec.waitFor(t, "connect", func(r *recorder) bool { return r.connects == 1 })
		if err := c.Run(context.Background()); !errors.Is(err, ErrAlreadyRunning) {
			t.Errorf("err %v", err)
		}
	})
}

func TestBackoff(t *testing.T) {
	lo, hi := 100*time.Millisecond, 2*time.Second
	tests := []struct {
		n        int
		min, max time.Duration
	}{
		{0, 50 * time.Millisecond, 100 * time.Millisecond},
		{1, 100 * time.Millisecond, 200 * time.Millisecond},
		{3, 400 * time.Millisecond, 800 * time.Millisecond},
		{5, time.Second, 2 * time.Second}, // 3.2 s capped
		{40, time.Second, 2 * time.Second},
		{1 << 20, time.Second, 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(time.Duration(tt.n).String(), func(t *testing.T) {
			seen := map[time.Duration]bool{}
			for range 200 {
				d := backoff(lo, hi, tt.n)
				if d < tt.min || d > tt.max {
					t.Fatalf("backoff %v outside [%v, %v]", d, tt.min, tt.max)
				}
				seen[d] = true
			}
			if len(seen) < 2 {
				t.Error("no jitter")
			}
		})
	}
}

// TestRunEventsKeepTheirRaw checks that each delivered event's Raw is its
// own message, whole, after later (longer and shorter) messages were read
// through the reader's reused buffer.
func TestRunEventsKeepTheirRaw(t *testing.T) {
	msgs := []string{
		stasis("short"),
		`{"type":"StasisStart","timestamp":"2026-11-21T23:51:14.000+0000","args":["` + strings.Repeat("9", 5000) + `"],"channel":{"id":"long"}}`,
		stasis("s2"),
		`{"type":"StasisEnd","timestamp":"2026-11-21T23:51:14.000+0000","channel":{"id":"s2"}}`,
	}
	fake := &fakeEvents{t: t, script: func(ctx context.Context, _ int, conn *websocket.Conn) {
		send(ctx, t, conn, msgs...)
		holdOpen(ctx, conn)
	}}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	var mu sync.Mutex
	var raws [][]byte // kept as delivered, so a later read overwriting them shows
	done := make(chan struct{})
	c, _ := newTestClient(t, srv.URL, func(o *Options) {
		o.Handler = func(ev Event) {
			mu.Lock()
			defer mu.Unlock()
			raws = append(raws, ev.Raw)
			if len(raws) == len(msgs) {
				close(done)
			}
		}
	})
	stop := startRun(t, c)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("events not delivered")
	}
	_ = stop()
	mu.Lock()
	defer mu.Unlock()
	for i, want := range msgs {
		if string(raws[i]) != want {
			t.Errorf("event %d raw %.60q…, want %.60q…", i, raws[i], want)
		}
	}
}

// TestRunFiltersEvents: with Options.Events the client asks Asterisk, on
// every connect and before OnConnect, for those types and
// ApplicationReplaced alone; a refusal is logged and changes nothing else.
func TestRunFiltersEvents(t *testing.T) {
	const want = `{"allowed":[{"type":"ApplicationReplaced"},{"type":"StasisStart"},{"type":"StasisEnd"}]}`
	for _, refused := range []bool{false, true} {
		t.Run(map[bool]string{false: "set", true: "refused"}[refused], func(t *testing.T) {
			first := make(chan struct{}) // closed to end the first connection
			fake := &fakeEvents{t: t, script: func(ctx context.Context, n int, conn *websocket.Conn) {
				send(ctx, t, conn, stasis("c"+string(rune('0'+n))))
				if n == 1 {
					select {
					case <-first:
					case <-ctx.Done():
					}
					conn.Close(websocket.StatusNormalClosure, "bye")
					return
				}
				holdOpen(ctx, conn)
			}}
			if refused {
				fake.filterStatus = http.StatusNotFound
			}
			srv := httptest.NewServer(fake)
			defer srv.Close()
			rec := newRecorder()
			var filtersAtConnect []int
			c, logs := newTestClient(t, srv.URL, func(o *Options) {
				rec.options(o)
				o.Events = []string{"StasisStart", "StasisEnd", "StasisStart"}
				onConnect := o.OnConnect
				o.OnConnect = func(ctx context.Context) {
					fake.mu.Lock()
					filtersAtConnect = append(filtersAtConnect, len(fake.filters))
					fake.mu.Unlock()
					onConnect(ctx)
				}
			})
			startRun(t, c)
			rec.waitFor(t, "a connect", func(r *recorder) bool { return r.connects == 1 && len(r.events) == 1 })
			close(first)
			rec.waitFor(t, "two connects", func(r *recorder) bool { return r.connects == 2 && len(r.events) == 2 })
			fake.mu.Lock()
			defer fake.mu.Unlock()
			if len(fake.filters) != 2 || fake.filters[0] != want || fake.filters[1] != want {
				t.Errorf("filters set %q, want %s on each connect", fake.filters, want)
			}
			if !slices.Equal(filtersAtConnect, []int{1, 2}) {
				t.Errorf("filters set before each OnConnect: %v, want [1 2]", filtersAtConnect)
			}
			if warned := strings.Contains(logs.String(), "event filter refused"); warned != refused {
				t.Errorf("refusal logged %v, want %v:\n%s", warned, refused, logs.String())
			}
		})
	}
}

func TestNewRefusesEmptyEventType(t *testing.T) {
	_, err := New(Options{URL: "http://127.0.0.1:8088/ari", Application: "hotline", Username: "u", Events: []string{"StasisStart", ""}})
	if !errors.Is(err, ErrInvalidOptions) || !strings.Contains(err.Error(), "events") {
		t.Errorf("err %v", err)
	}
}
