package bench

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hotline-project/hotline/dialplan"
)

// The real-Asterisk bench itself is not run by the test suite: it needs
// the Asterisk kit and minutes of load on a machine others share, and its
// figures are a machine's, not a test's. Everything it computes from what
// it observed is tested here on made-up events, with no clock.

func TestDist(t *testing.T) {
	d := NewDist([]time.Duration{9, 1, 5, 3, 7, 2, 8, 4, 6, 10})
	for _, tc := range []struct {
		name string
		got  time.Duration
		want time.Duration
	}{
		{"min", d.Min(), 1}, {"median", d.Median(), 5}, {"p90", d.Q(0.9), 9}, {"max", d.Max(), 10},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %d, want %d", tc.name, tc.got, tc.want)
		}
	}
	if NewDist(nil).Median() != 0 || NewDist(nil).String() != "no samples" {
		t.Error("an empty sample is not zero / no samples")
	}
}

func TestPoissonSchedule(t *testing.T) {
	a := PoissonSchedule(200, 20*time.Second, 7)
	b := PoissonSchedule(200, 20*time.Second, 7)
	if !slices.Equal(a, b) {
		t.Fatal("the same seed gave two schedules")
	}
	if slices.Equal(a, PoissonSchedule(200, 20*time.Second, 8)) {
		t.Fatal("another seed gave the same schedule")
	}
	// 4000 expected; a Poisson count's standard deviation is 63.
	if n := len(a); n < 3700 || n > 4300 {
		t.Errorf("%d arrivals in 20 s at 200/s", n)
	}
	if !slices.IsSorted(a) || a[0] < 0 || a[len(a)-1] >= 20*time.Second {
		t.Error("arrivals not ordered within [0, 20s)")
	}
	// Exponential gaps: their mean is 1/rate and about 1/e of them exceed it.
	long := 0
	for i := 1; i < len(a); i++ {
		if a[i]-a[i-1] > 5*time.Millisecond {
			long++
		}
	}
	if f := float64(long) / float64(len(a)-1); f < 0.33 || f > 0.40 {
		t.Errorf("%.2f of the gaps exceed the mean, want about 0.37", f)
	}
	if PoissonSchedule(0, time.Second, 1) != nil || PoissonSchedule(10, 0, 1) != nil {
		t.Error("no rate or no time should give no arrivals")
	}
}

func TestParseProcStat(t *testing.T) {
	line := "4242 (asterisk (x) y) S 1 4242 4242 0 -1 4194560 1 0 0 0 250 75 0 0 20 0 40 0 1000 0 0"
	s, err := parseProcStat(line)
	if err != nil {
		t.Fatal(err)
	}
	if s.Comm != "asterisk (x) y" || s.PPID != 1 || s.CPU != 3250*time.Millisecond {
		t.Errorf("parsed %+v, want comm with parentheses, ppid 1, 3.25s", s)
	}
	if _, err := parseProcStat("4242 (short) S 1"); err == nil {
		t.Error("a short line was accepted")
	}
	busy, total := parseMachineCPU("cpu  100 10 50 800 40 5 5 0 0 0")
	if busy != 1700*time.Millisecond || total != 10100*time.Millisecond {
		t.Errorf("machine CPU busy %s total %s", busy, total)
	}
}

func TestCallerIDs(t *testing.T) {
	p := &placer{run: "ab12"}
	own, in := p.ids(42)
	for _, tc := range []struct {
		id     string
		seq    int64
		in, ok bool
	}{{own, 42, false, true}, {in, 42, true, true}, {"1796168974.20", 0, false, false}, {"hlbc-x", 0, false, false}} {
		seq, isIn, ok := callerSeq(tc.id)
		if seq != tc.seq || isIn != tc.in || ok != tc.ok {
			t.Errorf("callerSeq(%q) = %d, %v, %v", tc.id, seq, isIn, ok)
		}
	}
	if seq, ok := callerSeqOfNumber(benchCallerNumber(1234)); !ok || seq != 1234 {
		t.Errorf("caller number does not give its sequence back: %d %v", seq, ok)
	}
	if !ours("x", "Local/5000@hlb-agents-0000001f;1") || ours("x", "Local/100@hlb-in-hotline-00000002;2") || !ours(own, "") {
		t.Error("ours misjudges a channel")
	}
}

