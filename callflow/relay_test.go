package callflow

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hotline-project/hotline/routing"
)

// fakeTransport is an in-memory CommandTransport: one buffered inbox per
// subscribed node, as Redis pub/sub delivers them.
type fakeTransport struct {
	mu    sync.Mutex
	boxes map[string]chan routing.NodeMessage
	sent  []routing.NodeMessage
}

func newFakeTransport() *fakeTransport {
	return &fakeTransport{boxes: map[string]chan routing.NodeMessage{}}
}

func (f *fakeTransport) Send(_ context.Context, node string, msg routing.NodeMessage) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent = append(f.sent, msg)
	box := f.boxes[node]
	if box == nil {
		return false, nil
	}
	box <- msg
	return true, nil
}

func (f *fakeTransport) Inbox(ctx context.Context, node string) (<-chan routing.NodeMessage, error) {
	box := make(chan routing.NodeMessage, 16)
	f.mu.Lock()
	f.boxes[node] = box
	f.mu.Unlock()
	return box, nil
}

// deaf registers node as listening but never reads: a node that hangs.
func (f *fakeTransport) deaf(node string) {
	f.mu.Lock()
	f.boxes[node] = make(chan routing.NodeMessage, 16)
	f.mu.Unlock()
}

func (f *fakeTransport) listening(node string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.boxes[node] != nil
}

// runRelay runs a relay until the test ends and waits until it listens.
func runRelay(t *testing.T, rl *Relay, tr *fakeTransport, node string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rl.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(waitLimit):
			t.Errorf("relay Run did not return")
		}
	})
	deadline := time.Now().Add(waitLimit)
	for !tr.listening(node) {
		if time.Now().After(deadline) {
			t.Fatalf("relay of %s never listened", node)
		}
		time.Sleep(time.Millisecond)
	}
}

func withNode(n string) option { return func(_ *harness, o *Options) { o.Node = n } }

// TestRelayForwards: a desk on node n2 acts on a call node n1 owns; the
// answers are the ones n1's own API gives, and the caller's media moves
// on n1.
func TestRelayForwards(t *testing.T) {
	tr := newFakeTransport()
	owner := newHarness(t, withTransfers)
	ch := owner.queued()
	leg, _ := owner.connected(ch, "100")
	runRelay(t, NewRelay(owner.e, tr, RelayOptions{}), tr, "n1")

	desk := newHarness(t, withNode("n2"))
	desk.r.mu.Lock()
	desk.r.live[ch] = Call{ID: ch, Node: "n1", State: routing.CallConnected, AgentID: "100"}
	desk.r.live["ended"] = Call{ID: "ended", Node: "n1", State: routing.CallEnded}
	desk.r.live["mine"] = Call{ID: "mine", Node: "n2", State: routing.CallConnected}
	desk.r.mu.Unlock()
	relay := NewRelay(desk.e, tr, RelayOptions{})
	runRelay(t, relay, tr, "n2")

	tests := []struct {
		name   string
		act    func(ctx context.Context) error
		check  func(t *testing.T, err error)
		prompt string // played to the agent's leg on n1
	}{
		{"refusal comes back unwrapped, with its code", func(ctx context.Context) error {
			_, err := relay.Transfer(ctx, ch, "100", toRefuse, "n", routing.ModeAttended)
			return err
		}, func(t *testing.T, err error) {
			ref, ok := err.(*routing.Refusal)
			if !ok || ref.Code != routing.RefuseLoop || ref.Message != "already on the path" {
				t.Fatalf("Transfer = %#v, want the owner's *routing.Refusal", err)
			}
		}, PromptRefusedPrefix + string(routing.RefuseLoop)},
		{"another agent", func(ctx context.Context) error { return relay.CompleteTransfer(ctx, ch, "999") },
			wantIs(ErrNotYourCall), ""},
		{"no transfer pending", func(ctx context.Context) error { return relay.CancelTransfer(ctx, ch, "100") },
			wantIs(ErrNoTransfer), ""},
		{"unknown call", func(ctx context.Context) error { return relay.CompleteTransfer(ctx, "nobody", "100") },
			wantIs(routing.ErrCallGone), ""},
		{"ended call", func(ctx context.Context) error { return relay.CompleteTransfer(ctx, "ended", "100") },
			wantIs(routing.ErrCallGone), ""},
		{"the router names this node but the engine has no such call", func(ctx context.Context) error {
			return relay.CompleteTransfer(ctx, "mine", "100")
		}, wantIs(routing.ErrCallGone), ""},
		{"owner does not know the call any more", func(ctx context.Context) error {
			desk.r.mu.Lock()
			desk.r.live["stale"] = Call{ID: "stale", Node: "n1", State: routing.CallConnected}
			desk.r.mu.Unlock()
			return relay.CompleteTransfer(ctx, "stale", "100")
		}, wantIs(routing.ErrCallGone), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.act(apiCtx(t))
			tt.check(t, err)
			if tt.prompt != "" {
				owner.cur.expect("prompt on the owner's agent leg", playing(leg, tt.prompt))
			}
		})
	}
	// The same refusal through n1's own API: the two paths agree.
	_, local := owner.e.Transfer(apiCtx(t), ch, "100", toRefuse, "n", routing.ModeAttended)
	_, remote := relay.Transfer(apiCtx(t), ch, "100", toRefuse, "n", routing.ModeAttended)
	if local == nil || remote == nil || local.Error() != remote.Error() {
		t.Errorf("local %v, forwarded %v: want the same error", local, remote)
	}
	if _, err := relay.Escalate(apiCtx(t), ch, "999", ""); err == nil || err.Error() != mustErr(owner.e.Escalate(apiCtx(t), ch, "999", "")).Error() {
		t.Errorf("escalate by another agent: forwarded %v differs from local", err)
	}
}

