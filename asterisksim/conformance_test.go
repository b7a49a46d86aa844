package asterisksim

// The conformance suite: small scripted ARI scenarios ("probes", in
// probes_test.go) whose normalized traces are compared between the
// simulator and a real Asterisk.
//
// With HOTLINE_E2E_ARI_URL, HOTLINE_E2E_ARI_USER and
// HOTLINE_E2E_ARI_PASSWORD set (scripts/e2e-asterisk.sh up DIR writes them),
// every probe runs against that Asterisk and then against a fresh simulator,
// and the two traces must be equal; with -update the real traces are written
// to testdata/conformance/. Without a real Asterisk each probe runs against
// the simulator only and its trace must equal the recorded one, so a plain
// `go test` holds the simulator to the real behaviour.
//
// A trace is a list of lines: each REST call (method, path, query, body,
// status and response body) and, at each synchronisation point, the events
// every application received since the previous one. Within a point the
// events are grouped by application and by the object they are about
// (channel, bridge, playback, a channel's Dial events): the relative order
// of events about different objects depends on Asterisk's threads. Within
// an object they keep their order lane by lane (eventLane). Ids the probe
// chose are kept; generated ids, timestamps, channel-name counters and the
// asterisk_id become placeholders, and the few values a real Asterisk does
// not repeat are masked by the probes that meet them, each with its reason
// (testdata/README.md lists them). A probe is only as good as its waits:
// run it against the real Asterisk several times before recording it.
//
// Probes run against the real Asterisk one after the other, each checks
// that it leaves no channel or bridge behind, and every wait has a bound.

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

var updateGolden = flag.Bool("update", false,
	"write the real Asterisk's traces (and recordings) into testdata; needs HOTLINE_E2E_ARI_URL")

var traceOut = flag.String("trace.out", "",
	"also write every trace a probe produced into this directory (NAME.real.trace, NAME.simulator.trace), to read or diff")

// goldenDir holds the traces recorded from the real Asterisk.
const goldenDir = "testdata/conformance"

// ariTarget is an ARI server a probe runs against.
type ariTarget struct {
	kind            string // "real" or "simulator"
	url, user, pass string
	sim             *Server // nil for the real Asterisk
}

// realTarget is the real Asterisk named by the environment, if any.
func realTarget() (ariTarget, bool) {
	u := os.Getenv("HOTLINE_E2E_ARI_URL")
	if u == "" {
		return ariTarget{}, false
	}
	return ariTarget{kind: "real", url: strings.TrimSuffix(u, "/"),
		user: os.Getenv("HOTLINE_E2E_ARI_USER"), pass: os.Getenv("HOTLINE_E2E_ARI_PASSWORD")}, true
}

// conformanceSim starts a simulator configured like the throwaway Asterisk
// of scripts/e2e-asterisk.sh: the deployment's endpoints, none registered,
// the test contexts, the three test sounds with their real lengths and the
// deployment's hotline-unavailable (played shorter than its 5.4 s).
func conformanceSim(t *testing.T) ariTarget {
	eps := make(map[string]Endpoint)
	for _, n := range []string{"101", "102", "103", "301", "302", "303", "304", "309"} {
		eps[n] = Endpoint{Context: "agents-ari", Exten: n, Offline: true}
	}
	for _, n := range []string{"caller1", "caller2"} {
		eps[n] = Endpoint{Context: "hotline", Exten: n, Offline: true}
	}
	s := startSim(t, Options{
		Endpoints: eps,
		Sounds:    []string{"hotline-beep", "hotline-tone-3s", "hotline-silence-1s", "hotline-unavailable"},
		PlaybackDuration: func(media string) time.Duration {
			switch media {
			case "sound:hotline-tone-3s":
				return 3 * time.Second
			case "sound:hotline-silence-1s":
				return time.Second
			}
			return 300 * time.Millisecond
		},
	})
	return ariTarget{kind: "simulator", url: s.URL(), user: testUser, pass: testPass, sim: s}
}

