package ari

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"net/url"
	"os"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/hotline-project/hotline/callflow"
)

// TestTranslate: Asterisk's events as the call flow gets them, and the
// ones it never sees.
func TestTranslate(t *testing.T) {
	tel := NewTelephony(nil)
	ch := `"channel":{"id":"c1","name":"Local/100@hotline-00000001;2","caller":{"number":"5551234"},"language":"uk","creationtime":"2026-12-01T10:00:00.000+0000"}`
	tests := []struct {
		name string
		json string
		want callflow.Event
		ok   bool
	}{
		{"a caller enters", `{"type":"StasisStart","args":["100"],` + ch + `}`,
			callflow.Event{Kind: callflow.Entered, Channel: "c1", Args: []string{"100"}, Name: "Local/100@hotline-00000001;2", CallerNumber: "5551234", Language: "uk"}, true},
		{"leaves", `{"type":"StasisEnd",` + ch + `}`, callflow.Event{Kind: callflow.Left, Channel: "c1"}, true},
		{"hangup requested", `{"type":"ChannelHangupRequest","cause":16,` + ch + `}`, callflow.Event{Kind: callflow.HangupRequested, Channel: "c1"}, true},
		{"destroyed", `{"type":"ChannelDestroyed","cause":16,"cause_txt":"Normal Clearing",` + ch + `}`,
			callflow.Event{Kind: callflow.Destroyed, Channel: "c1", Reason: "Normal Clearing"}, true},
		{"a digit", `{"type":"ChannelDtmfReceived","digit":"5","duration_ms":100,` + ch + `}`,
			callflow.Event{Kind: callflow.DigitPressed, Channel: "c1", Digit: "5"}, true},
		{"playback started", `{"type":"PlaybackStarted","playback":{"id":"pb1","media_uri":"sound:hotline-closed","target_uri":"channel:c1","state":"playing"}}`,
			callflow.Event{Kind: callflow.PlaybackStarted, Playback: "pb1", Media: "sound:hotline-closed"}, true},
		{"playback done", `{"type":"PlaybackFinished","playback":{"id":"pb1","media_uri":"sound:hotline-closed","target_uri":"channel:c1","state":"done"}}`,
			callflow.Event{Kind: callflow.PlaybackFinished, Playback: "pb1", Media: "sound:hotline-closed"}, true},
		{"a missing sound", `{"type":"PlaybackFinished","playback":{"id":"pb1","media_uri":"sound:nope","target_uri":"channel:c1","state":"failed"}}`,
			callflow.Event{Kind: callflow.PlaybackFinished, Playback: "pb1", Media: "sound:nope", Failed: true, Reason: "Asterisk could not play it (a missing sound?)"}, true},
		{"dial answered", `{"type":"Dial","dialstatus":"ANSWER","peer":{"id":"leg1","name":"Local/301@phones-00000002;1","creationtime":"2026-12-01T10:00:00.000+0000"}}`,
			callflow.Event{Kind: callflow.Dialled, Channel: "leg1", Dial: callflow.DialAnswered}, true},
		{"rang out", `{"type":"Dial","dialstatus":"NOANSWER","peer":{"id":"leg1","creationtime":"2026-12-01T10:00:00.000+0000"}}`,
			callflow.Event{Kind: callflow.Dialled, Channel: "leg1", Dial: callflow.DialNoAnswer}, true},
		{"busy", `{"type":"Dial","dialstatus":"BUSY","peer":{"id":"leg1","creationtime":"2026-12-01T10:00:00.000+0000"}}`,
			callflow.Event{Kind: callflow.Dialled, Channel: "leg1", Dial: callflow.DialBusy}, true},
		{"congested", `{"type":"Dial","dialstatus":"CONGESTION","peer":{"id":"leg1","creationtime":"2026-12-01T10:00:00.000+0000"}}`,
			callflow.Event{Kind: callflow.Dialled, Channel: "leg1", Dial: callflow.DialBusy}, true},
		{"still dialling", `{"type":"Dial","dialstatus":"","peer":{"id":"leg1","creationtime":"2026-12-01T10:00:00.000+0000"}}`, callflow.Event{}, false},
		{"ringing", `{"type":"Dial","dialstatus":"RINGING","peer":{"id":"leg1","creationtime":"2026-12-01T10:00:00.000+0000"}}`, callflow.Event{}, false},
		{"joins a bridge", `{"type":"ChannelEnteredBridge","bridge":{"id":"b1","technology":"simple_bridge","bridge_type":"mixing","channels":["c1"]},` + ch + `}`,
			callflow.Event{Kind: callflow.JoinedBridge, Channel: "c1", Bridge: "b1"}, true},
		{"leaves a bridge", `{"type":"ChannelLeftBridge","bridge":{"id":"b1","technology":"simple_bridge","bridge_type":"mixing","channels":[]},` + ch + `}`,
			callflow.Event{Kind: callflow.LeftBridge, Channel: "c1", Bridge: "b1"}, true},
		{"a blind REFER", `{"type":"ChannelTransfer","refer_to":{"requested_destination":{"destination":"302"}},"referred_by":{"source_channel":{"id":"leg1","creationtime":"2026-12-01T10:00:00.000+0000"}}}`,
			callflow.Event{Kind: callflow.TransferRequested, Channel: "leg1", Transfer: &callflow.PhoneTransfer{Destination: "302", Source: "leg1"}}, true},
		{"an attended REFER", `{"type":"ChannelTransfer","refer_to":{"requested_destination":{"protocol_id":"abc@host","destination":"302"}},"referred_by":{"source_channel":{"id":"leg1","creationtime":"2026-12-01T10:00:00.000+0000"}}}`,
			callflow.Event{Kind: callflow.TransferRequested, Channel: "leg1", Transfer: &callflow.PhoneTransfer{Destination: "302", Source: "leg1", Attended: true}}, true},
		{"the echo of our progress", `{"type":"ChannelTransfer","state":"channel_declined","refer_to":{"requested_destination":{"destination":"302"}},"referred_by":{"source_channel":{"id":"leg1","creationtime":"2026-12-01T10:00:00.000+0000"}}}`,
			callflow.Event{}, false},
		{"a variable set", `{"type":"ChannelVarset","variable":"X","value":"1",` + ch + `}`, callflow.Event{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := DecodeEvent([]byte(tt.json))
			if err != nil {
				t.Fatal(err)
			}
			got, ok := tel.Translate(ev)
			if ok != tt.ok {
				t.Fatalf("ok %v, want %v (%+v)", ok, tt.ok, got)
			}
			if ok && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// TestTranslateRecorded: every event recorded from the real Asterisk
// translates (or is dropped) without trouble, the kinds the call flow
// lives on are among them, and TranslatedEvents (the filter the daemon
// asks Asterisk for) names exactly the types that translate.
func TestTranslateRecorded(t *testing.T) {
	tel := NewTelephony(nil)
	kinds := map[callflow.EventKind]int{}
	passed := map[string]bool{}
	for _, name := range []string{"testdata/events.jsonl", "testdata/recorded.jsonl"} {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<22)
		for sc.Scan() {
			ev, err := DecodeEvent(sc.Bytes())
			if err != nil {
				continue // unknown types are the reader's business
			}
			if got, ok := tel.Translate(ev); ok {
				if got.Kind == 0 {
					t.Errorf("%s translated without a kind", ev.Type)
				}
				kinds[got.Kind]++
				passed[ev.Type] = true
			}
		}
		f.Close()
		if err := sc.Err(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	filter := TranslatedEvents()
	for typ := range passed {
		if !slices.Contains(filter, typ) {
			t.Errorf("%s translates but is not in TranslatedEvents: Asterisk would be asked not to send it", typ)
		}
	}
	for _, typ := range filter {
		if !passed[typ] {
			t.Errorf("TranslatedEvents names %s, which no recorded event of translates", typ)
		}
	}
	for _, k := range []callflow.EventKind{callflow.Entered, callflow.Left, callflow.HangupRequested, callflow.Destroyed, callflow.DigitPressed,
		callflow.PlaybackStarted, callflow.PlaybackFinished, callflow.Dialled, callflow.JoinedBridge, callflow.LeftBridge, callflow.TransferRequested} {
		if kinds[k] == 0 {
			t.Errorf("no recorded event translates to kind %d", k)
		}
	}
}

// TestTelephonyRequests: what the adapter asks of Asterisk for the call
// flow's requests.
func TestTelephonyRequests(t *testing.T) {
	fake := &fakeREST{}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	c, _ := newTestClient(t, srv.URL, nil)
	tel := NewTelephony(c)
	ctx := context.Background()
	tests := []struct {
		name   string
		call   func() error
		method string
		path   string
		query  url.Values
		body   string
	}{
		// ulaw (no slin192 resampling of hold music), no originator
		// (refused together with formats), transfers intercepted on a
		// PJSIP phone.
		{"agent leg on a phone", func() error {
			return tel.Originate(ctx, callflow.OriginateRequest{ChannelID: "leg1", Endpoint: "PJSIP/301", App: "hotline",
				AppArgs: []string{"agent", "c1", "301"}, CallerID: "5551234", Timeout: 20 * time.Second, InterceptTransfers: true})
		}, "POST", "/ari/channels", q("endpoint", "PJSIP/301", "app", "hotline", "appArgs", "agent,c1,301", "channelId", "leg1",
			"formats", "ulaw", "callerId", "5551234", "timeout", "20"), `{"variables":{"PJSIP_TRANSFER_HANDLING()":"ari-only"}}`},
		{"agent leg on a Local channel", func() error {
			return tel.Originate(ctx, callflow.OriginateRequest{ChannelID: "leg1", Endpoint: "Local/301@phones", App: "hotline", InterceptTransfers: true})
		}, "POST", "/ari/channels", q("endpoint", "Local/301@phones", "app", "hotline", "channelId", "leg1", "formats", "ulaw"), ""},
		{"conversation bridge", func() error { return tel.CreateConversation(ctx, "b1", "hotline-c1") },
			"POST", "/ari/bridges/b1", q("type", "mixing,dtmf_events", "name", "hotline-c1"), ""},
		{"join absorbs digits", func() error { return tel.Join(ctx, "b1", "c1", "leg1") },
			"POST", "/ari/bridges/b1/addChannel", q("channel", "c1,leg1", "absorbDTMF", "true"), ""},
		{"unjoin", func() error { return tel.Unjoin(ctx, "b1", "c1") },
			"POST", "/ari/bridges/b1/removeChannel", q("channel", "c1"), ""},
		{"hang up", func() error { return tel.Hangup(ctx, "c1", callflow.HangupNormal) },
			"DELETE", "/ari/channels/c1", q("reason", "normal"), ""},
		{"refuse a call", func() error { return tel.Hangup(ctx, "c1", callflow.HangupCongestion) },
			"DELETE", "/ari/channels/c1", q("reason", "congestion"), ""},
		{"whisper", func() error { return tel.Whisper(ctx, "c1", "w1", "hotline", []string{"snoop", "c1"}) },
			"POST", "/ari/channels/c1/snoop", q("app", "hotline", "appArgs", "snoop,c1", "snoopId", "w1", "spy", "none", "whisper", "out"), ""},
		{"transfer refused", func() error { return tel.ReportTransfer(ctx, "leg1", callflow.TransferRefused) },
			"POST", "/ari/channels/leg1/transfer_progress", q("states", "channel_declined"), ""},
		{"transfer done", func() error { return tel.ReportTransfer(ctx, "leg1", callflow.TransferDone) },
			"POST", "/ari/channels/leg1/transfer_progress", q("states", "channel_answered"), ""},
		{"move", func() error { return tel.Move(ctx, "c1", "hotline-b", []string{"adopt"}) },
			"POST", "/ari/channels/c1/move", q("app", "hotline-b", "appArgs", "adopt"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake.reply(204, "")
			if tt.method == "POST" && tt.path == "/ari/channels" {
				fake.reply(200, recordedChannel)
			}
			if tt.path == "/ari/bridges/b1" {
				fake.reply(200, recordedBridge)
			}
			if tt.path == "/ari/channels/c1/snoop" {
				fake.reply(200, recordedChannel)
			}
			if err := tt.call(); err != nil {
				t.Fatal(err)
			}
			got := fake.last(t)
			if got.method != tt.method || got.path != tt.path || !reflect.DeepEqual(got.query, tt.query) {
				t.Errorf("%s %s %v, want %s %s %v", got.method, got.path, got.query, tt.method, tt.path, tt.query)
			}
			if tt.body != "" && !jsonEqual(got.body, tt.body) {
				t.Errorf("body %s, want %s", got.body, tt.body)
			}
		})
	}
	t.Run("hand back", func(t *testing.T) {
		fake.reply(204, "")
		if err := tel.HandBack(ctx, "c1", map[string]string{"HOTLINE_RESULT": "unavailable"}); err != nil {
			t.Fatal(err)
		}
		fake.mu.Lock()
		defer fake.mu.Unlock()
		var paths []string
		for _, s := range fake.got {
			paths = append(paths, s.method+" "+s.path+" "+s.query.Encode())
		}
		want := []string{"POST /ari/channels/c1/variable value=unavailable&variable=HOTLINE_RESULT", "POST /ari/channels/c1/continue "}
		if !slices.Equal(paths, want) {
			t.Errorf("requests %q, want %q", paths, want)
		}
	})
	t.Run("a refused originate", func(t *testing.T) {
		fake.reply(500, `{"message":"Allocation failed"}`)
		err := tel.Originate(ctx, callflow.OriginateRequest{ChannelID: "leg1", Endpoint: "PJSIP/103", App: "hotline"})
		if !errors.Is(err, callflow.ErrDialRefused) {
			t.Errorf("error %v does not say Asterisk refused", err)
		}
	})
}

// TestReportTransferWaitsAfterRefer: Asterisk 22.10 crashes on a
// transfer_progress that overtakes its own bookkeeping of the REFER: the
// adapter answers no sooner than referSettle after the request arrived.
func TestReportTransferWaitsAfterRefer(t *testing.T) {
	fake := &fakeREST{}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	c, _ := newTestClient(t, srv.URL, nil)
	tel := NewTelephony(c)
	ev, err := DecodeEvent([]byte(`{"type":"ChannelTransfer","refer_to":{"requested_destination":{"destination":"302"}},"referred_by":{"source_channel":{"id":"leg1","creationtime":"2026-12-01T10:00:00.000+0000"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, ok := tel.Translate(ev); !ok {
		t.Fatal("REFER not translated")
	}
	fake.reply(204, "")
	if err := tel.ReportTransfer(context.Background(), "leg1", callflow.TransferRefused); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < referSettle {
		t.Errorf("answered %v after the REFER, want at least %v", d, referSettle)
	}
}

// jsonEqual compares two JSON texts structurally.
func jsonEqual(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}
