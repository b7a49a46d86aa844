package asterisksim

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// The REFER interception (ChannelTransfer) needs a SIP phone, which the
// conformance probes do not have. Its recordings (testdata/06-08, Asterisk
// 22.10.1 with a hand-written SIP UA; testdata/README.md) are the
// reference here: the ChannelTransfer that Refer produces has their field
// structure, and transfer_progress answers and follows up as recorded.

// recLine is one line of a recorded excerpt.
type recLine struct {
	Kind    string `json:"kind"`
	Request *struct {
		Method string            `json:"method"`
		Path   string            `json:"path"`
		Query  map[string]string `json:"query"`
	} `json:"request"`
	Response *struct {
		Status int `json:"status"`
		Body   any `json:"body"`
	} `json:"response"`
	Event map[string]any `json:"event"`
	n     int
}

func loadExcerpt(t *testing.T, path string) []recLine {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("open excerpt: %v", err)
	}
	defer f.Close()
	var out []recLine
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<22)
	for n := 1; sc.Scan(); n++ {
		var l recLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("%s:%d: %v", path, n, err)
		}
		l.n = n
		out = append(out, l)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// shapeDiff lists the differences in field structure between a recorded
// JSON value and the simulator's (values are not compared).
func shapeDiff(path string, rec, sim any) []string {
	switch r := rec.(type) {
	case map[string]any:
		s, ok := sim.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: recorded object, got %T", path, sim)}
		}
		var out []string
		for k, rv := range r {
			sv, ok := s[k]
			if !ok {
				out = append(out, fmt.Sprintf("%s.%s: missing", path, k))
				continue
			}
			out = append(out, shapeDiff(path+"."+k, rv, sv)...)
		}
		for k := range s {
			if _, ok := r[k]; !ok {
				out = append(out, fmt.Sprintf("%s.%s: not in the recording", path, k))
			}
		}
		sort.Strings(out)
		return out
	case []any:
		s, ok := sim.([]any)
		if !ok {
			return []string{fmt.Sprintf("%s: recorded array, got %T", path, sim)}
		}
		if len(r) > 0 && len(s) > 0 {
			return shapeDiff(path+"[0]", r[0], s[0])
		}
		return nil
	case nil:
		if sim != nil {
			return []string{fmt.Sprintf("%s: recorded null, got %v", path, sim)}
		}
		return nil
	default:
		if fmt.Sprintf("%T", rec) != fmt.Sprintf("%T", sim) {
			return []string{fmt.Sprintf("%s: recorded %T, got %T", path, rec, sim)}
		}
		return nil
	}
}

func TestTransferShapes(t *testing.T) {
	tests := []struct {
		file     string
		bridged  bool
		attended bool
		dest     string
	}{
		{"06-sip-blind-refer-ari.jsonl", true, false, "200"},
		{"07-sip-attended-refer-ari.jsonl", true, true, "101"},
		{"08-sip-originate-registered-agent.jsonl", false, false, "300"},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join("testdata", tc.file)
			lines := loadExcerpt(t, path)
			sim := startSim(t, Options{PlaybackDuration: func(string) time.Duration { return time.Millisecond }})
			rc := newREST(sim)
			hl := dialEvents(t, sim, "hotline")
			ph := dialEvents(t, sim, "phones")
			agent := phoneInStasis(t, rc, hl, ph, "agent100", "agent,100")
			if tc.bridged {
				caller, _ := stasisCaller(t, rc, hl, "100")
				b := rc.mustJSON(t, 200, "POST", "/bridges", q("type", "mixing", "name", "sip-call"), nil)
				rc.mustJSON(t, 204, "POST", "/bridges/"+b["id"].(string)+"/addChannel", q("channel", caller+","+agent), nil)
			}
			consult := ""
			if tc.attended {
				consult = phoneInStasis(t, rc, hl, ph, "agent101", "agent,101")
			}
			if err := sim.Refer(agent, tc.dest, consult); err != nil {
				t.Fatalf("refer: %v", err)
			}
			recTransfer := func(state string) recLine {
				for _, l := range lines {
					if l.Kind == "event" && l.Event["type"] == "ChannelTransfer" && fmt.Sprint(l.Event["state"]) == state {
						return l
					}
				}
				t.Fatalf("%s: no recorded ChannelTransfer with state %q", path, state)
				return recLine{}
			}
			check := func(state string) {
				t.Helper()
				want := recTransfer(state)
				got := hl.waitEvent(t, "ChannelTransfer "+state, func(ev map[string]any) bool {
					return ev["type"] == "ChannelTransfer" && fmt.Sprint(ev["state"]) == state
				})
				for _, d := range shapeDiff("event", want.Event, got) {
					t.Errorf("%s:%d: %s", path, want.n, d)
				}
				rt, _ := got["refer_to"].(map[string]any)
				if dst, _ := rt["requested_destination"].(map[string]any); dst["destination"] != tc.dest {
					t.Errorf("destination %v, want %s", rt["requested_destination"], tc.dest)
				}
			}
			check("<nil>")
			for _, l := range lines {
				if l.Kind != "rest" || !strings.HasSuffix(l.Request.Path, "/transfer_progress") {
					continue
				}
				states := l.Request.Query["states"]
				st, raw := rc.do(t, "POST", "/channels/"+agent+"/transfer_progress", q("states", states), nil)
				if st != l.Response.Status {
					t.Errorf("%s:%d: transfer_progress %s: status %d, recorded %d", path, l.n, states, st, l.Response.Status)
					continue
				}
				var got any
				if len(strings.TrimSpace(string(raw))) > 0 {
					if err := json.Unmarshal(raw, &got); err != nil {
						t.Fatalf("%s:%d: %s: %v", path, l.n, raw, err)
					}
				}
				if canon(got) != canon(l.Response.Body) {
					t.Errorf("%s:%d: transfer_progress %s: body %s, recorded %v", path, l.n, states, raw, l.Response.Body)
				}
				if st == 204 {
					check(states)
				}
			}
		})
	}
}

// phoneInStasis originates PJSIP/endpoint into the hotline application, lets
// the phones application answer it, and returns the hotline-side channel id.
func phoneInStasis(t *testing.T, rc *restClient, hl, ph *wsClient, endpoint, args string) string {
	t.Helper()
	ch := rc.mustJSON(t, 200, "POST", "/channels", q("endpoint", "PJSIP/"+endpoint, "app", "hotline", "appArgs", args),
		map[string]any{"variables": map[string]string{"PJSIP_TRANSFER_HANDLING()": "ari-only"}})
	id := ch["id"].(string)
	phone := ph.waitEvent(t, "phone "+endpoint, evType("StasisStart"))
	rc.mustJSON(t, 204, "POST", "/channels/"+evChanID(phone)+"/answer", nil, nil)
	hl.waitEvent(t, "StasisStart "+endpoint, evOn("StasisStart", id))
	return id
}
