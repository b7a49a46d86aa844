package api

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/hotline-project/hotline/routing"
)

func drain(ch <-chan Update) (got []Update, closed bool) {
	for {
		select {
		case u, ok := <-ch:
			if !ok {
				return got, true
			}
			got = append(got, u)
		default:
			return got, false
		}
	}
}

func TestHubDeliversAndFilters(t *testing.T) {
	h := NewHub(HubOptions{Buffer: 8})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	all := h.Subscribe(ctx, nil)
	only100 := h.Subscribe(ctx, func(u Update) (Update, bool) { return u, len(u.Agents) > 0 && u.Agents[0] == "100" })

	h.Publish(AgentUpdate(routing.AgentStatus{Agent: routing.Agent{ID: "100"}, State: routing.StateAvailable}))
	h.Publish(AgentUpdate(routing.AgentStatus{Agent: routing.Agent{ID: "200"}, State: routing.StatePaused}))
	h.Publish(QueueUpdate("audit", 3))

	got, closed := drain(all)
	if closed || len(got) != 3 {
		t.Fatalf("all: %d updates, closed %v", len(got), closed)
	}
	for i := 1; i < len(got); i++ {
		if got[i].Seq <= got[i-1].Seq {
			t.Errorf("sequence not increasing: %d after %d", got[i].Seq, got[i-1].Seq)
		}
	}
	raw, ok := got[2].Data.(json.RawMessage)
	if !ok || string(raw) != `{"topic":"audit","waiting":3}` {
		t.Errorf("queue payload %T %s", got[2].Data, raw)
	}
	mine, _ := drain(only100)
	if len(mine) != 1 || mine[0].Kind != UpdateAgent {
		t.Errorf("filtered subscriber got %+v", mine)
	}
}

func TestHubDropsSlowSubscriber(t *testing.T) {
	h := NewHub(HubOptions{Buffer: 2})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	slow := h.Subscribe(ctx, nil)
	fast := h.Subscribe(ctx, nil)
	for i := range 3 {
		h.Publish(QueueUpdate("service", i))
		if i == 1 {
			drain(fast) // keeps up
		}
	}
	got, closed := drain(slow)
	if !closed || len(got) != 2 {
		t.Errorf("slow subscriber: %d updates, closed %v; want the buffered 2, then closed", len(got), closed)
	}
	if got, closed := drain(fast); closed || len(got) != 1 {
		t.Errorf("fast subscriber: %d updates, closed %v", len(got), closed)
	}
	if h.Dropped() != 1 || h.Subscribers() != 1 {
		t.Errorf("dropped %d, subscribers %d", h.Dropped(), h.Subscribers())
	}
}

func TestHubUnsubscribesOnContextEnd(t *testing.T) {
	h := NewHub(HubOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	ch := h.Subscribe(ctx, nil)
	cancel()
	if _, ok := <-ch; ok {
		t.Fatal("channel delivered after cancel")
	}
	if n := h.Subscribers(); n != 0 {
		t.Errorf("%d subscribers left", n)
	}
	h.Publish(QueueUpdate("service", 1)) // no subscriber: must not panic on the closed channel
}

func TestHubBadPayloadSkipped(t *testing.T) {
	h := NewHub(HubOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := h.Subscribe(ctx, nil)
	h.Publish(Update{Kind: UpdateCall, Data: func() {}})
	if got, _ := drain(ch); len(got) != 0 {
		t.Errorf("unencodable update delivered: %+v", got)
	}
}

func TestUpdateAudience(t *testing.T) {
	tests := []struct {
		name           string
		u              Update
		agents, former []string
		topic          string
	}{
		{"queued call concerns nobody but seniors", CallUpdate(Call{ID: "c", Topic: "audit", State: CallQueued}), nil, nil, ""},
		{"connected call concerns its agent", CallUpdate(Call{ID: "c", Topic: "audit", AgentID: "1", State: CallConnected}), []string{"1"}, nil, ""},
		{"a call handed on concerns its former agent", CallUpdate(Call{ID: "c", AgentID: "1", State: CallConnected}, "2"), []string{"1"}, []string{"2"}, ""},
		{"queue depth concerns its topic", QueueUpdate("audit", 2), nil, nil, "audit"},
		{"callback concerns its owner", CallbackUpdate(Callback{ID: "b", Owner: "7"}), []string{"7"}, nil, ""},
		{"senior callback concerns seniors only", CallbackUpdate(Callback{ID: "b", Kind: CallbackSenior}), nil, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if fmt.Sprint(tt.u.Agents) != fmt.Sprint(tt.agents) || fmt.Sprint(tt.u.Former) != fmt.Sprint(tt.former) || tt.u.Topic != tt.topic {
				t.Errorf("agents %v former %v topic %q, want %v %v %q", tt.u.Agents, tt.u.Former, tt.u.Topic, tt.agents, tt.former, tt.topic)
			}
		})
	}
}

func BenchmarkHubPublish(b *testing.B) {
	for _, subs := range []int{1, 50, 500} {
		b.Run(fmt.Sprintf("subscribers=%d", subs), func(b *testing.B) {
			h := NewHub(HubOptions{Buffer: 1 << 20})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			for i := range subs {
				id := fmt.Sprint(i)
				h.Subscribe(ctx, func(u Update) (Update, bool) { return u, len(u.Agents) > 0 && u.Agents[0] == id })
			}
			u := AgentUpdate(routing.AgentStatus{Agent: routing.Agent{ID: "7", Name: "Agent 7"}, State: routing.StateAvailable})
			b.ReportAllocs()
			for b.Loop() {
				h.Publish(u)
			}
		})
	}
}
