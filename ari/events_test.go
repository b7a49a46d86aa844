package ari

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// readLines returns the non-empty lines of a file.
func readLines(t testing.TB, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, l := range bytes.Split(b, []byte("\n")) {
		if len(bytes.TrimSpace(l)) > 0 {
			out = append(out, l)
		}
	}
	return out
}

// testdata/events.jsonl holds events copied verbatim from the recorded
// transcripts, one per line, in the order the cases below name them.
func TestDecodeEventRecorded(t *testing.T) {
	lines := readLines(t, "testdata/events.jsonl")
	ts := func(s string) time.Time {
		v, err := time.Parse("2006-01-02T15:04:05.000-0700", s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		name  string
		line  int
		check func(t *testing.T, ev Event)
	}{
		{"StasisStart carries args and caller", 0, func(t *testing.T, ev Event) {
			want := Channel{ID: "1795305073.1", Name: "Local/100@hotline-00000000;2", State: "Ring",
				CallerNumber: "5551234", CallerName: "Test Caller", Context: "hotline", Exten: "100",
				Language: "en", Created: ts("2026-11-21T23:51:13.543+0000")}
			if ev.Channel == nil || !equalChannel(*ev.Channel, want) {
				t.Errorf("channel = %+v, want %+v", ev.Channel, want)
			}
			if strings.Join(ev.Args, ",") != "100" {
				t.Errorf("args = %q", ev.Args)
			}
			if !ev.Timestamp.Equal(ts("2026-11-21T23:51:13.546+0000")) || ev.Application != "hotline" {
				t.Errorf("timestamp/application = %v %q", ev.Timestamp, ev.Application)
			}
		}},
		{"Dial of an originate has a peer and no caller", 1, func(t *testing.T, ev Event) {
			if ev.Channel != nil || ev.Peer == nil || ev.Peer.ID != "1795305377.1" || ev.DialStatus != "" {
				t.Errorf("got channel %+v peer %+v status %q", ev.Channel, ev.Peer, ev.DialStatus)
			}
		}},
		{"Dial status", 2, func(t *testing.T, ev Event) {
			if ev.DialStatus != "RINGING" {
				t.Errorf("dial status %q", ev.DialStatus)
			}
		}},
		{"DTMF digit and duration", 3, func(t *testing.T, ev Event) {
			if ev.Channel.ID != "1795305180.20" || ev.Digit != "2" || ev.DurationMS != 200 {
				t.Errorf("got %s %q %d", ev.Channel.ID, ev.Digit, ev.DurationMS)
			}
		}},
		{"ChannelDestroyed cause", 4, func(t *testing.T, ev Event) {
			if ev.Cause != 19 || ev.CauseText != "User alerting, no answer" {
				t.Errorf("cause %d %q", ev.Cause, ev.CauseText)
			}
		}},
		{"PlaybackFinished failed", 5, func(t *testing.T, ev Event) {
			want := Playback{ID: "d8f3509d-0b7c-4817-88c1-70d17346b349", MediaURI: "sound:no-such-sound-file",
				TargetURI: "channel:hotline-test-chan-1", Language: "en", State: "failed"}
			if ev.Playback == nil || *ev.Playback != want {
				t.Errorf("playback %+v", ev.Playback)
			}
		}},
		{"ChannelEnteredBridge", 6, func(t *testing.T, ev Event) {
			if ev.Channel.ID != "1795305084.5" || ev.Bridge.ID != "f16ec152-2e8d-4438-aeb7-e7c761fa55c0" ||
				ev.Bridge.Type != "mixing" || strings.Join(ev.Bridge.Channels, ",") != "1795305084.5" {
				t.Errorf("got %+v %+v", ev.Channel, ev.Bridge)
			}
		}},
		{"BridgeDestroyed", 7, func(t *testing.T, ev Event) {
			if ev.Bridge.ID != "f16ec152-2e8d-4438-aeb7-e7c761fa55c0" || len(ev.Bridge.Channels) != 0 {
				t.Errorf("bridge %+v", ev.Bridge)
			}
		}},
		{"ChannelVarset", 8, func(t *testing.T, ev Event) {
			if ev.Channel.ID != "1795305189.22" || ev.Variable != "BRIDGEPEER" || ev.Value != "PJSIP/caller1-00000001" {
				t.Errorf("got %s %q=%q", ev.Channel.ID, ev.Variable, ev.Value)
			}
		}},
		{"ChannelTransfer blind", 9, func(t *testing.T, ev Event) {
			want := Transfer{Destination: "200", SourceChannel: "1795305189.22", ConnectedChannel: "1795305189.21",
				BridgeID: "9521989e-bcaf-4274-825e-1af185c18300"}
			if ev.Transfer == nil || *ev.Transfer != want {
				t.Errorf("transfer %+v, want %+v", ev.Transfer, want)
			}
			if ev.Channel == nil || ev.Channel.ID != "1795305189.22" {
				t.Errorf("channel %+v, want the referring channel", ev.Channel)
			}
		}},
		{"ChannelTransfer attended", 10, func(t *testing.T, ev Event) {
			want := Transfer{Destination: "101", ProtocolID: "a67e3f67ba39adf7d62c@hotline-rec",
				DestinationChannel: "1795305194.25", SourceChannel: "1795305194.24",
				ConnectedChannel: "1795305194.23", BridgeID: "af25bb4c-0ed1-4034-81a9-795b4cb1807e"}
			if ev.Transfer == nil || *ev.Transfer != want {
				t.Errorf("transfer %+v, want %+v", ev.Transfer, want)
			}
		}},
		{"ChannelTransfer outside a bridge, with state", 11, func(t *testing.T, ev Event) {
			want := Transfer{State: "channel_declined", Destination: "300", SourceChannel: "1795305199.26"}
			if ev.Transfer == nil || *ev.Transfer != want {
				t.Errorf("transfer %+v, want %+v", ev.Transfer, want)
			}
		}},
		{"StasisEnd", 12, func(t *testing.T, ev Event) {
			if ev.Channel.ID != "1795305084.8" {
				t.Errorf("channel %+v", ev.Channel)
			}
		}},
	}
	if len(tests) != len(lines) {
		t.Fatalf("%d cases for %d lines", len(tests), len(lines))
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := DecodeEvent(lines[tt.line])
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			var head struct{ Type string }
			_ = json.Unmarshal(lines[tt.line], &head)
			if ev.Type != head.Type || !bytes.Equal(ev.Raw, lines[tt.line]) {
				t.Errorf("type %q raw kept %v", ev.Type, bytes.Equal(ev.Raw, lines[tt.line]))
			}
			tt.check(t, ev)
		})
	}
}

