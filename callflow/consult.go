package callflow

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hotline-project/hotline/routing"
)

// consult is the consulting phase's state: an attended transfer from the
// agent on the call to its target.
type consult struct {
	tr     Transfer
	phone  bool // the agent's phone asked for it: its outcome is reported back
	start  time.Time
	target string // the target's leg; empty until originated
	// answered: the target took the consult call; joined: they are in the
	// bridge with the transferring agent (after the whisper).
	answered, joined bool
	// ring times the target's ringing, then (once answered) the consult
	// itself: transfer.consult_timeout from the answer to the accept.
	ring Timer
	// The playbacks the consult waits for.
	callerPB, whisperPB, acceptPB string
	keys                          digits // a feature code the transferring agent is keying
}

var (
	errNoAnswer  = errors.New("no answer")
	errCancelled = errors.New("cancelled by the transferring agent")
)

// consult is the attended transfer: the caller is told where they go and
// holds, the target rings, hears the whisper, joins the agent and accepts
// or declines with one key. The agent may complete (#) or cancel (*0).
func (c *call) consult(tr Transfer, phone bool) error {
	k := &consult{tr: tr, phone: phone, start: c.e.clock.Now()}
	c.phase = phase{kind: consulting, consult: k}
	if err := c.holdCaller(k); err != nil {
		c.cancelTransfer(tr, false)
		return err
	}
	target, err := c.originateAgent(tr.Target.Endpoint, tr.Target.ID, c.e.policy.RingTimeout)
	if err != nil {
		c.log.Warn("originate transfer target", "transfer", tr.ID, "target", tr.Target.ID, logErr, err)
		return c.consultEnd(k, false, nil)
	}
	k.target = target
	k.ring = c.e.clock.NewTimer(c.e.policy.RingTimeout)
	defer func() {
		k.ring.Stop()
		k.keys.reset()
	}()
	for {
		if c.draining {
			// A consult cannot be handed to the next node (the target's
			// leg and the pending transfer live only here): it is
			// cancelled back to the transferring agent, and the
			// conversation then detaches.
			c.hangupLeg(target)
			return c.consultEnd(k, false, nil)
		}
		t := k.ring
		if k.answered && k.keys.t != nil {
			// A code being keyed goes first; a consult limit that passes
			// meanwhile is read right after.
			t = k.keys.t
		}
		m, timedOut, err := c.nextOrCommand(t)
		if err != nil {
			if errors.Is(err, errCallerGone) {
				c.cancelTransfer(tr, false)
			}
			return err
		}
		if done, err := c.consultStep(k, m, timedOut && t == k.ring, timedOut); done || err != nil {
			return err
		}
	}
}

// holdCaller takes the caller out of the conversation and tells them where
// they are being transferred; music follows if there is nothing to say.
func (c *call) holdCaller(k *consult) error {
	if err := c.e.tel.Unjoin(c.ctx, c.bridge, c.caller); err != nil {
		c.log.Warn("take caller out of bridge", "transfer", k.tr.ID, logErr, err)
	}
	if err := c.settle(c.caller, false); err != nil {
		return err
	}
	names := []string{PromptTransferring}
	if k.tr.To.Kind == routing.DestTopic {
		names = append(names, PromptTopicPrefix+k.tr.To.Name)
	}
	k.callerPB = c.play(c.caller, c.prompts(c.lang, names...), c.lang)
	if k.callerPB == "" {
		c.startMOH()
	}
	return nil
}

// consultStep takes one message of a consult: ringOut is the ring (or
// consult) limit passing, keysOut the agent's inter-digit timeout. done
// means the consult is over, with consultEnd's result in err.
func (c *call) consultStep(k *consult, m message, ringOut, keysOut bool) (done bool, err error) {
	switch {
	case m.cmd != nil:
		return c.consultCommand(k, m.cmd)
	case ringOut:
		// The target did not answer (no answer: they are paused like any
		// agent who lets a call ring out), or answered and did not accept
		// within the consult limit (a decline: they were there).
		c.hangupLeg(k.target)
		var why error
		if !k.answered {
			why = errNoAnswer
		}
		return true, c.consultEnd(k, false, why)
	case keysOut:
		k.keys.reset()
		c.errorTone()
	case finished(m, k.callerPB):
		k.callerPB = ""
		c.startMOH()
	case on(m, Entered, k.target):
		c.targetAnswered(k)
	case finished(m, k.whisperPB):
		k.whisperPB = ""
		c.joinTarget(k)
	case goneOn(m, k.target):
		return true, c.consultEnd(k, false, nil)
	case goneOn(m, c.agentLeg):
		return true, c.transferrerGone(k)
	default:
		return c.consultKeys(k, m)
	}
	return false, nil
}