func mustErr(_ Callback, err error) error {
	if err == nil {
		return errors.New("no error")
	}
	return err
}

func wantIs(target error) func(t *testing.T, err error) {
	return func(t *testing.T, err error) {
		t.Helper()
		if !errors.Is(err, target) {
			t.Fatalf("err = %v, want %v", err, target)
		}
	}
}

// TestRelayOwnerUnavailable: a node that is not listening fails at once,
// one that never answers fails when the relay's timeout (or the request's
// deadline) passes, both as ErrNodeUnavailable; a requester that leaves
// gets its own cancellation.
func TestRelayOwnerUnavailable(t *testing.T) {
	tr := newFakeTransport()
	tr.deaf("hung")
	desk := newHarness(t, withNode("n2"))
	desk.r.mu.Lock()
	desk.r.live["c-dead"] = Call{ID: "c-dead", Node: "dead", State: routing.CallConnected}
	desk.r.live["c-hung"] = Call{ID: "c-hung", Node: "hung", State: routing.CallConnected}
	desk.r.mu.Unlock()
	relay := NewRelay(desk.e, tr, RelayOptions{Timeout: 50 * time.Millisecond})
	runRelay(t, relay, tr, "n2")

	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		call string
		want error
	}{
		{"not listening", context.Background(), "c-dead", routing.ErrNodeUnavailable},
		{"no answer within the relay's timeout", context.Background(), "c-hung", routing.ErrNodeUnavailable},
		{"no answer within the request's deadline", apiCtx(t), "c-hung", routing.ErrNodeUnavailable},
		{"requester left", canceled, "c-hung", context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := relay.ScheduleCallback(tt.ctx, tt.call, "100", time.Now().Add(time.Hour), "")
			if !errors.Is(err, tt.want) {
				t.Fatalf("ScheduleCallback = %v, want %v", err, tt.want)
			}
		})
	}
	relay.mu.Lock()
	n := len(relay.pending)
	relay.mu.Unlock()
	if n != 0 {
		t.Errorf("%d forwarded commands still pending", n)
	}
}

// TestCommandErrorRoundTrip: every error the owner's path returns comes
// back matching the same sentinels, with the same message.
func TestCommandErrorRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		err  error
		is   []error
	}{
		{"not your call", ErrNotYourCall, []error{ErrNotYourCall}},
		{"no transfer", ErrNoTransfer, []error{ErrNoTransfer}},
		{"gone", routing.ErrCallGone, []error{routing.ErrCallGone}},
		{"not talking", errNotTalking(), []error{ErrNotTalking, routing.ErrIllegalTransition}},
		{"not answered", errors.Join(ErrNotAnswered, routing.ErrIllegalTransition), []error{ErrNotAnswered, routing.ErrIllegalTransition}},
		{"not accepted", fmt.Errorf("transfer not accepted: %w", routing.ErrIllegalTransition), []error{routing.ErrIllegalTransition}},
		{"overflow", ErrMailboxOverflow, []error{ErrMailboxOverflow}},
		{"case not found", fmt.Errorf("schedule owner callback: case k1: %w", routing.ErrNotFound), []error{routing.ErrNotFound}},
		{"invalid", &routing.ValidationError{Field: "owner", Reason: "missing"}, []error{routing.ErrInvalid}},
		{"store timed out", fmt.Errorf("escalate: %w", context.DeadlineExceeded), []error{context.DeadlineExceeded}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := decodeCommandError("n1", encodeCommandError(tt.err))
			for _, target := range tt.is {
				if !errors.Is(got, target) {
					t.Errorf("%v does not match %v", got, target)
				}
			}
			if got.Error() != tt.err.Error() {
				t.Errorf("message %q, want %q", got, tt.err)
			}
		})
	}
	if decodeCommandError("n1", encodeCommandError(nil)) != nil {
		t.Error("nil error did not stay nil")
	}
}
