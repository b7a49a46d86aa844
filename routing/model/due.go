package model

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/hotline-project/hotline/routing"
)

// Due work: what a timer must do whatever node set it. A wrap-up ends
// when it is due. An offer (a ringing call) and a transfer claim (a
// consulting call's target) have deadlines; the node that made them acts
// on them itself, and only if it died does any node sweep them, once the
// deadline is stale (more than the sweep's grace past).

// dueMax bounds the entries of each kind one DueWork returns.
const dueMax = 256

// transferPrefix marks a due entry that is a transfer claim: "x:" and the
// call's id; an offer's entry is the call's id alone.
const transferPrefix = "x:"

type dueEntry struct {
	member string
	at     time.Time
}

// deadlines are every offer's and transfer claim's deadline, earliest
// first (then by entry).
func (s *Store) deadlines() []dueEntry {
	var out []dueEntry
	for _, c := range s.calls {
		switch c.State {
		case routing.CallRinging:
			out = append(out, dueEntry{c.ID, c.ringDeadline})
		case routing.CallConsulting:
			out = append(out, dueEntry{transferPrefix + c.ID, c.consultDeadline})
		}
	}
	slices.SortFunc(out, func(x, y dueEntry) int { return byTimeThenID(x.at, x.member, y.at, y.member) })
	return out
}

// DueWork lists the agents whose wrap-up is due at now and the offers and
// claims whose deadline passed before staleBefore (up to 256 of each),
// and when the next of either is due (zero if none is scheduled).
func (s *Store) DueWork(_ context.Context, now, staleBefore time.Time) ([]string, []string, time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var wraps []dueEntry
	for _, a := range s.agents {
		if a.State == routing.StateWrapUp {
			wraps = append(wraps, dueEntry{a.ID, a.wrapDue})
		}
	}
	slices.SortFunc(wraps, func(x, y dueEntry) int { return byTimeThenID(x.at, x.member, y.at, y.member) })
	var wrapDone, stale []string
	var next time.Time
	nowMS, staleMS := msTime(now), msTime(staleBefore)
	for _, w := range wraps {
		if w.at.After(nowMS) {
			next = w.at
			break
		}
		if len(wrapDone) < dueMax {
			wrapDone = append(wrapDone, w.member)
		}
	}
	for _, d := range s.deadlines() {
		if d.at.After(staleMS) {
			// It goes stale this long after its deadline.
			at := d.at.Add(now.Sub(staleBefore))
			if next.IsZero() || at.Before(next) {
				next = at
			}
			break
		}
		if len(stale) < dueMax {
			stale = append(stale, d.member)
		}
	}
	return wrapDone, stale, next, nil
}

// Sweep acts on a stale deadline, member one of DueWork's stale entries,
// for a node that died with the offer or claim in hand: an offered caller
// goes back to their place (a call in no queue ends), a consulting caller
// back to the agent who transferred; the agent rung is freed (it was not
// their fault), and the topic is dispatched. An entry no longer stale
// before staleBefore, or gone, is left.
func (s *Store) Sweep(_ context.Context, member string, staleBefore time.Time, t routing.Timing) (routing.Decision, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.begin(t)
	callID, transfer := strings.CutPrefix(member, transferPrefix)
	c := s.calls[callID]
	var deadline time.Time
	switch {
	case c == nil:
		return routing.Decision{}, nil
	case transfer && c.State == routing.CallConsulting:
		deadline = c.consultDeadline
	case !transfer && c.State == routing.CallRinging:
		deadline = c.ringDeadline
	default:
		return routing.Decision{}, nil
	}
	if deadline.After(msTime(staleBefore)) {
		return routing.Decision{}, nil
	}
	rung := c.AgentID
	if transfer {
		rung = c.ConsultAgent
	}
	a := o.holding(rung, routing.StateRinging, c.ID)
	switch {
	case transfer:
		c.State, c.ConsultAgent, c.consultDeadline = routing.CallConnected, "", time.Time{}
	case c.direct:
		delete(s.calls, c.ID)
	default:
		o.requeue(c)
	}
	d := routing.Decision{Call: c.snapshot()}
	if a != nil {
		d.Agent = o.free(a)
	}
	o.dispatch([]string{c.Topic}, maxPairs)
	d.Offers = o.offers
	return d, nil
}

// PendingOffers lists the offers still ringing (deadline after now) for
// the calls of node, as they were made, earliest deadline first.
func (s *Store) PendingOffers(_ context.Context, node string, now time.Time) ([]routing.Offer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []routing.Offer{}
	for _, d := range s.deadlines() {
		c := s.calls[d.member]
		if c == nil || !d.at.After(msTime(now)) || c.State != routing.CallRinging || c.Node != node || c.AgentID == "" {
			continue
		}
		a := s.agents[c.AgentID]
		if a == nil || a.CallID != c.ID {
			continue
		}
		out = append(out, routing.Offer{
			CallID: c.ID, CaseID: c.CaseID, Topic: c.Topic, Node: c.Node,
			Agent: a.status(), RingDeadline: c.ringDeadline, CallbackID: c.CallbackID,
		})
	}
	return out, nil
}

// subscriptionBuffer is how many offers a subscription holds for a node
// that is slow to take them; one more is lost, as a Redis pub/sub
// message to a slow subscriber can be (the node recovers it with
// PendingOffers).
const subscriptionBuffer = 256

// Offers returns the offers other nodes make for node's calls until ctx
// is done. Offers made while nobody listens are lost, as with Redis
// pub/sub.
func (s *Store) Offers(ctx context.Context, node string) (<-chan routing.Offer, error) {
	ch := make(chan routing.Offer, subscriptionBuffer)
	s.mu.Lock()
	s.subs[node] = append(s.subs[node], ch)
	s.mu.Unlock()
	go func() {
		<-ctx.Done()
		s.mu.Lock()
		defer s.mu.Unlock()
		s.subs[node] = slices.DeleteFunc(s.subs[node], func(c chan routing.Offer) bool { return c == ch })
		close(ch)
	}()
	return ch, nil
}

// publish sends an offer to node's subscriptions, never blocking (s.mu is
// held).
func (s *Store) publish(node string, o routing.Offer) {
	for _, ch := range s.subs[node] {
		select {
		case ch <- o:
		default:
		}
	}
}
