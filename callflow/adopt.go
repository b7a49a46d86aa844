package callflow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/hotline-project/hotline/routing"
)

// Re-adoption: calls a stopped node detached (Engine.Stop) stay in
// Asterisk, in the application, and in the router's records. A node's
// Reconcile finds them in the channel and bridge lists and gives each an
// owner again in the phase the router says it is in:
//
//   - queued: waiting again (music on hold restarted, announcements),
//     dispatched by the router at the place it kept;
//   - ringing: the agent's leg cannot be trusted (a node that detached
//     this call had cancelled its ring, or never rang an offer that
//     arrived while it stopped): the offer is released without blaming
//     the agent (ReleaseOffer) and the caller waits again in
//     their place — unless this node holds the very offer (parked before
//     the first Reconcile), which then rings for real;
//   - connected (or consulting, if the old node ran out of time): the
//     conversation again, with the bridge holding the caller and the
//     agent's leg; hang-ups, feature codes, commands and the survey after
//     the agent leaves all work as before. If the agent's leg is gone, the
//     agent's part ends and the caller is asked for the survey.
//
// On every Reconcile (after each connect, and every ReconcileEvery),
// this node's calls in the router with no channel in the lists and no
// owner here vanished — while no node ran, or their end was never
// written: they are ended (endVanished), or they would stay connected,
// or queued, forever, their agents on_call.
//
// A caller's channel id is its call id; a called-back caller's channel
// and every leg and bridge we made carry the call id in their own id
// (newID). The handle time of an adopted conversation counts from the
// adoption.

// adoptLists indexes the channel and bridge lists for adoption.
type adoptLists struct {
	chans    map[string]Channel
	bridgeOf map[string]Bridge // channel id → the bridge holding it
}

// adopt gives every detached call of this node in the lists an owner.
func (e *Engine) adopt(ctx context.Context, channels []Channel, bridges []Bridge) {
	l := adoptLists{chans: make(map[string]Channel, len(channels)), bridgeOf: map[string]Bridge{}}
	for _, ch := range channels {
		l.chans[ch.ID] = ch
	}
	for _, b := range bridges {
		for _, id := range b.Channels {
			l.bridgeOf[id] = b
		}
	}
	var ids []string
	seen := map[string]bool{}
	e.mu.Lock()
	for _, ch := range channels {
		if _, owned := e.owners[ch.ID]; owned {
			continue
		}
		id := ch.ID
		if kind, callID, ok := e.parseID(ch.ID); ok {
			if kind != "callee" {
				continue // a leg is adopted with its caller, never alone
			}
			id = callID
		}
		if _, owned := e.calls[id]; owned || seen[id] {
			continue
		}
		seen[id] = true
		ids = append(ids, id)
	}
	e.mu.Unlock()
	for _, id := range ids {
		if ctx.Err() != nil {
			return
		}
		rc, err := e.router.Call(ctx, id)
		if err != nil {
			if !errors.Is(err, routing.ErrNotFound) {
				e.log.Warn("reconcile: look up call", logCall, id, logErr, err)
			}
			continue
		}
		if rc.Node != e.node {
			// Another node's caller on a shared Asterisk: taken over if
			// that node is dead and the caller waits (takeOver).
			if rc.State == routing.CallQueued && rc.CallbackID == "" {
				e.takeOver(ctx, rc, l)
			}
			continue
		}
		switch rc.State {
		case routing.CallQueued, routing.CallRinging, routing.CallConnected, routing.CallConsulting:
			e.adoptCall(ctx, rc, l)
		}
	}
	e.endVanished(ctx, channels)
}

