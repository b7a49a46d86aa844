package asterisksim

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

func q(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}

func TestLocalPair(t *testing.T) {
	s := startSim(t, Options{})
	rc := newREST(s)
	ws := dialEvents(t, s, "hotline")

	one := rc.mustJSON(t, 200, "POST", "/channels", q("endpoint", "Local/100@hotline", "context", "agents",
		"extension", "100", "callerId", `"Test Caller" <5551234>`), nil)
	if name, _ := one["name"].(string); !strings.HasPrefix(name, "Local/100@hotline-") || !strings.HasSuffix(name, ";1") {
		t.Fatalf("originated name %q, want Local/100@hotline-XXXXXXXX;1", name)
	}
	if one["state"] != "Down" {
		t.Errorf("originated state %v, want Down", one["state"])
	}
	oneID := one["id"].(string)
	start := ws.waitEvent(t, "StasisStart", evType("StasisStart"))
	twoID := evChanID(start)
	if !strings.HasSuffix(evChanName(start), ";2") {
		t.Errorf("StasisStart on %s, want the ;2 half", evChanName(start))
	}
	if args, _ := start["args"].([]any); len(args) != 1 || args[0] != "100" {
		t.Errorf("args %v, want [100]", start["args"])
	}
	caller := start["channel"].(map[string]any)["caller"].(map[string]any)
	if caller["name"] != "Test Caller" || caller["number"] != "5551234" {
		t.Errorf("caller %v", caller)
	}
	info, ok := s.Channel(twoID)
	if !ok || info.PeerID != oneID || info.StasisApp != "hotline" {
		t.Fatalf("Channel(%s) = %+v, %v", twoID, info, ok)
	}

	rc.mustJSON(t, 200, "POST", "/applications/hotline/subscription", q("eventSource", "channel:"+oneID), nil)
	rc.mustJSON(t, 204, "POST", "/channels/"+twoID+"/ring", nil, nil)
	ws.waitEvent(t, "Dial RINGING", func(ev map[string]any) bool { return ev["type"] == "Dial" && ev["dialstatus"] == "RINGING" })
	rc.mustJSON(t, 204, "POST", "/channels/"+twoID+"/answer", nil, nil)
	ws.waitEvent(t, "Dial ANSWER on ;1", func(ev map[string]any) bool {
		return ev["type"] == "Dial" && ev["dialstatus"] == "ANSWER" && evChanID(ev) == oneID
	})
	if info, _ := s.Channel(oneID); info.State != "Up" || info.Context != "agents" {
		t.Errorf(";1 after answer: %+v, want Up in context agents", info)
	}
	// DTMF to a channel outside Stasis is refused.
	st, body := rc.do(t, "POST", "/channels/"+oneID+"/dtmf", q("dtmf", "3"), nil)
	if st != http.StatusConflict || !strings.Contains(string(body), "Channel not in Stasis application") {
		t.Errorf("dtmf to ;1: %d %s", st, body)
	}

	rc.mustJSON(t, 204, "DELETE", "/channels/"+twoID, q("reason", "normal"), nil)
	ws.waitEvent(t, "StasisEnd ;2", evOn("StasisEnd", twoID))
	d := ws.waitEvent(t, "ChannelDestroyed ;1", evOn("ChannelDestroyed", oneID))
	if d["cause"] != float64(16) || d["cause_txt"] != "Normal Clearing" {
		t.Errorf("destroyed %v %v", d["cause"], d["cause_txt"])
	}
	// ;2 left Stasis and nobody subscribed to it: no ChannelDestroyed for it.
	for _, ev := range ws.drain(50 * time.Millisecond) {
		if ev["type"] == "ChannelDestroyed" && evChanID(ev) == twoID {
			t.Errorf("unexpected ChannelDestroyed for ;2")
		}
	}
	if st := s.Stats(); st.Channels != 0 {
		t.Errorf("channels left: %d", st.Channels)
	}
	st, body = rc.do(t, "POST", "/channels/"+twoID+"/answer", nil, nil)
	if st != 404 || !strings.Contains(string(body), "Channel not found") {
		t.Errorf("answer gone channel: %d %s", st, body)
	}
}

