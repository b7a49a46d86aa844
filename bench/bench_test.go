package bench

import (
	"bytes"
	"context"
	"encoding/binary"
	"os/exec"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hotline-project/hotline/internal/redistest"
)

// TestRunTiny runs a tiny bench end to end: every scenario and the floor,
// the table, and no call lost or misrouted. It asserts what happened,
// never how fast.
func TestRunTiny(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole daemon; skipped with -short")
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server not found in PATH: apt-get install redis-server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rep, err := Run(ctx, Options{Calls: 50, Rate: 50, Agents: 5, Hold: 20 * time.Millisecond, Concurrent: 30, TransferEvery: 5, HandoffRounds: 5})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := rep.WriteTable(&out); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out.String())
	if !rep.OK() {
		t.Fatalf("problems: %v", rep.Problems())
	}
	tp := rep.Throughput
	if tp.Connected != 50 || len(tp.StartToOriginate) != 50 {
		t.Errorf("connected %d, StasisStart samples %d; want 50 and 50", tp.Connected, len(tp.StartToOriginate))
	}
	if tp.TransferChecks != 10 || len(tp.TransferCheck) != 10 || tp.TransferTrips != 10 {
		t.Errorf("transfer checks %d, samples %d, Redis trips %d; want 10 each", tp.TransferChecks, len(tp.TransferCheck), tp.TransferTrips)
	}
	if tp.RedisTrips == 0 {
		t.Error("no Redis round trip counted")
	}
	if c := rep.Concurrent; c.Abandoned != 30 || c.Lost != 0 || c.HeapHotline == 0 || c.HeapIdle == 0 {
		t.Errorf("concurrent: %+v", *c)
	}
	if f := rep.Floor; f == nil || f.Connected != 50 || len(f.StartToOriginate) != 50 {
		t.Errorf("floor run %+v: want 50 connected, 50 samples", f)
	}
	if h := rep.Handoff; h == nil || h.Lost != 0 || len(h.FreedToOriginate) != 5 {
		t.Errorf("handoff %+v: want 5 rounds, none lost", h)
	}
	if !rep.GoroutinesReturned() {
		t.Errorf("goroutines: %d after, %d before", rep.GoroutinesAfter, rep.GoroutinesBaseline)
	}
	for _, want := range []string{"StasisStart → agent originate", "the floor (bare ARI router)", "handoff: agent freed → next caller's originate",
		"Redis round trips per call", "memory per active call (daemon)", "goroutines baseline / peak / after"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q", want)
		}
	}
}

// TestRunPhonesDriver runs a few calls with the phones package playing
// the phones, as the end-to-end suite does.
func TestRunPhonesDriver(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole daemon; skipped with -short")
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server not found in PATH: apt-get install redis-server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rep, err := Run(ctx, Options{Calls: 20, Rate: 40, Agents: 3, Hold: 20 * time.Millisecond, Concurrent: 10, Driver: DriverPhones})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Throughput.Connected != 20 || rep.Concurrent.Abandoned != 10 {
		var out bytes.Buffer
		_ = rep.WriteTable(&out)
		t.Fatalf("problems %v\n%s", rep.Problems(), out.String())
	}
}