func TestConformance(t *testing.T) {
	real, haveReal := realTarget()
	if *updateGolden && !haveReal {
		t.Fatal("-update records the real Asterisk: set HOTLINE_E2E_ARI_URL, HOTLINE_E2E_ARI_USER and HOTLINE_E2E_ARI_PASSWORD")
	}
	rec := newRecorder()
	if *updateGolden {
		// Written once every probe has run (record_test.go).
		t.Cleanup(func() { rec.write(t) })
	}
	names := map[string]bool{}
	for _, pr := range probes() {
		if names[pr.name] {
			t.Fatalf("two probes named %s", pr.name)
		}
		names[pr.name] = true
		t.Run(pr.name, func(t *testing.T) {
			golden := filepath.Join(goldenDir, pr.name+".trace")
			if !haveReal {
				// Simulators are independent: these may run side by side.
				t.Parallel()
				want, err := readTrace(golden)
				if err != nil {
					t.Fatalf("no recorded trace (record it with a real Asterisk and -update): %v", err)
				}
				got := runProbe(t, conformanceSim(t), pr)
				if d := lineDiff(want, got); d != "" {
					t.Errorf("simulator differs from the recorded real Asterisk (%s; - real, + simulator):\n%s", golden, d)
				}
				return
			}
			// Against a real Asterisk: serially, real first.
			got, log := runProbeLog(t, real, pr)
			if t.Failed() {
				return
			}
			if *updateGolden {
				if err := writeTrace(golden, pr, got); err != nil {
					t.Fatal(err)
				}
				rec.add(t, pr, log)
			} else if want, err := readTrace(golden); err != nil {
				t.Errorf("no recorded trace; run with -update: %v", err)
			} else if d := lineDiff(want, got); d != "" {
				t.Errorf("the real Asterisk no longer gives the recorded trace %s (run with -update if that is expected; - recorded, + real):\n%s", golden, d)
			}
			sim := runProbe(t, conformanceSim(t), pr)
			if d := lineDiff(got, sim); d != "" {
				t.Errorf("simulator differs from the real Asterisk (- real, + simulator):\n%s", d)
			}
		})
	}
}

func readTrace(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		out = append(out, l)
	}
	return out, nil
}

func writeTrace(path string, pr probe, lines []string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# probe %s: %s\n", pr.name, pr.doc)
	b.WriteString("# Recorded from a real Asterisk by `go test ./asterisksim/ -run TestConformance -update`; do not edit.\n")
	for _, l := range lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// probe is one scripted scenario.
type probe struct {
	name string
	doc  string   // what it shows, for the golden file's header
	apps []string // applications whose websockets are open throughout
	run  func(p *prober)
	// record: with -update, its raw transcript is kept in
	// testdata/transcripts (and its events feed ari/testdata).
	record bool
}

// prober runs one probe against one target and builds its trace.
type prober struct {
	t     *testing.T
	tg    ariTarget
	hc    *http.Client
	conns map[string]*appConn
	apps  []string
	trace []string
	seg   []appEvent // events of the current synchronisation point
	nbar  int
	norm  normalizer
	// hide keeps events out of the trace (see hideEvents).
	hide []func(ev map[string]any) bool
	// masks rewrite racing fields of events (see maskEvents).
	masks []func(ev map[string]any)
	// log is the raw transcript (requests, answers, events as received),
	// written with -update for the probes marked record.
	log []map[string]any
	// wait bounds every wait for an event.
	wait time.Duration
}

type appEvent struct {
	app     string
	ev      map[string]any
	claimed bool // matched by a wait already
}

// appConn is one application's events websocket.
type appConn struct {
	ws     *websocket.Conn
	events chan map[string]any
	done   chan struct{}
}

// runProbe runs pr against tg and returns its normalized trace.
func runProbe(t *testing.T, tg ariTarget, pr probe) []string {
	t.Helper()
	trace, _ := runProbeLog(t, tg, pr)
	return trace
}

// runProbeLog is runProbe that also returns the raw transcript.
func runProbeLog(t *testing.T, tg ariTarget, pr probe) ([]string, []map[string]any) {
	t.Helper()
	p := &prober{t: t, tg: tg, hc: &http.Client{Timeout: 10 * time.Second}, conns: map[string]*appConn{}, wait: 5 * time.Second,
		norm: normalizer{ids: map[string]string{}, names: map[string]int{}}}
	if *traceOut != "" {
		// Written even when the probe fails half way.
		defer func() {
			if err := writeTrace(filepath.Join(*traceOut, pr.name+"."+tg.kind+".trace"), pr, p.trace); err != nil {
				t.Error(err)
			}
		}()
	}
	chans0, bridges0 := p.inventory()
	// Deferred, so that they run when a probe fails with t.Fatalf too.
	defer p.checkClean(chans0, bridges0)
	defer p.closeAll()
	for _, a := range pr.apps {
		p.open(a)
	}
	pr.run(p)
	p.settle("end")
	return p.trace, p.log
}

// inventory lists the ids of the live channels and bridges.
func (p *prober) inventory() (chans, bridges []string) {
	for _, what := range []string{"channels", "bridges"} {
		st, body := p.raw("GET", "/"+what, nil, nil)
		if st != 200 {
			p.t.Fatalf("%s GET /%s: %d %s", p.tg.kind, what, st, body)
		}
		var list []struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(body, &list); err != nil {
			p.t.Fatalf("GET /%s: %v", what, err)
		}
		ids := make([]string, 0, len(list))
		for _, x := range list {
			ids = append(ids, x.ID)
		}
		sort.Strings(ids)
		if what == "channels" {
			chans = ids
		} else {
			bridges = ids
		}
	}
	return chans, bridges
}

// checkClean asserts that the probe left no channel or bridge behind,
// removing any it did leave so the next probe starts clean.
func (p *prober) checkClean(chans0, bridges0 []string) {
	deadline := time.Now().Add(p.wait)
	for {
		chans, bridges := p.inventory()
		if slices.Equal(chans, chans0) && slices.Equal(bridges, bridges0) {
			return
		}
		if time.Now().After(deadline) {
			p.t.Errorf("%s: probe left channels %v (had %v) and bridges %v (had %v)", p.tg.kind, chans, chans0, bridges, bridges0)
			for _, id := range chans {
				if !slices.Contains(chans0, id) {
					p.raw("DELETE", "/channels/"+url.PathEscape(id), nil, nil)
				}
			}
			for _, id := range bridges {
				if !slices.Contains(bridges0, id) {
					p.raw("DELETE", "/bridges/"+url.PathEscape(id), nil, nil)
				}
			}
			// Give the removal the same bound, so the next probe starts
			// from what this one found.
			for end := time.Now().Add(p.wait); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
				if c, b := p.inventory(); slices.Equal(c, chans0) && slices.Equal(b, bridges0) {
					break
				}
			}
			return
		}
		// Destruction of a channel can trail its last event by a moment:
		// poll, with the bound above.
		time.Sleep(20 * time.Millisecond)
	}
}