func TestDTMFCrossesHalves(t *testing.T) {
	s := startSim(t, Options{})
	rc := newREST(s)
	ws := dialEvents(t, s, "hotline")
	one := rc.mustJSON(t, 200, "POST", "/channels", q("endpoint", "Local/100@hotline", "app", "hotline", "appArgs", "dialer"), nil)
	oneID := one["id"].(string)
	twoID := evChanID(ws.waitEvent(t, "StasisStart ;2", evType("StasisStart")))
	rc.mustJSON(t, 204, "POST", "/channels/"+twoID+"/answer", nil, nil)
	st := ws.waitEvent(t, "StasisStart ;1", evOn("StasisStart", oneID))
	if args, _ := st["args"].([]any); len(args) != 1 || args[0] != "dialer" {
		t.Errorf("args %v", st["args"])
	}

	tests := []struct {
		name     string
		to, recv string
		dtmf     string
		want     []string
	}{
		{"to ;2 received on ;1", twoID, oneID, "2", []string{"2"}},
		{"to ;1 received on ;2", oneID, twoID, "5#", []string{"5", "#"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rc.mustJSON(t, 204, "POST", "/channels/"+tc.to+"/dtmf", q("dtmf", tc.dtmf), nil)
			for _, d := range tc.want {
				ev := ws.waitEvent(t, "dtmf "+d, evType("ChannelDtmfReceived"))
				if evChanID(ev) != tc.recv || ev["digit"] != d || ev["duration_ms"] != float64(100) {
					t.Errorf("got %s digit %v duration %v, want on %s digit %s", evChanID(ev), ev["digit"], ev["duration_ms"], tc.recv, d)
				}
			}
		})
	}
}

func TestOriginateErrors(t *testing.T) {
	s := startSim(t, Options{})
	rc := newREST(s)
	dialEvents(t, s, "hotline")
	rc.mustJSON(t, 200, "POST", "/channels", q("endpoint", "Local/1@agents", "app", "hotline", "channelId", "dup"), nil)
	tests := []struct {
		name   string
		query  url.Values
		status int
		key    string
		msg    string
	}{
		{"unknown pjsip endpoint", q("endpoint", "PJSIP/nobody", "app", "hotline"), 500, "error", "Allocation failed"},
		{"unknown technology", q("endpoint", "Bogus/123", "app", "hotline"), 500, "error", "Allocation failed"},
		{"no technology", q("endpoint", "justtext", "app", "hotline"), 400, "message", "Invalid endpoint specified"},
		{"pjsip without resource", q("endpoint", "PJSIP/", "app", "hotline"), 400, "message", "Invalid endpoint specified"},
		{"no app or extension", q("endpoint", "Local/100@agents"), 400, "message", "Application or extension must be specified"},
		{"duplicate channel id", q("endpoint", "Local/100@agents", "app", "hotline", "channelId", "dup"), 409, "message", "Channel with given unique ID already exists"},
		{"originator with formats", q("endpoint", "Local/100@agents", "app", "hotline", "originator", "dup", "formats", "ulaw"), 400, "message", "Originator and formats can't both be specified"},
		{"unknown format", q("endpoint", "Local/100@agents", "app", "hotline", "formats", "bogus"), 400, "message", "Provided format (bogus) was not found"},
		{"missing originator", q("endpoint", "Local/100@agents", "app", "hotline", "originator", "nobody"), 400, "message", "Provided originator channel was not found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := rc.mustJSON(t, tc.status, "POST", "/channels", tc.query, nil)
			if body[tc.key] != tc.msg {
				t.Errorf("body %v, want %s=%q", body, tc.key, tc.msg)
			}
		})
	}
}

