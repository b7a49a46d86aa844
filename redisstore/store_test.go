package redisstore_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hotline-project/hotline/internal/redistest"
	"github.com/hotline-project/hotline/redisstore"
	"github.com/hotline-project/hotline/routing"
)

// scriptSpy records the keys of every script call and counts round trips
// (one per command sent alone, one per pipeline; connection handshakes
// are not counted).
type scriptSpy struct {
	trips atomic.Int64
	mu    sync.Mutex
	keys  [][]string
}

func (s *scriptSpy) DialHook(next redis.DialHook) redis.DialHook { return next }

func setup(cmd redis.Cmder) bool {
	switch cmd.Name() {
	case "hello", "client", "auth", "select":
		return true
	}
	return false
}

func (s *scriptSpy) record(cmd redis.Cmder) {
	name := cmd.Name()
	if name != "evalsha" && name != "eval" {
		return
	}
	args := cmd.Args()
	n, _ := strconv.Atoi(fmt.Sprint(args[2]))
	keys := make([]string, n)
	for i := range n {
		keys[i] = fmt.Sprint(args[3+i])
	}
	s.mu.Lock()
	s.keys = append(s.keys, keys)
	s.mu.Unlock()
}

func (s *scriptSpy) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if !setup(cmd) {
			s.trips.Add(1)
		}
		s.record(cmd)
		return next(ctx, cmd)
	}
}

func (s *scriptSpy) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		counted := false
		for _, c := range cmds {
			if setup(c) {
				counted = true
			}
			s.record(c)
		}
		if !counted {
			s.trips.Add(1)
		}
		return next(ctx, cmds)
	}
}