// endVanished ends this node's calls in the router whose caller has no
// channel in the lists (neither the caller's own nor a called-back
// caller's leg) and no owner here: the caller went while no node of ours
// ran. An agent's leg left behind is hung up as an orphan. Calls
// are listed before owners are looked at, so a call that arrives
// meanwhile is already owned (a call registers before it enqueues).
func (e *Engine) endVanished(ctx context.Context, channels []Channel) {
	calls, err := e.router.ActiveCalls(ctx)
	if err != nil {
		e.log.Warn("reconcile: list calls", logErr, err)
		return
	}
	listed := make(map[string]bool, len(channels))
	for _, ch := range channels {
		listed[ch.ID] = true
		if kind, callID, ok := e.parseID(ch.ID); ok && kind == "callee" {
			listed[callID] = true
		}
	}
	var gone []Call
	e.mu.Lock()
	for _, rc := range calls {
		if _, owned := e.calls[rc.ID]; owned || listed[rc.ID] || rc.Node != e.node {
			continue
		}
		gone = append(gone, rc)
	}
	e.mu.Unlock()
	for _, rc := range gone {
		if ctx.Err() != nil {
			return
		}
		var err error
		switch {
		case rc.CallbackID != "" && rc.State == routing.CallQueued:
			continue // a kept place: the callbacks service dials the caller
		case rc.CallbackID != "" && rc.State == routing.CallRinging:
			// A kept place offered to an agent: the place stays.
			err = e.router.ReleaseOffer(ctx, Offer{CallID: rc.ID, CaseID: rc.CaseID, Topic: rc.Topic, Node: rc.Node,
				Agent: routing.AgentStatus{Agent: routing.Agent{ID: rc.AgentID}}, CallbackID: rc.CallbackID})
		case rc.State == routing.CallConnected || rc.State == routing.CallConsulting:
			err = e.router.EndCall(ctx, rc.ID, rc.AgentID)
		default: // queued, ringing: the caller is gone
			err = e.router.Leave(ctx, rc.ID)
		}
		if err != nil && !errors.Is(err, routing.ErrNotFound) {
			e.log.Warn("reconcile: end vanished call", logCall, rc.ID, "state", rc.State, logErr, err)
			continue
		}
		e.log.Info("reconcile: ended a call that vanished while stopped", logCall, rc.ID, "state", rc.State, logAgent, rc.AgentID)
	}
}

// adoptCall builds the call's state from the lists and starts its owner.
func (e *Engine) adoptCall(ctx context.Context, rc Call, l adoptLists) {
	log := e.log.With(logCall, rc.ID)
	caller, isCB := e.adoptedCaller(rc, l)
	if caller == "" {
		return
	}
	c := e.newCall(rc.ID, log.With(logChannel, l.chans[caller].Name))
	c.caller, c.callerUp, c.kase.callback = caller, true, isCB
	c.number, c.lang, c.topic, c.kase.id = rc.CallerNumber, rc.Lang, rc.Topic, rc.CaseID
	if c.lang == "" {
		c.lang = l.chans[caller].Language
	}
	c.enqueuedAt = rc.EnqueuedAt
	c.keys = []string{caller}
	var run func() error
	switch rc.State {
	case routing.CallQueued:
		c.enter(inQueue)
		run = c.waitAgain
	case routing.CallRinging:
		// Released (or offered again once registered): waiting.
		c.enter(inQueue)
		run = c.adoptRinging(rc)
	default: // connected, consulting
		run = c.adoptConversation(rc, l)
	}
	if !e.register(c, func() { c.finish(run()) }) {
		return // this node is stopping too: the next one will adopt it
	}
	log.Info("call re-adopted", "state", rc.State, logAgent, rc.AgentID, "bridge", c.bridge)
}

// adoptedCaller finds the caller's channel of a call the router lists: the
// caller's own, or for a callback our callee leg. isCB says which.
func (e *Engine) adoptedCaller(rc Call, l adoptLists) (caller string, isCB bool) {
	if _, ok := l.chans[rc.ID]; ok && rc.CallbackID == "" {
		return rc.ID, false
	}
	// A called-back caller: their channel is our callee leg. (A caller who
	// kept their place as a callback has hung up: their old channel, if
	// still listed, is on its way out.)
	for id := range l.chans {
		if kind, callID, ok := e.parseID(id); ok && kind == "callee" && callID == rc.ID {
			return id, true
		}
	}
	return "", false
}

// adoptRinging runs a call adopted while an agent rang for it: the agent's
// leg died with the old node, so the offer is released and the caller
// waits again.
func (c *call) adoptRinging(rc Call) func() error {
	e := c.e
	e.mu.Lock()
	o, parked := e.parked[rc.ID]
	e.mu.Unlock()
	if parked && o.Agent.ID == rc.AgentID {
		// Offered to this node before it reconciled: the offer is posted
		// once the call is registered (releaseParked).
		return c.waitAgain
	}
	o = Offer{CallID: rc.ID, CaseID: rc.CaseID, Topic: rc.Topic, Node: e.node,
		Agent: AgentStatus{Agent: routing.Agent{ID: rc.AgentID}}}
	return func() error {
		// Registered first, so the offer the release may make for this
		// caller lands in the mailbox.
		e.releaseUnblamed(c.ctx, o, c.log)
		return c.waitAgain()
	}
}