func TestOriginateFailuresAfterAccept(t *testing.T) {
	s := startSim(t, Options{})
	rc := newREST(s)
	ws := dialEvents(t, s, "hotline")
	tests := []struct {
		endpoint   string
		timeout    string
		dialstatus string // "" when no Dial failure status is sent
		cause1     float64
		cause2     float64
	}{
		{"Local/123@no-such-context", "", "", 0, 0},
		{"Local/100@busy", "10", "BUSY", 0, 17},
		{"Local/100@congested", "10", "CONGESTION", 0, 34},
		{"Local/100@ringing", "1", "RINGING", 19, 19},
	}
	for _, tc := range tests {
		t.Run(tc.endpoint, func(t *testing.T) {
			one := rc.mustJSON(t, 200, "POST", "/channels", q("endpoint", tc.endpoint, "app", "hotline",
				"appArgs", "callback", "timeout", tc.timeout), nil)
			oneID := one["id"].(string)
			if tc.dialstatus != "" {
				ws.waitEvent(t, "Dial "+tc.dialstatus, func(ev map[string]any) bool {
					return ev["type"] == "Dial" && ev["dialstatus"] == tc.dialstatus && evChanID(ev) == oneID
				})
			}
			causes := map[string]any{}
			for len(causes) < 2 {
				ev := ws.waitEvent(t, "ChannelDestroyed", evType("ChannelDestroyed"))
				causes[evChanName(ev)[len(evChanName(ev))-2:]] = ev["cause"]
			}
			if causes[";1"] != tc.cause1 || causes[";2"] != tc.cause2 {
				t.Errorf("causes %v, want ;1 %v ;2 %v", causes, tc.cause1, tc.cause2)
			}
			if n := s.Stats().Channels; n != 0 {
				t.Errorf("%d channels left", n)
			}
		})
	}
}

// stasisCaller originates a Local caller and returns the id of its ;2 half
// in Stasis(hotline), answered.
func stasisCaller(t *testing.T, rc *restClient, ws *wsClient, exten string) (two, one string) {
	t.Helper()
	r := rc.mustJSON(t, 200, "POST", "/channels", q("endpoint", "Local/"+exten+"@hotline", "context", "agents", "extension", exten), nil)
	one = r["id"].(string)
	ev := ws.waitEvent(t, "StasisStart "+exten, func(ev map[string]any) bool {
		return ev["type"] == "StasisStart" && strings.HasPrefix(evChanName(ev), "Local/"+exten+"@hotline-")
	})
	two = evChanID(ev)
	rc.mustJSON(t, 204, "POST", "/channels/"+two+"/answer", nil, nil)
	return two, one
}

func TestBridgeMembership(t *testing.T) {
	s := startSim(t, Options{})
	rc := newREST(s)
	ws := dialEvents(t, s, "hotline")
	a, _ := stasisCaller(t, rc, ws, "100")
	b, _ := stasisCaller(t, rc, ws, "101")

	br := rc.mustJSON(t, 200, "POST", "/bridges", q("type", "mixing", "name", "call-1"), nil)
	bid := br["id"].(string)
	if br["technology"] != "simple_bridge" || br["bridge_class"] != "stasis" {
		t.Errorf("bridge %v", br)
	}
	rc.mustJSON(t, 204, "POST", "/bridges/"+bid+"/addChannel", q("channel", a+","+b), nil)
	ws.waitEvent(t, "entered a", evOn("ChannelEnteredBridge", a))
	ev := ws.waitEvent(t, "entered b", evOn("ChannelEnteredBridge", b))
	if chans := ev["bridge"].(map[string]any)["channels"].([]any); len(chans) != 2 {
		t.Errorf("bridge channels in event %v", chans)
	}
	got := rc.mustJSON(t, 200, "GET", "/bridges/"+bid, nil, nil)
	if chans := got["channels"].([]any); len(chans) != 2 {
		t.Errorf("GET bridge channels %v", chans)
	}
	if info, _ := s.Channel(a); info.Bridge != bid {
		t.Errorf("Channel(a).Bridge = %q", info.Bridge)
	}

	rc.mustJSON(t, 204, "DELETE", "/channels/"+b, nil, nil)
	left := ws.waitEvent(t, "left b", evOn("ChannelLeftBridge", b))
	if chans := left["bridge"].(map[string]any)["channels"].([]any); len(chans) != 1 || chans[0] != a {
		t.Errorf("after b left: %v", chans)
	}
	tests := []struct {
		name, method, path string
		query              url.Values
		status             int
		msg                string
	}{
		{"remove channel not in bridge", "POST", "/bridges/" + bid + "/removeChannel", q("channel", "nope"), 400, "Channel not found"},
		{"add to missing bridge", "POST", "/bridges/none/addChannel", q("channel", a), 404, "Bridge not found"},
		{"duplicate bridge id", "POST", "/bridges/" + bid, q("type", "mixing"), 409, "Bridge with id '" + bid + "' already exists"},
		{"bad bridge type", "POST", "/bridges", q("type", "weird"), 500, "Unable to create bridge. Possible duplicate bridge id '(null)'"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := rc.mustJSON(t, tc.status, tc.method, tc.path, tc.query, nil)
			if body["message"] != tc.msg {
				t.Errorf("message %v, want %q", body["message"], tc.msg)
			}
		})
	}
	rc.mustJSON(t, 204, "DELETE", "/bridges/"+bid, nil, nil)
	ws.waitEvent(t, "left a", evOn("ChannelLeftBridge", a))
	ws.waitEvent(t, "BridgeDestroyed", evType("BridgeDestroyed"))
	rc.mustJSON(t, 404, "DELETE", "/bridges/"+bid, nil, nil)
}

