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
		if cs, err := c.e.router.Case(c.ctx, c.caseID); err == nil {
			note = cs.Note
		}
		if _, err := c.e.cbs.ScheduleOwner(c.ctx, c.caseID, c.agentID, c.e.clock.Now().Add(c.e.settings.OwnerCallbackIn), note); err != nil {
			c.log.Warn("schedule owner callback", logErr, err)
			c.errorTone()
			return nil
		}
		c.keepOpen = true
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
		if cs, err := c.e.router.Case(c.ctx, c.caseID); err == nil {
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
	return c.consult(tr, note, phone)
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

// consult is the attended transfer: the caller is told where they go and
// holds, the target rings, hears the whisper, joins the agent and accepts
// or declines with one key. The agent may complete (#) or cancel (*0).
func (c *call) consult(tr Transfer, note string, phone bool) error {
	start := c.e.clock.Now()
	c.pending = &tr
	log := c.log.With("transfer", tr.ID, "target", tr.Target.ID)
	if err := c.e.tel.Unjoin(c.ctx, c.bridge, c.caller); err != nil {
		log.Warn("take caller out of bridge", logErr, err)
	}
	if err := c.settle(c.caller, false); err != nil {
		c.cancelTransfer(tr, false)
		return err
	}
	names := []string{PromptTransferring}
	if tr.To.Kind == routing.DestTopic {
		names = append(names, PromptTopicPrefix+tr.To.Name)
	}
	callerPB := c.play(c.caller, c.prompts(c.lang, names...), c.lang)
	if callerPB == "" {
		c.startMOH()
	}
	target, err := c.originateAgent(tr.Target.Endpoint, tr.Target.ID, c.e.policy.RingTimeout)
	if err != nil {
		log.Warn("originate transfer target", logErr, err)
		return c.consultEnd(tr, "", false, start, phone, nil)
	}
	// ring times the target's ringing, then (once answered) the consult
	// itself: transfer.consult_timeout from the answer to the accept.
	ring := c.e.clock.NewTimer(c.e.policy.RingTimeout)
	defer func() { ring.Stop() }()
	answered := false
	var whisperPB, acceptPB string
	var d digits
	defer d.reset()
	for {
		if c.draining {
			// A consult cannot be handed to the next node (the target's
			// leg and the pending transfer live only here): it is
			// cancelled back to the transferring agent, and the
			// conversation then detaches.
			c.hangupLeg(target)
			return c.consultEnd(tr, target, false, start, phone, nil)
		}
		t := ring
		if answered && d.t != nil {
			// A code being keyed goes first; a consult limit that passes
			// meanwhile is read right after.
			t = d.t
		}
		m, timedOut, err := c.nextOrCommand(t)
		if err != nil {
			if errors.Is(err, errCallerGone) {
				c.cancelTransfer(tr, false)
			}
			return err
		}
		if m.cmd != nil {
			// The only command ending a consult without accepting it is
			// the transferring agent's cancel.
			end := func(accept bool) error {
				var why error
				if !accept {
					why = errCancelled
				}
				return c.consultEnd(tr, target, accept, start, phone, why)
			}
			if done, err := c.consultCommand(m.cmd, tr, target, answered, end); done || err != nil {
				return err
			}
			continue
		}
		switch {
		case timedOut && t == ring:
			// The target did not answer (no answer: they are paused like
			// any agent who lets a call ring out), or answered and did not
			// accept within the consult limit (a decline: they were there).
			c.hangupLeg(target)
			var why error
			if !answered {
				why = errNoAnswer
			}
			return c.consultEnd(tr, target, false, start, phone, why)
		case timedOut:
			d.reset()
			c.errorTone()
		case finished(m, callerPB):
			callerPB = ""
			c.startMOH()
		case on(m, Entered, target):
			answered = true
			ring.Stop()
			ring = c.e.clock.NewTimer(c.e.settings.ConsultTimeout)
			// The router's ring deadline for the claim would have its
			// sweep free the target mid-consult: it moves to the limit.
			if err := c.e.router.ConsultAnswered(c.ctx, c.id, tr.Target.ID, c.e.clock.Now().Add(c.e.settings.ConsultTimeout)); err != nil {
				log.Warn("consult answered", logErr, err)
			}
			if !c.e.settings.NoWhisper {
				whisperPB = c.play(target, nonEmpty(c.e.plan.Whisper(c.topic, WhisperTransfer)...), c.e.settings.AgentLang)
			}
			if whisperPB == "" {
				acceptPB = c.joinTarget(target)
			}
		case finished(m, whisperPB):
			whisperPB = ""
			acceptPB = c.joinTarget(target)
		case goneOn(m, target):
			return c.consultEnd(tr, target, false, start, phone, nil)
		case goneOn(m, c.agentLeg):
			// The transferring agent hung up: an answered target takes the
			// caller (as on any phone system), otherwise the caller comes
			// back to an empty conversation and the call ends with the survey.
			if answered {
				return c.consultEnd(tr, target, true, start, phone, nil)
			}
			c.hangupLeg(target)
			if err := c.consultEnd(tr, target, false, start, phone, nil); err != nil {
				return err
			}
			return errAgentGone
		default:
			if status, failed := dialFailed(m, target); failed {
				var why error
				if status == DialNoAnswer {
					why = errNoAnswer
				}
				c.hangupLeg(target)
				return c.consultEnd(tr, target, false, start, phone, why)
			}
			if digit, ok := dtmfOn(m, target); ok && answered {
				switch digit {
				case c.e.settings.Features.Accept:
					c.stopPlayback(acceptPB)
					return c.consultEnd(tr, target, true, start, phone, nil)
				case c.e.settings.Features.Decline:
					c.hangupLeg(target)
					return c.consultEnd(tr, target, false, start, phone, nil)
				}
			}
			if digit, ok := dtmfOn(m, c.agentLeg); ok {
				f, ok := c.press(&d, digit)
				switch {
				case !ok:
				case f.Kind == FeatureComplete && answered:
					return c.consultEnd(tr, target, true, start, phone, nil)
				case f.Kind == FeatureCancel:
					c.hangupLeg(target)
					return c.consultEnd(tr, target, false, start, phone, errCancelled)
				default:
					c.errorTone()
				}
			}
		}
	}
}

var (
	errNoAnswer  = errors.New("no answer")
	errCancelled = errors.New("cancelled by the transferring agent")
)

// joinTarget puts the answered target with the transferring agent and asks
// them to accept.
func (c *call) joinTarget(target string) string {
	if err := c.join(target); err != nil {
		c.log.Warn("bridge transfer target", logErr, err)
	} else if err := c.settle(target, true); err != nil {
		c.log.Warn("bridge transfer target", logErr, err)
	}
	c.joined = true
	lang := c.e.settings.AgentLang
	return c.play(target, c.prompts(lang, PromptAcceptTransfer), lang)
}

func (c *call) cancelTransfer(tr Transfer, noAnswer bool) {
	c.pending, c.joined = nil, false
	id := c.id
	c.e.durable(c.log, "cancel transfer", func(ctx context.Context) error {
		return c.e.router.CancelTransfer(ctx, id, tr.ID, noAnswer)
	})
}

// endAgentPart ends the answering agent's part of the call in the router
// (wrap-up, then free), durably: an agent must never stay on_call.
func (c *call) endAgentPart() {
	id, agent := c.id, c.agentID
	c.e.durable(c.log, "end call", func(ctx context.Context) error { return c.e.router.EndCall(ctx, id, agent) })
}

// consultEnd commits or drops a consult and puts the caller back in the
// conversation, with the target (accepted) or the transferring agent.
func (c *call) consultEnd(tr Transfer, target string, accept bool, start time.Time, phone bool, why error) error {
	if accept {
		if err := c.e.router.AcceptTransfer(c.ctx, c.id, tr.ID); err != nil {
			c.log.Warn("accept transfer", logErr, err)
			accept = false
			c.hangupLeg(target)
		}
	}
	c.stopMOH()
	c.stopPlaybacksOn(c.caller)
	d := c.e.clock.Now().Sub(start)
	if accept {
		c.pending = nil
		c.e.metrics.Transfer(ResultCompleted)
		c.e.metrics.Consult(d, ResultCompleted)
		if phone {
			c.progress(TransferDone)
		}
		old := c.agentLeg
		c.agentLeg, c.agentID = target, tr.Target.ID
		c.hangupLeg(old) // AcceptTransfer has put them in wrap-up
		chans := []string{c.caller}
		if !c.joined {
			// Completed during the whisper: the target was not in the
			// bridge yet.
			chans = append(chans, target)
		}
		c.joined = false
		if err := c.join(chans...); err != nil {
			return fmt.Errorf("bridge caller with target: %w", err)
		}
		c.stopPlaybacksOn(target)
		return nil
	}
	result := ResultDeclined
	switch {
	case errors.Is(why, errNoAnswer):
		result = ResultNoAnswer
	case errors.Is(why, errCancelled):
		result = ResultCancelled
	}
	c.cancelTransfer(tr, result == ResultNoAnswer)
	c.e.metrics.Transfer(result)
	c.e.metrics.Consult(d, result)
	if phone {
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

// afterAgent runs when the agent has hung up: the agent goes to wrap-up at
// once, the caller is asked for a rating, and the call ends. The agent's
// leg is gone, so the router frees them before the bridge is taken down:
// a waiting caller's agent need not wait for that round trip to Asterisk.
func (c *call) afterAgent() error {
	delete(c.legs, c.agentLeg)
	c.agentLeg = ""
	c.handled()
	if c.answered {
		c.endAgentPart()
		c.answered = false
	}
	c.destroyBridge(c.ctx)
	if err := c.settle(c.caller, false); err != nil {
		return err
	}
	return c.survey()
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
	if !s.Enabled || c.caseID == "" || !c.callerUp {
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
		counted, err := c.e.router.Rate(c.ctx, c.caseID, score)
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

// finish releases everything the call holds, whatever phase it ended in.
//
// The case rule: a case is closed when an agent talked to the caller and
// nobody owes them a callback (no *7, no kept place, no owner callback):
// the conversation is taken as the answer. A case opened by this call that
// never reached an agent is closed too (nobody owns it, nothing is owed).
// A resumed case (returning caller) and any case with a callback promised
// stays open with its owner.
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
	if c.pending != nil {
		id, trID := c.id, c.pending.ID
		c.e.durable(log, "cancel transfer", func(ctx context.Context) error {
			return c.e.router.CancelTransfer(ctx, id, trID, false)
		})
	}
	// The agent's leg is hung up before the router frees the agent, so
	// they are never offered a call while this one still rings their
	// phone; the bridge can wait until after.
	for leg := range c.legs {
		c.e.hangup(ctx, leg, HangupNormal)
	}
	c.handled()
	switch {
	case c.offer != nil || (c.enqueued && !c.kept):
		id := c.id
		c.e.durable(log, "leave queue", func(ctx context.Context) error { return c.e.router.Leave(ctx, id) })
		c.e.metrics.Abandoned(c.topic)
	case c.answered:
		c.endAgentPart()
	}
	c.destroyBridge(ctx)
	if c.caseID != "" && !c.keepOpen && !c.isCB && (c.talked || !c.resumed) {
		caseID, talked := c.caseID, c.talked
		c.e.durable(log, "close case", func(ctx context.Context) error {
			agents, err := c.e.router.CloseCase(ctx, caseID)
			if err == nil && talked {
				c.e.metrics.AgentsPerResolvedCall(agents)
			}
			return err
		})
	}
	if c.callerUp && c.caller != "" && !c.handedBack {
		c.e.hangup(ctx, c.caller, HangupNormal)
	}
}

// atSafePoint reports whether the call can be left to Asterisk and the
// router as it is, for the next node to re-adopt: a caller waiting in a
// queue with no agent ringing, or a conversation with no consult.
func (c *call) atSafePoint() bool {
	if c.caller == "" || !c.callerUp || c.pending != nil {
		return false
	}
	waiting := c.enqueued && !c.kept && c.offer == nil && c.agentLeg == ""
	talking := c.answered && c.talked && c.agentLeg != "" && c.bridge != ""
	return waiting || talking
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
