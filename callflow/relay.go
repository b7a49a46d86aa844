package callflow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hotline-project/hotline/routing"
)

// Several nodes serve one hotline (docs/behaviour.md, Several nodes), and an agent's desk may talk
// to any of them, but only the node whose Asterisk holds a call can act on
// it. A Relay is the HTTP API's CallControl on such a hotline: a command
// for one of this node's calls runs here; one for a call the router says
// another node owns travels to that node's inbox, runs through the owner's
// own path there, and its answer comes back as the same error the owner's
// API would have returned, so the status codes do not depend on which
// node the desk reached.

// CommandTransport carries commands and replies between nodes;
// redisstore.Commands implements it.
type CommandTransport interface {
	// Send publishes msg to node's inbox; delivered is false when no node
	// listens there.
	Send(ctx context.Context, node string, msg routing.NodeMessage) (delivered bool, err error)
	// Inbox receives this node's messages until ctx ends or the
	// subscription fails (the channel closes).
	Inbox(ctx context.Context, node string) (<-chan routing.NodeMessage, error)
}

// RelayOptions configures a Relay.
type RelayOptions struct {
	// Timeout bounds how long a forwarded command waits for the owner's
	// answer (default 5s; the request's own deadline, if sooner, wins).
	// The owner answers as soon as the call has taken the command — a
	// transfer once a target is claimed — so a few seconds is plenty, and
	// a dead owner costs the agent no more than that.
	Timeout time.Duration
	Logger  *slog.Logger
}

// Relay runs live-call commands on whichever node owns the call.
type Relay struct {
	e       *Engine
	t       CommandTransport
	timeout time.Duration
	log     *slog.Logger
	seq     atomic.Uint64

	// mu guards pending: the forwarded commands waiting for a reply, by
	// correlation id. Each channel has room for its one reply.
	mu      sync.Mutex
	pending map[string]chan routing.CallReply
}

// NewRelay returns a Relay for engine's node. Until Run listens, nothing
// reaches this node: its own forwarded commands time out and other nodes'
// commands to it fail at once as ErrNodeUnavailable.
func NewRelay(engine *Engine, t CommandTransport, opts RelayOptions) *Relay {
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = engine.log
	}
	r := &Relay{e: engine, t: t, timeout: opts.Timeout, log: opts.Logger, pending: map[string]chan routing.CallReply{}}
	// Command ids start at the wall clock, so a late reply meant for this
	// node's previous process never matches a command of this one.
	r.seq.Store(uint64(time.Now().UnixNano()))
	return r
}

// Transfer is Engine.Transfer on any node's call.
func (r *Relay) Transfer(ctx context.Context, callID, by string, to routing.Destination, note string, mode routing.TransferMode) (Transfer, error) {
	return transfer(ctx, r.control, callID, by, to, note, mode)
}

// CompleteTransfer is Engine.CompleteTransfer on any node's call.
func (r *Relay) CompleteTransfer(ctx context.Context, callID, by string) error {
	return completeTransfer(ctx, r.control, callID, by)
}

// CancelTransfer is Engine.CancelTransfer on any node's call.
func (r *Relay) CancelTransfer(ctx context.Context, callID, by string) error {
	return cancelTransfer(ctx, r.control, callID, by)
}

// ScheduleCallback is Engine.ScheduleCallback on any node's call.
func (r *Relay) ScheduleCallback(ctx context.Context, callID, by string, at time.Time, note string) (Callback, error) {
	return scheduleCallback(ctx, r.control, callID, by, at, note)
}

// Escalate is Engine.Escalate on any node's call.
func (r *Relay) Escalate(ctx context.Context, callID, by, note string) (Callback, error) {
	return escalate(ctx, r.control, callID, by, note)
}

// control runs cmd here when the call is this node's, else forwards it.
func (r *Relay) control(ctx context.Context, callID string, cmd *command) (cmdResult, error) {
	res, err := r.e.controlLocal(ctx, callID, cmd)
	if !errors.Is(err, errNotHere) {
		return res, err
	}
	return r.forward(ctx, callID, cmd)
}