func TestPlayback(t *testing.T) {
	s := startSim(t, Options{})
	rc := newREST(s)
	ws := dialEvents(t, s, "hotline")
	c, _ := stasisCaller(t, rc, ws, "100")
	tests := []struct {
		name   string
		media  string
		states []string // playback events after the REST call, as type:state
	}{
		{"sound", "sound:hotline-beep", []string{"PlaybackStarted:playing", "PlaybackFinished:done"}},
		{"missing sound", "sound:no-such-sound-file", []string{"PlaybackStarted:playing", "PlaybackFinished:failed"}},
		{"two items", "sound:a,digits:12", []string{"PlaybackStarted:playing", "PlaybackContinuing:continuing", "PlaybackStarted:playing", "PlaybackFinished:done"}},
		{"missing item skipped", "sound:no-such,sound:b", []string{"PlaybackStarted:playing", "PlaybackContinuing:continuing", "PlaybackStarted:playing", "PlaybackFinished:done"}},
		{"bogus scheme never finishes", "bogus:thing", []string{"PlaybackStarted:playing"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pb := rc.mustJSON(t, 201, "POST", "/channels/"+c+"/play", q("media", tc.media, "lang", "uk"), nil)
			if pb["state"] != "queued" || pb["target_uri"] != "channel:"+c || pb["language"] != "uk" {
				t.Errorf("play answer %v", pb)
			}
			var got []string
			for _, ev := range ws.drain(150 * time.Millisecond) {
				p, ok := ev["playback"].(map[string]any)
				if ok && p["id"] == pb["id"] {
					got = append(got, ev["type"].(string)+":"+p["state"].(string))
				}
			}
			if !slices.Equal(got, tc.states) {
				t.Errorf("events %v, want %v", got, tc.states)
			}
		})
	}
	t.Run("tone until stopped", func(t *testing.T) {
		rc.mustJSON(t, 201, "POST", "/channels/"+c+"/play/tone-1", q("media", "tone:ring;tonezone=us"), nil)
		ws.waitEvent(t, "started", evType("PlaybackStarted"))
		if got := rc.mustJSON(t, 200, "GET", "/playbacks/tone-1", nil, nil); got["state"] != "playing" {
			t.Errorf("GET playback %v", got)
		}
		rc.mustJSON(t, 204, "DELETE", "/playbacks/tone-1", nil, nil)
		ev := ws.waitEvent(t, "finished", evType("PlaybackFinished"))
		if ev["playback"].(map[string]any)["state"] != "done" {
			t.Errorf("finished %v", ev["playback"])
		}
		rc.mustJSON(t, 404, "GET", "/playbacks/tone-1", nil, nil)
	})
}

