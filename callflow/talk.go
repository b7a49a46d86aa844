package callflow

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hotline-project/hotline/routing"
)

// Transfer results for the Observer besides the refusal codes.
const (
	ResultCompleted = "completed"
	ResultDeclined  = "declined"
	ResultNoAnswer  = "no_answer"
	// ResultCancelled: the transferring agent took the caller back (*0 or
	// the API's cancel) before the target accepted.
	ResultCancelled = "cancelled"
)

// ReasonAfterCall is the pause reason of *9.
const ReasonAfterCall = "after call"

// digits collects an agent's feature code with an inter-digit timeout.
type digits struct {
	buf string
	t   Timer
}

func (d *digits) reset() {
	d.buf = ""
	if d.t != nil {
		d.t.Stop()
		d.t = nil
	}
}

// press adds a digit and returns a complete feature, if any. An unknown
// code plays the error tone to the agent.
func (c *call) press(d *digits, digit string) (Feature, bool) {
	d.buf += digit
	f, st := ParseFeature(d.buf, c.e.settings.Features)
	switch st {
	case FeatureMatched:
		d.reset()
		return f, true
	case FeatureInvalid:
		d.reset()
		c.errorTone()
	default:
		if d.t != nil {
			d.t.Stop()
		}
		d.t = c.e.clock.NewTimer(c.e.settings.Features.InterDigit)
	}
	return Feature{}, false
}

func (c *call) errorTone() {
	media := c.prompts(c.e.settings.AgentLang, PromptFeatureError)
	if len(media) == 0 {
		media = []string{"tone:busy"}
	}
	c.play(c.agentLeg, media, c.e.settings.AgentLang)
}

// talk is the conversation: it runs the agent's feature codes and phone
// transfers until the agent hangs up (then the survey) or the caller does.
func (c *call) talk() error {
	var d digits
	defer d.reset()
	for {
		if c.draining {
			// Caller and agent stay bridged in Asterisk; the next node
			// re-adopts the conversation from the bridge.
			return errDetached
		}
		m, timedOut, err := c.nextOrCommand(d.t)
		if err != nil {
			return err
		}
		if timedOut {
			d.reset()
			c.errorTone()
			continue
		}
		if goneOn(m, c.agentLeg) {
			return c.afterAgent()
		}
		if m.cmd != nil {
			done, err := c.talkCommand(m.cmd)
			if done || errors.Is(err, errAgentGone) {
				return c.afterAgent()
			}
			if err != nil {
				return err
			}
			continue
		}
		if digit, ok := dtmfOn(m, c.agentLeg); ok {
			if f, ok := c.press(&d, digit); ok {
				if err := c.feature(f); err != nil {
					if errors.Is(err, errAgentGone) {
						return c.afterAgent()
					}
					return err
				}
			}
			continue
		}
		if ev := m.ev; ev != nil && ev.Kind == TransferRequested && ev.Transfer != nil {
			if ev.Transfer.Source != c.agentLeg {
				// A caller's phone transfers nobody: refuse its request
				// rather than leave the phone waiting.
				c.declineTransfer(ev.Transfer.Source)
				continue
			}
			if err := c.phoneTransfer(*ev.Transfer); err != nil {
				if errors.Is(err, errAgentGone) {
					return c.afterAgent()
				}
				return err
			}
		}
	}
}

