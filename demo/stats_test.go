package demo

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hotline-project/hotline/metrics"
)

// TestStatsFromRegistry reads every figure of the summary from a registry
// filled through the metrics package, as the daemon fills it.
func TestStatsFromRegistry(t *testing.T) {
	topics := []string{"audit", "service"}
	reg := metrics.NewRegistry()
	m := metrics.New(reg, topics)
	m.SetSnapshotSource(func(context.Context) (metrics.Snapshot, error) {
		return metrics.Snapshot{
			QueueDepth: map[string]int{"audit": 2, "service": 0},
			Agents:     map[string]int{"available": 3, "on_call": 4, "paused": 1},
		}, nil
	}, time.Second)
	m.CallsOffered.WithLabelValues("audit").Add(5)
	m.CallsOffered.WithLabelValues("service").Add(2)
	m.CallsAnswered.WithLabelValues("audit").Add(4)
	m.CallsAbandoned.WithLabelValues("service").Add(1)
	m.Transfers.WithLabelValues("completed").Add(2)
	m.Transfers.WithLabelValues("declined").Add(1)
	m.Transfers.WithLabelValues("transfer_loop").Add(3)
	m.Callbacks.WithLabelValues("scheduled").Add(1)
	m.Ratings.WithLabelValues("1").Add(6)
	m.Ratings.WithLabelValues("2").Add(1)

	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	s := statsFrom(fams)
	s.Topics = topics
	for _, tc := range []struct {
		name      string
		got, want int
	}{
		{"offered", s.Offered, 7},
		{"answered", s.Answered, 4},
		{"abandoned", s.Abandoned, 1},
		{"waiting audit", s.Waiting["audit"], 2},
		{"agents on call", s.Agents["on_call"], 4},
		{"transfer attempts", s.TransferAttempts(), 6},
		{"transfers refused", s.TransfersRefused(), 3},
		{"callbacks scheduled", s.Callbacks["scheduled"], 1},
		{"ratings", s.RatingsTotal(), 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("got %d, want %d", tc.got, tc.want)
			}
		})
	}
	line := s.Line()
	for _, want := range []string{
		"calls 7 offered, 4 answered, 1 abandoned",
		"waiting audit 2 service 0",
		"agents 3 available 4 on call 1 paused",
		"transfers 2 completed, 1 declined, 3 refused",
		"ratings 6 good, 1 bad",
	} {
		if !strings.Contains(line, want) {
			t.Errorf("summary %q lacks %q", line, want)
		}
	}
}

// TestFreeListen falls back to a free port, and says so, when the asked
// address is taken.
func TestFreeListen(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	busy := ln.Addr().String()
	if addr, note := freeListen(busy); addr != "127.0.0.1:0" || !strings.Contains(note, busy) {
		t.Errorf("busy %s: got %q, %q", busy, addr, note)
	}
	ln.Close()
	if addr, note := freeListen(busy); addr != busy || note != "" {
		t.Errorf("free %s: got %q, %q", busy, addr, note)
	}
}
