package callflow

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/hotline-project/hotline/routing"
)

// Live-call control for the HTTP API. The API goroutine never touches a
// call's state: it posts a command into the call's mailbox and waits for
// the call's own goroutine to answer on a buffered channel, so the owner
// never blocks on a requester that has gone away.

// Errors of the live-call control.
var (
	// ErrNotYourCall: the acting agent is not the agent connected on the
	// call (the API answers 403).
	ErrNotYourCall = routing.ErrNotYourCall
	// ErrNoTransfer: complete or cancel with no transfer pending.
	ErrNoTransfer = routing.ErrNoTransfer
	// ErrNotTalking: the call is in a phase that takes no command (the
	// agent's whisper, a callback still ringing the caller, a consult for
	// a callback). It wraps routing.ErrIllegalTransition; retrying later
	// is safe.
	ErrNotTalking = errors.New("call not in conversation")
	// ErrNotAnswered: a transfer cannot be completed before its target has
	// answered. It wraps routing.ErrIllegalTransition.
	ErrNotAnswered = errors.New("transfer target has not answered")
)

// cmdKind is what the API asks of a live call.
type cmdKind int

const (
	cmdTransfer cmdKind = iota + 1
	cmdComplete
	cmdCancel
	cmdCallback
	cmdEscalate
)

func (k cmdKind) String() string {
	switch k {
	case cmdTransfer:
		return "transfer"
	case cmdComplete:
		return "complete transfer"
	case cmdCancel:
		return "cancel transfer"
	case cmdCallback:
		return "schedule callback"
	case cmdEscalate:
		return "escalate to senior"
	}
	return "command " + strconv.Itoa(int(k))
}

// command is one API request travelling through a call's mailbox. Only
// the call's goroutine reads or writes its fields after it is posted.
type command struct {
	kind cmdKind
	by   string
	to   routing.Destination
	mode routing.TransferMode
	note string
	at   time.Time
	// left is closed when the requester stopped waiting: a command found
	// in that state is dropped rather than acted on for nobody.
	left <-chan struct{}
	// reply has room for the one answer, so answering never blocks.
	reply    chan cmdResult
	answered bool
}

type cmdResult struct {
	tr  Transfer
	cb  Callback
	err error
}

// answer replies once; later answers (and answers to no command, nil) are
// dropped, so shared paths can answer unconditionally.
func (m *command) answer(r cmdResult) {
	if m == nil || m.answered {
		return
	}
	m.answered = true
	m.reply <- r
}

func (m *command) fail(err error) { m.answer(cmdResult{err: err}) }

func errNotTalking() error {
	return fmt.Errorf("%w: %w", ErrNotTalking, routing.ErrIllegalTransition)
}

// controlFunc runs one command on a call and waits for its answer: the
// engine's own control reaches this node's calls, a Relay's any node's.
type controlFunc func(ctx context.Context, callID string, cmd *command) (cmdResult, error)

// Transfer starts an attended transfer of callID by the agent on it, as
// the *2/*3 feature codes do; a blind mode is refused or converted by the
// router's policy. It returns once the router has claimed a target (the
// consult then runs on its own) or refused: a refusal is the router's
// *routing.Refusal, unwrapped, and is announced to the agent too. An empty
// note uses the case's. Only this node's calls: see Relay for the others.
func (e *Engine) Transfer(ctx context.Context, callID, by string, to routing.Destination, note string, mode routing.TransferMode) (Transfer, error) {
	return transfer(ctx, e.control, callID, by, to, note, mode)
}

// CompleteTransfer connects the caller with the answered target of the
// pending transfer, as # does.
func (e *Engine) CompleteTransfer(ctx context.Context, callID, by string) error {
	return completeTransfer(ctx, e.control, callID, by)
}

// CancelTransfer drops the pending transfer and puts the caller back with
// the transferring agent, as *0 does.
func (e *Engine) CancelTransfer(ctx context.Context, callID, by string) error {
	return cancelTransfer(ctx, e.control, callID, by)
}

// ScheduleCallback makes the agent on the call the owner of a callback due
// at the given time (as *7 does, with the time and note chosen): the caller
// hears that the agent will call back and roughly when, then the agent's
// part of the call ends. An empty note uses the case's.
func (e *Engine) ScheduleCallback(ctx context.Context, callID, by string, at time.Time, note string) (Callback, error) {
	return scheduleCallback(ctx, e.control, callID, by, at, note)
}