func TestOptionsRejected(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Options
	}{
		{"nothing to do", Options{Rate: 10}},
		{"no rate", Options{Calls: 10, Agents: 1}},
		{"calls without agents", Options{Calls: 10, Rate: 10}},
		{"negative", Options{Calls: -1, Rate: 10, Agents: 1}},
		{"unknown driver", Options{Calls: 1, Rate: 10, Agents: 1, Driver: "sip"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Run(context.Background(), tc.o); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

// frame encodes one unmasked server frame.
func frame(fin bool, op byte, payload []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	out := []byte{b0}
	switch n := len(payload); {
	case n < 126:
		out = append(out, byte(n))
	case n < 1<<16:
		out = append(out, 126, 0, 0)
		binary.BigEndian.PutUint16(out[2:], uint16(n))
	default:
		out = append(out, 127, 0, 0, 0, 0, 0, 0, 0, 0)
		binary.BigEndian.PutUint64(out[2:], uint64(n))
	}
	return append(out, payload...)
}

// TestTapFrames feeds websocket streams in awkward pieces and checks which
// StasisStarts reach the recorder.
func TestTapFrames(t *testing.T) {
	caller := []byte(`{"type":"StasisStart","application":"hotline","args":["100"],"channel":{"id":"c1"}}`)
	agent := []byte(`{"type":"StasisStart","application":"hotline","args":["agent","x","5000"],"channel":{"id":"a1"}}`)
	other := []byte(`{"type":"StasisStart","application":"phones","args":["100"],"channel":{"id":"p1"}}`)
	big := []byte(`{"type":"StasisStart","application":"hotline","args":["200"],"channel":{"id":"c2"},"pad":"` +
		strings.Repeat("x", 70000) + `"}`)
	for _, tc := range []struct {
		name   string
		stream []byte
		chunk  int
		want   []string
	}{
		{"one frame", frame(true, 1, caller), 0, []string{"c1"}},
		{"byte by byte", frame(true, 1, caller), 1, []string{"c1"}},
		{"agent leg ignored", frame(true, 1, agent), 0, nil},
		{"other application ignored", frame(true, 1, other), 0, nil},
		{"ping between", append(append(frame(true, 9, []byte("hi")), frame(true, 1, caller)...), frame(true, 1, big)...), 7, []string{"c1", "c2"}},
		{"fragmented", append(frame(false, 1, caller[:10]), frame(true, 0, caller[10:])...), 3, []string{"c1"}},
		{"64-bit length", frame(true, 1, big), 1000, []string{"c2"}},
		{"incomplete", frame(true, 1, caller)[:20], 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := NewRecorder(map[string]string{"100": "audit", "200": "service"}, nil)
			c := &tapConn{tap: &Tap{app: "hotline", rec: rec}}
			chunk := tc.chunk
			if chunk == 0 {
				chunk = len(tc.stream)
			}
			for s := tc.stream; len(s) > 0; {
				n := min(chunk, len(s))
				c.feed(time.Now(), s[:n])
				s = s[n:]
			}
			var got []string
			for id, cr := range rec.calls {
				if !cr.started.IsZero() {
					got = append(got, id)
				}
			}
			if strings.Join(slices.Sorted(slices.Values(got)), ",") != strings.Join(tc.want, ",") {
				t.Errorf("StasisStarts %v, want %v", got, tc.want)
			}
		})
	}
}

// TestRecorder walks the recorder through arrivals, originates and a
// hangup with a caller waiting.
func TestRecorder(t *testing.T) {
	rec := NewRecorder(map[string]string{"100": "audit", "200": "service"},
		map[string][]string{"a": {"audit"}, "b": {"service"}})
	t0 := time.Now()
	rec.stasisStarted(t0, "h1", "100")
	rec.originated(t0.Add(time.Millisecond), "h1", "Local/a@phones", "call1", "a")
	rec.link("p1", "h1")
	if _, _, _, ok := rec.connected("h1"); !ok {
		t.Fatal("h1 not connectable")
	}
	rec.stasisStarted(t0.Add(2*time.Millisecond), "h2", "100") // waits: a is busy
	rec.hungUp(t0.Add(10*time.Millisecond), "p1")              // a freed with h2 waiting
	rec.originated(t0.Add(13*time.Millisecond), "h2", "Local/a@phones", "call2", "a")
	rec.stasisStarted(t0.Add(20*time.Millisecond), "h3", "200")
	rec.originated(t0.Add(21*time.Millisecond), "h3", "Local/a@phones", "call3", "a") // a does not take service
	rec.originated(t0.Add(22*time.Millisecond), "nobody", "Local/b@phones", "call4", "b")
	// The daemon may answer a StasisStart before the tap has booked it.
	rec.originated(t0.Add(31*time.Millisecond), "h5", "Local/b@phones", "call5", "b")
	rec.stasisStarted(t0.Add(30*time.Millisecond), "h5", "200")

	start, freed, misrouted, unknown := rec.samples()
	want := []time.Duration{time.Millisecond, 11 * time.Millisecond, time.Millisecond, time.Millisecond}
	if !slices.Equal(start, want) {
		t.Errorf("start samples %v, want %v", start, want)
	}
	for topic, n := range rec.waiting {
		if n != 0 {
			t.Errorf("%d callers of %s still counted as waiting", n, topic)
		}
	}
	if len(freed) != 1 || freed[0] != 3*time.Millisecond {
		t.Errorf("freed samples %v, want [3ms]", freed)
	}
	if len(misrouted) != 1 || !strings.Contains(misrouted[0], "call3") {
		t.Errorf("misrouted %v, want call3", misrouted)
	}
	if unknown != 1 {
		t.Errorf("unknown originates %d, want 1", unknown)
	}
}

func TestQuantile(t *testing.T) {
	s := []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 5}, {0.99, 10}, {1, 10}, {0.1, 1}, {0, 1}} {
		t.Run(time.Duration(tc.q*100).String(), func(t *testing.T) {
			if got := quantile(s, tc.q); got != tc.want {
				t.Errorf("quantile(%v) = %v, want %v", tc.q, got, tc.want)
			}
		})
	}
}

// TestRedisCounter checks what counts as a round trip, against a real
// Redis: a command, a pipeline as one, a new connection's handshake apart,
// and the bench's own work apart from the daemon's.
func TestRedisCounter(t *testing.T) {
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = rdb.Close() })
	c := &redisCounter{}
	rdb.AddHook(c)
	ctx := context.Background()
	if err := rdb.Set(ctx, "k", "v", 0).Err(); err != nil { // dials: handshake + SET
		t.Fatal(err)
	}
	if _, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Get(ctx, "k")
		p.Get(ctx, "k")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var trips atomic.Int64
	if err := rdb.Get(benchContext(ctx, &trips), "k").Err(); err != nil {
		t.Fatal(err)
	}
	got := c.snapshot()
	if got.Trips != 2 || got.Cmds != 3 || got.BenchTrips != 1 || trips.Load() != 1 || c.setups.Load() == 0 {
		t.Errorf("counts %+v, bench ctx %d, setups %d; want 2 trips, 3 commands, 1 bench trip, some setups",
			got, trips.Load(), c.setups.Load())
	}
}