// feature runs one feature code outside a consult.
func (c *call) feature(f Feature) error {
	lang := c.e.settings.AgentLang
	switch f.Kind {
	case FeatureConsult:
		return c.transfer(f.To, routing.ModeAttended, "", false, nil)
	case FeatureTakeOwnership:
		note := ""
		if cs, err := c.e.router.Case(c.ctx, c.kase.id); err == nil {
			note = cs.Note
		}
		if _, err := c.e.cbs.ScheduleOwner(c.ctx, c.kase.id, c.agentID, c.e.clock.Now().Add(c.e.settings.OwnerCallbackIn), note); err != nil {
			c.log.Warn("schedule owner callback", logErr, err)
			c.errorTone()
			return nil
		}
		c.kase.owed = true
		c.e.metrics.Callback("scheduled")
		c.play(c.caller, c.prompts(c.lang, PromptOwnerWillCall), c.lang)
		c.play(c.agentLeg, c.prompts(lang, PromptAgentOK), lang)
	case FeatureEscalate:
		if _, err := c.escalate(""); err != nil {
			c.log.Warn("escalate", logErr, err)
			c.errorTone()
			return nil
		}
		c.play(c.caller, c.prompts(c.lang, PromptSeniorWillCall), c.lang)
		c.play(c.agentLeg, c.prompts(lang, PromptAgentOK), lang)
	case FeaturePauseAfter:
		if err := c.e.router.Pause(c.ctx, c.agentID, ReasonAfterCall); err != nil {
			c.log.Warn("pause after call", logErr, err)
			c.errorTone()
			return nil
		}
		c.play(c.agentLeg, c.prompts(lang, PromptPaused), lang)
	default: // complete or cancel with no transfer pending
		c.errorTone()
	}
	return nil
}

// phoneTransfer applies the transfer policy to a phone's own transfer
// and reports back to the phone.
func (c *call) phoneTransfer(t PhoneTransfer) error {
	if t.Attended || t.Destination == "" {
		// An attended transfer replaces a consultation the phone made on
		// its own, outside the hotline's case and path: not ours to
		// complete.
		c.progress(TransferRefused)
		c.errorTone()
		return nil
	}
	to := routing.Destination{Kind: routing.DestAgent, Name: t.Destination}
	if r, ok := c.e.plan.Route(t.Destination); ok && r.Topic != "" {
		to = routing.Destination{Kind: routing.DestTopic, Name: r.Topic}
	}
	return c.transfer(to, routing.ModeBlind, "", true, nil)
}

// declineTransfer answers a REFER from a channel that may not transfer.
func (c *call) declineTransfer(ch string) {
	if ch == "" {
		return
	}
	if err := c.e.tel.ReportTransfer(c.ctx, ch, TransferRefused); err != nil && !errors.Is(err, routing.ErrCallGone) {
		c.log.Warn("decline transfer", logChannel, ch, logErr, err)
	}
}

// progress tells the agent's phone how its transfer request goes.
func (c *call) progress(outcome TransferOutcome) {
	if err := c.e.tel.ReportTransfer(c.ctx, c.agentLeg, outcome); err != nil && !errors.Is(err, routing.ErrCallGone) {
		c.log.Warn("transfer progress", "outcome", outcome, logErr, err)
	}
}

// transfer asks the router for a transfer and consults the target. A
// refusal is announced to the agent only; the caller stays where they are.
// An empty note is the case's. cmd (may be nil) is the API request to
// answer once the router has decided.
func (c *call) transfer(to routing.Destination, mode routing.TransferMode, note string, phone bool, cmd *command) error {
	if note == "" {
		if cs, err := c.e.router.Case(c.ctx, c.kase.id); err == nil {
			note = cs.Note
		}
	}
	tr, err := c.e.router.BeginTransfer(c.ctx, TransferRequest{CallID: c.id, By: c.agentID, To: to, Note: note, Mode: mode})
	if err != nil {
		if phone {
			c.progress(TransferRefused)
		}
		if ref, ok := routing.AsRefusal(err); ok {
			c.refused(ref, to)
			cmd.fail(err)
			return nil
		}
		c.log.Warn("begin transfer", "to", to.String(), logErr, err)
		c.errorTone()
		cmd.fail(fmt.Errorf("begin transfer: %w", err))
		return nil
	}
	cmd.answer(cmdResult{tr: tr})
	if phone {
		c.progress(TransferProceeding)
	}
	if tr.Note != "" {
		note = tr.Note
	}
	return c.consult(tr, phone)
}

// refused counts a refused transfer and tells the agent why.
func (c *call) refused(ref *routing.Refusal, to routing.Destination) {
	c.log.Info("transfer refused", "to", to.String(), "code", ref.Code)
	c.e.metrics.Transfer(string(ref.Code))
	lang := c.e.settings.AgentLang
	media := c.prompts(lang, PromptRefusedPrefix+string(ref.Code))
	if len(media) == 0 {
		c.errorTone()
		return
	}
	c.play(c.agentLeg, media, lang)
}