// forward sends cmd to the node the router names for the call and waits
// for its reply under ctx and the relay's timeout.
func (r *Relay) forward(ctx context.Context, callID string, cmd *command) (cmdResult, error) {
	call, err := r.e.router.Call(ctx, callID)
	switch {
	case errors.Is(err, routing.ErrNotFound):
		return cmdResult{}, routing.ErrCallGone
	case err != nil:
		return cmdResult{}, fmt.Errorf("find the call's node: %w", err)
	case call.Node == "" || call.Node == r.e.node || call.State == routing.CallEnded:
		// The router still names this node, but the engine has no such
		// call: it ended (or detached) a moment ago.
		return cmdResult{}, routing.ErrCallGone
	}
	node := call.Node
	wctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	deadline, _ := wctx.Deadline()
	id := r.e.node + "-" + strconv.FormatUint(r.seq.Add(1), 36)
	reply := make(chan routing.CallReply, 1)
	r.mu.Lock()
	r.pending[id] = reply
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.pending, id)
		r.mu.Unlock()
	}()
	msg := routing.CallCommand{
		ID: id, From: r.e.node, Timeout: time.Until(deadline), Kind: cmd.kind.wire(),
		CallID: callID, By: cmd.by, To: cmd.to, Mode: cmd.mode, Note: cmd.note, At: cmd.at,
	}
	r.log.Info("command forwarded", logCall, callID, "command", cmd.kind.String(), "node", node, "by", cmd.by)
	delivered, err := r.t.Send(wctx, node, routing.NodeMessage{Command: &msg})
	switch {
	case err != nil && ctx.Err() == nil:
		// Nothing reached the owner: retrying is safe.
		return cmdResult{}, fmt.Errorf("forward to node %s: %w: %w", node, routing.ErrNodeUnavailable, err)
	case err == nil && !delivered:
		return cmdResult{}, fmt.Errorf("node %s is not listening: %w", node, routing.ErrNodeUnavailable)
	}
	select {
	case rep := <-reply:
		return cmdResult{tr: rep.Transfer, cb: rep.Callback}, decodeCommandError(node, rep.Err)
	case <-wctx.Done():
		if ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return cmdResult{}, context.Cause(ctx) // the requester left
		}
		r.log.Warn("forwarded command not answered", logCall, callID, "command", cmd.kind.String(), "node", node)
		return cmdResult{}, fmt.Errorf("node %s did not answer: %w", node, routing.ErrNodeUnavailable)
	}
}

// Run listens to this node's inbox until ctx ends: it runs the commands
// other nodes forward to this node's calls and hands the replies to its
// own forwarded commands to their waiters. Each command runs in its own
// goroutine, bounded by the requester's timeout; Run returns once they
// have all ended.
func (r *Relay) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	var inbox <-chan routing.NodeMessage
	resub := time.NewTimer(0)
	defer resub.Stop()
	backoff := 100 * time.Millisecond
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-resub.C:
			ch, err := r.t.Inbox(ctx, r.e.node)
			if err != nil {
				r.log.Warn("subscribe to the node's inbox", logErr, err, "retry_in", backoff)
				resub.Reset(backoff)
				backoff = min(backoff*2, 5*time.Second)
				continue
			}
			backoff = 100 * time.Millisecond
			inbox = ch
		case m, ok := <-inbox:
			switch {
			case !ok:
				// Messages sent meanwhile are lost; their senders time
				// out, which is all a dead inbox could tell them.
				inbox = nil
				resub.Reset(backoff)
			case m.Reply != nil:
				r.deliver(*m.Reply)
			case m.Command != nil:
				wg.Add(1)
				go func() {
					defer wg.Done()
					r.serve(ctx, *m.Command)
				}()
			}
		}
	}
}

// deliver hands a reply to the forwarded command waiting for it; a reply
// nobody waits for any more (timed out) is dropped.
func (r *Relay) deliver(rep routing.CallReply) {
	r.mu.Lock()
	ch := r.pending[rep.ID]
	delete(r.pending, rep.ID)
	r.mu.Unlock()
	if ch != nil {
		ch <- rep
	}
}