func TestVariables(t *testing.T) {
	s := startSim(t, Options{})
	rc := newREST(s)
	ws := dialEvents(t, s, "hotline")
	rc.mustJSON(t, 200, "POST", "/channels", q("endpoint", "Local/100@agents", "app", "hotline", "channelId", "v1"),
		map[string]any{"variables": map[string]string{"CALLERID(name)": "Var Test", "HOTLINE_TICKET": "T-42"}})
	ws.waitEvent(t, "StasisStart", evOn("StasisStart", "v1"))
	rc.mustJSON(t, 204, "POST", "/channels/v1/variable", q("variable", "HOTLINE_QUEUE", "value", "connections"), nil)
	vs := ws.waitEvent(t, "ChannelVarset", func(ev map[string]any) bool {
		return ev["type"] == "ChannelVarset" && ev["variable"] == "HOTLINE_QUEUE"
	})
	if vs["value"] != "connections" {
		t.Errorf("varset %v", vs)
	}
	tests := []struct {
		variable string
		status   int
		want     string
	}{
		{"HOTLINE_TICKET", 200, "T-42"},
		{"HOTLINE_QUEUE", 200, "connections"},
		{"CALLERID(name)", 200, "Var Test"},
		{"CHANNEL(state)", 200, "Up"},
		{"NOT_SET_ANYWHERE", 404, "Provided variable was not found"},
		{"", 400, "Variable name is required"},
	}
	for _, tc := range tests {
		t.Run(tc.variable, func(t *testing.T) {
			var qs url.Values
			if tc.variable != "" {
				qs = q("variable", tc.variable)
			}
			body := rc.mustJSON(t, tc.status, "GET", "/channels/v1/variable", qs, nil)
			got := body["value"]
			if tc.status != 200 {
				got = body["message"]
			}
			if got != tc.want {
				t.Errorf("got %v, want %q", got, tc.want)
			}
		})
	}
	body := rc.mustJSON(t, 400, "DELETE", "/channels/v1", q("reason", "nonsense"), nil)
	if body["message"] != "Invalid reason for hangup reason provided" {
		t.Errorf("invalid reason: %v", body)
	}
	rc.mustJSON(t, 204, "DELETE", "/channels/v1", q("reason", "busy"), nil)
	d := ws.waitEvent(t, "destroyed", evOn("ChannelDestroyed", "v1"))
	if d["cause"] != float64(17) {
		t.Errorf("cause %v, want 17", d["cause"])
	}
}

func TestPhoneEndpoint(t *testing.T) {
	s := startSim(t, Options{})
	rc := newREST(s)
	hl := dialEvents(t, s, "hotline")
	ph := dialEvents(t, s, "phones")
	agent := rc.mustJSON(t, 200, "POST", "/channels", q("endpoint", "PJSIP/agent100", "app", "hotline",
		"appArgs", "agent,100", "formats", "ulaw"), nil)
	agentID := agent["id"].(string)
	if !strings.HasPrefix(agent["name"].(string), "PJSIP/agent100-") {
		t.Errorf("name %v", agent["name"])
	}
	phone := ph.waitEvent(t, "phone rings", evType("StasisStart"))
	if args := phone["args"].([]any); len(args) != 1 || args[0] != "agent100" {
		t.Errorf("phone args %v", args)
	}
	phoneID := evChanID(phone)
	hl.waitEvent(t, "Dial RINGING", func(ev map[string]any) bool { return ev["type"] == "Dial" && ev["dialstatus"] == "RINGING" })
	rc.mustJSON(t, 204, "POST", "/channels/"+phoneID+"/answer", nil, nil)
	st := hl.waitEvent(t, "agent in Stasis", evOn("StasisStart", agentID))
	if args := st["args"].([]any); len(args) != 2 || args[1] != "100" {
		t.Errorf("agent args %v", args)
	}
	rc.mustJSON(t, 204, "POST", "/channels/"+phoneID+"/dtmf", q("dtmf", "*2"), nil)
	for _, d := range []string{"*", "2"} {
		ev := hl.waitEvent(t, "dtmf", evOn("ChannelDtmfReceived", agentID))
		if ev["digit"] != d {
			t.Errorf("digit %v, want %s", ev["digit"], d)
		}
	}
	rc.mustJSON(t, 204, "DELETE", "/channels/"+phoneID, nil, nil)
	hl.waitEvent(t, "agent StasisEnd", evOn("StasisEnd", agentID))
	hl.waitEvent(t, "agent destroyed", evOn("ChannelDestroyed", agentID))

	if err := s.SetEndpointOnline("agent101", false); err != nil {
		t.Fatal(err)
	}
	body := rc.mustJSON(t, 500, "POST", "/channels", q("endpoint", "PJSIP/agent101", "app", "hotline"), nil)
	if body["error"] != "Allocation failed" {
		t.Errorf("offline endpoint: %v", body)
	}
	ep := rc.mustJSON(t, 200, "GET", "/endpoints/PJSIP/agent101", nil, nil)
	if ep["state"] != "offline" {
		t.Errorf("endpoint %v", ep)
	}
}

