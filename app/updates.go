package app

import (
	"context"
	"time"

	"github.com/hotline-project/hotline/api"
	"github.com/hotline-project/hotline/routing"
)

// stateInterval is how often the live views' state is compared with the
// shared store. The store is shared by every node, so reading it is what
// makes a desk on one node see an agent or call handled by another; it is
// read only while someone is watching.
const stateInterval = 500 * time.Millisecond

// watchState publishes agent, call and queue changes to the events hub.
func (a *App) watchState(ctx context.Context) error {
	t := time.NewTicker(stateInterval)
	defer t.Stop()
	var prev stateView
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if a.Hub.Subscribers() == 0 {
			prev = stateView{}
			continue
		}
		cur, err := a.readState(ctx)
		if err != nil {
			if ctx.Err() == nil {
				a.log.Debug("live state read failed", "err", err)
			}
			continue
		}
		for _, u := range diffState(prev, cur) {
			a.Hub.Publish(u)
		}
		prev = cur
	}
}

type stateView struct {
	agents map[string]routing.AgentStatus
	calls  map[string]routing.Call
	queued map[string]int // topic → waiting
}

func (a *App) readState(ctx context.Context) (stateView, error) {
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	agents, err := a.Router.Agents(rctx)
	if err != nil {
		return stateView{}, err
	}
	calls, err := a.Router.ActiveCalls(rctx)
	if err != nil {
		return stateView{}, err
	}
	v := stateView{agents: map[string]routing.AgentStatus{}, calls: map[string]routing.Call{}, queued: map[string]int{}}
	for _, ag := range agents {
		v.agents[ag.ID] = ag
	}
	for _, topic := range a.cfg.TopicNames() {
		v.queued[topic] = 0
	}
	for _, c := range calls {
		v.calls[c.ID] = c
		if c.State == routing.CallQueued {
			v.queued[c.Topic]++
		}
	}
	return v, nil
}

// diffState lists the updates that take a viewer from prev to cur. The
// first read after nobody watched (prev empty) announces everything.
func diffState(prev, cur stateView) []api.Update {
	var out []api.Update
	for id, ag := range cur.agents {
		if old, ok := prev.agents[id]; !ok || !sameAgent(old, ag) {
			out = append(out, api.AgentUpdate(ag))
		}
	}
	for id, c := range cur.calls {
		if old, ok := prev.calls[id]; !ok || old != c {
			out = append(out, api.CallUpdate(c, prevAgent(prev, id, c)...))
		}
	}
	for id, c := range prev.calls {
		if _, ok := cur.calls[id]; !ok {
			c.State = routing.CallEnded
			out = append(out, api.CallUpdate(c))
		}
	}
	for topic, n := range cur.queued {
		if old, ok := prev.queued[topic]; !ok || old != n {
			out = append(out, api.QueueUpdate(topic, n))
		}
	}
	return out
}

// prevAgent names the agent who had the call before, so their desk learns
// the call left them (a completed transfer).
func prevAgent(prev stateView, id string, c routing.Call) []string {
	if old, ok := prev.calls[id]; ok && old.AgentID != "" && old.AgentID != c.AgentID {
		return []string{old.AgentID}
	}
	return nil
}

func sameAgent(a, b routing.AgentStatus) bool {
	return a.State == b.State && a.Reason == b.Reason && a.CallID == b.CallID &&
		a.PauseAfter == b.PauseAfter && a.Since.Equal(b.Since)
}