// afterAgent runs when the agent has hung up: the agent goes to wrap-up at
// once, the caller is asked for a rating, and the call ends. The agent's
// leg is gone, so the router frees them before the bridge is taken down:
// a waiting caller's agent need not wait for that round trip to Asterisk.
func (c *call) afterAgent() error {
	delete(c.legs, c.agentLeg)
	c.agentLeg = ""
	c.handled()
	if c.phase.kind == withAgent {
		c.endAgentPart()
	}
	c.enter(afterAgent)
	c.destroyBridge(c.ctx)
	if err := c.settle(c.caller, false); err != nil {
		return err
	}
	return c.survey()
}

// endAgentPart ends the answering agent's part of the call in the router
// (wrap-up, then free), durably: an agent must never stay on_call.
func (c *call) endAgentPart() {
	id, agent := c.id, c.agentID
	c.e.durable(c.log, "end call", func(ctx context.Context) error { return c.e.router.EndCall(ctx, id, agent) })
}

func (c *call) destroyBridge(ctx context.Context) {
	if c.bridge == "" {
		return
	}
	if err := c.e.tel.DestroyBridge(ctx, c.bridge); err != nil && !errors.Is(err, routing.ErrCallGone) {
		c.log.Warn("destroy bridge", logErr, err)
	}
	c.bridge = ""
}

// survey asks the caller to rate the call. The first valid digit counts;
// other digits and later presses change nothing. The answer time starts
// when the question has been heard (or at once if it cannot be played).
func (c *call) survey() error {
	s := c.e.settings.Survey
	if !s.Enabled || c.kase.id == "" || !c.callerUp {
		return nil
	}
	pb := c.play(c.caller, c.prompts(c.lang, s.Prompt), c.lang)
	var t Timer
	if pb == "" {
		t = c.e.clock.NewTimer(s.Timeout)
	}
	defer func() {
		if t != nil {
			t.Stop()
		}
	}()
	for {
		m, timedOut, err := c.next(t)
		if err != nil || timedOut {
			return err
		}
		if finished(m, pb) && t == nil {
			t = c.e.clock.NewTimer(s.Timeout)
			continue
		}
		d, ok := dtmfOn(m, c.caller)
		if !ok {
			continue
		}
		score, ok := s.Digits[d]
		if !ok {
			continue
		}
		c.stopPlayback(pb)
		counted, err := c.e.router.Rate(c.ctx, c.kase.id, score)
		if err != nil {
			c.log.Warn("rate", logErr, err)
		} else if counted {
			c.e.metrics.Rating(score)
		}
		return c.playWait(c.caller, c.prompts(c.lang, PromptThanks), c.lang)
	}
}

// handled measures the conversation once, when it ends.
func (c *call) handled() {
	if c.talkStart.IsZero() {
		return
	}
	c.e.metrics.CallHandled(c.topic, c.e.clock.Now().Sub(c.talkStart))
	c.talkStart = time.Time{}
}

func (c *call) cleanupCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(c.ctx), c.e.cleanupT)
}

// finish releases everything the call holds: what its phase owes the
// router, its legs and bridge, its case (caseFacts.closes) and the caller.
func (c *call) finish(err error) {
	close(c.ended)
	ctx, cancel := c.cleanupCtx()
	defer cancel()
	defer c.endWatchdogs()
	log := c.log
	if errors.Is(err, errDetached) || (errors.Is(err, ErrStopping) && c.atSafePoint()) {
		c.detach(ctx)
		return
	}
	switch {
	case err == nil, errors.Is(err, errCallerGone):
		log.Debug("call ended", "reason", err)
	default:
		log.Warn("call ended on error", logErr, err)
	}
	for id := range c.playing {
		_ = c.e.tel.StopPlayback(ctx, id) // gone with its channel if this fails
	}
	// The agent's leg is hung up before the router frees the agent, so
	// they are never offered a call while this one still rings their
	// phone; the bridge can wait until after.
	for leg := range c.legs {
		c.e.hangup(ctx, leg, HangupNormal)
	}
	c.handled()
	c.settlePhase()
	c.destroyBridge(ctx)
	if c.kase.closes() {
		caseID, talked := c.kase.id, c.kase.talked
		c.e.durable(log, "close case", func(ctx context.Context) error {
			agents, err := c.e.router.CloseCase(ctx, caseID)
			if err == nil && talked {
				c.e.metrics.AgentsPerResolvedCall(agents)
			}
			return err
		})
	}
	if c.callerUp && c.caller != "" && c.phase.kind != handedBack {
		c.e.hangup(ctx, c.caller, HangupNormal)
	}
}

