package callflow

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/hotline-project/hotline/routing"
)

// queue puts the caller in the topic's queue and keeps them there — music
// on hold, periodic announcements, a callback offer — until an agent is
// connected (then the conversation runs) or the caller leaves.
func (c *call) queue() error {
	if c.enqueuedAt.IsZero() {
		c.enqueuedAt = c.e.clock.Now()
	}
	// The router may dispatch inside Enqueue: the offer lands in our
	// mailbox and is read below, so nothing is lost by enqueueing first.
	// A draining node enqueues too: the queue is the safe point a caller
	// detaches at, and their place is kept for the next node.
	q, err := c.enqueue()
	if err != nil {
		c.e.storeFailed(err)
		if !final(err) {
			return c.unavailable(fmt.Errorf("enqueue: %w", err))
		}
		return fmt.Errorf("enqueue: %w", err)
	}
	c.enter(inQueue)
	c.e.metrics.CallOffered(c.topic)
	// Position 0: the router paired the caller with an agent inside
	// Enqueue, so there is no wait to offer a callback for.
	offer := false
	if q.Position > 0 && c.canCallBack() {
		_, offer = routing.OfferCallback(c.e.policy, q, true)
	}
	return c.wait(offer)
}

// enqueue puts the caller in the queue; a caller with no case yet (not a
// returning one) gets theirs opened in the same round trip, which spares
// every first-time caller a Redis round trip before their agent is rung.
func (c *call) enqueue() (QueueInfo, error) {
	if c.kase.id != "" {
		return c.e.router.Enqueue(c.ctx, c.asCall())
	}
	cs, q, err := c.e.router.EnqueueNewCase(c.ctx, c.asCall())
	// A failed enqueue may have written the case (on Cluster its keys are
	// on another master): known here, finish closes it rather than leave
	// an open case nobody owns.
	c.kase.id = cs.ID
	return q, err
}

// wait keeps a queued caller waiting until an agent is connected (then the
// conversation runs), the caller leaves or takes a callback, or the node
// drains (the caller detaches, waiting). offerNow plays the callback offer
// first.
func (c *call) wait(offerNow bool) error {
	if offerNow || !c.mb.hasOffer() {
		// Nothing to dial first: the caller hears the queue now.
		if err := c.answered(); err != nil {
			return err
		}
	}
	offered := false
	var prompt string // the announcement or offer now playing
	if offerNow {
		offered = true
		c.e.metrics.Callback("offered")
		prompt = c.play(c.caller, c.prompts(c.lang, PromptCallbackOffer), c.lang)
	}
	// An agent offered inside Enqueue is rung before music on hold starts:
	// the agent's phone is what the caller waits for.
	if prompt == "" && !c.mb.hasOffer() {
		c.startMOH()
	}
	announce := c.announceTimer()
	defer func() {
		if announce != nil {
			announce.Stop()
		}
	}()
	for {
		if c.draining {
			return errDetached // finish leaves the caller on music on hold
		}
		m, timedOut, err := c.next(announce)
		if err != nil {
			return err
		}
		switch {
		case timedOut:
			announce = c.announceTimer()
			if prompt != "" {
				continue // still talking; skip this turn rather than pile up
			}
			q, err := c.e.router.QueueInfo(c.ctx, c.id)
			if err != nil {
				c.log.Warn("queue info", logErr, err)
				continue
			}
			if !offered && c.canCallBack() {
				if _, ok := routing.OfferCallback(c.e.policy, q, true); ok {
					offered = true
					c.e.metrics.Callback("offered")
				}
			}
			media := c.positionMedia(q, offered)
			if len(media) > 0 {
				c.stopMOH()
				prompt = c.play(c.caller, media, c.lang)
			}
			if prompt == "" {
				c.startMOH()
			}
		case m.offer != nil:
			c.stopPlayback(prompt)
			prompt = ""
			connected, err := c.ring(*m.offer) // starts music on hold once the agent rings
			if err != nil {
				return err
			}
			if connected {
				if announce != nil {
					announce.Stop()
				}
				return c.talk()
			}
		case finished(m, prompt):
			prompt = ""
			c.startMOH()
		default:
			if d, ok := dtmfOn(m, c.caller); ok && d == "1" && offered {
				return c.keepPlace()
			}
		}
	}
}