func TestCreateDialSnoop(t *testing.T) {
	s := startSim(t, Options{})
	rc := newREST(s)
	ws := dialEvents(t, s, "hotline")
	leg := rc.mustJSON(t, 200, "POST", "/channels/create", q("endpoint", "Local/200@agents", "app", "hotline",
		"appArgs", "agent,200", "channelId", "leg"), nil)
	if leg["state"] != "Down" {
		t.Errorf("created state %v", leg["state"])
	}
	ws.waitEvent(t, "StasisStart", evOn("StasisStart", "leg"))
	rc.mustJSON(t, 204, "POST", "/channels/leg/dial", q("timeout", "10"), nil)
	ans := ws.waitEvent(t, "Dial ANSWER", func(ev map[string]any) bool { return ev["type"] == "Dial" && ev["dialstatus"] == "ANSWER" })
	if ans["dialstring"] != "" {
		t.Errorf("dialstring %v", ans["dialstring"])
	}
	body := rc.mustJSON(t, 409, "POST", "/channels/leg/dial", nil, nil)
	if body["message"] != "Channel is not in the 'Down' state" {
		t.Errorf("second dial %v", body)
	}
	sn := rc.mustJSON(t, 200, "POST", "/channels/leg/snoop", q("app", "hotline", "appArgs", "whisper",
		"snoopId", "w1", "spy", "none", "whisper", "out"), nil)
	if !strings.HasPrefix(sn["name"].(string), "Snoop/leg-") {
		t.Errorf("snoop name %v", sn["name"])
	}
	ws.waitEvent(t, "snoop StasisStart", evOn("StasisStart", "w1"))
	rc.mustJSON(t, 204, "DELETE", "/channels/leg", nil, nil)
	ws.waitEvent(t, "snoop ends with its channel", evOn("StasisEnd", "w1"))
	ws.waitEvent(t, "leg destroyed", evOn("ChannelDestroyed", "leg"))
	if n := s.Stats().Channels; n != 0 {
		t.Errorf("%d channels left", n)
	}
}

func TestWebsocketReplacement(t *testing.T) {
	s := startSim(t, Options{})
	rc := newREST(s)
	old := dialEvents(t, s, "hotline")
	// Wait until the second connection owns the app: the replacement notice
	// reaches the old one.
	fresh := dialEvents(t, s, "hotline")
	ev := old.waitEvent(t, "ApplicationReplaced", evType("ApplicationReplaced"))
	if ev["application"] != "hotline" {
		t.Errorf("replaced %v", ev)
	}
	stasisCaller(t, rc, fresh, "100")
	for _, ev := range old.drain(50 * time.Millisecond) {
		t.Errorf("old connection still got %s", evSummary(ev))
	}
}