// targetAnswered starts the consult limit and whispers the transfer to the
// target, who joins the transferring agent after it.
func (c *call) targetAnswered(k *consult) {
	k.answered = true
	k.ring.Stop()
	k.ring = c.e.clock.NewTimer(c.e.settings.ConsultTimeout)
	// The router's ring deadline for the claim would have its sweep free
	// the target mid-consult: it moves to the limit.
	if err := c.e.router.ConsultAnswered(c.ctx, c.id, k.tr.Target.ID, c.e.clock.Now().Add(c.e.settings.ConsultTimeout)); err != nil {
		c.log.Warn("consult answered", "transfer", k.tr.ID, logErr, err)
	}
	if !c.e.settings.NoWhisper {
		k.whisperPB = c.play(k.target, nonEmpty(c.e.plan.Whisper(c.topic, WhisperTransfer)...), c.e.settings.AgentLang)
	}
	if k.whisperPB == "" {
		c.joinTarget(k)
	}
}

// joinTarget puts the answered target with the transferring agent and asks
// them to accept.
func (c *call) joinTarget(k *consult) {
	if err := c.join(k.target); err != nil {
		c.log.Warn("bridge transfer target", logErr, err)
	} else if err := c.settle(k.target, true); err != nil {
		c.log.Warn("bridge transfer target", logErr, err)
	}
	k.joined = true
	lang := c.e.settings.AgentLang
	k.acceptPB = c.play(k.target, c.prompts(lang, PromptAcceptTransfer), lang)
}

// transferrerGone: the transferring agent hung up. An answered target takes
// the caller (as on any phone system); otherwise the caller comes back to
// an empty conversation and the call ends with the survey (errAgentGone).
func (c *call) transferrerGone(k *consult) error {
	if k.answered {
		return c.consultEnd(k, true, nil)
	}
	c.hangupLeg(k.target)
	if err := c.consultEnd(k, false, nil); err != nil {
		return err
	}
	return errAgentGone
}

// consultKeys takes the target's dial failure and both agents' keys: the
// target accepts or declines with one key, the transferring agent
// completes or cancels with a feature code.
func (c *call) consultKeys(k *consult, m message) (done bool, err error) {
	if status, failed := dialFailed(m, k.target); failed {
		var why error
		if status == DialNoAnswer {
			why = errNoAnswer
		}
		c.hangupLeg(k.target)
		return true, c.consultEnd(k, false, why)
	}
	if digit, ok := dtmfOn(m, k.target); ok && k.answered {
		switch digit {
		case c.e.settings.Features.Accept:
			c.stopPlayback(k.acceptPB)
			return true, c.consultEnd(k, true, nil)
		case c.e.settings.Features.Decline:
			c.hangupLeg(k.target)
			return true, c.consultEnd(k, false, nil)
		}
	}
	digit, ok := dtmfOn(m, c.agentLeg)
	if !ok {
		return false, nil
	}
	f, ok := c.press(&k.keys, digit)
	switch {
	case !ok:
	case f.Kind == FeatureComplete && k.answered:
		return true, c.consultEnd(k, true, nil)
	case f.Kind == FeatureCancel:
		c.hangupLeg(k.target)
		return true, c.consultEnd(k, false, errCancelled)
	default:
		c.errorTone()
	}
	return false, nil
}

