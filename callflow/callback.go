package callflow

import (
	"context"
)

// startCallback dials a callback: the agent first (who hears the case),
// then the caller, then both are bridged and talk as in any call. The
// router knows the conversation under cb.CallID (the original call for a
// kept place, the callback's own id otherwise).
func (e *Engine) startCallback(cb Callback, agent AgentStatus) {
	id := cb.CallID
	if id == "" {
		id = cb.ID
	}
	log := e.log.With(logCall, id, "callback", cb.ID, logAgent, agent.ID)
	c := e.newCall(id, log)
	c.kase.callback, c.cb = true, &cb
	c.number, c.lang, c.topic, c.kase.id = cb.Number, cb.Lang, cb.Topic, cb.CaseID
	o := Offer{CallID: id, CaseID: cb.CaseID, Topic: cb.Topic, Node: e.node, Agent: agent,
		RingDeadline: e.clock.Now().Add(e.policy.RingTimeout), CallbackID: cb.ID}
	if !e.register(c, func() { c.finish(c.dialBack(o)) }) {
		// The node is stopping: the agent is released and the attempt goes
		// back to the callbacks service, which retries (maybe elsewhere).
		e.background(func(ctx context.Context) {
			if err := e.router.Leave(ctx, id); err != nil {
				log.Warn("release callback agent", logErr, err)
			}
			// The caller was never tried: no attempt is spent.
			if err := e.cbs.AgentMissed(ctx, cb.ID); err != nil {
				log.Warn("give back callback", logErr, err)
			}
		})
	}
}

func (c *call) attemptFailed(reason string) {
	c.log.Info("callback attempt failed", "reason", reason)
	if err := c.e.cbs.AttemptFailed(c.ctx, c.cb.ID, reason); err != nil {
		c.log.Warn("callback attempt failed", logErr, err)
	}
}

// agentMissed gives the callback back without spending an attempt: the
// agent's side failed, the caller was never (fully) tried.
func (c *call) agentMissed(reason string) {
	c.log.Info("callback agent missed", "reason", reason)
	if err := c.e.cbs.AgentMissed(c.ctx, c.cb.ID); err != nil {
		c.log.Warn("callback agent missed", logErr, err)
	}
}

// dialBack rings the callback's agent, then the caller, and runs their
// conversation.
func (c *call) dialBack(o Offer) error {
	if c.lang == "" {
		c.lang = c.e.settings.AgentLang
	}
	leg, err := c.ringAgentBack(o)
	if leg == "" || err != nil {
		return err
	}
	callee, err := c.ringCallerBack(leg)
	if callee == "" || err != nil {
		return err
	}
	delete(c.legs, callee)
	c.caller, c.callerUp = callee, true
	if err := c.e.cbs.Completed(c.ctx, c.cb.ID); err != nil {
		c.log.Warn("callback completed", logErr, err)
	}
	c.e.metrics.Callback("completed")
	if err := c.e.tel.StopMOH(c.ctx, leg); err != nil {
		c.log.Warn("stop music for agent", logErr, err)
	}
	if err := c.connect(leg); err != nil {
		return err
	}
	return c.talk()
}

// ringAgentBack rings the callback's agent and tells them the case: the
// agent's leg, or "" when the agent was not reached (the callback is given
// back without spending an attempt).
func (c *call) ringAgentBack(o Offer) (string, error) {
	agent := o.Agent
	deadline := o.RingDeadline
	c.ringingFor(o) // released by finish if the call ends while it rings
	leg, err := c.originateAgent(agent.Endpoint, agent.ID, deadline.Sub(c.e.clock.Now()))
	if err != nil {
		// The agent's phone never rang: no attempt is spent, and the
		// agent is released (or paused unreachable: see dialFailed).
		if _, ferr := c.dialFailed(o, err, c.log); ferr != nil {
			return "", ferr
		}
		c.enter(inEntry)
		c.agentMissed("originate agent: " + err.Error())
		return "", nil
	}
	res, err := c.waitAnswer(leg, deadline, false, false, nil)
	if err != nil {
		return "", err
	}
	if res != ringAnswered {
		c.enter(inEntry)
		if err := c.e.router.NoAnswer(c.ctx, o); err != nil {
			c.log.Warn("no answer", logErr, err)
		}
		c.agentMissed("agent did not answer")
		return "", nil
	}
	if err := c.e.router.Answered(c.ctx, o); err != nil {
		c.enter(inEntry)
		c.log.Warn("answered", logErr, err)
		c.hangupLeg(leg)
		c.agentMissed("agent claim lost")
		return "", nil
	}
	c.enter(withAgent)
	c.agentLeg, c.agentID = leg, agent.ID
	if err := c.playWait(leg, nonEmpty(c.e.plan.Whisper(c.topic, WhisperCallback)...), c.e.settings.AgentLang); err != nil {
		return "", err
	}
	if !c.legs[leg] {
		c.agentMissed("agent hung up")
		return "", nil
	}
	return leg, nil
}

// ringCallerBack rings the caller while the agent (leg) waits with music:
// the caller's answered channel, or "" when the attempt failed or the
// agent left.
func (c *call) ringCallerBack(leg string) (string, error) {
	if err := c.e.tel.StartMOH(c.ctx, leg, c.e.settings.MOHClass); err != nil {
		c.log.Warn("music for agent", logErr, err)
	}
	callee := c.e.newID("callee", c.id)
	c.e.own(c, callee, true)
	err := c.e.tel.Originate(c.ctx, OriginateRequest{
		ChannelID: callee, Endpoint: c.e.plan.CallbackEndpoint(c.number), App: c.e.app,
		AppArgs: []string{"callee", c.id}, Timeout: c.e.settings.CallbackRing,
		CallerID: c.e.settings.CallbackCallerID,
	})
	if err != nil {
		c.attemptFailed("originate: " + err.Error())
		return "", nil
	}
	c.legs[callee] = true
	agentLeft := false
	res, err := c.waitAnswer(callee, c.e.clock.Now().Add(c.e.settings.CallbackRing), false, false, func(m message) {
		if goneOn(m, leg) && !agentLeft {
			// Nobody is left to talk to the caller: stop ringing them now
			// (the callee's end then ends the wait) rather than at the
			// ring timeout.
			agentLeft = true
			c.hangupLeg(callee)
		}
	})
	switch {
	case err != nil:
		return "", err
	case agentLeft:
		c.hangupLeg(callee)
		c.agentMissed("agent hung up")
		return "", nil
	case res != ringAnswered:
		c.hangupLeg(callee)
		c.attemptFailed("caller did not answer")
		return "", nil
	}
	return callee, nil
}
