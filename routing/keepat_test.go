package routing_test

import (
	"context"
	"testing"
	"time"

	"github.com/hotline-project/hotline/internal/redistest"
	"github.com/hotline-project/hotline/routing"
)

// TestKeepPositionAt: a place kept while the topic is closed joins the
// queue when the topic opens, not before, at the caller's place in line.
func TestKeepPositionAt(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	clock := newCBClock(cbStart)
	router := newFakeCallbackRouter()
	n := newCBNode(t, "a", srv.Addr, clock, router, cbPolicy())
	opens := cbStart.Add(10 * time.Hour)
	call := routing.Call{ID: "call-8", CaseID: "case-8", Topic: "audit", CallerNumber: "+48221234567", Lang: "pl", EnqueuedAt: cbStart}
	cb, err := n.svc.KeepPositionAt(ctx, call, opens)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := n.svc.KeepPositionAt(ctx, call, opens); err != nil || again.ID != cb.ID {
		t.Fatalf("second key press: %s %v", again.ID, err)
	}
	if cb.Kind != routing.CallbackQueue || !cb.DueAt.Equal(opens) || cb.CallID != "call-8" {
		t.Fatalf("callback %+v", cb)
	}
	for _, step := range []time.Duration{0, time.Hour, 9*time.Hour - time.Second} {
		clock.Advance(step)
		tick(t, n)
		if enq, _ := router.calls(); len(enq) != 0 {
			t.Fatalf("queued %v before the topic opens: %+v", clock.Now().Sub(cbStart), enq)
		}
	}
	clock.Advance(time.Second)
	tick(t, n)
	enq, _ := router.calls()
	if len(enq) != 1 || enq[0].CallbackID != cb.ID || !enq[0].EnqueuedAt.Equal(cbStart) {
		t.Fatalf("at opening: %+v", enq)
	}
	if d := n.takeDials(); len(d) != 0 {
		t.Fatalf("dialled without an offer: %+v", d)
	}
}
