package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/hotline-project/hotline/api"
	"github.com/hotline-project/hotline/app"
	"github.com/hotline-project/hotline/internal/harness"
)

// secondNode starts another daemon of the same hotline (same Redis, same
// key prefix) named node, on the same Asterisk under its own application
// name: Asterisk allows one websocket per application, and no dialplan
// sends calls to this one, so every call stays the first node's.
func (e *env) secondNode(node, application string, opts ...func(*app.Options)) *harness.Daemon {
	cfg := *e.cfg
	cfg.Node.Name = node
	cfg.ARI.Application = application
	password := e.ariPass
	o := app.Options{
		Config: &cfg, Redis: e.rdb, ARIPassword: &password,
		Authenticate: api.StaticTokens(map[string]api.Token{adminToken: {Role: api.RoleAdmin}}),
		Logger:       harness.Logger(e.t, node), Clock: e.clock,
	}
	for _, f := range opts {
		f(&o)
	}
	return harness.StartDaemon(e.t, o)
}

// apiAt calls node a's HTTP API as admin and returns status and body.
func (e *env) apiAt(a *harness.Daemon, method, path string, body any) (int, []byte) {
	e.t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		e.must(err)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(e.ctx, method, a.URL()+"/api/v1"+path, r)
	e.must(err)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	e.must(err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	e.must(err)
	return resp.StatusCode, b
}

// TestTransferThroughAnotherNode (docs/behaviour.md, Several nodes): the agent's desk talks to node
// A while the call's channels are node B's. A's API answers exactly as B's
// does, transfers the call and completes the transfer on B.
func TestTransferThroughAnotherNode(t *testing.T) {
	e := scenario(t)
	owner := e.app
	desk := e.secondNode("e2e-desk", "hotline-desk")
	e.login("301", "302")
	caller, a1 := e.connect("200", "5550901", "301")
	c := e.callOf("5550901")

	// The same refused request through both nodes: same status, same body.
	blind := map[string]string{"to": "agent:302", "note": note, "mode": "blind"}
	stOwner, bOwner := e.apiAt(owner, http.MethodPost, "/calls/"+c.ID+"/transfer", blind)
	stDesk, bDesk := e.apiAt(desk, http.MethodPost, "/calls/"+c.ID+"/transfer", blind)
	if stOwner != http.StatusConflict || stDesk != stOwner || !bytes.Equal(bDesk, bOwner) {
		t.Fatalf("blind transfer: owner %d %s, other node %d %s", stOwner, bOwner, stDesk, bDesk)
	}
	tests := []struct {
		name, path string
		status     int
	}{
		{"complete with no transfer pending", "/calls/" + c.ID + "/transfer/complete", http.StatusConflict},
		{"cancel with no transfer pending", "/calls/" + c.ID + "/transfer/cancel", http.StatusConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, b := e.apiAt(desk, http.MethodPost, tt.path, nil)
			stO, bO := e.apiAt(owner, http.MethodPost, tt.path, nil)
			if st != tt.status || st != stO || !bytes.Equal(b, bO) {
				t.Fatalf("other node %d %s, owner %d %s, want %d from both", st, b, stO, bO, tt.status)
			}
		})
	}

	st, b := e.apiAt(desk, http.MethodPost, "/calls/"+c.ID+"/transfer", map[string]string{"to": "agent:302", "note": note, "mode": "attended"})
	if st != http.StatusAccepted {
		t.Fatalf("transfer through the other node: %d %s", st, b)
	}
	e.must(caller.WaitHeard(e.wctx(), "hotline-transferring"))
	tp := e.ring("302")
	e.must(tp.WaitHeard(e.wctx(), "hotline-accept-transfer"))
	if st, b := e.apiAt(desk, http.MethodPost, "/calls/"+c.ID+"/transfer/complete", nil); st != http.StatusNoContent {
		t.Fatalf("complete through the other node: %d %s", st, b)
	}
	e.must(caller.WaitConnectedTo(e.wctx(), tp))
	e.must(a1.WaitHungUp(e.wctx()))
	e.eventually("call with 302", func() bool { return e.callOf("5550901").AgentID == "302" })
	e.eventually("transfer counted on the owner", func() bool {
		return e.metric("hotline_transfers_total", "result", "completed") == 1
	})
	e.hangupAll(tp, caller)
	e.noLeaks()
}

// TestCommandToDeadNode: a call whose node is gone (stopped here: it
// leaves its calls to Asterisk and Redis) gets 503 from another node, not
// 410: the call is still there, its node is not.
func TestCommandToDeadNode(t *testing.T) {
	e := scenario(t)
	desk := e.secondNode("e2e-desk", "hotline-desk")
	e.login("301")
	caller, a1 := e.connect("200", "5550902", "301")
	c := e.callOf("5550902")
	e.app.Stop() // the owner leaves the call to Asterisk and Redis
	st, b := e.apiAt(desk, http.MethodPost, "/calls/"+c.ID+"/transfer/complete", nil)
	if st != http.StatusServiceUnavailable || refusal(b).Error != "node_unavailable" {
		t.Fatalf("complete on a stopped node's call: %d %s, want 503 node_unavailable", st, b)
	}
	e.hangupAll(a1, caller)
	// The owner's bridge outlives its calls until the owner is back: its
	// first reconcile ends the vanished call and destroys the bridge.
	e.startDaemon(e.ariPass)
	e.noLeaks()
}

// TestDeadNodesCallerTakenOver (docs/behaviour.md, Several nodes): two nodes share one Asterisk;
// the node a caller waits on stops (or dies) and does not come back. The
// live node takes the waiting caller over — the channel moves into its
// application — and serves them in their place when an agent is free.
func TestDeadNodesCallerTakenOver(t *testing.T) {
	e := scenario(t)
	peer := e.secondNode("e2e-peer", "hotline-peer", func(o *app.Options) { o.ReconcileEvery = 300 * time.Millisecond })
	caller := e.call("200", "5550911")
	e.eventually("caller queued", func() bool { return e.callOf("5550911").State == "queued" })
	e.app.Stop() // its heartbeat ends with it: its callers are nobody's now
	e.app = peer // the API from now on
	e.eventually("the caller taken over", func() bool { return peer.Engine.Active() == 1 })
	e.apiOK(http.MethodPost, "/agents/301/state", map[string]string{"action": "login"}, nil)
	agent := e.ring("301") // offered the waiting caller at once
	e.must(agent.WaitAnswered(e.wctx()))
	e.must(caller.WaitConnectedTo(e.wctx(), agent))
	if c := e.callOf("5550911"); c.AgentID != "301" {
		t.Errorf("call %+v, want connected to 301 by the live node", c)
	}
	e.hangupAll(agent, caller)
	e.noLeaks()
}
