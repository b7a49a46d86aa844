package asterisksim

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// transcriptsDir is where CI and the development layout keep the recordings:
// shared/ beside the repository.
const transcriptsDir = "../../shared/ari-transcripts"

// recLine is one line of a transcript (see its README).
type recLine struct {
	Kind    string  `json:"kind"`
	TMs     float64 `json:"t_ms"`
	TReqMs  float64 `json:"t_req_ms"`
	Request *struct {
		Method string            `json:"method"`
		Path   string            `json:"path"`
		Query  map[string]string `json:"query"`
		Body   json.RawMessage   `json:"body"`
		Auth   string            `json:"auth"`
	} `json:"request"`
	Response *struct {
		Status int `json:"status"`
		Body   any `json:"body"`
	} `json:"response"`
	Event map[string]any `json:"event"`
	n     int            // 1-based line number
}

// loadTranscript reads name from dir, or from testdata (trimmed excerpts).
func loadTranscript(t *testing.T, path string) []recLine {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("open transcript: %v", err)
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
		t.Fatalf("read %s: %v", path, err)
	}
	return out
}

// transcriptSources lists where name can be read: the shared recording
// (skipping with a message naming the path when it is absent) and, when
// there is one, its excerpt in testdata, which always runs.
func transcriptSources(name string) []string {
	out := []string{filepath.Join(transcriptsDir, name)}
	if _, err := os.Stat(filepath.Join("testdata", name)); err == nil {
		out = append(out, filepath.Join("testdata", name))
	}
	return out
}

// sourceLabel names a subtest after where its transcript comes from.
func sourceLabel(path string) string {
	if strings.HasPrefix(path, "testdata") {
		return "testdata/" + filepath.Base(path)
	}
	return "shared/" + filepath.Base(path)
}

// needFile skips the test when a shared transcript is not there.
func needFile(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		abs, _ := filepath.Abs(path)
		t.Skipf("transcript not found at %s (shared/ beside the repository)", abs)
	}
}

// ignoredEvent: events that depend on the real dialplan and media stack,
// not on ARI semantics, and that the simulator does not produce.
func ignoredEvent(typ string) bool {
	switch typ {
	case "ChannelVarset", "ChannelCallerId", "ChannelConnectedLine", "ChannelDialplan":
		return true
	}
	return false
}

var counterRE = regexp.MustCompile(`-[0-9a-f]{8}(;[12])?$`)

// normName removes Asterisk's channel counter: Local/100@hotline-0000000a;2
// becomes Local/100@hotline;2, comparable across runs.
func normName(name string) string { return counterRE.ReplaceAllString(name, "$1") }

// eventKey says which sequence an event belongs to, and the item recorded
// for it (type plus the fields that carry meaning).
func eventKey(ev map[string]any) (key, item string, ok bool) {
	typ, _ := ev["type"].(string)
	if ignoredEvent(typ) {
		return "", "", false
	}
	item = typ
	switch typ {
	case "ChannelStateChange":
		item += ":" + str(ev["channel"], "state")
	case "Dial":
		item += ":" + fmt.Sprint(ev["dialstatus"])
	case "ChannelDestroyed":
		item += fmt.Sprintf(":%v", ev["cause"])
	case "ChannelHangupRequest":
		item += fmt.Sprintf(":%v:soft=%v", ev["cause"], ev["soft"] == true)
	case "ChannelDtmfReceived":
		item += ":" + fmt.Sprint(ev["digit"])
	case "StasisStart":
		item += fmt.Sprintf(":%v", ev["args"])
	}
	if p, isPB := ev["playback"].(map[string]any); isPB {
		return "playback " + fmt.Sprint(p["media_uri"]), item + ":" + fmt.Sprint(p["state"]), true
	}
	for _, k := range []string{"channel", "peer"} {
		if c, isCh := ev[k].(map[string]any); isCh {
			return normName(fmt.Sprint(c["name"])), item, true
		}
	}
	if b, isBr := ev["bridge"].(map[string]any); isBr {
		return "bridge " + fmt.Sprint(b["name"]), item, true
	}
	return "other", item, true
}

