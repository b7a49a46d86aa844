package e2e

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/hotline-project/hotline/phones"
)

type callbackJSON struct {
	ID     string    `json:"id"`
	CaseID string    `json:"case_id"`
	Number string    `json:"number"`
	Owner  string    `json:"owner"`
	Kind   string    `json:"kind"`
	State  string    `json:"state"`
	DueAt  time.Time `json:"due_at"`
}

// callbacks lists callbacks by state and owner ("" for any).
func (e *env) callbacks(state, owner string) []callbackJSON {
	e.t.Helper()
	q := url.Values{}
	if state != "" {
		q.Set("state", state)
	}
	if owner != "" {
		q.Set("owner", owner)
	}
	var out []callbackJSON
	e.apiOK(http.MethodGet, "/callbacks?"+q.Encode(), nil, &out)
	return out
}

// refusedLoop connects a caller with agent 301 and has the agent try to
// send them back to the queue they came from: refused as a loop. It
// returns the caller, the agent and the call id.
func (e *env) refusedLoop(number string) (caller, agent *phones.Phone, callID string) {
	e.t.Helper()
	caller, agent = e.connect("200", number, "301")
	c := e.callOf(number)
	if st, r := e.transfer(c.ID, "topic:connections", "attended"); st != http.StatusConflict || r.Error != "transfer_loop" {
		e.t.Fatalf("transfer back to the entry queue: %d %+v, want 409 transfer_loop", st, r)
	}
	return caller, agent, c.ID
}

// TestOwnerCallbackAfterRefusedTransfer: the agent's transfer is refused
// as a loop; the agent keeps the case and schedules a callback (feature
// code *7, or the API). The caller hears that the agent will call back;
// when it is due the owner's phone rings first and hears the case, then
// the caller's number is dialled and both are connected.
func TestOwnerCallbackAfterRefusedTransfer(t *testing.T) {
	tests := []struct {
		name     string
		number   string
		schedule func(e *env, callID string, agent *phones.Phone)
	}{
		{name: "feature code *7", number: "5551001", schedule: func(e *env, _ string, agent *phones.Phone) {
			e.must(agent.Press(e.wctx(), "*7"))
			e.must(agent.WaitHeard(e.wctx(), "hotline-agent-ok"))
		}},
		{name: "API", number: "5551002", schedule: func(e *env, callID string, _ *phones.Phone) {
			e.apiOK(http.MethodPost, "/calls/"+callID+"/callback", map[string]string{"in": "30m", "note": note}, nil)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := scenario(t)
			e.login("301")
			caller, agent, callID := e.refusedLoop(tt.number)
			tt.schedule(e, callID, agent)
			e.must(caller.WaitHeard(e.wctx(), "hotline-owner-callback"))
			var cb callbackJSON
			e.eventually("owner callback scheduled", func() bool {
				cbs := e.callbacks("scheduled", "301")
				if len(cbs) == 1 {
					cb = cbs[0]
				}
				return len(cbs) == 1
			})
			if cb.Kind != "owner" || cb.Number != tt.number {
				t.Errorf("callback %+v, want an owner callback to %s", cb, tt.number)
			}
			if agent.HungUp() == false {
				e.hangupAll(agent) // *7 leaves the agent on the line; the API ends their part
			} else {
				e.must(agent.WaitHungUp(e.wctx()))
			}
			e.must(caller.WaitHeard(e.wctx(), "hotline-survey"))
			e.hangupAll(caller)
			e.waitAgent("301", "available")
			completed := e.metric("hotline_callbacks_total", "state", "completed")

			// Half an hour later (just before, so the owner's deadline
			// cannot pass before the first pass finds it due).
			e.clock.SkipTo(cb.DueAt.Add(-500 * time.Millisecond))
			ap := e.ring("301")
			e.must(ap.WaitHeard(e.wctx(), "hotline-whisper-callback"))
			back := e.ring(tt.number)
			if !ap.Answered() {
				t.Error("the caller's line rang before the owner answered")
			}
			e.must(back.WaitConnectedTo(e.wctx(), ap))
			e.eventually("callback completed", func() bool {
				return e.metric("hotline_callbacks_total", "state", "completed") == completed+1
			})
			e.hangupAll(ap, back)
			e.noLeaks()
		})
	}
}

