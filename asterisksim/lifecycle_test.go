package asterisksim

import (
	"context"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func TestSeveralApplicationsOnOneSocket(t *testing.T) {
	s := startSim(t, Options{})
	rc := newREST(s)
	both := dialEvents(t, s, "hotline,phones")
	rc.mustJSON(t, 200, "POST", "/channels", q("endpoint", "PJSIP/agent100", "app", "hotline"), nil)
	ev := both.waitEvent(t, "phones StasisStart", evType("StasisStart"))
	if ev["application"] != "phones" {
		t.Errorf("application %v, want phones", ev["application"])
	}
	// A second socket for phones only takes phones away from the first,
	// which keeps hotline.
	phones := dialEvents(t, s, "phones")
	rep := both.waitEvent(t, "ApplicationReplaced", evType("ApplicationReplaced"))
	if rep["application"] != "phones" {
		t.Errorf("replaced %v", rep["application"])
	}
	rc.mustJSON(t, 200, "POST", "/channels", q("endpoint", "PJSIP/agent101", "app", "hotline"), nil)
	phone := phones.waitEvent(t, "second phone on the new socket", evType("StasisStart"))
	rc.mustJSON(t, 204, "POST", "/channels/"+evChanID(phone)+"/answer", nil, nil)
	got := both.waitEvent(t, "hotline still on the first socket", evType("StasisStart"))
	if got["application"] != "hotline" {
		t.Errorf("application %v, want hotline", got["application"])
	}
}

// A client that stops reading must not hold up another application's events.
func TestSlowClientDoesNotBlockOthers(t *testing.T) {
	s := startSim(t, Options{})
	rc := newREST(s)
	hl := dialEvents(t, s, "hotline")
	// A raw client that never reads: once the socket buffers are full,
	// writes to it block.
	u := strings.Replace(s.URL(), "http://", "ws://", 1) + "/events?app=phones&api_key=" + testUser + ":" + testPass
	dctx, dcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer dcancel()
	stuck, _, err := websocket.Dial(dctx, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stuck.CloseNow()
	for {
		s.mu.Lock()
		ok := s.apps["phones"] != nil
		s.mu.Unlock()
		if ok {
			break
		}
		time.Sleep(time.Millisecond)
	}
	two, one := stasisCaller(t, rc, hl, "100")
	rc.mustJSON(t, 200, "POST", "/applications/phones/subscription", q("eventSource", "channel:"+one), nil)
	rc.mustJSON(t, 200, "POST", "/applications/hotline/subscription", q("eventSource", "channel:"+one), nil)
	digits := strings.Repeat("1234567890", 100)
	const rounds = 20
	for range rounds {
		rc.mustJSON(t, 204, "POST", "/channels/"+two+"/dtmf", q("dtmf", digits), nil)
	}
	deadline := time.After(10 * time.Second)
	for n := 0; n < rounds*len(digits); {
		select {
		case ev := <-hl.events:
			if ev["type"] == "ChannelDtmfReceived" {
				n++
			}
		case <-deadline:
			t.Fatalf("hotline got %d of %d digits", n, rounds*len(digits))
		}
	}
	s.mu.Lock()
	c := s.apps["phones"]
	s.mu.Unlock()
	c.mu.Lock()
	backlog := len(c.queue)
	c.mu.Unlock()
	if backlog == 0 {
		t.Log("the stuck client's socket buffers took every event; the backlog path was not exercised")
	}
}

func TestCloseEndsGoroutines(t *testing.T) {
	base := runtime.NumGoroutine()
	s := New(Options{})
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	ws := dialEvents(t, s, "hotline")
	tr := &http.Transport{}
	rc := &restClient{base: s.URL(), hc: &http.Client{Transport: tr, Timeout: 5 * time.Second}}
	two, _ := stasisCaller(t, rc, ws, "100")
	rc.mustJSON(t, 201, "POST", "/channels/"+two+"/play", q("media", "sound:long"), nil)
	rc.mustJSON(t, 200, "POST", "/channels", q("endpoint", "Local/1@ringing", "app", "hotline", "timeout", "600"), nil)
	tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
	<-ws.closed
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines after Close, %d before:\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := s.Start("127.0.0.1:0"); err == nil {
		t.Error("Start after Close succeeded")
	}
}