// announceTimer times the next queue announcement; nil when they are
// off (a negative interval: queue.announce_every 0s).
func (c *call) announceTimer() Timer {
	if c.e.settings.AnnounceInterval < 0 {
		return nil
	}
	return c.e.clock.NewTimer(c.e.settings.AnnounceInterval)
}

// canCallBack reports whether the caller's number can be dialled back: a
// withheld number, or no dial template, makes a callback offer a promise
// nobody could keep.
func (c *call) canCallBack() bool {
	return c.e.plan.CallbackEndpoint(c.number) != ""
}

// positionMedia is the announcement of a caller's place: "you are number
// N, the wait is about M minutes", and the callback offer once it stands.
func (c *call) positionMedia(q QueueInfo, offered bool) []string {
	var media []string
	if q.Position > 0 {
		media = append(media, c.prompts(c.lang, PromptPosition)...)
		media = append(media, "number:"+strconv.Itoa(q.Position))
	}
	if q.EstimatedWait > 0 {
		mins := int((q.EstimatedWait + time.Minute - 1) / time.Minute)
		media = append(media, c.prompts(c.lang, PromptWait)...)
		media = append(media, "number:"+strconv.Itoa(mins))
		media = append(media, c.prompts(c.lang, PromptMinutes)...)
	}
	if offered {
		media = append(media, c.prompts(c.lang, PromptCallbackOffer)...)
	}
	return media
}

// originateAgent rings an agent's endpoint for this call and returns the
// leg's channel id. The leg's args mark it as an agent leg of this call.
func (c *call) originateAgent(endpoint, agentID string, timeout time.Duration) (string, error) {
	leg := c.e.newID("agent", c.id)
	c.e.own(c, leg, true)
	req := OriginateRequest{
		ChannelID: leg, Endpoint: endpoint, App: c.e.app,
		AppArgs:  []string{"agent", c.id, agentID},
		CallerID: c.number, Timeout: timeout,
		// The agent's transfer button must reach the transfer policy.
		InterceptTransfers: true,
	}
	if err := c.e.tel.Originate(c.ctx, req); err != nil {
		return "", fmt.Errorf("originate %s: %w", endpoint, err)
	}
	c.e.dialAccepted(agentID)
	c.legs[leg] = true
	return leg, nil
}

// Refused originates. Asterisk refusing to dial an agent's endpoint (a
// phone not registered: 500 "Allocation failed"; an unknown endpoint)
// refuses again at once, and a released offer goes at once to the
// longest-idle agent — the same one: without a pause that spins at
// thousands of originates a second. So an offer whose originate failed is
// held for a backoff before it is released without blame, and an agent
// whose phone Asterisk refused maxDialRefusals times in a row is paused
// "unreachable" (visible on the desk, counted) while the caller keeps
// their place for the next agent. A transport error (ARI unreachable, a
// timeout) says nothing of the agent: it backs off but never pauses them.
const maxDialRefusals = 3

// dialBackoff is how long an offer is held after its originate failed for
// the n-th time in a row (0: a transport error).
func dialBackoff(n int) time.Duration {
	return 500 * time.Millisecond << min(n, 4)
}

// refusedByAsterisk reports whether Asterisk itself refused an originate
// (it answered, with an error), as opposed to not being reached.
func refusedByAsterisk(err error) bool {
	return errors.Is(err, ErrDialRefused) || errors.Is(err, routing.ErrCallGone)
}

// dialRefused counts one refused originate for an agent and returns how
// many in a row there have been.
func (e *Engine) dialRefused(agentID string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.refusals[agentID]++
	return e.refusals[agentID]
}

// dialAccepted resets an agent's refusals: Asterisk dialled their phone.
func (e *Engine) dialAccepted(agentID string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.refusals, agentID)
}