// serve runs a forwarded command through this node's own path and sends
// the answer back. A call that is not here is gone: the command is never
// forwarded again, so two nodes that disagree cannot bounce it.
func (r *Relay) serve(ctx context.Context, c routing.CallCommand) {
	rep := routing.CallReply{ID: c.ID}
	kind, ok := parseCmdKind(c.Kind)
	if !ok {
		rep.Err = &routing.CommandError{Kind: errKindOther, Message: "unknown command " + strconv.Quote(c.Kind)}
	} else {
		timeout := c.Timeout
		if timeout <= 0 || timeout > r.timeout {
			timeout = r.timeout
		}
		cctx, cancel := context.WithTimeout(ctx, timeout)
		res, err := r.e.controlLocal(cctx, c.CallID, &command{kind: kind, by: c.By, to: c.To, mode: c.Mode, note: c.Note, at: c.At})
		cancel()
		if errors.Is(err, errNotHere) {
			err = routing.ErrCallGone
		}
		rep.Transfer, rep.Callback, rep.Err = res.tr, res.cb, encodeCommandError(err)
		r.log.Info("forwarded command", logCall, c.CallID, "command", kind.String(), "from", c.From, "by", c.By, logErr, err)
	}
	// The reply goes out even while this node stops: the requester is
	// still waiting.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.e.cleanupT)
	defer cancel()
	if _, err := r.t.Send(sctx, c.From, routing.NodeMessage{Reply: &rep}); err != nil {
		r.log.Warn("reply to a forwarded command", logCall, c.CallID, "node", c.From, logErr, err)
	}
}

// Command kinds on the wire.
var cmdWire = map[cmdKind]string{
	cmdTransfer: "transfer", cmdComplete: "complete", cmdCancel: "cancel",
	cmdCallback: "callback", cmdEscalate: "escalate",
}

func (k cmdKind) wire() string { return cmdWire[k] }

func parseCmdKind(s string) (cmdKind, bool) {
	for k, w := range cmdWire {
		if w == s {
			return k, true
		}
	}
	return 0, false
}

// Error kinds on the wire, each with the sentinels the requester's error
// wraps (the order of remoteErrors is the order they are tested in: the
// specific illegal transitions before the general one).
const (
	errKindRefusal = "refusal"
	errKindOther   = "other"
)

var remoteErrors = []struct {
	kind string
	is   []error
}{
	{"not_your_call", []error{ErrNotYourCall}},
	{"no_transfer", []error{ErrNoTransfer}},
	{"call_gone", []error{routing.ErrCallGone}},
	{"not_talking", []error{ErrNotTalking, routing.ErrIllegalTransition}},
	{"not_answered", []error{ErrNotAnswered, routing.ErrIllegalTransition}},
	{"illegal_transition", []error{routing.ErrIllegalTransition}},
	{"mailbox_overflow", []error{ErrMailboxOverflow}},
	{"node_unavailable", []error{routing.ErrNodeUnavailable}},
	{"not_found", []error{routing.ErrNotFound}},
	{"invalid", []error{routing.ErrInvalid}},
	{"timeout", []error{context.DeadlineExceeded}},
}

func encodeCommandError(err error) *routing.CommandError {
	if err == nil {
		return nil
	}
	if ref, ok := routing.AsRefusal(err); ok {
		return &routing.CommandError{Kind: errKindRefusal, Message: err.Error(), Refusal: ref}
	}
	for _, re := range remoteErrors {
		if errors.Is(err, re.is[0]) {
			return &routing.CommandError{Kind: re.kind, Message: err.Error()}
		}
	}
	return &routing.CommandError{Kind: errKindOther, Message: err.Error()}
}

// remoteError is an owner's error as the requester sees it: the owner's
// message, and the sentinels its kind names.
type remoteError struct {
	msg string
	is  []error
}

func (e *remoteError) Error() string   { return e.msg }
func (e *remoteError) Unwrap() []error { return e.is }

func decodeCommandError(node string, ce *routing.CommandError) error {
	if ce == nil {
		return nil
	}
	if ce.Kind == errKindRefusal && ce.Refusal != nil {
		return ce.Refusal // unwrapped, as the owner's path returns it
	}
	for _, re := range remoteErrors {
		if ce.Kind == re.kind {
			return &remoteError{msg: ce.Message, is: re.is}
		}
	}
	return fmt.Errorf("on node %s: %s", node, ce.Message)
}