// consultCommand runs an API command while a transfer is pending. done
// means the consult has ended (the result of consultEnd is in err).
func (c *call) consultCommand(k *consult, cmd *command) (done bool, err error) {
	switch cmd.kind {
	case cmdTransfer:
		ref := &routing.Refusal{Code: routing.RefuseTransferPending, Message: "a transfer of this call is pending", Path: k.tr.Path}
		c.refused(ref, cmd.to)
		cmd.fail(ref)
		return false, nil
	case cmdComplete:
		if !k.answered {
			cmd.fail(fmt.Errorf("%w: %w", ErrNotAnswered, routing.ErrIllegalTransition))
			return false, nil
		}
		err := c.consultEnd(k, true, nil)
		reply := err
		if err == nil && c.agentLeg != k.target {
			// The router did not take the accept (logged by consultEnd):
			// the caller is back with the transferring agent.
			reply = fmt.Errorf("transfer not accepted: %w", routing.ErrIllegalTransition)
		}
		cmd.answer(cmdResult{err: reply})
		return true, err
	case cmdCancel:
		// The API's cancel is the transferring agent's.
		c.hangupLeg(k.target)
		err := c.consultEnd(k, false, errCancelled)
		cmd.answer(cmdResult{err: err})
		return true, err
	default:
		cmd.fail(errNotTalking())
		return false, nil
	}
}

// cancelTransfer gives the transfer up in the router, durably: the call is
// with its agent again.
func (c *call) cancelTransfer(tr Transfer, noAnswer bool) {
	c.enter(withAgent)
	id := c.id
	c.e.durable(c.log, "cancel transfer", func(ctx context.Context) error {
		return c.e.router.CancelTransfer(ctx, id, tr.ID, noAnswer)
	})
}

// consultEnd commits or drops a consult and puts the caller back in the
// conversation, with the target (accepted) or the transferring agent.
func (c *call) consultEnd(k *consult, accept bool, why error) error {
	if accept {
		if err := c.e.router.AcceptTransfer(c.ctx, c.id, k.tr.ID); err != nil {
			c.log.Warn("accept transfer", logErr, err)
			accept = false
			c.hangupLeg(k.target)
		}
	}
	c.stopMOH()
	c.stopPlaybacksOn(c.caller)
	if accept {
		return c.transferred(k)
	}
	return c.backFromConsult(k, why)
}

// transferred hands the caller to the target who accepted.
func (c *call) transferred(k *consult) error {
	c.enter(withAgent)
	c.e.metrics.Transfer(ResultCompleted)
	c.e.metrics.Consult(c.e.clock.Now().Sub(k.start), ResultCompleted)
	if k.phone {
		c.progress(TransferDone)
	}
	old := c.agentLeg
	c.agentLeg, c.agentID = k.target, k.tr.Target.ID
	c.hangupLeg(old) // AcceptTransfer has put them in wrap-up
	chans := []string{c.caller}
	if !k.joined {
		// Completed during the whisper: the target was not in the bridge
		// yet.
		chans = append(chans, k.target)
	}
	if err := c.join(chans...); err != nil {
		return fmt.Errorf("bridge caller with target: %w", err)
	}
	c.stopPlaybacksOn(k.target)
	return nil
}

// backFromConsult drops the transfer (why: errNoAnswer, errCancelled, or
// nil for a decline) and puts the caller back with the transferring agent.
func (c *call) backFromConsult(k *consult, why error) error {
	result := ResultDeclined
	switch {
	case errors.Is(why, errNoAnswer):
		result = ResultNoAnswer
	case errors.Is(why, errCancelled):
		result = ResultCancelled
	}
	c.cancelTransfer(k.tr, result == ResultNoAnswer)
	c.e.metrics.Transfer(result)
	c.e.metrics.Consult(c.e.clock.Now().Sub(k.start), result)
	if k.phone {
		outcome := TransferRefused
		if result == ResultNoAnswer {
			outcome = TransferUnavailable
		}
		c.progress(outcome)
	}
	if err := c.join(c.caller); err != nil {
		return fmt.Errorf("bridge caller back: %w", err)
	}
	if err := c.settle(c.caller, true); err != nil {
		return err
	}
	// The caller is the one who was on hold wondering where they go: they
	// hear that they are back with the agent who transferred them (the
	// agent knows it from the target's refusal or silence).
	c.play(c.caller, c.prompts(c.lang, PromptTransferDeclined), c.lang)
	return nil
}