// dialFailed handles an offer whose agent originate failed: the agent is
// paused unreachable after repeated refusals, or the offer is held for a
// backoff and released without blame. paused reports the first.
func (c *call) dialFailed(o Offer, err error, log *slog.Logger) (paused bool, _ error) {
	n := 0
	if refusedByAsterisk(err) {
		n = c.e.dialRefused(o.Agent.ID)
	}
	if n >= maxDialRefusals {
		c.e.dialAccepted(o.Agent.ID) // counted afresh once they resume
		log.Warn("agent unreachable: Asterisk refused to dial their phone; paused until they resume",
			"refusals", n, "endpoint", o.Agent.Endpoint, logErr, err)
		c.e.metrics.AgentUnreachable()
		if err := c.e.router.Unreachable(c.ctx, o); err != nil {
			log.Warn("pause unreachable agent", logErr, err)
		}
		return true, nil
	}
	log.Warn("originate agent", "refusals", n, logErr, err)
	if err := c.hold(dialBackoff(n)); err != nil {
		return false, err // the caller left: finish releases the offer
	}
	c.e.releaseUnblamed(c.ctx, o, log)
	return false, nil
}

// hold keeps the call as it is for d (a caller on hold music stays on it),
// returning early when the node drains or with the caller's hang-up.
func (c *call) hold(d time.Duration) error {
	t := c.e.clock.NewTimer(d)
	defer t.Stop()
	for {
		m, timedOut, err := c.next(t)
		if err != nil {
			return err
		}
		if timedOut || m.drain {
			return nil
		}
	}
}

// ringResult is how ringing a leg ended.
type ringResult int

const (
	ringAnswered  ringResult = iota
	ringNoAnswer             // timer, or it rang out
	ringFailed               // busy, congestion, unreachable, hung up
	ringCancelled            // the node drains: we hung up the leg
)

// holdAfter is how long an agent rings before their caller hears music on
// hold. A phone set to auto-answer, as contact-centre phones often are,
// answers well within it: its caller hears the agent at once rather than
// a blip of music cut off mid-note (and Asterisk starts no hold music at
// all). Silence that short after the hotline answered is not noticed.
const holdAfter = 250 * time.Millisecond

// waitAnswer waits until leg enters the application (answered) or gives
// up. Messages that are not about the leg go to other (may be nil).
// cancelOnDrain gives up at once (hanging the leg up) when the node
// drains, rather than keep Stop waiting for a ring timeout. With hold the
// caller's music on hold starts once the leg has rung holdAfter.
func (c *call) waitAnswer(leg string, deadline time.Time, hold, cancelOnDrain bool, other func(message)) (ringResult, error) {
	wait := deadline.Sub(c.e.clock.Now())
	holding := hold && holdAfter < wait
	if holding {
		wait = holdAfter
	}
	t := c.e.clock.NewTimer(wait)
	defer func() { t.Stop() }()
	for {
		m, timedOut, err := c.next(t)
		if err != nil {
			return ringFailed, err
		}
		if timedOut && holding {
			holding = false
			c.startMOH()
			t = c.e.clock.NewTimer(deadline.Sub(c.e.clock.Now()))
			continue
		}
		if timedOut {
			c.hangupLeg(leg)
			return ringNoAnswer, nil
		}
		if on(m, Entered, leg) {
			return ringAnswered, nil
		}
		if m.drain && cancelOnDrain {
			c.hangupLeg(leg)
			return ringCancelled, nil
		}
		if outcome, failed := dialFailed(m, leg); failed {
			c.hangupLeg(leg)
			if outcome == DialNoAnswer {
				return ringNoAnswer, nil
			}
			return ringFailed, nil
		}
		if goneOn(m, leg) {
			return ringFailed, nil
		}
		if other != nil {
			other(m)
		}
	}
}

func (c *call) hangupLeg(leg string) {
	if !c.legs[leg] {
		return
	}
	delete(c.legs, leg)
	c.stopPlaybacksOn(leg)
	c.e.hangup(c.ctx, leg, HangupNormal)
}

// ring originates the offered agent, whispers the case on answer and
// bridges caller and agent. false means the offer fell through and the
// caller waits on, on music on hold (the router re-offers).
func (c *call) ring(o Offer) (bool, error) {
	connected, err := c.ringOnce(o)
	if err == nil && !connected {
		// A caller who found the agent free may not have heard any music
		// yet (the phone failed or was answered within holdAfter).
		c.startMOH()
	}
	return connected, err
}