func equalChannel(a, b Channel) bool {
	ac, bc := a.Created, b.Created
	a.Created, b.Created = time.Time{}, time.Time{}
	return a == b && ac.Equal(bc)
}

// TestDecodeEventTranscripts decodes every recorded event of every
// transcript: none may fail, and the ChannelTransfer events of files 06–08
// must yield their transfer.
func TestDecodeEventTranscripts(t *testing.T) {
	dir := filepath.Join("..", "..", "shared", "ari-transcripts")
	files, _ := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	if len(files) == 0 {
		t.Skipf("no recorded transcripts in %s (the shared folder beside the repository); testdata/ covers the core cases", dir)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			fh, err := os.Open(f)
			if err != nil {
				t.Fatal(err)
			}
			defer fh.Close()
			sc := bufio.NewScanner(fh)
			sc.Buffer(nil, 1<<20)
			transfers := 0
			for n := 1; sc.Scan(); n++ {
				var line struct {
					Kind  string          `json:"kind"`
					Event json.RawMessage `json:"event"`
				}
				if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
					t.Fatalf("line %d: %v", n, err)
				}
				if line.Kind != "event" {
					continue
				}
				ev, err := DecodeEvent(line.Event)
				if err != nil {
					t.Errorf("line %d: %v", n, err)
					continue
				}
				if ev.Type == "ChannelTransfer" {
					transfers++
					tr := ev.Transfer
					if tr.Destination == "" || tr.SourceChannel == "" || ev.Channel == nil {
						t.Errorf("line %d: incomplete transfer %+v", n, tr)
					}
					if strings.HasPrefix(filepath.Base(f), "07") && (tr.ProtocolID == "" || tr.DestinationChannel == "") {
						t.Errorf("line %d: attended transfer without protocol id or destination channel: %+v", n, tr)
					}
				}
			}
			if err := sc.Err(); err != nil {
				t.Fatal(err)
			}
			base := filepath.Base(f)
			if (strings.HasPrefix(base, "06") || strings.HasPrefix(base, "07") || strings.HasPrefix(base, "08")) && transfers == 0 {
				t.Error("no ChannelTransfer event decoded")
			}
		})
	}
}

