package routing_test

import (
	"context"
	"testing"
	"time"

	"github.com/hotline-project/hotline/routing"
)

// TestConsultOutlivesRingDeadline: once the target answered, the sweep
// (meant for a dead node) leaves a consult alone until the consult's own
// limit, and still frees the target after it.
func TestConsultOutlivesRingDeadline(t *testing.T) {
	ctx := context.Background()
	const grace = 30 * time.Second // the Router's default SweepGrace
	tests := []struct {
		name     string
		answered bool
		wait     time.Duration
		swept    bool
	}{
		{name: "ringing target past its deadline is swept", wait: 15*time.Second + grace + time.Second, swept: true},
		{name: "answered target in a long consult is kept", answered: true, wait: 15*time.Second + grace + time.Minute},
		{name: "answered target past the consult limit is swept", answered: true, wait: 2*time.Minute + grace + time.Second, swept: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := transferEnv(t)
			tr, err := e.r.BeginTransfer(ctx, routing.TransferRequest{CallID: "c1", By: "a", To: dest("agent:b"), Note: goodNote, Mode: routing.ModeAttended})
			if err != nil {
				t.Fatal(err)
			}
			if tt.answered {
				if err := e.r.ConsultAnswered(ctx, "c1", "b", e.clk.Now().Add(2*time.Minute)); err != nil {
					t.Fatal(err)
				}
			}
			e.clk.Advance(tt.wait)
			if _, err := e.r.Tick(ctx); err != nil {
				t.Fatal(err)
			}
			ringing := e.state(t, "b").State == routing.StateRinging
			if ringing == tt.swept {
				t.Fatalf("target b is %s after %v", e.state(t, "b").State, tt.wait)
			}
			if !tt.swept {
				if err := e.r.AcceptTransfer(ctx, "c1", tr.ID); err != nil {
					t.Fatalf("accept after a long consult: %v", err)
				}
			}
		})
	}
	t.Run("not the claimed target", func(t *testing.T) {
		e := transferEnv(t)
		if _, err := e.r.BeginTransfer(ctx, routing.TransferRequest{CallID: "c1", By: "a", To: dest("agent:b"), Note: goodNote, Mode: routing.ModeAttended}); err != nil {
			t.Fatal(err)
		}
		if err := e.r.ConsultAnswered(ctx, "c1", "c", e.clk.Now().Add(time.Hour)); err == nil {
			t.Fatal("another agent's answer moved the deadline")
		}
	})
}