func str(v any, k string) string {
	m, _ := v.(map[string]any)
	s, _ := m[k].(string)
	return s
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
		if (len(r) == 0) != (len(s) == 0) && path == "body" {
			return []string{fmt.Sprintf("%s: recorded %d elements, got %d", path, len(r), len(s))}
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

// replay drives one REST transcript against a fresh simulator.
type replay struct {
	t     *testing.T
	file  string
	sim   *Server
	rc    *restClient
	ws    *wsClient
	lines []recLine

	recNorm   map[string]string         // recorded channel id → normalized name
	simByNorm map[string]string         // normalized name → simulator channel id
	ids       map[string]string         // recorded id → simulator id (from responses)
	simSeq    map[string][]string       // key → items seen from the simulator
	simShape  map[string]map[string]any // shape key → first such simulator event
}

// shapeKey groups events whose JSON has the same fields: the type, and for
// hangup requests whether "soft" is there.
func shapeKey(ev map[string]any) string {
	k := fmt.Sprint(ev["type"])
	if _, soft := ev["soft"]; soft {
		k += "+soft"
	}
	return k
}

func (r *replay) collect(ev map[string]any) {
	if _, ok := r.simShape[shapeKey(ev)]; !ok {
		r.simShape[shapeKey(ev)] = ev
	}
	if c, ok := ev["channel"].(map[string]any); ok {
		r.simByNorm[normName(fmt.Sprint(c["name"]))] = fmt.Sprint(c["id"])
	}
	if key, item, ok := eventKey(ev); ok {
		r.simSeq[key] = append(r.simSeq[key], item)
	}
}

// catchUp reads simulator events until every sequence is at least as long
// as want, or the deadline passes.
func (r *replay) catchUp(want map[string]int, d time.Duration) {
	deadline := time.After(d)
	for {
		behind := false
		for k, n := range want {
			if len(r.simSeq[k]) < n {
				behind = true
				break
			}
		}
		if !behind {
			return
		}
		select {
		case ev := <-r.ws.events:
			r.collect(ev)
		case <-deadline:
			return
		}
	}
}

func (r *replay) translate(id string) string {
	if m, ok := r.ids[id]; ok {
		return m
	}
	if n, ok := r.recNorm[id]; ok {
		if m, ok := r.simByNorm[n]; ok {
			return m
		}
	}
	return id
}

func (r *replay) translateValue(v string) string {
	parts := strings.Split(v, ",")
	for i, p := range parts {
		if kind, id, ok := strings.Cut(p, ":"); ok && (kind == "channel" || kind == "bridge") {
			parts[i] = kind + ":" + r.translate(id)
			continue
		}
		parts[i] = r.translate(p)
	}
	return strings.Join(parts, ",")
}

func (r *replay) run() {
	t := r.t
	// What the recording says each sequence is, and what it was before each
	// request was sent (t_req_ms), for the barrier.
	recSeq := map[string][]string{}
	recLineOf := map[string][]int{}
	type timed struct {
		t   float64
		key string
	}
	var evTimes []timed
	recShape := map[string]recLine{}
	for _, l := range r.lines {
		if l.Kind == "event" {
			if _, ok := recShape[shapeKey(l.Event)]; !ok {
				recShape[shapeKey(l.Event)] = l
			}
			if c, ok := l.Event["channel"].(map[string]any); ok {
				r.recNorm[fmt.Sprint(c["id"])] = normName(fmt.Sprint(c["name"]))
			}
			if c, ok := l.Event["peer"].(map[string]any); ok {
				r.recNorm[fmt.Sprint(c["id"])] = normName(fmt.Sprint(c["name"]))
			}
			if key, item, ok := eventKey(l.Event); ok {
				recSeq[key] = append(recSeq[key], item)
				recLineOf[key] = append(recLineOf[key], l.n)
				evTimes = append(evTimes, timed{l.TMs, key})
			}
		}
		if l.Kind == "rest" && l.Response != nil {
			if b, ok := l.Response.Body.(map[string]any); ok && b["name"] != nil && b["id"] != nil {
				if _, isChan := b["dialplan"]; isChan {
					r.recNorm[fmt.Sprint(b["id"])] = normName(fmt.Sprint(b["name"]))
				}
			}
		}
	}

	for _, l := range r.lines {
		if l.Kind != "rest" || l.Request == nil || l.Response == nil {
			continue
		}
		want := map[string]int{}
		for _, e := range evTimes {
			if e.t < l.TReqMs {
				want[e.key]++
			}
		}
		if l.Request.Auth == "" {
			r.catchUp(want, time.Second)
		}
		rq := l.Request
		segs := strings.Split(strings.TrimPrefix(rq.Path, "/ari"), "/")
		for i, s := range segs {
			segs[i] = r.translate(s)
		}
		path := strings.Join(segs, "/")
		qs := url.Values{}
		for k, v := range rq.Query {
			qs.Set(k, r.translateValue(v))
		}
		var body any
		if len(rq.Body) > 0 && string(rq.Body) != "null" {
			if err := json.Unmarshal(rq.Body, &body); err != nil {
				t.Fatalf("%s:%d: body: %v", r.file, l.n, err)
			}
		}
		rc := r.rc
		if rq.Auth != "" {
			c := *r.rc
			c.user, c.pass, _ = strings.Cut(rq.Auth, ":")
			rc = &c
		}
		st, raw := rc.do(t, rq.Method, path, qs, body)
		if st != l.Response.Status {
			t.Errorf("%s:%d: %s %s: status %d, recorded %d (body %s)", r.file, l.n, rq.Method, rq.Path, st, l.Response.Status, raw)
			continue
		}
		var got any
		if len(strings.TrimSpace(string(raw))) > 0 {
			if err := json.Unmarshal(raw, &got); err != nil {
				t.Errorf("%s:%d: response %s: %v", r.file, l.n, raw, err)
				continue
			}
		}
		for _, d := range shapeDiff("body", l.Response.Body, got) {
			t.Errorf("%s:%d: %s %s: %s", r.file, l.n, rq.Method, rq.Path, d)
		}
		if rb, ok := l.Response.Body.(map[string]any); ok {
			if gb, ok := got.(map[string]any); ok {
				if rid, ok := rb["id"].(string); ok {
					if gid, ok := gb["id"].(string); ok {
						r.ids[rid] = gid
					}
				}
			}
		}
	}

	total := map[string]int{}
	for k, s := range recSeq {
		total[k] = len(s)
	}
	r.catchUp(total, 2*time.Second)
	for _, ev := range r.ws.drain(100 * time.Millisecond) {
		r.collect(ev)
	}
	keys := make([]string, 0, len(recSeq))
	for k := range recSeq {
		keys = append(keys, k)
	}
	for k := range r.simSeq {
		if _, ok := recSeq[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		rs, ss := recSeq[k], r.simSeq[k]
		if slices.Equal(rs, ss) {
			continue
		}
		i := 0
		for i < len(rs) && i < len(ss) && rs[i] == ss[i] {
			i++
		}
		where := "after the last recorded event"
		if i < len(rs) {
			where = fmt.Sprintf("line %d (%s)", recLineOf[k][i], rs[i])
		}
		t.Errorf("%s: events of %s differ at %s:\n recorded %v\n simulator %v", r.file, k, where, rs, ss)
	}
	// Field structure of each kind of event, against its first recording.
	for k, l := range recShape {
		got, ok := r.simShape[k]
		if !ok {
			continue // a missing event is reported by the sequences above
		}
		for _, d := range shapeDiff("event", l.Event, got) {
			t.Errorf("%s:%d: %s: %s", r.file, l.n, k, d)
		}
	}
}

// conformanceOptions match the recording server: the agent endpoints exist
// but have no contact (file 04 originates PJSIP/agent100 and gets 500).
func conformanceOptions() Options {
	eps := DefaultEndpoints()
	for _, n := range []string{"agent100", "agent101", "agent102"} {
		e := eps[n]
		e.Offline = true
		eps[n] = e
	}
	return Options{Username: testUser, Password: testPass, Endpoints: eps,
		PlaybackDuration: func(string) time.Duration { return 5 * time.Millisecond }}
}

func TestConformanceREST(t *testing.T) {
	files := []string{
		"01-caller-dtmf.jsonl",
		"02-dtmf-both-halves.jsonl",
		"03-bridge-agent-hangup.jsonl",
		"04-errors-and-variables.jsonl",
		"09-originate-failures.jsonl",
		"10-create-dial-snoop-whisper.jsonl",
		"11-moh-hold-caller-hangup-in-bridge.jsonl",
	}
	for _, f := range files {
		for _, path := range transcriptSources(f) {
			t.Run(sourceLabel(path), func(t *testing.T) {
				t.Parallel()
				needFile(t, path)
				conformREST(t, f, path)
			})
		}
	}
}

func conformREST(t *testing.T, f, path string) {
	sim := startSim(t, conformanceOptions())
	r := &replay{t: t, file: path, sim: sim, rc: newREST(sim), ws: dialEvents(t, sim, "hotline"),
		lines: loadTranscript(t, path), recNorm: map[string]string{}, simByNorm: map[string]string{},
		ids: map[string]string{}, simSeq: map[string][]string{}, simShape: map[string]map[string]any{}}
	r.run()
	if n := sim.Stats().Channels; n != 0 {
		t.Errorf("%s: %d channels left at the end", f, n)
	}
}

// TestConformanceTransfer checks the REFER interception of files 06-08: the
// ChannelTransfer that Refer produces has the recorded field structure, and
// transfer_progress answers and follows up as recorded.
func TestConformanceTransfer(t *testing.T) {
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
		for _, path := range transcriptSources(tc.file) {
			t.Run(sourceLabel(path), func(t *testing.T) {
				t.Parallel()
				needFile(t, path)
				lines := loadTranscript(t, path)
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
					if rt := got["refer_to"].(map[string]any); str(rt["requested_destination"], "destination") != tc.dest {
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
					if len(raw) > 0 {
						if err := json.Unmarshal(raw, &got); err != nil {
							t.Fatalf("%s:%d: %s: %v", path, l.n, raw, err)
						}
					}
					if !reflectEqualJSON(got, l.Response.Body) {
						t.Errorf("%s:%d: transfer_progress %s: body %s, recorded %v", path, l.n, states, raw, l.Response.Body)
					}
					if st == 204 {
						check(states)
					}
				}
			})
		}
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

func reflectEqualJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
