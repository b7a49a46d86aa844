package ari

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// Response bodies as Asterisk 22.10.1 sent them (trimmed to a few items).
const (
	recordedSounds       = `[{"id":"hotline-tone-3s","formats":[{"language":"en","format":"slin"}]},{"id":"digits/7","formats":[{"language":"en","format":"gsm"},{"language":"en","format":"wav"},{"language":"uk","format":"wav"}]}]`
	recordedEndpoints    = `[{"technology":"PJSIP","resource":"309","state":"offline","channel_ids":[]},{"technology":"PJSIP","resource":"101","state":"online","channel_ids":["1795305199.26"]}]`
	recordedInfo         = `{"build":{"os":"Linux","kernel":"6.18.44","machine":"x86_64","options":"OPTIONAL_API","date":"2026-12-01 20:20:32 UTC","user":"root"},"system":{"version":"22.10.1","entity_id":"02:fc:00:00:00:01"},"config":{"name":"","default_language":"en","setid":{"user":"","group":""}},"status":{"startup_time":"2026-12-01T22:32:44.915+0000","last_reload_time":"2026-12-01T22:32:44.915+0000"}}`
	recordedModules      = `[{"name":"acl","description":"Named ACL system","use_count":2,"status":"Running","support_level":"core"},{"name":"res_pjsip.so","description":"Basic SIP resource","use_count":47,"status":"Running","support_level":"core"}]`
	recordedApplications = `[{"name":"hotline","channel_ids":["1795305073.1"],"bridge_ids":[],"endpoint_ids":[],"device_names":[],"events_allowed":[{"type":"all"}],"events_disallowed":[]}]`
)

func TestInventoryRequests(t *testing.T) {
	fake := &fakeREST{}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	c, _ := newTestClient(t, srv.URL, nil)
	ctx := context.Background()

	tests := []struct {
		name, resp, path string
		call             func() (any, error)
		want             any
	}{
		{"sounds", recordedSounds, "/ari/sounds",
			func() (any, error) { return c.Sounds(ctx) },
			[]Sound{
				{ID: "hotline-tone-3s", Formats: []SoundFormat{{"en", "slin"}}},
				{ID: "digits/7", Formats: []SoundFormat{{"en", "gsm"}, {"en", "wav"}, {"uk", "wav"}}},
			}},
		{"no sounds", `[]`, "/ari/sounds",
			func() (any, error) { return c.Sounds(ctx) }, []Sound{}},
		{"endpoints", recordedEndpoints, "/ari/endpoints",
			func() (any, error) { return c.Endpoints(ctx) },
			[]Endpoint{
				{Technology: "PJSIP", Resource: "309", State: "offline", ChannelIDs: []string{}},
				{Technology: "PJSIP", Resource: "101", State: "online", ChannelIDs: []string{"1795305199.26"}},
			}},
		{"info", recordedInfo, "/ari/asterisk/info",
			func() (any, error) { return c.Info(ctx) },
			AsteriskInfo{Version: "22.10.1", EntityID: "02:fc:00:00:00:01", DefaultLanguage: "en"}},
		{"modules", recordedModules, "/ari/asterisk/modules",
			func() (any, error) { return c.Modules(ctx) },
			[]Module{
				{Name: "acl", Description: "Named ACL system", Status: "Running", SupportLevel: "core", UseCount: 2},
				{Name: "res_pjsip.so", Description: "Basic SIP resource", Status: "Running", SupportLevel: "core", UseCount: 47},
			}},
		{"applications", recordedApplications, "/ari/applications",
			func() (any, error) { return c.Applications(ctx) },
			[]Application{{Name: "hotline", ChannelIDs: []string{"1795305073.1"}, BridgeIDs: []string{},
				EndpointIDs: []string{}, DeviceIDs: []string{}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake.reply(http.StatusOK, tc.resp)
			got, err := tc.call()
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("decoded\n%s\nwant\n%s", fmtAny(got), fmtAny(tc.want))
			}
			s := fake.last(t)
			if s.method != http.MethodGet || s.path != tc.path || len(s.query) != 0 || s.body != "" || !s.auth {
				t.Errorf("request %+v, want GET %s with credentials and nothing else", s, tc.path)
			}
		})
	}
}

func TestInventoryErrors(t *testing.T) {
	fake := &fakeREST{}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	c, _ := newTestClient(t, srv.URL, nil)
	ctx := context.Background()
	calls := map[string]func() error{
		"list sounds":       func() error { _, err := c.Sounds(ctx); return err },
		"list endpoints":    func() error { _, err := c.Endpoints(ctx); return err },
		"asterisk info":     func() error { _, err := c.Info(ctx); return err },
		"list modules":      func() error { _, err := c.Modules(ctx); return err },
		"list applications": func() error { _, err := c.Applications(ctx); return err },
	}
	for op, call := range calls {
		t.Run(op, func(t *testing.T) {
			fake.reply(http.StatusUnauthorized, `{"message":"Authentication required"}`)
			err := call()
			var herr *HTTPError
			if !errors.As(err, &herr) || herr.Status != 401 || herr.Message != "Authentication required" {
				t.Errorf("401: got %v, want an *HTTPError 401 with ARI's message", err)
			}
			if !strings.HasPrefix(err.Error(), op+": ") {
				t.Errorf("error %q does not start with the operation %q", err, op)
			}
			fake.reply(http.StatusOK, `{"not":"a list"`)
			if err := call(); err == nil || !strings.Contains(err.Error(), "decode response") {
				t.Errorf("truncated body: got %v, want a decode error", err)
			}
		})
	}
	// Items Asterisk never sends without their identity.
	for _, tc := range []struct {
		body string
		call func() error
	}{
		{`[{"formats":[]}]`, calls["list sounds"]},
		{`[{"technology":"PJSIP","state":"offline"}]`, calls["list endpoints"]},
		{`{"system":{}}`, calls["asterisk info"]},
	} {
		fake.reply(http.StatusOK, tc.body)
		if err := tc.call(); !errors.Is(err, ErrMalformedEvent) {
			t.Errorf("%s: got %v, want ErrMalformedEvent", tc.body, err)
		}
	}
}

