package callflow

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"testing"
	"time"

	"github.com/hotline-project/hotline/routing"
)

// instantRouter dispatches inside Enqueue, as the router does when an
// agent is free: the offer is delivered before Enqueue returns.
type instantRouter struct {
	*fakeRouter
	e *Engine
}

func (r *instantRouter) Enqueue(ctx context.Context, c Call) (QueueInfo, error) {
	r.e.Deliver(Offer{CallID: c.ID, CaseID: c.CaseID, Topic: c.Topic, Agent: agent("100")})
	// Like the real router: a caller paired inside Enqueue has no place.
	return QueueInfo{}, nil
}

func (r *instantRouter) EnqueueNewCase(ctx context.Context, c Call) (routing.Case, QueueInfo, error) {
	c.CaseID = "case-" + c.CallerNumber
	q, err := r.Enqueue(ctx, c)
	return routing.Case{ID: c.CaseID}, q, err
}

// originateTel signals every originate; everything else succeeds at once.
type originateTel struct {
	*fakeTel
	originated chan string
}

func (t *originateTel) Originate(_ context.Context, req OriginateRequest) error {
	t.originated <- req.ChannelID
	return nil
}

func (t *originateTel) Play(context.Context, string, string, []string, string) error { return nil }

// BenchmarkStasisStartToOriginate measures a direct-topic call from
// StasisStart to the agent's originate request with an agent free
// (docs/performance.md). The router is a fake: this is the call flow's own cost.
func BenchmarkStasisStartToOriginate(b *testing.B) {
	tel := &originateTel{fakeTel: newFakeTel(), originated: make(chan string, 1)}
	r := &instantRouter{fakeRouter: newFakeRouter()}
	e := New(Options{Telephony: tel, Router: r, Callbacks: newFakeCallbacks(), Plan: newFakePlan(), Node: "b", App: "hotline",
		Policy: Policy{RingTimeout: time.Minute, OfferWaitThreshold: time.Hour}})
	r.e = e
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		id := fmt.Sprintf("c%d", i)
		start := time.Now()
		e.HandleEvent(Event{Kind: Entered, Args: []string{"200"}, Channel: id, CallerNumber: "555"})
		<-tel.originated
		lat = append(lat, time.Since(start))
		e.HandleEvent(Event{Kind: Left, Channel: id})
	}
	b.StopTimer()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := e.Stop(ctx); err != nil {
		b.Fatal(err)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// TestNoGoroutineLeak runs calls through several endings and checks that
// the goroutine count returns to where it was.
func TestNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		h := newHarness(t)
		for range 5 {
			ch := h.queued()
			leg, _ := h.connected(ch, "100")
			h.hangup(leg)
			h.cur.expect("survey", playing(ch, "survey"))
			h.hangup(ch)
			h.idle()
		}
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		if err := h.e.Stop(ctx); err != nil {
			t.Fatal(err)
		}
	}()
	waitGoroutines(t, before+1) // +1: the harness's Run until cleanup
}

// quietPlan has no whisper, so an answered agent is connected at once.
type quietPlan struct{ *fakePlan }

func (quietPlan) Whisper(string, WhisperKind) []string { return nil }

// BenchmarkCommandRoundTrip measures an API command's trip through a
// talking call's mailbox and back (a complete with nothing pending: the
// owner screens it and answers ErrNoTransfer, touching no fake).
func BenchmarkCommandRoundTrip(b *testing.B) {
	tel := &originateTel{fakeTel: newFakeTel(), originated: make(chan string, 1)}
	r := &instantRouter{fakeRouter: newFakeRouter()}
	e := New(Options{Telephony: tel, Router: r, Callbacks: newFakeCallbacks(), Plan: quietPlan{newFakePlan()}, Node: "b", App: "hotline",
		Policy: Policy{RingTimeout: time.Minute, OfferWaitThreshold: time.Hour}})
	r.e = e
	e.HandleEvent(Event{Kind: Entered, Args: []string{"200"}, Channel: "c1", CallerNumber: "555"})
	leg := <-tel.originated
	e.HandleEvent(Event{Kind: Entered, Args: []string{"agent", "c1", "100"}, Channel: leg})
	ctx := context.Background()
	deadline := time.Now().Add(waitLimit)
	// Until the conversation runs the command is refused as not the
	// agent's (still ringing): setup, not measured.
	for err := e.CompleteTransfer(ctx, "c1", "100"); !errors.Is(err, ErrNoTransfer); err = e.CompleteTransfer(ctx, "c1", "100") {
		if time.Now().After(deadline) {
			b.Fatalf("call never reached the conversation: %v", err)
		}
		runtime.Gosched()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := e.CompleteTransfer(ctx, "c1", "100"); !errors.Is(err, ErrNoTransfer) {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	stop, cancel := context.WithTimeout(ctx, waitLimit)
	defer cancel()
	e.HandleEvent(Event{Kind: Left, Channel: "c1"})
	if err := e.Stop(stop); err != nil {
		b.Fatal(err)
	}
}