func TestDropWebsockets(t *testing.T) {
	s := startSim(t, Options{})
	rc := newREST(s)
	ws := dialEvents(t, s, "hotline")
	s.DropWebsockets()
	select {
	case <-ws.closed:
	case <-time.After(3 * time.Second):
		t.Fatal("websocket not closed")
	}
	deadline := time.Now().Add(3 * time.Second)
	for s.Stats().Websockets != 0 {
		if time.Now().After(deadline) {
			t.Fatal("connection not unregistered")
		}
		time.Sleep(time.Millisecond)
	}
	// While disconnected, Stasis() into the app fails and the call goes
	// to the deployment's fallback: its dial fails too (no phones
	// application), the caller hears hotline-unavailable and is hung up.
	rc.mustJSON(t, 200, "POST", "/channels", q("endpoint", "Local/100@hotline", "context", "agents", "extension", "100"), nil)
	deadline = time.Now().Add(3 * time.Second)
	for s.Stats().Channels != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d channels survive a Stasis() into a missing app", s.Stats().Channels)
		}
		time.Sleep(time.Millisecond)
	}
	ws2 := dialEvents(t, s, "hotline")
	stasisCaller(t, rc, ws2, "100")
}

func TestAuth(t *testing.T) {
	s := startSim(t, Options{})
	tests := []struct {
		name   string
		user   string
		pass   string
		apiKey string
		status int
	}{
		{"basic", testUser, testPass, "", 200},
		{"api key", "", "", testUser + ":" + testPass, 200},
		{"wrong password", testUser, "wrong", "", 401},
		{"wrong api key", "", "", testUser + ":nope", 401},
		{"none", "", "", "", 401},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rc := newREST(s)
			rc.user, rc.pass = tc.user, tc.pass
			var qs url.Values
			if tc.apiKey != "" {
				qs = q("api_key", tc.apiKey)
			}
			body := rc.mustJSON(t, tc.status, "GET", "/asterisk/info", qs, nil)
			if tc.status == 401 && body["message"] != "Authentication required" {
				t.Errorf("401 body %v", body)
			}
		})
	}
	t.Run("websocket", func(t *testing.T) {
		u := strings.Replace(s.URL(), "http://", "ws://", 1) + "/events?app=hotline"
		req, _ := http.NewRequestWithContext(context.Background(), "GET", strings.Replace(u, "ws://", "http://", 1), nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Errorf("events without credentials: %d", resp.StatusCode)
		}
	})
	t.Run("unknown resource", func(t *testing.T) {
		body := newREST(s).mustJSON(t, 404, "GET", "/no-such-resource", nil, nil)
		if body["message"] != "Resource not found" {
			t.Errorf("body %v", body)
		}
	})
}

// TestPlayLostLeavingBridge checks the fault knob that models a real
// Asterisk losing a play sent while the channel leaves a deleted bridge
// (probe play-after-bridge-delete): accepted, never reported, and only the
// first play after the bridge's end.
func TestPlayLostLeavingBridge(t *testing.T) {
	for _, lose := range []bool{false, true} {
		t.Run(fmt.Sprint("lose=", lose), func(t *testing.T) {
			s := startSim(t, Options{LosePlayAfterBridgeDestroy: lose})
			rc := newREST(s)
			ws := dialEvents(t, s, "hotline")
			c, _ := stasisCaller(t, rc, ws, "100")
			br := rc.mustJSON(t, 200, "POST", "/bridges", q("bridgeId", "br"), nil)
			rc.mustJSON(t, 204, "POST", "/bridges/"+br["id"].(string)+"/addChannel", q("channel", c), nil)
			rc.mustJSON(t, 204, "DELETE", "/bridges/br", nil, nil)
			rc.mustJSON(t, 201, "POST", "/channels/"+c+"/play/first", q("media", "sound:beep"), nil)
			rc.mustJSON(t, 201, "POST", "/channels/"+c+"/play/second", q("media", "sound:beep"), nil)
			// The second play always reports; the first before it, unless lost.
			var got []string
			for {
				ev := ws.waitEvent(t, "PlaybackFinished second", evType("PlaybackFinished"))
				id := ev["playback"].(map[string]any)["id"].(string)
				got = append(got, id)
				if id == "second" {
					break
				}
			}
			want := []string{"first", "second"}
			if lose {
				want = []string{"second"}
			}
			if !slices.Equal(got, want) {
				t.Errorf("finished %v, want %v", got, want)
			}
			if st, _ := rc.do(t, "GET", "/playbacks/first", nil, nil); st != 404 {
				t.Errorf("GET lost playback: %d, want 404", st)
			}
		})
	}
}