// settlePhase does, durably, what the call's phase owes the router at its
// end.
func (c *call) settlePhase() {
	id := c.id
	switch c.phase.kind {
	case inQueue, ringing:
		// Leaving frees a ringing agent too.
		c.e.durable(c.log, "leave queue", func(ctx context.Context) error { return c.e.router.Leave(ctx, id) })
		if !c.kase.callback {
			c.e.metrics.Abandoned(c.topic)
		}
	case consulting:
		c.cancelTransfer(c.phase.consult.tr, false)
		c.endAgentPart()
	case withAgent:
		c.endAgentPart()
	case inEntry, afterAgent, placeKept, handedBack:
		// Nothing in the router.
	}
}

// atSafePoint reports whether the call can be left to Asterisk and the
// router as it is, for the next node to re-adopt: a caller waiting in a
// queue with no agent ringing, or a conversation with no consult.
func (c *call) atSafePoint() bool {
	if c.caller == "" || !c.callerUp {
		return false
	}
	switch c.phase.kind {
	case inQueue:
		return true
	case withAgent:
		return c.kase.talked && c.agentLeg != "" && c.bridge != ""
	default:
		return false
	}
}

// detach ends the call's goroutine without touching the call: no hang-up,
// no router update, the case stays as it is. A waiting caller is left
// hearing music on hold (an announcement is cut short: nobody would
// restart the music after it).
func (c *call) detach(ctx context.Context) {
	waiting := c.agentLeg == ""
	if waiting {
		for id, pb := range c.playing {
			if pb.ch == c.caller {
				_ = c.e.tel.StopPlayback(ctx, id) // gone with the channel if this fails
			}
		}
		if !c.moh {
			if err := c.e.tel.StartMOH(ctx, c.caller, c.e.settings.MOHClass); err != nil && !errors.Is(err, routing.ErrCallGone) {
				c.log.Warn("detach: music on hold", logErr, err)
			}
		}
	}
	c.log.Info("call detached for the next node", "waiting", waiting, "bridge", c.bridge, logAgent, c.agentID)
}

// agentFeature is the agents' own feature number: the phone's number names
// the agent, one key logs in, pauses, resumes or logs out.
func (c *call) agentFeature() error {
	lang := c.e.settings.AgentLang
	c.lang = lang
	agentID, ok := c.e.plan.AgentFor(c.number)
	if !ok {
		return c.playWait(c.caller, c.prompts(lang, PromptAgentError), lang)
	}
	log := c.log.With(logAgent, agentID)
	d, err := c.ask(c.prompts(lang, PromptAgentMenu), c.e.settings.AgentMenuTimeout)
	if err != nil {
		return err
	}
	switch d {
	case AgentKeyLogin:
		err = c.e.router.Login(c.ctx, agentID)
	case AgentKeyPause:
		err = c.e.router.Pause(c.ctx, agentID, "phone")
	case AgentKeyResume:
		err = c.e.router.Resume(c.ctx, agentID)
	case AgentKeyLogout:
		err = c.e.router.Logout(c.ctx, agentID)
	default:
		err = fmt.Errorf("agent key %q: %w", d, routing.ErrIllegalTransition)
	}
	result := PromptAgentOK
	if err != nil {
		log.Info("agent feature refused", "key", d, logErr, err)
		result = PromptAgentError
	}
	return c.playWait(c.caller, c.prompts(lang, result), lang)
}