func TestEventTime(t *testing.T) {
	stamp := time.Date(2026, 1, 1, 0, 0, 0, 330_000_000, time.UTC)
	if got := eventTime(stamp.Add(400*time.Microsecond), stamp); got != stamp.Add(400*time.Microsecond) {
		t.Errorf("a prompt read is not kept: %s", got)
	}
	if got := eventTime(stamp.Add(80*time.Millisecond), stamp); got != stamp.Add(time.Millisecond) {
		t.Errorf("a late read is not held to the stamp: %s", got)
	}
}

// events builds a trace's input: at is milliseconds from t0.
type evb struct {
	t0 time.Time
	ev []obsEvent
}

func (b *evb) add(ms float64, k obsKind, id, name, caller, app string) {
	at := b.t0.Add(time.Duration(ms * float64(time.Millisecond)))
	b.ev = append(b.ev, obsEvent{At: at, Read: at, Kind: k, ID: id, Name: name, Caller: caller, App: app})
}

// call adds a caller seq arriving at arrive (entering the system 1 ms
// later) and, when agent is not "", answered by agent's phone pair key
// from ring to ring+1, hanging up at hang.
func (b *evb) call(seq int64, arrive, ring, hang float64, key string) {
	p := &placer{run: "r"}
	own, in := p.ids(seq)
	num := benchCallerNumber(seq)
	b.add(arrive, evCreated, own, "Local/100@hlb-in-x-1;1", "", "")
	b.add(arrive, evCreated, in, "Local/100@hlb-in-x-1;2", "", "")
	b.add(arrive+1, evDialplan, in, "Local/100@hlb-in-x-1;2", num, "Stasis")
	if key == "" {
		return
	}
	b.add(ring, evCreated, key+"-1", key+";1", "", "")
	b.add(ring, evCreated, key+"-2", key+";2", "", "")
	b.add(ring+1, evUp, key+"-2", key+";2", num, "")
	b.add(hang, evDialplan, key+"-2", key+";2", num, "Hangup")
	b.add(hang+0.5, evDestroyed, key+"-2", key+";2", num, "")
	b.add(hang+0.6, evDestroyed, key+"-1", key+";1", num, "")
	b.add(hang+1, evDestroyed, in, "Local/100@hlb-in-x-1;2", num, "")
	b.add(hang+1, evDestroyed, own, "Local/100@hlb-in-x-1;1", num, "")
}

func TestTraceHandoffs(t *testing.T) {
	b := &evb{t0: time.Now()}
	a := "Local/5000@hlb-agents-0000000"
	b.call(1, 0, 10, 210, a+"1")    // answered at once
	b.call(2, 5, 213, 413, a+"2")   // waited: handoff 3 ms after 210
	b.call(3, 20, 900, 1100, a+"3") // waited: 487 ms after 413
	b.call(4, 1500, 1501, 1700, a+"4")
	// nobody was waiting when 3 ended (4 came later): not a round
	tr := buildTrace(b.ev, true)
	got, unwaited := tr.handoffs()
	want := []time.Duration{3 * time.Millisecond, 487 * time.Millisecond}
	if !slices.Equal(got, want) || unwaited != 1 {
		t.Errorf("handoffs %v (unwaited %d), want %v and 1", got, unwaited, want)
	}
	c := tr.capacity()
	if c.Completed != 4 || len(c.Waits) != 4 || c.Waits[1] != 209*time.Millisecond {
		t.Errorf("capacity %+v", c)
	}
	// Decision: entry into Stasis (arrival + 1 ms) → agent channel.
	if c.Decisions[0] != 9*time.Millisecond {
		t.Errorf("decision %s, want 9ms", c.Decisions[0])
	}
}

func TestTraceIncomplete(t *testing.T) {
	b := &evb{t0: time.Now()}
	b.call(1, 0, 10, 210, "Local/5000@hlb-agents-00000001")
	b.call(2, 5, 0, 0, "") // never answered, never left
	c := buildTrace(b.ev, false).capacity()
	if c.Completed != 1 || len(c.Waits) != 1 {
		t.Errorf("capacity %+v: want 1 completed of 2", c)
	}
}