// ringOnce is ring but for the music of a caller left waiting.
func (c *call) ringOnce(o Offer) (bool, error) {
	c.ringingFor(o)
	log := c.log.With(logAgent, o.Agent.ID)
	deadline := o.RingDeadline
	if deadline.IsZero() {
		deadline = c.e.clock.Now().Add(c.e.policy.RingTimeout)
	}
	leg, err := c.originateAgent(o.Agent.Endpoint, o.Agent.ID, deadline.Sub(c.e.clock.Now()))
	if aerr := c.answered(); aerr != nil {
		return false, aerr // the caller cannot be answered: finish releases the offer
	}
	res := ringFailed
	if err == nil {
		res, err = c.waitAnswer(leg, deadline, !c.moh, true, c.whileWaiting)
		if err != nil {
			return false, err // caller gone: finish releases the offer
		}
	} else {
		// Not a "no answer": the phone never rang. The caller keeps
		// their place (see dialFailed).
		_, err := c.dialFailed(o, err, log)
		if err != nil {
			return false, err
		}
		c.enter(inQueue)
		return false, nil
	}
	if res == ringCancelled {
		log.Info("ring cancelled: node stopping")
		c.enter(inQueue)
		c.e.releaseUnblamed(c.ctx, o, log)
		return false, nil
	}
	if res != ringAnswered {
		log.Info("agent did not answer")
		c.enter(inQueue)
		if err := c.e.router.NoAnswer(c.ctx, o); err != nil {
			log.Warn("no answer", logErr, err)
		}
		return false, nil
	}
	if err := c.e.router.Answered(c.ctx, o); err != nil {
		// The router no longer has this pairing (the offer expired, the
		// caller left on another path): the agent must not stay on the line.
		log.Warn("answered", logErr, err)
		c.enter(inQueue)
		c.hangupLeg(leg)
		return false, nil
	}
	c.enter(withAgent)
	c.agentLeg, c.agentID = leg, o.Agent.ID
	c.e.metrics.CallAnswered(c.topic, c.e.clock.Now().Sub(c.enqueuedAt))
	if err := c.whisper(leg); err != nil {
		return false, err
	}
	if !c.legs[leg] {
		// The agent hung up during the whisper: they are done with it, the
		// caller keeps their place (Enqueue keeps the original position).
		return false, c.agentDropped()
	}
	return true, c.connect(leg)
}

// whileWaiting keeps the waiting caller's music and callback key alive
// while an agent rings.
func (c *call) whileWaiting(m message) {
	if m.ev != nil && m.ev.Kind == PlaybackFinished && len(c.playing) == 0 {
		c.startMOH()
	}
	if m.offer != nil {
		c.log.Warn("second offer while an agent rings", logAgent, m.offer.Agent.ID)
	}
}

// whisper tells an answering agent the topic, and whether the caller is
// back about an open case, before they are connected.
func (c *call) whisper(leg string) error {
	if c.e.settings.NoAnswerWhisper {
		return nil
	}
	kind := WhisperQueued
	if c.kase.resumed {
		kind = WhisperReturning
	}
	return c.playWait(leg, nonEmpty(c.e.plan.Whisper(c.topic, kind)...), c.e.settings.AgentLang)
}

// agentDropped ends the agent's part after they hung up before talking and
// puts the caller back in the queue in their old place.
func (c *call) agentDropped() error {
	c.endAgentPart()
	c.enter(inEntry)
	c.agentLeg, c.agentID = "", ""
	if _, err := c.e.router.Enqueue(c.ctx, c.asCall()); err != nil {
		return fmt.Errorf("re-enqueue: %w", err)
	}
	c.enter(inQueue)
	c.startMOH()
	return nil
}

// join puts channels into the conversation bridge: the agent's feature
// codes reach the call flow there and never the caller (Telephony's
// CreateConversation).
func (c *call) join(channels ...string) error {
	return c.e.tel.Join(c.ctx, c.bridge, channels...)
}

// connect bridges the caller with an answered agent leg.
func (c *call) connect(leg string) error {
	if c.bridge == "" {
		id := c.e.newID("br", c.id)
		c.e.own(c, id, false)
		if err := c.e.tel.CreateConversation(c.ctx, id, "hotline-"+c.id); err != nil {
			return fmt.Errorf("create bridge: %w", err)
		}
		c.bridge = id
	}
	c.stopMOH()
	c.stopPlaybacksOn(c.caller)
	if err := c.join(c.caller, leg); err != nil {
		return fmt.Errorf("bridge caller and agent: %w", err)
	}
	c.kase.talked = true
	c.talkStart = c.e.clock.Now()
	return nil
}
