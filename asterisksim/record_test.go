package asterisksim

// With -update against a real Asterisk, TestConformance keeps what the
// probes marked record saw, unnormalized, as ARI transcripts:
//
//   - testdata/transcripts/PROBE.jsonl: every request with its answer and
//     every event, in the order the probe saw them (testdata/README.md);
//   - ../ari/testdata/events.jsonl: one verbatim event per case of
//     ari/events_test.go's TestDecodeEventRecorded, picked below;
//   - ../ari/testdata/recorded.jsonl: every event of those transcripts, which
//     ari's TestDecodeEventTranscripts must all decode.
//
// The ChannelTransfer lines of events.jsonl need a SIP phone that sends
// REFER, which the throwaway Asterisk has not: they are copied from the
// recordings in testdata/0[678]-*.jsonl (Asterisk 22.10.1 with a
// hand-written SIP UA; see testdata/README.md).

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

const (
	transcriptDir = "testdata/transcripts"
	ariTestdata   = "../ari/testdata"
)

type recorder struct {
	mu   sync.Mutex
	logs map[string][]map[string]any
}

func newRecorder() *recorder { return &recorder{logs: map[string][]map[string]any{}} }

// add keeps pr's transcript and writes it to testdata/transcripts.
func (r *recorder) add(t *testing.T, pr probe, log []map[string]any) {
	t.Helper()
	if !pr.record {
		return
	}
	r.mu.Lock()
	r.logs[pr.name] = log
	r.mu.Unlock()
	var b bytes.Buffer
	for _, l := range log {
		b.WriteString(canon(l))
		b.WriteByte('\n')
	}
	if err := os.MkdirAll(transcriptDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(transcriptDir, pr.name+".jsonl"), b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// pick names one line of ari/testdata/events.jsonl: the first event of
// probe's transcript that match accepts. The order is the order of the
// cases in ari/events_test.go.
type pick struct {
	probe string
	desc  string
	match func(ev map[string]any) bool
}

func evIs(app, typ, id string, more func(map[string]any) bool) func(map[string]any) bool {
	return func(ev map[string]any) bool {
		return ev["application"] == app && ev["type"] == typ && slices.Contains(eventIDs(ev), id) && (more == nil || more(ev))
	}
}

func field(k string, v any) func(map[string]any) bool {
	return func(ev map[string]any) bool { return fmt.Sprint(ev[k]) == fmt.Sprint(v) }
}

// transferLine is a ChannelTransfer event from an older recording: line
// (1-based) of an excerpt in testdata.
type transferLine struct {
	file string
	line int
}

var ariPicks = []any{
	pick{"hotline-flow", "StasisStart with args and caller", evIs("hotline", "StasisStart", "c-2", nil)},
	pick{"hotline-flow", "Dial of an originate", evIs("hotline", "Dial", "ag-1", field("dialstatus", ""))},
	pick{"hotline-flow", "Dial RINGING", evIs("hotline", "Dial", "ag-1", field("dialstatus", "RINGING"))},
	pick{"dtmf-local-halves", "DTMF with a duration", evIs("hotline", "ChannelDtmfReceived", "a", field("duration_ms", 200))},
	pick{"originate-failures", "ChannelDestroyed cause 19", evIs("probe", "ChannelDestroyed", "ring", nil)},
	pick{"playback-missing", "PlaybackFinished failed", evIs("probe", "PlaybackFinished", "pbm", nil)},
	pick{"hotline-flow", "ChannelEnteredBridge", evIs("hotline", "ChannelEnteredBridge", "c-2", nil)},
	pick{"hotline-flow", "BridgeDestroyed", evIs("hotline", "BridgeDestroyed", "call-1", nil)},
	pick{"hotline-flow", "ChannelVarset BRIDGEPEER", evIs("hotline", "ChannelVarset", "ag-1", func(ev map[string]any) bool {
		return ev["variable"] == "BRIDGEPEER" && ev["value"] != ""
	})},
	transferLine{"06-sip-blind-refer-ari.jsonl", 1},
	transferLine{"07-sip-attended-refer-ari.jsonl", 1},
	transferLine{"08-sip-originate-registered-agent.jsonl", 3},
	pick{"hotline-flow", "StasisEnd", evIs("hotline", "StasisEnd", "c-2", nil)},
	pick{"caller-stasis-gap", "ChannelDialplan", evIs("phones", "ChannelDialplan", "g-2", field("dialplan_app", "NoOp"))},
	pick{"variables", "ChannelCallerId", evIs("probe", "ChannelCallerId", "a", nil)},
	pick{"hotline-flow", "ChannelConnectedLine", evIs("hotline", "ChannelConnectedLine", "c-2", nil)},
	pick{"playback-list", "PlaybackContinuing", evIs("probe", "PlaybackContinuing", "pbl", nil)},
	pick{"hotline-flow", "ChannelHangupRequest soft", evIs("phones", "ChannelHangupRequest", "c-1", field("soft", true))},
	pick{"hotline-flow", "ChannelStateChange", evIs("hotline", "ChannelStateChange", "c-2", nil)},
	pick{"hotline-flow", "ChannelLeftBridge", evIs("hotline", "ChannelLeftBridge", "c-2", nil)},
	pick{"playback-list", "PlaybackStarted", evIs("probe", "PlaybackStarted", "pbl", nil)},
	pick{"variables", "ChannelVarset", evIs("probe", "ChannelVarset", "a", field("variable", "HOTLINE_QUEUE"))},
}

// write produces ari/testdata from the transcripts, once every probe they
// come from has run (a -run that skips some leaves ari/testdata alone).
func (r *recorder) write(t *testing.T) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var lines [][]byte
	for _, x := range ariPicks {
		switch p := x.(type) {
		case pick:
			log, ok := r.logs[p.probe]
			if !ok {
				t.Logf("ari/testdata not written: probe %s did not run", p.probe)
				return
			}
			var found []byte
			for _, l := range log {
				ev, _ := l["event"].(map[string]any)
				if l["kind"] == "event" && p.match(ev) {
					found = []byte(canon(ev))
					break
				}
			}
			if found == nil {
				t.Errorf("ari/testdata: no event %q in the transcript of %s", p.desc, p.probe)
				return
			}
			lines = append(lines, found)
		case transferLine:
			b, err := excerptEvent(filepath.Join("testdata", p.file), p.line)
			if err != nil {
				t.Error(err)
				return
			}
			lines = append(lines, b)
		}
	}
	var all bytes.Buffer
	names := make([]string, 0, len(r.logs))
	for n := range r.logs {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		for _, l := range r.logs[n] {
			if l["kind"] == "event" {
				all.WriteString(canon(l["event"]))
				all.WriteByte('\n')
			}
		}
	}
	if err := os.WriteFile(filepath.Join(ariTestdata, "events.jsonl"), append(bytes.Join(lines, []byte("\n")), '\n'), 0o644); err != nil {
		t.Error(err)
	}
	if err := os.WriteFile(filepath.Join(ariTestdata, "recorded.jsonl"), all.Bytes(), 0o644); err != nil {
		t.Error(err)
	}
}

// excerptEvent returns the event of line n of a recorded excerpt.
func excerptEvent(path string, n int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<22)
	for i := 1; sc.Scan(); i++ {
		if i != n {
			continue
		}
		var l struct {
			Kind  string          `json:"kind"`
			Event json.RawMessage `json:"event"`
		}
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil || l.Kind != "event" {
			return nil, fmt.Errorf("%s:%d: not an event (%v)", path, n, err)
		}
		var ev any
		if err := json.Unmarshal(l.Event, &ev); err != nil {
			return nil, err
		}
		return []byte(canon(ev)), nil
	}
	return nil, fmt.Errorf("%s: no line %d", path, n)
}
