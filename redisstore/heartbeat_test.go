package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hotline-project/hotline/internal/redistest"
	"github.com/hotline-project/hotline/redisstore"
	"github.com/hotline-project/hotline/routing"
)

// TestHeartbeatRevived checks what a heartbeat reports: revived when the
// node had no live heartbeat (first one, or after it lapsed), not when it
// refreshes a live one.
func TestHeartbeatRevived(t *testing.T) {
	srv := redistest.Start(t)
	st, _ := newStore(t, srv.Addr, redisstore.Options{})
	ctx := context.Background()
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	ttl := 15 * time.Second
	steps := []struct {
		name string
		node string
		at   time.Duration // since t0
		want bool
	}{
		{"first heartbeat", "n1", 0, true},
		{"refreshed before it lapsed", "n1", 5 * time.Second, false},
		{"on its expiry still alive", "n1", 20 * time.Second, false},
		{"after it lapsed", "n1", 36 * time.Second, true},
		{"another node's first", "n2", 36 * time.Second, true},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			now := t0.Add(s.at)
			got, err := st.Heartbeat(ctx, s.node, now, now.Add(ttl))
			if err != nil {
				t.Fatal(err)
			}
			if got != s.want {
				t.Errorf("revived = %v, want %v", got, s.want)
			}
		})
	}
	if _, err := st.Heartbeat(ctx, "", t0, t0.Add(ttl)); err == nil {
		t.Error("heartbeat with no node accepted")
	}
}

// TestDeadCallersAreLookedPast checks that pairing finds a live caller
// behind a dead node's callers however many there are (the script reads
// the queue a page at a time), and leaves the dead node's callers queued.
func TestDeadCallersAreLookedPast(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	tests := []struct {
		dead      int
		wantOffer bool
	}{
		{dead: 0, wantOffer: true},
		{dead: 63, wantOffer: true},
		{dead: 64, wantOffer: true},
		{dead: 200, wantOffer: true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d dead ahead", tt.dead), func(t *testing.T) {
			st, _ := newStore(t, srv.Addr, redisstore.Options{Prefix: fmt.Sprintf("scan%d:", tt.dead)})
			now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
			tm := routing.Timing{Now: now, RingTimeout: 15 * time.Second, Node: "n1"}
			if err := st.SyncAgents(ctx, []routing.Agent{{ID: "a", Topics: map[string]int{"audit": 0}}}, now); err != nil {
				t.Fatal(err)
			}
			enqueue := func(id, node string, at time.Time) {
				t.Helper()
				call := routing.Call{ID: id, Topic: "audit", Node: node, EnqueuedAt: at}
				hop := routing.Hop{To: routing.Destination{Kind: routing.DestTopic, Name: "audit"}, At: at}
				if _, _, err := st.Enqueue(ctx, routing.Entry{Call: call, Hop: hop}, tm); err != nil {
					t.Fatalf("enqueue %s: %v", id, err)
				}
			}
			for i := range tt.dead {
				enqueue(fmt.Sprintf("dead%03d", i), "gone", now.Add(time.Duration(i)*time.Millisecond))
			}
			enqueue("live", "n1", now.Add(time.Second))
			d, err := st.Change(ctx, routing.AgentChange{Op: routing.OpLogin, AgentID: "a", Topics: []string{"audit"}}, tm)
			if err != nil {
				t.Fatal(err)
			}
			offered := len(d.Offers) == 1 && d.Offers[0].CallID == "live"
			if offered != tt.wantOffer || len(d.Offers) > 1 {
				t.Errorf("offers %+v, want live offered: %v", d.Offers, tt.wantOffer)
			}
			if tt.dead > 0 {
				if _, err := st.Call(ctx, "dead000"); errors.Is(err, routing.ErrNotFound) {
					t.Error("a dead node's caller was dropped from the queue")
				}
			}
		})
	}
}