func TestDecodeEventRejects(t *testing.T) {
	// testdata/unknown.jsonl: types Asterisk 22 sends that the hotline does
	// not handle (ARI-NOTES), written by hand in the recorded format.
	for i, line := range readLines(t, "testdata/unknown.jsonl") {
		ev, err := DecodeEvent(line)
		if !errors.Is(err, ErrUnknownEvent) || ev.Type == "" {
			t.Errorf("unknown.jsonl line %d: type %q err %v, want ErrUnknownEvent", i+1, ev.Type, err)
		}
	}
	tests := []struct {
		name, msg string
		want      error
	}{
		{"not json", `{"type":`, ErrMalformedEvent},
		{"not an object", `[1,2]`, ErrMalformedEvent},
		{"no type", `{"application":"hotline"}`, ErrMalformedEvent},
		{"type of wrong kind", `{"type":5}`, ErrMalformedEvent},
		{"StasisStart without channel", `{"type":"StasisStart","args":[]}`, ErrMalformedEvent},
		{"channel without id", `{"type":"StasisEnd","channel":{"name":"x"}}`, ErrMalformedEvent},
		{"bad timestamp", `{"type":"StasisEnd","timestamp":"yesterday","channel":{"id":"1"}}`, ErrMalformedEvent},
		{"bad creationtime", `{"type":"StasisEnd","channel":{"id":"1","creationtime":"soon"}}`, ErrMalformedEvent},
		{"bridge event without bridge", `{"type":"ChannelEnteredBridge","channel":{"id":"1"}}`, ErrMalformedEvent},
		{"playback event without playback", `{"type":"PlaybackStarted"}`, ErrMalformedEvent},
		{"Dial without peer", `{"type":"Dial","dialstatus":"BUSY"}`, ErrMalformedEvent},
		{"ChannelTransfer without source", `{"type":"ChannelTransfer","refer_to":{"requested_destination":{"destination":"200"}}}`, ErrMalformedEvent},
		{"unknown type", `{"type":"SomethingNew","channel":{"id":"1"}}`, ErrUnknownEvent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeEvent([]byte(tt.msg))
			if !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestDecodeEventAccepts(t *testing.T) {
	tests := []struct {
		name, msg string
		check     func(Event) bool
	}{
		{"global ChannelVarset has no channel", `{"type":"ChannelVarset","variable":"G","value":"1","timestamp":"2026-11-21T23:53:09.242+0000"}`,
			func(ev Event) bool { return ev.Channel == nil && ev.Variable == "G" }},
		{"ApplicationReplaced", `{"type":"ApplicationReplaced","application":"hotline","timestamp":"2026-11-21T23:53:09+0000"}`,
			func(ev Event) bool { return ev.Application == "hotline" && ev.Timestamp.Second() == 9 }},
		{"RFC 3339 time", `{"type":"StasisEnd","timestamp":"2026-11-21T23:53:09.5Z","channel":{"id":"1"}}`,
			func(ev Event) bool { return ev.Timestamp.Nanosecond() == 5e8 }},
		{"extra fields ignored", `{"type":"StasisEnd","new_field":{"a":[1]},"channel":{"id":"1","new":true}}`,
			func(ev Event) bool { return ev.Channel.ID == "1" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := DecodeEvent([]byte(tt.msg))
			if err != nil || !tt.check(ev) {
				t.Errorf("got %+v, %v", ev, err)
			}
		})
	}
}

// FuzzDecodeEvent checks that no input panics and that a decoded event
// always has the fields its type promises.
func FuzzDecodeEvent(f *testing.F) {
	for _, file := range []string{"testdata/events.jsonl", "testdata/unknown.jsonl"} {
		for _, l := range readLines(f, file) {
			f.Add(l)
		}
	}
	f.Add([]byte(`{"type":"Dial","peer":{"id":"1"},"caller":{"id":""}}`))
	f.Fuzz(func(t *testing.T, msg []byte) {
		ev, err := DecodeEvent(msg)
		if err != nil {
			if !errors.Is(err, ErrUnknownEvent) && !errors.Is(err, ErrMalformedEvent) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		need, ok := eventNeeds(ev.Type)
		if !ok {
			t.Fatalf("decoded unknown type %q", ev.Type)
		}
		if (need&needChannel != 0 && (ev.Channel == nil || ev.Channel.ID == "")) ||
			(need&needBridge != 0 && (ev.Bridge == nil || ev.Bridge.ID == "")) ||
			(need&needPlayback != 0 && (ev.Playback == nil || ev.Playback.ID == "")) ||
			(need&needPeer != 0 && (ev.Peer == nil || ev.Peer.ID == "")) ||
			(need&needTransfer != 0 && (ev.Transfer == nil || ev.Transfer.SourceChannel == "" || ev.Channel == nil)) {
			t.Fatalf("%s decoded without its required fields: %+v", ev.Type, ev)
		}
		if !bytes.Equal(ev.Raw, msg) {
			t.Fatal("raw message not kept")
		}
	})
}