func TestBenchFiles(t *testing.T) {
	f, err := benchFiles(3, 200*time.Millisecond, callerLimit, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"[hlb-agents]", "Answer(,i)", "Wait(0.200)", "Stasis(hlb-hotline,${EXTEN})",
		"Stasis(hlb-floor,${EXTEN})", "Queue(hlb-capacity)", "exten => 902,1,Answer(,i)", "Wait(600)"} {
		if !strings.Contains(f.Extensions, want) {
			t.Errorf("dialplan lacks %q:\n%s", want, f.Extensions)
		}
	}
	q := f.Queues
	for _, want := range []string{"ringinuse = no", "wrapuptime = 0", "retry = 1",
		"periodic-announce = hotline-tone-3s\nperiodic-announce-frequency = 3", "member => Local/5002@hlb-agents,0,agent5002"} {
		if !strings.Contains(q, want) {
			t.Errorf("queues lack %q:\n%s", want, q)
		}
	}
	if n := strings.Count(q, "member => Local/5000@hlb-agents"); n != 3 {
		t.Errorf("agent 5000 is a member of %d queues, want 3", n)
	}
	if strings.Count(q, "member => ") != 5 || f.queueExten(queueCapacity) != "903" {
		t.Errorf("queues: handoff 1 member each, capacity 3:\n%s", q)
	}
}

func TestHotlineConfigParses(t *testing.T) {
	for _, announce := range []time.Duration{0, 3 * time.Second} {
		cfg, err := hotlineConfig(hotlineParams{URL: "http://127.0.0.1:1/ari", App: hotlineApp, User: "hotline",
			PasswordFile: "/nonexistent/pw", Redis: "127.0.0.1:2", Listen: "127.0.0.1:3", TokensFile: "/nonexistent/t",
			Number: benchNumber, AnnounceEvery: announce.String(), AnnounceSound: announceSound, WaitSound: waitSound,
			Agents: []string{"5000", "5001"}})
		if err != nil {
			t.Fatal(err)
		}
		c, err := dialplan.Parse("bench.yaml", []byte(cfg))
		if err != nil {
			t.Fatalf("%v\n%s", err, cfg)
		}
		if len(c.Agents) != 2 || c.Agents[1].Endpoint != "Local/5001@hlb-agents" || c.Queue.WrapUp != 0 ||
			c.Queue.Whisper || c.Survey.Enabled || c.Queue.AnnounceEvery != announce || c.ARI.Application != hotlineApp {
			t.Errorf("configuration %+v", c)
		}
	}
}

func TestParseMetrics(t *testing.T) {
	text := "# HELP x\nhotline_ari_request_seconds_sum{op=\"answer\"} 0.5\nhotline_ari_request_seconds_count{op=\"answer\"} 100\nother 1\n"
	m, err := parseMetrics(strings.NewReader(text), "hotline_")
	if err != nil || len(m) != 2 {
		t.Fatalf("%v %v", m, err)
	}
	before := map[string]float64{`hotline_ari_request_seconds_sum{op="answer"}`: 0.1, `hotline_ari_request_seconds_count{op="answer"}`: 20}
	got := internals(before, m)
	if v := got[`ari_request_seconds{op="answer"}`]; v != "5.00ms ×80" {
		t.Errorf("internals %v", got)
	}
}

// report is a made-up run: app_queue sustains 150/s, the hotline 250/s.
func report() *AsteriskReport {
	o := AsteriskOptions{Systems: []string{SysQueue, SysHotline, SysFloor}, Rates: []float64{100, 150, 200, 250}, Announce: 3 * time.Second, Rounds: 3, Depth: 3}
	r := &AsteriskReport{Options: o, CPUKnown: true}
	ms := func(v ...float64) Dist {
		d := make([]time.Duration, len(v))
		for i, x := range v {
			d[i] = time.Duration(x * float64(time.Millisecond))
		}
		return NewDist(d)
	}
	for _, ann := range []bool{false, true} {
		r.Handoff = append(r.Handoff, HandoffResult{System: SysQueue, Announce: ann, Samples: ms(100, 500, 900)},
			HandoffResult{System: SysHotline, Announce: ann, Samples: ms(1, 2, 3)})
	}
	r.Decision = []LevelResult{{System: SysHotline, Decisions: ms(1, 1.5, 2)}, {System: SysFloor, Decisions: ms(0.5, 1, 1.5)}}
	level := func(sys string, rate float64, ok bool, astCPU float64) LevelResult {
		l := LevelResult{System: sys, Rate: rate, Offered: 100, Completed: 100, Sustained: ok, Waits: ms(2, 5, 50),
			Decisions: ms(1, 2, 3), CPU: map[string]time.Duration{"asterisk": time.Duration(astCPU * 100 * float64(time.Millisecond))}}
		if !ok {
			l.Completed, l.Why = 90, "10 of 100 callers not served"
		}
		return l
	}
	for _, x := range o.Rates {
		r.Levels = append(r.Levels, level(SysQueue, x, x <= 150, 5), level(SysHotline, x, true, 4.5), level(SysFloor, x, x <= 200, 4))
	}
	return r
}