// Escalate asks the senior operators to call the caller back with the
// note ("let me speak to a manager", docs/behaviour.md, Requests): the caller hears that a
// senior will call back, then the agent's part of the call ends. An empty
// note uses the case's.
func (e *Engine) Escalate(ctx context.Context, callID, by, note string) (Callback, error) {
	return escalate(ctx, e.control, callID, by, note)
}

func transfer(ctx context.Context, control controlFunc, callID, by string, to routing.Destination, note string, mode routing.TransferMode) (Transfer, error) {
	r, err := control(ctx, callID, &command{kind: cmdTransfer, by: by, to: to, mode: mode, note: note})
	if err != nil {
		if _, ok := routing.AsRefusal(err); ok {
			return Transfer{}, err
		}
		return Transfer{}, fmt.Errorf("transfer %s: %w", callID, err)
	}
	return r.tr, nil
}

func completeTransfer(ctx context.Context, control controlFunc, callID, by string) error {
	if _, err := control(ctx, callID, &command{kind: cmdComplete, by: by}); err != nil {
		return fmt.Errorf("complete transfer %s: %w", callID, err)
	}
	return nil
}

func cancelTransfer(ctx context.Context, control controlFunc, callID, by string) error {
	if _, err := control(ctx, callID, &command{kind: cmdCancel, by: by}); err != nil {
		return fmt.Errorf("cancel transfer %s: %w", callID, err)
	}
	return nil
}

func scheduleCallback(ctx context.Context, control controlFunc, callID, by string, at time.Time, note string) (Callback, error) {
	r, err := control(ctx, callID, &command{kind: cmdCallback, by: by, at: at, note: note})
	if err != nil {
		return Callback{}, fmt.Errorf("schedule callback %s: %w", callID, err)
	}
	return r.cb, nil
}

func escalate(ctx context.Context, control controlFunc, callID, by, note string) (Callback, error) {
	r, err := control(ctx, callID, &command{kind: cmdEscalate, by: by, note: note})
	if err != nil {
		return Callback{}, fmt.Errorf("escalate %s: %w", callID, err)
	}
	return r.cb, nil
}

// errNotHere: the call is not one of this engine's (another node's, or
// ended). The engine alone answers it as routing.ErrCallGone; a Relay
// looks for the call's node first.
var errNotHere = errors.New("call not on this node")

// control runs cmd on one of this node's calls; any other is gone.
func (e *Engine) control(ctx context.Context, callID string, cmd *command) (cmdResult, error) {
	r, err := e.controlLocal(ctx, callID, cmd)
	if errors.Is(err, errNotHere) {
		return cmdResult{}, routing.ErrCallGone
	}
	return r, err
}

// controlLocal posts cmd to the call and waits for its answer, the call's
// end or ctx, whichever comes first. Nothing is started here: when ctx
// ends first the command stays in the mailbox and its owner drops it.
func (e *Engine) controlLocal(ctx context.Context, callID string, cmd *command) (cmdResult, error) {
	e.mu.Lock()
	c := e.calls[callID]
	e.mu.Unlock()
	if c == nil {
		return cmdResult{}, errNotHere
	}
	cmd.left = ctx.Done()
	cmd.reply = make(chan cmdResult, 1)
	// Not e.post: a request must not be able to abort a call, so a full
	// mailbox only fails the request (a retry is safe, nothing was done).
	if !c.mb.put(message{cmd: cmd}) {
		return cmdResult{}, ErrMailboxOverflow
	}
	select {
	case r := <-cmd.reply:
		return r, r.err
	case <-c.ended:
		// The answer may have been given just before the call ended.
		select {
		case r := <-cmd.reply:
			return r, r.err
		default:
		}
		return cmdResult{}, routing.ErrCallGone
	case <-ctx.Done():
		return cmdResult{}, context.Cause(ctx)
	}
}

