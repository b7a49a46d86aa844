package redisstore_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/hotline-project/hotline/internal/redistest"
	"github.com/hotline-project/hotline/redisstore"
	"github.com/hotline-project/hotline/routing"
)

func recvMsg(t *testing.T, ch <-chan routing.NodeMessage) routing.NodeMessage {
	t.Helper()
	select {
	case m, ok := <-ch:
		if !ok {
			t.Fatal("inbox closed")
		}
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no message in the inbox")
	}
	return routing.NodeMessage{}
}

// TestCommandsRoundTrip: a command and a reply reach the named node's inbox
// intact (refusal path included), and nobody else's.
func TestCommandsRoundTrip(t *testing.T) {
	srv := redistest.Start(t)
	rdb := cbClient(t, srv.Addr)
	cmds := redisstore.NewCommands(rdb, "test:")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	inA, err := cmds.Inbox(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	inB, err := cmds.Inbox(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	at := time.UnixMilli(1_800_000_000_000).UTC()
	dest := routing.Destination{Kind: routing.DestTopic, Name: "billing"}
	tests := []struct {
		name string
		to   string
		msg  routing.NodeMessage
	}{
		{"command", "b", routing.NodeMessage{Command: &routing.CallCommand{
			ID: "a-1", From: "a", Timeout: 3 * time.Second, Kind: "transfer", CallID: "c1", By: "alice",
			To: dest, Mode: routing.ModeAttended, Note: "wants a refund", At: at,
		}}},
		{"refusal reply", "a", routing.NodeMessage{Reply: &routing.CallReply{ID: "a-1", Err: &routing.CommandError{
			Kind: "refusal", Message: "transfer_loop: already there",
			Refusal: &routing.Refusal{Code: routing.RefuseLoop, Message: "already there", Path: []routing.Hop{{To: dest, By: "bob", At: at}}},
		}}}},
		{"transfer reply", "a", routing.NodeMessage{Reply: &routing.CallReply{ID: "a-2", Transfer: routing.Transfer{
			ID: "t1", CallID: "c1", By: "alice", To: dest, Path: []routing.Hop{{To: dest, At: at}}, Note: "n",
			Target: routing.AgentStatus{Agent: routing.Agent{ID: "carol", Topics: map[string]int{"billing": 1}}, State: routing.StateRinging, Since: at},
		}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			delivered, err := cmds.Send(ctx, tt.to, tt.msg)
			if err != nil || !delivered {
				t.Fatalf("Send: delivered %v, err %v", delivered, err)
			}
			in, other := inA, inB
			if tt.to == "b" {
				in, other = inB, inA
			}
			got := recvMsg(t, in)
			if !reflect.DeepEqual(got, tt.msg) {
				t.Fatalf("got %+v\nwant %+v", got, tt.msg)
			}
			select {
			case m := <-other:
				t.Fatalf("the other node got %+v", m)
			default:
			}
		})
	}
}

// TestCommandsNobodyListening: a node that is not subscribed (dead) is
// reported at once, and a garbled message is skipped, not delivered.
func TestCommandsNobodyListening(t *testing.T) {
	srv := redistest.Start(t)
	rdb := cbClient(t, srv.Addr)
	cmds := redisstore.NewCommands(rdb, "test:")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	delivered, err := cmds.Send(ctx, "dead", routing.NodeMessage{Reply: &routing.CallReply{ID: "x"}})
	if err != nil || delivered {
		t.Fatalf("Send to nobody: delivered %v, err %v", delivered, err)
	}
	in, err := cmds.Inbox(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	for _, raw := range []string{"not json", "{}", `{"Command":{},"Reply":{}}`} {
		if err := rdb.Publish(ctx, "test:node:a", raw).Err(); err != nil {
			t.Fatal(err)
		}
	}
	want := routing.NodeMessage{Reply: &routing.CallReply{ID: "ok"}}
	if _, err := cmds.Send(ctx, "a", want); err != nil {
		t.Fatal(err)
	}
	if got := recvMsg(t, in); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want the valid message only", got)
	}
	cancel()
	select {
	case _, ok := <-in:
		if ok {
			t.Fatal("message after cancel")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("inbox not closed after ctx ended")
	}
}

// BenchmarkCommandRoundTrip: one forwarded command and its reply through
// Redis pub/sub, the latency a desk on another node adds to a command.
func BenchmarkCommandRoundTrip(b *testing.B) {
	srv := redistest.Start(b)
	rdb := cbClient(b, srv.Addr)
	cmds := redisstore.NewCommands(rdb, "bench:")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	inA, err := cmds.Inbox(ctx, "a")
	if err != nil {
		b.Fatal(err)
	}
	inB, err := cmds.Inbox(ctx, "b")
	if err != nil {
		b.Fatal(err)
	}
	go func() {
		for m := range inB {
			if _, err := cmds.Send(ctx, "a", routing.NodeMessage{Reply: &routing.CallReply{ID: m.Command.ID}}); err != nil {
				return
			}
		}
	}()
	cmd := routing.CallCommand{ID: "a-1", From: "a", Kind: "complete", CallID: "c1", By: "alice"}
	for b.Loop() {
		if _, err := cmds.Send(ctx, "b", routing.NodeMessage{Command: &cmd}); err != nil {
			b.Fatal(err)
		}
		if m := <-inA; m.Reply == nil {
			b.Fatal("no reply")
		}
	}
}