// TestInventoryTimeout: a request Asterisk never answers ends at the
// client's request timeout, not the caller's patience.
func TestInventoryTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	c, _ := newTestClient(t, srv.URL, func(o *Options) { o.RequestTimeout = 50 * time.Millisecond })
	start := time.Now()
	_, err := c.Sounds(context.Background())
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v, want a deadline error", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %s with a 50ms request timeout", d)
	}
}

// fakeProbe is an events endpoint that records every application that
// connected and how each connection was closed.
type fakeProbe struct {
	t      *testing.T
	reject int  // answer the upgrade with this status instead
	drop   bool // drop the connection at once, with no close handshake
	mu     sync.Mutex
	apps   []string
	closes []websocket.StatusCode
	done   chan struct{} // one send per connection, once its close is recorded
}

func (f *fakeProbe) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if u, p, ok := r.BasicAuth(); !ok || u != testUser || p != testPassword {
		http.Error(w, `{"message":"Authentication required"}`, http.StatusUnauthorized)
		return
	}
	if f.reject != 0 {
		http.Error(w, "no", f.reject)
		return
	}
	if r.URL.Path != "/ari/events" || r.URL.Query().Get("subscribeAll") != "false" {
		f.t.Errorf("websocket request %s", r.URL)
	}
	conn, err := websocket.Accept(w, r, nil)
	if err != nil {
		f.t.Errorf("accept: %v", err)
		return
	}
	defer conn.CloseNow()
	f.mu.Lock()
	f.apps = append(f.apps, r.URL.Query().Get("app"))
	f.mu.Unlock()
	if f.drop {
		conn.CloseNow()
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	_, _, err = conn.Read(ctx)
	f.mu.Lock()
	f.closes = append(f.closes, websocket.CloseStatus(err))
	f.mu.Unlock()
	f.done <- struct{}{}
}

func TestProbeEvents(t *testing.T) {
	fake := &fakeProbe{t: t, done: make(chan struct{}, 10)}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	c, _ := newTestClient(t, srv.URL, nil)
	ctx := context.Background()

	if err := c.ProbeEvents(ctx, "hotline-doctor-1a2b"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-fake.done:
	case <-time.After(5 * time.Second):
		t.Fatal("the server never saw the probe end")
	}
	fake.mu.Lock()
	apps, closes := fake.apps, fake.closes
	fake.mu.Unlock()
	if !reflect.DeepEqual(apps, []string{"hotline-doctor-1a2b"}) {
		t.Errorf("connected as %q, want only the probe's application", apps)
	}
	if !reflect.DeepEqual(closes, []websocket.StatusCode{websocket.StatusNormalClosure}) {
		t.Errorf("closed with %v, want a normal close handshake", closes)
	}

	// Never under the daemon's own name, and never without a name.
	for _, app := range []string{"hotline", ""} {
		if err := c.ProbeEvents(ctx, app); err == nil || (app != "" && !errors.Is(err, ErrOwnApplication)) {
			t.Errorf("ProbeEvents(%q) = %v, want a refusal", app, err)
		}
	}
	fake.mu.Lock()
	if len(fake.apps) != 1 {
		t.Errorf("refused probes connected anyway: %q", fake.apps)
	}
	fake.mu.Unlock()
}

func TestProbeEventsRefused(t *testing.T) {
	for _, tc := range []struct {
		name     string
		password string
		reject   int
		want     int
	}{
		{"wrong password", "wrong-" + testPassword, 0, http.StatusUnauthorized},
		{"no websocket", testPassword, http.StatusNotFound, http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := &fakeProbe{t: t, reject: tc.reject, done: make(chan struct{}, 10)}
			srv := httptest.NewServer(fake)
			defer srv.Close()
			c, logs := newTestClient(t, srv.URL, func(o *Options) { o.Password = tc.password })
			err := c.ProbeEvents(context.Background(), "hotline-doctor-1a2b")
			var herr *HTTPError
			if !errors.As(err, &herr) || herr.Status != tc.want {
				t.Fatalf("got %v, want an *HTTPError %d", err, tc.want)
			}
			if strings.Contains(err.Error(), tc.password) || strings.Contains(logs.String(), tc.password) {
				t.Errorf("the password shows in %q", err)
			}
		})
	}
}

// TestProbeEventsUnclean: an upgrade that worked and a close that did not
// is told apart from a refusal.
func TestProbeEventsUnclean(t *testing.T) {
	fake := &fakeProbe{t: t, drop: true, done: make(chan struct{}, 10)}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	c, _ := newTestClient(t, srv.URL, nil)
	err := c.ProbeEvents(context.Background(), "hotline-doctor-1a2b")
	var herr *HTTPError
	if !errors.Is(err, ErrUncleanClose) || errors.As(err, &herr) {
		t.Errorf("got %v, want ErrUncleanClose", err)
	}
}

// TestProbeEventsUnreachable: nothing listening is an error, promptly.
func TestProbeEventsUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.URL
	srv.Close()
	c, _ := newTestClient(t, addr, func(o *Options) { o.DialTimeout = time.Second })
	start := time.Now()
	if err := c.ProbeEvents(context.Background(), "hotline-doctor-1a2b"); err == nil {
		t.Fatal("probe of a closed port succeeded")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %s", d)
	}
}