// adoptConversation takes over a conversation from its bridge: the agent's
// leg is the one of ours in it.
func (c *call) adoptConversation(rc Call, l adoptLists) func() error {
	c.enter(withAgent)
	c.kase.talked, c.agentID = true, rc.AgentID
	if b, bridged := l.bridgeOf[c.caller]; bridged {
		c.bridge = b.ID
		c.keys = append(c.keys, b.ID)
		for _, id := range b.Channels {
			c.bridged[id] = true // no event will say so: they are in already
			if kind, callID, ok := c.e.parseID(id); ok && kind == "agent" && callID == rc.ID {
				c.agentLeg = id
			}
		}
	}
	if c.agentLeg == "" {
		c.log.Info("adopted conversation lost its agent")
		return c.afterAgent
	}
	c.keys = append(c.keys, c.agentLeg)
	c.legs[c.agentLeg] = true
	c.talkStart = c.e.clock.Now()
	if rc.State == routing.CallConsulting {
		// The old node ran out of time in a consult: its target leg is
		// hung up as an orphan; the router's pending transfer is left to
		// expire (no transfer id survives the restart).
		c.log.Warn("adopted a call in a consult: the consult is lost")
	}
	return c.talk
}

// takeOver re-adopts a dead node's waiting caller on an Asterisk both
// nodes share: the router makes the call this node's (only if its node's
// heartbeat has lapsed, and only one node wins), the channel moves from
// the dead node's application into this one, and the caller waits again
// in their place. Without it, such callers would wait in silence for a
// node that may never come back.
func (e *Engine) takeOver(ctx context.Context, rc Call, l adoptLists) {
	ch, listed := l.chans[rc.ID]
	if !listed {
		return
	}
	taken, err := e.router.TakeOver(ctx, rc.ID)
	if err != nil {
		if !final(err) {
			e.log.Warn("reconcile: take over a dead node's caller", logCall, rc.ID, logErr, err)
		}
		return // the node is alive, or another node was quicker
	}
	log := e.log.With(logCall, rc.ID, logChannel, ch.Name)
	c := e.newCall(rc.ID, log)
	c.caller, c.callerUp = rc.ID, true
	c.number, c.lang, c.topic, c.kase.id = taken.CallerNumber, taken.Lang, taken.Topic, taken.CaseID
	if c.lang == "" {
		c.lang = ch.Language
	}
	c.enqueuedAt = taken.EnqueuedAt
	c.enter(inQueue)
	c.keys = []string{rc.ID}
	run := func() error {
		// Registered first, so the channel entering here is ours.
		if err := e.tel.Move(c.ctx, rc.ID, e.app, []string{"adopt"}); err != nil {
			if errors.Is(err, routing.ErrCallGone) {
				c.callerUp = false
				return errCallerGone
			}
			return fmt.Errorf("move a dead node's caller here: %w", err)
		}
		entered := func(m message) bool { return on(m, Entered, rc.ID) }
		hungUp := func(m message) bool { return goneOn(m, rc.ID) }
		if _, ok, err := c.await(entered, hungUp, c.e.settleT); err != nil || !ok {
			if err == nil {
				err = errCallerGone // gone on the way: receive says so next
			}
			return err
		}
		return c.waitAgain()
	}
	if !e.register(c, func() { c.finish(run()) }) {
		return
	}
	log.Info("took over a dead node's waiting caller", "from", rc.Node)
}

// waitAgain resumes a re-adopted waiting caller: music on hold first,
// which also proves the channel is still there (a channel hung up while
// the lists were fetched sends no event this call would ever see). The
// callback offer is not repeated: the caller heard it before the restart
// if it stood, and the announcements offer it again if it still does.
func (c *call) waitAgain() error {
	if err := c.e.tel.StartMOH(c.ctx, c.caller, c.e.settings.MOHClass); err != nil {
		if errors.Is(err, routing.ErrCallGone) {
			c.callerUp = false
			return errCallerGone
		}
		c.log.Warn("start music on hold", logErr, err)
	} else {
		c.moh = true
	}
	return c.wait(false)
}

// releaseUnblamed releases an offer that rang no agent's phone through
// no fault of the agent (a node stopping, a restart, an ARI error): the
// caller goes back to their place and the agent is free again, or in the
// pause they asked for, in one router operation.
func (e *Engine) releaseUnblamed(ctx context.Context, o Offer, log *slog.Logger) {
	if err := e.router.ReleaseOffer(ctx, o); err != nil {
		log.Warn("release offer", logAgent, o.Agent.ID, logErr, err)
	}
}

// releaseParked ends the first reconcile: offers parked for calls now
// owned go to them, the rest are for calls that are gone and are
// released as before.
func (e *Engine) releaseParked() {
	e.mu.Lock()
	e.reconciled = true
	parked := e.parked
	e.parked = map[string]Offer{}
	var owned []*call
	var offers, gone []Offer
	for _, o := range parked {
		if c := e.calls[o.CallID]; c != nil {
			owned = append(owned, c)
			offers = append(offers, o)
		} else {
			gone = append(gone, o)
		}
	}
	e.mu.Unlock()
	for i, c := range owned {
		e.post(c, message{offer: &offers[i]})
	}
	for _, o := range gone {
		e.Deliver(o)
	}
}