func TestTargets(t *testing.T) {
	r := report()
	if rate, top := r.Sustained(SysQueue, 0); rate != 150 || top {
		t.Errorf("app_queue sustained %v (top %v)", rate, top)
	}
	if rate, top := r.Sustained(SysHotline, 100*time.Millisecond); rate != 250 || !top {
		t.Errorf("hotline sustained %v (top %v)", rate, top)
	}
	for _, tg := range r.Targets() {
		if !tg.Measurable || !tg.Pass {
			t.Errorf("%s: %s (measurable %v, pass %v)", tg.Name, tg.Measured, tg.Measurable, tg.Pass)
		}
	}
	if !r.OK() {
		t.Error("every target met, yet not OK")
	}
	// The hotline's handoff max over 50 ms, and its Asterisk CPU above
	// app_queue's at one rate: two failures.
	r.Handoff[1].Samples = append(r.Handoff[1].Samples, 60*time.Millisecond)
	r.Levels[1].CPU["asterisk"] = 6 * 100 * time.Millisecond
	var failed []string
	for _, tg := range r.Targets() {
		if !tg.Pass {
			failed = append(failed, tg.Name)
		}
	}
	if len(failed) != 2 || !strings.HasPrefix(failed[0], "handoff max") || !strings.HasPrefix(failed[1], "Asterisk CPU") || r.OK() {
		t.Errorf("failed %v", failed)
	}
}

func TestAsteriskTable(t *testing.T) {
	var out bytes.Buffer
	if err := report().WriteTable(&out); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{"HANDOFF", "DECISION", "CAPACITY", "TARGETS", "1/250", "×1.50",
		"highest rate sustained: app_queue 150/s, hotline ≥ 250/s (the highest offered), floor 200/s",
		"hotline / app_queue sustained rate: ×1.67", "NO: 10 of 100 callers not served", "pass"} {
		if !strings.Contains(s, want) {
			t.Errorf("table lacks %q:\n%s", want, s)
		}
	}
}

func TestAsteriskOptionsRejected(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    AsteriskOptions
	}{
		{"no executable", AsteriskOptions{}},
		{"unknown system", AsteriskOptions{Systems: []string{"asterisk"}}},
		{"system twice", AsteriskOptions{Executable: "/bin/true", Systems: []string{SysQueue, SysHotline, SysQueue}}},
		{"unknown part", AsteriskOptions{Systems: []string{SysQueue}, Skip: []string{"all"}}},
		{"negative rate", AsteriskOptions{Systems: []string{SysQueue}, Rates: []float64{-1}}},
		{"announcements too often", AsteriskOptions{Systems: []string{SysQueue}, Announce: 500 * time.Millisecond}},
		{"url without user", AsteriskOptions{Systems: []string{SysQueue}, URL: "http://127.0.0.1:1/ari"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.o.defaults(); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	o := AsteriskOptions{Executable: "/bin/true"}
	if err := o.defaults(); err != nil || o.Rounds != 60 || !slices.Contains(o.Rates, 225) || o.Agents != 50 {
		t.Errorf("defaults %+v: %v", o, err)
	}
}

// TestAsteriskTableLevelNotRun: a level Asterisk gave up on is a row that
// says why, not a row of zeros, and leaves the sustained rates as they were.
func TestAsteriskTableLevelNotRun(t *testing.T) {
	r := report()
	r.Options.Rates = append(r.Options.Rates, 300)
	r.Levels = append(r.Levels, LevelResult{System: SysFloor, Rate: 300, Why: "the level could not be run: list channels: EOF"})
	var out bytes.Buffer
	if err := r.WriteTable(&out); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	if !strings.Contains(s, "NO: the level could not be run: list channels: EOF") || strings.Contains(s, "0/0") {
		t.Errorf("table:\n%s", s)
	}
	if rate, _ := r.Sustained(SysFloor, 0); rate != 200 {
		t.Errorf("floor sustained %v, want 200", rate)
	}
}