// TestOwnerCallbackEscalates: the owner stays paused past the owner
// deadline; the callback escalates to the senior operators: the senior's
// phone rings first, then the caller's, and the escalation is counted.
func TestOwnerCallbackEscalates(t *testing.T) {
	e := scenario(t)
	e.login("301", "309")
	const number = "5551003"
	caller, agent, callID := e.refusedLoop(number)
	e.must(agent.Press(e.wctx(), "*9")) // paused once this call is over
	e.must(agent.WaitHeard(e.wctx(), "hotline-pause-after-call"))
	escalated := e.metric("hotline_callbacks_total", "state", "escalated")
	e.apiOK(http.MethodPost, "/calls/"+callID+"/callback", map[string]string{"in": "1s", "note": note}, nil)
	e.must(caller.WaitHeard(e.wctx(), "hotline-owner-callback"))
	e.must(agent.WaitHungUp(e.wctx()))
	e.waitAgent("301", "paused")
	e.must(caller.WaitHeard(e.wctx(), "hotline-survey"))
	e.hangupAll(caller)

	sp := e.ring("309")
	e.must(sp.WaitHeard(e.wctx(), "hotline-whisper-callback"))
	back := e.ring(number)
	if !sp.Answered() {
		t.Error("the caller's line rang before the senior answered")
	}
	e.must(back.WaitConnectedTo(e.wctx(), sp))
	e.eventually("escalation counted", func() bool {
		return e.metric("hotline_callbacks_total", "state", "escalated") == escalated+1
	})
	if e.agent("301").State != "paused" {
		t.Errorf("the paused owner was disturbed: %+v", e.agent("301"))
	}
	e.hangupAll(sp, back)
	e.noLeaks()
}

// TestReturningCallerToOwner: a caller whose case is open (the owner
// promised a callback) calls again from the same number, confirms with 1
// and is routed straight to the owner when available; when the owner is
// not, they are offered the owner's callback instead.
func TestReturningCallerToOwner(t *testing.T) {
	tests := []struct {
		name   string
		number string
		paused bool
	}{
		{name: "owner available", number: "5551004"},
		{name: "owner unavailable", number: "5551005", paused: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := scenario(t)
			e.login("301", "304")
			first, agent := e.connect("200", tt.number, "301")
			e.must(agent.Press(e.wctx(), "*7"))
			e.must(first.WaitHeard(e.wctx(), "hotline-owner-callback"))
			e.hangupAll(agent)
			e.must(first.WaitHeard(e.wctx(), "hotline-survey"))
			e.hangupAll(first)
			e.waitAgent("301", "available")
			if tt.paused {
				e.apiOK(http.MethodPost, "/agents/301/state", map[string]string{"action": "pause", "reason": "lunch"}, nil)
				e.waitAgent("301", "paused")
			}

			again := e.call("200", tt.number)
			e.must(again.WaitHeard(e.wctx(), "hotline-case-recognised"))
			e.must(again.Press(e.wctx(), "1"))
			if !tt.paused {
				owner := e.ring("301")
				e.must(again.WaitConnectedTo(e.wctx(), owner))
				// A call routed to its owner never queued: the router knows
				// it by id (the caller's channel), with the owner on it.
				e.eventually("the returning call with its owner", func() bool {
					for _, c := range e.calls() {
						if c.ID == again.PeerID() {
							return c.AgentID == "301" && c.State == "connected"
						}
					}
					return false
				})
				if e.agent("304").State != "available" {
					t.Errorf("the queue's agent was offered the returning caller: %+v", e.agent("304"))
				}
				e.hangupAll(owner, again)
				e.noLeaks()
				return
			}
			e.must(again.WaitHeard(e.wctx(), "hotline-owner-callback-offer"))
			e.must(again.Press(e.wctx(), "1"))
			e.must(again.WaitHeard(e.wctx(), "hotline-callback-scheduled"))
			e.must(again.WaitHungUp(e.wctx()))
			if cbs := e.callbacks("scheduled", "301"); len(cbs) != 1 || cbs[0].Number != tt.number {
				t.Errorf("owner callbacks %+v, want the one for %s", cbs, tt.number)
			}
			if e.agent("304").State != "available" {
				t.Errorf("the returning caller was queued instead: %+v", e.agent("304"))
			}
			e.noLeaks()
		})
	}
}