// screen is how a call's goroutine receives a command: it drops commands
// nobody waits for, refuses the wrong agent, and refuses when the current
// phase takes no commands. true means the phase handles it.
func (c *call) screen(cmd *command, phaseTakes bool) bool {
	select {
	case <-cmd.left:
		c.log.Debug("command dropped: requester left", "command", cmd.kind.String())
		return false
	default:
	}
	switch {
	case c.agentLeg == "" || cmd.by != c.agentID:
		c.log.Info("command refused: not the connected agent", "command", cmd.kind.String(), "by", cmd.by)
		cmd.fail(ErrNotYourCall)
	case !phaseTakes:
		c.log.Info("command refused: call not in conversation", "command", cmd.kind.String(), "by", cmd.by)
		cmd.fail(errNotTalking())
	default:
		c.log.Info("command", "command", cmd.kind.String(), "by", cmd.by)
		return true
	}
	return false
}

// talkCommand runs an API command during the conversation. done means the
// agent's part has ended (the caller goes on to the survey).
func (c *call) talkCommand(cmd *command) (done bool, err error) {
	switch cmd.kind {
	case cmdTransfer:
		return false, c.transfer(cmd.to, cmd.mode, cmd.note, false, cmd)
	case cmdCallback:
		return c.ownerCallback(cmd)
	case cmdEscalate:
		return c.escalateCommand(cmd)
	default:
		cmd.fail(ErrNoTransfer)
		return false, nil
	}
}

// escalate schedules the senior callback of the case and tells the caller.
func (c *call) escalate(note string) (Callback, error) {
	if note == "" {
		if cs, err := c.e.router.Case(c.ctx, c.kase.id); err == nil {
			note = cs.Note
		}
	}
	cb, err := c.e.cbs.EscalateToSenior(c.ctx, c.kase.id, note)
	if err != nil {
		return Callback{}, fmt.Errorf("escalate to senior: %w", err)
	}
	c.kase.owed = true
	c.e.metrics.Callback("scheduled")
	return cb, nil
}

// escalateCommand runs the API's escalation: the caller hears that a
// senior will call back, then the agent's part ends.
func (c *call) escalateCommand(cmd *command) (done bool, err error) {
	cb, err := c.escalate(cmd.note)
	if err != nil {
		c.log.Warn("escalate", logErr, err)
		cmd.fail(err)
		return false, nil
	}
	cmd.answer(cmdResult{cb: cb})
	if err := c.playWait(c.caller, c.prompts(c.lang, PromptSeniorWillCall), c.lang); err != nil {
		return false, err
	}
	c.hangupLeg(c.agentLeg)
	return true, nil
}

// ownerCallback schedules the owner callback of an API request and tells
// the caller; the agent stays on until the caller has heard it.
func (c *call) ownerCallback(cmd *command) (done bool, err error) {
	note := cmd.note
	if note == "" {
		if cs, err := c.e.router.Case(c.ctx, c.kase.id); err == nil {
			note = cs.Note
		}
	}
	cb, err := c.e.cbs.ScheduleOwner(c.ctx, c.kase.id, c.agentID, cmd.at, note)
	if err != nil {
		c.log.Warn("schedule owner callback", logErr, err)
		cmd.fail(fmt.Errorf("schedule owner callback: %w", err))
		return false, nil
	}
	c.kase.owed = true
	c.e.metrics.Callback("scheduled")
	cmd.answer(cmdResult{cb: cb})
	media := c.prompts(c.lang, PromptOwnerWillCall)
	if in := c.prompts(c.lang, PromptCallbackIn); len(in) > 0 {
		n, unit := RoughlyIn(cmd.at.Sub(c.e.clock.Now()))
		media = append(media, in...)
		media = append(media, "number:"+strconv.Itoa(n))
		media = append(media, c.prompts(c.lang, unit)...)
	}
	if err := c.playWait(c.caller, media, c.lang); err != nil {
		return false, err
	}
	c.hangupLeg(c.agentLeg)
	return true, nil
}

// RoughlyIn rounds the time until a callback to what a caller is told:
// a number and the prompt of its unit (PromptMinutes, PromptHours or
// PromptDays). Minutes are rounded up (a callback a little early is better
// than a promise broken), larger units to the nearest.
func RoughlyIn(d time.Duration) (n int, unit string) {
	switch {
	case d < 90*time.Minute:
		return max(1, int((d+time.Minute-1)/time.Minute)), PromptMinutes
	case d < 36*time.Hour:
		return int((d + 30*time.Minute) / time.Hour), PromptHours
	default:
		return int((d + 12*time.Hour) / (24 * time.Hour)), PromptDays
	}
}