// raw sends one ARI request without recording it.
func (p *prober) raw(method, path string, qv url.Values, body any) (int, []byte) {
	p.t.Helper()
	u := p.tg.url + path
	if len(qv) > 0 {
		u += "?" + qv.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			p.t.Fatalf("marshal: %v", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		p.t.Fatalf("request: %v", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.SetBasicAuth(p.tg.user, p.tg.pass)
	resp, err := p.hc.Do(req)
	if err != nil {
		p.t.Fatalf("%s %s %s: %v", p.tg.kind, method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		p.t.Fatalf("%s %s: read: %v", method, path, err)
	}
	return resp.StatusCode, b
}

// open connects app's events websocket and waits until Asterisk knows the
// application.
func (p *prober) open(app string) {
	u := strings.Replace(p.tg.url, "http", "ws", 1) + "/events?" +
		url.Values{"app": {app}, "subscribeAll": {"false"}, "api_key": {p.tg.user + ":" + p.tg.pass}}.Encode()
	ctx, cancel := context.WithTimeout(context.Background(), p.wait)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, u, nil)
	if err != nil {
		p.t.Fatalf("%s: events websocket for %s: %v", p.tg.kind, app, err)
	}
	ws.SetReadLimit(1 << 22)
	c := &appConn{ws: ws, events: make(chan map[string]any, 4096), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		defer close(c.events)
		for {
			_, b, err := ws.Read(context.Background())
			if err != nil {
				return
			}
			var ev map[string]any
			if err := json.Unmarshal(b, &ev); err != nil {
				continue
			}
			select {
			case c.events <- ev:
			default:
				return // a probe never gets thousands of events; give up
			}
		}
	}()
	p.conns[app] = c
	p.apps = append(p.apps, app)
	deadline := time.Now().Add(p.wait)
	for {
		if st, body := p.raw("GET", "/applications/"+app, nil, nil); st == 200 {
			// Asterisk keeps an application, and what it subscribed to,
			// for a moment after its websocket closed, and "every
			// channel" or "every bridge" cannot be taken back: an
			// application that comes back with subscriptions would make
			// the probe's trace another one.
			var a appJSON
			if err := json.Unmarshal(body, &a); err != nil {
				p.t.Fatalf("GET /applications/%s: %v", app, err)
			}
			if n := len(a.ChannelIDs) + len(a.BridgeIDs) + len(a.EndpointIDs) + len(a.DeviceNames); n > 0 {
				p.t.Fatalf("%s: application %s starts with subscriptions %s (left by an earlier run; wait a moment or restart Asterisk)", p.tg.kind, app, body)
			}
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s: application %s never registered", p.tg.kind, app)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (p *prober) closeAll() {
	for _, a := range p.apps {
		c := p.conns[a]
		_ = c.ws.Close(websocket.StatusNormalClosure, "")
		<-c.done
	}
}

// --- recorded steps

// do sends one request and records it with its answer. It returns the
// status and the decoded body (nil when empty).
func (p *prober) do(method, path string, qv url.Values, body any) (int, any) {
	p.t.Helper()
	return p.doMasked(nil, method, path, qv, body)
}

// doMasked is do with the answer passed through mask before it is
// recorded (for an answer with a field that races; the probe says which).
func (p *prober) doMasked(mask func(any) any, method, path string, qv url.Values, body any) (int, any) {
	p.t.Helper()
	st, raw := p.raw(method, path, qv, body)
	return p.record(mask, method, path, qv, body, st, raw)
}

// record adds a request and its answer to the trace.
func (p *prober) record(mask func(any) any, method, path string, qv url.Values, body any, st int, raw []byte) (int, any) {
	var got any
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &got); err != nil {
			got = "<not JSON: " + strings.TrimSpace(string(raw)) + ">"
		}
	}
	query := map[string]string{}
	for k := range qv {
		query[k] = qv.Get(k)
	}
	p.log = append(p.log, map[string]any{"kind": "rest",
		"request":  map[string]any{"method": method, "path": "/ari" + path, "query": query, "body": toAny(body)},
		"response": map[string]any{"status": st, "body": toAny(got)}})
	p.norm.learn(got)
	line := method + " " + p.norm.path(path)
	if len(qv) > 0 {
		nq := url.Values{}
		for k, vs := range qv {
			for _, v := range vs {
				nq.Add(k, p.norm.str("", v))
			}
		}
		line += "?" + nq.Encode()
	}
	if body != nil {
		line += " " + canon(p.norm.value("", toAny(body)))
	}
	if mask != nil {
		got = mask(got)
	}
	norm := p.norm.value("", got)
	if list, ok := norm.([]any); ok && method == "GET" {
		// Lists come in Asterisk's container order: compare them as sets.
		sort.Slice(list, func(i, j int) bool { return canon(list[i]) < canon(list[j]) })
	}
	line += fmt.Sprintf(" -> %d", st)
	if got != nil {
		line += " " + canon(norm)
	}
	p.trace = append(p.trace, line)
	return st, got
}

// call is do for a request the probe needs to succeed with status want.
func (p *prober) call(want int, method, path string, qv url.Values, body any) map[string]any {
	p.t.Helper()
	st, got := p.do(method, path, qv, body)
	if st != want {
		p.t.Fatalf("%s: %s %s %v: status %d, want %d (%v)", p.tg.kind, method, path, qv, st, want, got)
	}
	m, _ := got.(map[string]any)
	return m
}

// note adds a comment line to the trace (it is compared like any other).
func (p *prober) note(s string) { p.trace = append(p.trace, "## "+s) }

// match describes an awaited event.
type match struct {
	app  string
	desc string
	f    func(ev map[string]any) bool
}

// on matches an event of type typ about channel (or peer, playback, bridge)
// id, for application app.
func on(app, typ, id string) match {
	return match{app: app, desc: typ + " " + id, f: func(ev map[string]any) bool {
		return ev["type"] == typ && (id == "" || slices.Contains(eventIDs(ev), id))
	}}
}

// eventIDs are the ids an event is about.
func eventIDs(ev map[string]any) []string {
	var out []string
	for _, k := range []string{"channel", "peer", "playback", "bridge"} {
		if m, ok := ev[k].(map[string]any); ok {
			if id, ok := m["id"].(string); ok {
				out = append(out, id)
			}
		}
	}
	return out
}

// until waits (with a bound) for every awaited event, in any order, then
// closes the synchronisation point: every event each application had been
// sent by then goes into the trace under label.
func (p *prober) until(label string, ms ...match) {
	p.t.Helper()
	for _, m := range ms {
		p.await(m)
	}
	p.settle(label)
}

// await consumes events of m.app until one matches m (an event already
// received in this point counts).
func (p *prober) await(m match) map[string]any {
	p.t.Helper()
	for i := range p.seg {
		e := &p.seg[i]
		if e.app == m.app && !e.claimed && m.f(e.ev) {
			e.claimed = true
			return e.ev
		}
	}
	c := p.conns[m.app]
	if c == nil {
		p.t.Fatalf("await %s: application %s not open", m.desc, m.app)
	}
	timer := time.NewTimer(p.wait)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-c.events:
			if !ok {
				p.t.Fatalf("%s: %s websocket closed while waiting for %s", p.tg.kind, m.app, m.desc)
			}
			if isBarrier(ev) {
				continue
			}
			hit := m.f(ev)
			p.seg = append(p.seg, appEvent{app: m.app, ev: ev, claimed: hit})
			p.log = append(p.log, map[string]any{"kind": "event", "event": ev})
			if hit {
				return ev
			}
		case <-timer.C:
			p.trace = append(p.trace, "-- (failed waiting for "+m.desc+")")
			p.trace = append(p.trace, p.render()...)
			p.t.Fatalf("%s: no %s for %s within %v", p.tg.kind, m.desc, m.app, p.wait)
			return nil
		}
	}
}

func isBarrier(ev map[string]any) bool {
	n, _ := ev["eventname"].(string)
	return ev["type"] == "ChannelUserevent" && strings.HasPrefix(n, "conformance-barrier-")
}

// settle closes the synchronisation point without awaiting anything: a
// user event sent to each application comes after every event Asterisk
// published for it before (they share the application's topic), so all of
// those are in.
func (p *prober) settle(label string) {
	p.t.Helper()
	for _, a := range p.apps {
		p.nbar++
		name := fmt.Sprintf("conformance-barrier-%d", p.nbar)
		if st, b := p.raw("POST", "/events/user/"+name, url.Values{"application": {a}}, nil); st != 204 {
			p.t.Fatalf("%s: user event for %s: %d %s", p.tg.kind, a, st, b)
		}
		c := p.conns[a]
		timer := time.NewTimer(p.wait)
	read:
		for {
			select {
			case ev, ok := <-c.events:
				if !ok {
					timer.Stop()
					p.t.Fatalf("%s: %s websocket closed", p.tg.kind, a)
				}
				if isBarrier(ev) {
					if ev["eventname"] == name {
						break read
					}
					continue
				}
				p.seg = append(p.seg, appEvent{app: a, ev: ev})
				p.log = append(p.log, map[string]any{"kind": "event", "event": ev})
			case <-timer.C:
				p.t.Fatalf("%s: barrier %s for %s never arrived", p.tg.kind, name, a)
			}
		}
		timer.Stop()
	}
	lines := p.render()
	p.trace = append(p.trace, fmt.Sprintf("-- %s: %d events", label, len(lines)))
	p.trace = append(p.trace, lines...)
	p.seg = nil
}

// render lists the point's events grouped by application and object.
func (p *prober) render() []string {
	type group struct {
		key   string
		evs   []map[string]any
		lines []string
		dials []map[string]any
	}
	var groups []*group
	byKey := map[string]*group{}
	for _, e := range p.seg {
		p.norm.learn(e.ev)
	}
	for _, e := range p.seg {
		if slices.ContainsFunc(p.hide, func(f func(map[string]any) bool) bool { return f(e.ev) }) {
			continue
		}
		ev := p.norm.value("", e.ev).(map[string]any)
		delete(ev, "application")
		for _, m := range p.masks {
			m(ev)
		}
		key := e.app + " " + p.objectKey(e.ev)
		g := byKey[key]
		if g == nil {
			g = &group{key: key}
			byKey[key] = g
			groups = append(groups, g)
		}
		if c, ok := ev["channel"].(map[string]any); ok && ev["type"] == "ChannelStateChange" {
			// A state change can be published from another thread than
			// the channel's dialplan (a Local half answered, then at once
			// in its next priority): the position its snapshot shows
			// races. ChannelDialplan events tell the position.
			if dp, ok := c["dialplan"].(map[string]any); ok {
				dp["app_name"], dp["app_data"], dp["priority"] = "<racy>", "<racy>", "<racy>"
			}
		}
		if strings.HasPrefix(p.objectKey(e.ev), "dial:") {
			if peer, ok := ev["peer"].(map[string]any); ok && ev["dialstatus"] == "" && (peer["state"] == "Down" || peer["state"] == "Ringing") {
				// The dial's start carries the snapshot of when its thread
				// got to publish it: Down, or Ringing already.
				peer["state"] = "<Down or Ringing>"
			}
			g.dials = append(g.dials, ev)
			continue
		}
		g.evs = append(g.evs, ev)
	}
	sort.SliceStable(groups, func(i, j int) bool { return groups[i].key < groups[j].key })
	for _, g := range groups {
		// Within an object, events keep their order lane by lane (see
		// eventLane): the lanes reach the application by different paths.
		sort.SliceStable(g.evs, func(i, j int) bool { return eventLane(g.evs[i]) < eventLane(g.evs[j]) })
		for _, ev := range g.evs {
			g.lines = append(g.lines, "  "+g.key+" "+canon(ev))
		}
	}
	var out []string
	for _, g := range groups {
		// A Dial event comes from the dial's own thread and can overtake
		// or trail the others (even the one that started the dial):
		// dials are a group of their own, in the order of their status.
		sort.SliceStable(g.dials, func(i, j int) bool { return dialRank(g.dials[i]) < dialRank(g.dials[j]) })
		for _, ev := range g.dials {
			g.lines = append(g.lines, "  "+g.key+" "+canon(ev))
		}
		out = append(out, g.lines...)
	}
	return out
}

// eventLane sorts an object's events into lanes whose order the real
// Asterisk keeps, while the order between lanes is not fixed. The events
// raised by comparing channel snapshots (res/stasis/app.c: state, dialplan
// step, caller id and connected line) come through the channel's cached
// topic and a snapshot can be published from another thread than the
// channel's own (seen: a Local half's ChannelStateChange Up after its next
// ChannelDialplan; Busy's state before the ChannelDialplan of Busy itself;
// a created channel's StasisStart before its ChannelDialplan Stasis). The
// other events (hangup requests, Stasis, variables, bridges, digits) come
// first, in their order; then the snapshot events, kind by kind, each in
// its order. What a snapshot event does not tell by its place, its
// snapshot does: StasisStart's channel shows the state it entered in.
func eventLane(ev map[string]any) int {
	switch ev["type"] {
	case "ChannelCreated", "ChannelStateChange", "ChannelDestroyed":
		return 1
	case "ChannelDialplan":
		return 2
	case "ChannelCallerId", "ChannelConnectedLine":
		return 3
	}
	return 0
}

// dialRank orders a Dial event by its status: the start, progress, then
// the outcome.
func dialRank(ev map[string]any) int {
	switch ev["dialstatus"] {
	case "":
		return 0
	case "PROGRESS":
		return 1
	case "RINGING":
		return 2
	}
	return 3
}

// maskEvents rewrites, in every event of the trace, a field whose value
// the real Asterisk does not repeat reliably (the probe says which and
// why). f gets the normalized event and may change it.
func (p *prober) maskEvents(f func(ev map[string]any)) { p.masks = append(p.masks, f) }

// hideEvents keeps events matching f out of the trace, for an outcome the
// real Asterisk does not repeat reliably (the probe says which and why).
func (p *prober) hideEvents(f func(ev map[string]any) bool) { p.hide = append(p.hide, f) }

// objectKey names what an event is about.
func (p *prober) objectKey(ev map[string]any) string {
	id := func(k string) string {
		m, _ := ev[k].(map[string]any)
		s, _ := m["id"].(string)
		return p.norm.str("id", s)
	}
	switch {
	case ev["playback"] != nil:
		return "playback:" + id("playback")
	case ev["channel"] != nil:
		return "channel:" + id("channel")
	case ev["peer"] != nil:
		return "dial:" + id("peer")
	case ev["bridge"] != nil:
		return "bridge:" + id("bridge")
	}
	return fmt.Sprint(ev["type"])
}

// --- normalization

var (
	uniqueidRE = regexp.MustCompile(`^[0-9]{9,11}\.[0-9]+(;2)?$`)
	uuidRE     = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	// Channel names carry a counter: Local/100@hotline-0000000a;2.
	chanCounterRE = regexp.MustCompile(`((?:Local|PJSIP|Snoop|Announcer|Recorder)/[^\s,]*?)-[0-9a-f]{8}`)
)

// normalizer replaces run-dependent values by placeholders. Ids a probe
// chose stay as they are; a generated channel id becomes a placeholder
// named after its channel, so that two generated ids stay apart.
type normalizer struct {
	ids   map[string]string // generated id → placeholder
	names map[string]int    // placeholders handed out, for duplicates
}

// learn records the generated ids of the channels in v.
func (n *normalizer) learn(v any) {
	switch x := v.(type) {
	case map[string]any:
		id, _ := x["id"].(string)
		name, _ := x["name"].(string)
		if _, known := n.ids[id]; !known && name != "" && uniqueidRE.MatchString(id) {
			ph := "<id of " + chanCounterRE.ReplaceAllString(name, "$1-<n>")
			n.names[ph]++
			if k := n.names[ph]; k > 1 {
				ph += fmt.Sprintf(" #%d", k)
			}
			n.ids[id] = ph + ">"
		}
		for _, vv := range x {
			n.learn(vv)
		}
	case []any:
		for _, vv := range x {
			n.learn(vv)
		}
	}
}

func (n *normalizer) value(key string, v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, vv := range x {
			out[k] = n.value(k, vv)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, vv := range x {
			out[i] = n.value(key, vv)
		}
		if key == "channels" {
			// A bridge's members come in hash order. A generated id in it
			// is the announcer Asterisk puts in a bridge for music on hold
			// or a playback (probes choose the ids of their own channels):
			// whether it is still listed a moment after it was told to go
			// races, so it is left out.
			out = slices.DeleteFunc(out, func(v any) bool { return v == "<uniqueid>" })
			sort.Slice(out, func(i, j int) bool { return fmt.Sprint(out[i]) < fmt.Sprint(out[j]) })
		}
		return out
	case string:
		return n.str(key, x)
	}
	return v
}

func (n *normalizer) str(key, s string) string {
	if s == "" {
		return s
	}
	switch key {
	case "timestamp", "creationtime", "startup_time", "last_reload_time":
		return "<time>"
	case "asterisk_id", "entity_id":
		return "<asterisk_id>"
	case "protocol_id":
		return "<protocol_id>"
	}
	if ph, ok := n.ids[s]; ok {
		return ph
	}
	if kind, id, ok := strings.Cut(s, ":"); ok && (kind == "channel" || kind == "bridge") {
		if ph, ok := n.ids[id]; ok {
			return kind + ":" + ph
		}
	}
	if uniqueidRE.MatchString(s) {
		return "<uniqueid>"
	}
	if uuidRE.MatchString(s) {
		return "<uuid>"
	}
	return chanCounterRE.ReplaceAllString(s, "$1-<n>")
}

// path normalizes the ids in a request path.
func (n *normalizer) path(p string) string {
	segs := strings.Split(p, "/")
	for i, sg := range segs {
		segs[i] = n.str("", sg)
	}
	return strings.Join(segs, "/")
}

// toAny turns a request body into plain JSON values.
func toAny(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}

// canon is v's JSON with sorted keys.
func canon(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return strings.TrimSpace(b.String())
}

// lineDiff is a unified diff of two traces, empty when they are equal.
func lineDiff(a, b []string) string {
	if slices.Equal(a, b) {
		return ""
	}
	n, m := len(a), len(b)
	// lcs[i][j]: length of the longest common subsequence of a[i:], b[j:].
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	type op struct {
		c    byte
		line string
	}
	var ops []op
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && a[i] == b[j]:
			ops = append(ops, op{' ', a[i]})
			i++
			j++
		case j < m && (i == n || lcs[i][j+1] >= lcs[i+1][j]):
			ops = append(ops, op{'+', b[j]})
			j++
		default:
			ops = append(ops, op{'-', a[i]})
			i++
		}
	}
	const ctx = 2
	keep := make([]bool, len(ops))
	for k, o := range ops {
		if o.c != ' ' {
			for c := max(0, k-ctx); c <= min(len(ops)-1, k+ctx); c++ {
				keep[c] = true
			}
		}
	}
	var out strings.Builder
	prev := -1
	for k, o := range ops {
		if !keep[k] {
			continue
		}
		if prev >= 0 && k > prev+1 {
			out.WriteString("...\n")
		}
		out.WriteString(string(o.c) + " " + o.line + "\n")
		prev = k
	}
	return out.String()
}