func newStore(tb testing.TB, addr string, opts redisstore.Options) (*redisstore.Store, *scriptSpy) {
	tb.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	tb.Cleanup(func() { _ = rdb.Close() })
	spy := &scriptSpy{}
	rdb.AddHook(spy)
	st := redisstore.New(rdb, opts)
	if err := st.LoadScripts(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return st, spy
}

func hashTag(k string) string {
	i := strings.IndexByte(k, '{')
	if i < 0 {
		return k
	}
	j := strings.IndexByte(k[i+1:], '}')
	if j <= 0 {
		return k
	}
	return k[i+1 : i+1+j]
}

// TestScriptKeysShareOneSlot drives every script through a scenario and
// checks the Redis Cluster rule: all keys of one script call share a hash
// tag (so they live in one slot).
func TestScriptKeysShareOneSlot(t *testing.T) {
	srv := redistest.Start(t)
	var observed sync.Map
	st, spy := newStore(t, srv.Addr, redisstore.Options{Observe: func(op string, d time.Duration, err error) {
		observed.Store(op, true)
	}})
	r := routing.New(st, st, routing.Options{Node: "n1", Policy: routing.Policy{RingTimeout: time.Second, MinNoteLength: 1, MaxHops: 3}})
	ctx := context.Background()
	agents := []routing.Agent{
		{ID: "a", Topics: map[string]int{"audit": 0}},
		{ID: "b", Topics: map[string]int{"service": 0, "audit": 1}},
	}
	steps := []struct {
		name string
		f    func() error
	}{
		{"sync", func() error { return r.SyncAgents(ctx, agents) }},
		{"login", func() error { return r.Login(ctx, "a") }},
		{"case", func() error {
			_, _, err := r.EnqueueNewCase(ctx, routing.Call{ID: "c1", CallerNumber: "+1", Topic: "audit"})
			return err
		}},
		{"answer", func() error {
			c, err := r.Call(ctx, "c1")
			if err != nil {
				return err
			}
			a, _ := r.Agent(ctx, "a")
			return r.Answered(ctx, routing.Offer{CallID: "c1", CaseID: c.CaseID, Topic: "audit", Agent: a})
		}},
		{"transfer", func() error {
			if err := r.Login(ctx, "b"); err != nil {
				return err
			}
			tr, err := r.BeginTransfer(ctx, routing.TransferRequest{CallID: "c1", By: "a", To: routing.Destination{Kind: routing.DestTopic, Name: "service"}, Note: "n"})
			if err != nil {
				return err
			}
			return r.AcceptTransfer(ctx, "c1", tr.ID)
		}},
		{"rate and end", func() error {
			c, _ := r.Call(ctx, "c1")
			if _, err := r.Rate(ctx, c.CaseID, 1); err != nil {
				return err
			}
			if err := r.EndCall(ctx, "c1", "b"); err != nil {
				return err
			}
			_, err := r.CloseCase(ctx, c.CaseID)
			return err
		}},
	}
	for _, s := range steps {
		if err := s.f(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
	}
	spy.mu.Lock()
	defer spy.mu.Unlock()
	if len(spy.keys) < 10 {
		t.Fatalf("only %d script calls seen", len(spy.keys))
	}
	for _, keys := range spy.keys {
		for _, k := range keys[1:] {
			if hashTag(k) != hashTag(keys[0]) {
				t.Errorf("script keys in different slots: %v", keys)
				break
			}
		}
	}
	for _, op := range []string{"enqueue", "login", "check_transfer", "case_rate"} {
		if _, ok := observed.Load(op); !ok {
			t.Errorf("Observe never told of %s", op)
		}
	}
}

// BenchmarkRoutingDecision measures enqueue → offer: one caller paired
// with one free agent by one script. Freeing the agent again between
// iterations is not timed.
func BenchmarkRoutingDecision(b *testing.B) {
	srv := redistest.Start(b)
	st, spy := newStore(b, srv.Addr, redisstore.Options{})
	ctx := context.Background()
	if err := st.SyncAgents(ctx, []routing.Agent{{ID: "a", Topics: map[string]int{"audit": 0}}}, time.Now()); err != nil {
		b.Fatal(err)
	}
	tm := routing.Timing{Now: time.Now(), RingTimeout: 15 * time.Second, Node: "n1"}
	if _, err := st.Change(ctx, routing.AgentChange{Op: routing.OpLogin, AgentID: "a", Topics: []string{"audit"}}, tm); err != nil {
		b.Fatal(err)
	}
	var trips int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id := "c" + strconv.Itoa(i)
		before := spy.trips.Load()
		d, _, err := st.Enqueue(ctx, routing.Entry{Call: routing.Call{ID: id, Topic: "audit", Node: "n1"}, Hop: routing.Hop{To: routing.Destination{Kind: routing.DestTopic, Name: "audit"}}}, tm)
		trips += spy.trips.Load() - before
		if err != nil || len(d.Offers) != 1 {
			b.Fatalf("enqueue: %v %d offers", err, len(d.Offers))
		}
		b.StopTimer()
		if _, err := st.Leave(ctx, id, tm); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(trips)/float64(b.N), "roundtrips/op")
}

// BenchmarkTransferCheck measures the transfer path check on a call with
// two hops: refused as a loop, and passed (the pending hop recorded; its
// removal between iterations is not timed).
func BenchmarkTransferCheck(b *testing.B) {
	srv := redistest.Start(b)
	st, spy := newStore(b, srv.Addr, redisstore.Options{})
	ctx := context.Background()
	tm := routing.Timing{Now: time.Now(), Node: "n1"}
	if _, _, err := st.Enqueue(ctx, routing.Entry{Call: routing.Call{ID: "c1", Topic: "audit", Node: "n1"}, Hop: routing.Hop{To: routing.Destination{Kind: routing.DestTopic, Name: "audit"}}}, tm); err != nil {
		b.Fatal(err)
	}
	if err := st.Talked(ctx, "c1", "", "a", tm.Now); err != nil {
		b.Fatal(err)
	}
	cases := []struct {
		name   string
		to     routing.Destination
		refuse routing.RefusalCode
	}{
		{"loop", routing.Destination{Kind: routing.DestAgent, Name: "a"}, routing.RefuseLoop},
		{"pass", routing.Destination{Kind: routing.DestTopic, Name: "service"}, ""},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			var trips int64
			for i := 0; i < b.N; i++ {
				id := "t" + strconv.Itoa(i)
				before := spy.trips.Load()
				pc, err := st.CheckTransfer(ctx, "c1", routing.PendingTransfer{ID: id, By: "a", To: tc.to, Note: "router resets", At: tm.Now}, 5)
				trips += spy.trips.Load() - before
				if err != nil || pc.Refused != tc.refuse {
					b.Fatalf("check: %v %q", err, pc.Refused)
				}
				if tc.refuse == "" {
					b.StopTimer()
					if err := st.DropTransfer(ctx, "c1", id); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
			}
			b.ReportMetric(float64(trips)/float64(b.N), "roundtrips/op")
		})
	}
}
