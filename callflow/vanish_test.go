package callflow

import (
	"context"
	"testing"

	"github.com/hotline-project/hotline/routing"
)

// TestReconcileEndsVanishedCalls: calls of this node the router still has
// but Asterisk no longer does (the daemon was down when they hung up, or
// their end was never written) are ended by Reconcile, each as its state
// needs; calls of other nodes, calls with a channel, kept places and calls
// this node owns are left alone, and a later Reconcile ends nothing more.
func TestReconcileEndsVanishedCalls(t *testing.T) {
	h := newHarness(t)
	owned := h.queued()
	h.r.waitCall(t, "Enqueue")
	const (
		talking    = "1795300002.1"
		consulting = "1795300002.2"
		queued     = "1795300002.3"
		ringing    = "1795300002.4"
		kept       = "1795300002.5" // a kept place: the callbacks service's
		keptRung   = "1795300002.6" // a kept place offered to an agent
		other      = "1795300002.7" // another node's
		legOnly    = "1795300002.8" // only the agent's leg is left
		calledBack = "1795300002.9" // the called-back caller's leg is listed
	)
	call := func(id string, st routing.CallState, agent, cb string) Call {
		return Call{ID: id, CaseID: "case-" + id, Topic: "service", Node: "n1", AgentID: agent, State: st, CallbackID: cb}
	}
	h.r.mu.Lock()
	for _, c := range []Call{
		call(talking, routing.CallConnected, "100", ""),
		call(consulting, routing.CallConsulting, "101", ""),
		call(queued, routing.CallQueued, "", ""),
		call(ringing, routing.CallRinging, "102", ""),
		call(kept, routing.CallQueued, "", "cb-1"),
		call(keptRung, routing.CallRinging, "103", "cb-2"),
		call(owned, routing.CallQueued, "", ""),
		call(legOnly, routing.CallConnected, "104", ""),
		call(calledBack, routing.CallRinging, "106", "cb-3"),
	} {
		h.r.live[c.ID] = c
	}
	o := call(other, routing.CallConnected, "105", "")
	o.Node = "n2"
	h.r.live[other] = o
	h.r.mu.Unlock()

	h.e.Reconcile(context.Background(), []Channel{{ID: owned}, {ID: "hl-n1-agent-3-" + legOnly}, {ID: "hl-n1-callee-4-" + calledBack}}, nil)
	want := []string{
		"EndCall " + legOnly + " 104",
		"EndCall " + talking + " 100",
		"EndCall " + consulting + " 101",
		"Leave " + queued,
		"Leave " + ringing,
		"ReleaseOffer " + keptRung + " 103",
	}
	for _, w := range want {
		h.r.waitCall(t, w)
	}
	for _, id := range []string{kept, other, owned, calledBack} {
		n := h.r.countPrefix("Leave "+id) + h.r.countPrefix("EndCall "+id)
		if id != calledBack {
			// The called-back caller is re-adopted, and adopting a ringing
			// call releases its ring (asynchronously): not an end.
			n += h.r.countPrefix("ReleaseOffer " + id)
		}
		if n != 0 {
			t.Errorf("%s ended: %v", id, h.r.log())
		}
	}

	// A later Reconcile (the periodic one) finds those ended.
	h.e.Reconcile(context.Background(), []Channel{{ID: owned}}, nil)
	h.hangup(owned)
	h.hangup("hl-n1-callee-4-" + calledBack)
	h.idle()
	for _, w := range want {
		if n := h.r.countPrefix(w); n != 1 {
			t.Errorf("%q %d times: %v", w, n, h.r.log())
		}
	}
}