// TestNativeRTPBridge holds the simulator to what two SIP phones showed on
// a real Asterisk 22.10.1 (not part of the conformance probes, which have
// no SIP phone): a mixing bridge of two PJSIP channels goes native_rtp and
// raises no DTMF event, the digit reaching the other phone whatever
// absorbDTMF says; mixing,dtmf_events stays simple_bridge, raises the
// event, and absorbDTMF then keeps the digit from the other phone.
func TestNativeRTPBridge(t *testing.T) {
	tests := []struct {
		typ            string
		absorb         bool
		tech           string
		event, crosses bool
	}{
		{"mixing", false, "native_rtp", false, true},
		{"mixing", true, "native_rtp", false, true},
		{"mixing,dtmf_events", false, "simple_bridge", true, true},
		{"mixing,dtmf_events", true, "simple_bridge", true, false},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s absorb=%v", tc.typ, tc.absorb), func(t *testing.T) {
			s := startSim(t, Options{})
			rc := newREST(s)
			hl := dialEvents(t, s, "hotline")
			ph := dialEvents(t, s, "phones")
			var legs, phonesIDs []string
			for _, ep := range []string{"agent100", "agent101"} {
				ch := rc.mustJSON(t, 200, "POST", "/channels", q("endpoint", "PJSIP/"+ep, "app", "hotline", "channelId", ep), nil)
				phone := ph.waitEvent(t, "phone "+ep, evType("StasisStart"))
				rc.mustJSON(t, 204, "POST", "/channels/"+evChanID(phone)+"/answer", nil, nil)
				hl.waitEvent(t, "StasisStart "+ep, evOn("StasisStart", ch["id"].(string)))
				legs, phonesIDs = append(legs, ep), append(phonesIDs, evChanID(phone))
			}
			rc.mustJSON(t, 200, "POST", "/bridges", q("type", tc.typ, "bridgeId", "br"), nil)
			add := q("channel", legs[0])
			if tc.absorb {
				add.Set("absorbDTMF", "true")
			}
			rc.mustJSON(t, 204, "POST", "/bridges/br/addChannel", add, nil)
			rc.mustJSON(t, 204, "POST", "/bridges/br/addChannel", q("channel", legs[1]), nil)
			if b := rc.mustJSON(t, 200, "GET", "/bridges/br", nil, nil); b["technology"] != tc.tech {
				t.Errorf("technology %v, want %s", b["technology"], tc.tech)
			}
			// The first phone presses 5: its PJSIP channel reads it.
			rc.mustJSON(t, 204, "POST", "/channels/"+phonesIDs[0]+"/dtmf", q("dtmf", "5"), nil)
			// A user event to each application marks the end of what the
			// digit caused.
			rc.mustJSON(t, 204, "POST", "/events/user/done", q("application", "hotline"), nil)
			rc.mustJSON(t, 204, "POST", "/events/user/done", q("application", "phones"), nil)
			until := func(ws *wsClient) []map[string]any {
				var out []map[string]any
				for {
					ev := ws.waitEvent(t, "user event", func(map[string]any) bool { return true })
					if ev["type"] == "ChannelUserevent" {
						return out
					}
					out = append(out, ev)
				}
			}
			event, crosses := false, false
			for _, ev := range until(hl) {
				if ev["type"] == "ChannelDtmfReceived" && evChanID(ev) == legs[0] {
					event = true
				}
			}
			for _, ev := range until(ph) {
				if ev["type"] == "ChannelDtmfReceived" && evChanID(ev) == phonesIDs[1] {
					crosses = true
				}
			}
			if event != tc.event || crosses != tc.crosses {
				t.Errorf("DTMF event on the bridged channel %v (want %v), reached the other phone %v (want %v)", event, tc.event, crosses, tc.crosses)
			}
		})
	}
}
