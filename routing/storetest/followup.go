package storetest

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hotline-project/hotline/routing"
)

var errFlaky = errors.New("case store down")

// flakyCases is the real case store with Talked and CommitTransfer failing
// as many times as the counters say.
type flakyCases struct {
	routing.CaseStore
	talked, commit atomic.Int32
}

func (f *flakyCases) Talked(ctx context.Context, callID, caseID, agentID string, now time.Time) error {
	if f.talked.Add(-1) >= 0 {
		return errFlaky
	}
	return f.CaseStore.Talked(ctx, callID, caseID, agentID, now)
}

func (f *flakyCases) CommitTransfer(ctx context.Context, callID, caseID, transferID string, now time.Time) (routing.Hop, error) {
	if f.commit.Add(-1) >= 0 {
		return routing.Hop{}, errFlaky
	}
	return f.CaseStore.CommitTransfer(ctx, callID, caseID, transferID, now)
}

// testFollowUpFailureKeepsCommittedState checks that once the store has
// connected an agent (an answer, an accepted transfer), a failure of the
// bookkeeping after it (who talked, the transfer hop) is not reported as
// "not connected": the caller would hang up on an agent Redis shows
// talking. One failure is retried away; two are logged and left.
func testFollowUpFailureKeepsCommittedState(t *testing.T, open Open) {
	ctx := context.Background()
	tests := []struct {
		name           string
		transfer       bool
		talked, commit int32
		recorded       bool // the follow-up reached the case in the end
	}{
		{name: "answer, talked fails once", talked: 1, recorded: true},
		{name: "answer, talked fails twice", talked: 2},
		{name: "transfer, commit fails once", transfer: true, commit: 1, recorded: true},
		{name: "transfer, commit and talked fail twice", transfer: true, commit: 2, talked: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			agents := []routing.Agent{agent("a", "audit"), agent("b", "service")}
			e := newEnv(t, open, agents)
			fc := &flakyCases{CaseStore: e.st.Cases}
			r := routing.New(e.st.Queue, fc, routing.Options{Node: "n1", Clock: e.clk, Policy: defaultPolicy(), Deliver: e.offers.add})
			if err := r.SyncAgents(ctx, agents); err != nil {
				t.Fatal(err)
			}
			e.r = r
			e.login(t, "a", "b")
			cs, err := r.OpenCase(ctx, "+380501", "audit", "en")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := r.Enqueue(ctx, routing.Call{ID: "c1", CaseID: cs.ID, Topic: "audit"}); err != nil {
				t.Fatal(err)
			}
			o := e.offers.last(t)
			want, talking := []string{"a"}, "a"
			if !tt.transfer {
				fc.talked.Store(tt.talked)
			}
			if err := r.Answered(ctx, o); err != nil {
				t.Fatalf("answered: %v", err)
			}
			if tt.transfer {
				fc.talked.Store(tt.talked)
				fc.commit.Store(tt.commit)
				tr, err := r.BeginTransfer(ctx, routing.TransferRequest{CallID: "c1", By: "a", To: dest("topic:service"), Note: goodNote, Mode: routing.ModeAttended})
				if err != nil {
					t.Fatal(err)
				}
				if err := r.AcceptTransfer(ctx, "c1", tr.ID); err != nil {
					t.Fatalf("accept transfer: %v", err)
				}
				want, talking = []string{"a", "b"}, "b"
			}
			if st := e.state(t, talking); st.State != routing.StateOnCall || st.CallID != "c1" {
				t.Errorf("%s is %s on %q, want on_call on c1", talking, st.State, st.CallID)
			}
			got, err := r.Case(ctx, cs.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.recorded {
				want = want[:len(want)-1]
			}
			if !slices.Equal(got.Agents, want) {
				t.Errorf("case agents %v, want %v", got.Agents, want)
			}
			if tt.transfer && tt.recorded {
				if p := pathStrings(got.Path); !slices.Equal(p, []string{"topic:audit", "topic:service"}) {
					t.Errorf("case path %v", p)
				}
			}
		})
	}
}

// testReleaseOffer checks that an offer taken back through no fault of the
// agent leaves them free (or in the pause they asked for while it rang),
// never paused "no answer", and a queued caller back in their place.
func testReleaseOffer(t *testing.T, open Open) {
	ctx := context.Background()
	tests := []struct {
		name      string
		direct    bool   // rung with ClaimAgent, in no queue
		pause     string // pause asked for while ringing
		wantState routing.AgentState
		wantCall  routing.CallState // "" when the call is gone
		reoffered bool
	}{
		// The only agent is free again, so the caller is offered to them
		// once more.
		{name: "queued caller", wantState: routing.StateRinging, wantCall: routing.CallRinging, reoffered: true},
		{name: "queued caller, pause asked for", pause: "lunch", wantState: routing.StatePaused, wantCall: routing.CallQueued},
		{name: "direct call", direct: true, wantState: routing.StateAvailable},
		{name: "direct call, pause asked for", direct: true, pause: "lunch", wantState: routing.StatePaused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, open, []routing.Agent{agent("a", "audit")})
			e.login(t, "a")
			var o routing.Offer
			if tt.direct {
				st, ok, err := e.r.ClaimAgent(ctx, "a", routing.Call{ID: "c1", Topic: "audit"})
				if err != nil || !ok {
					t.Fatalf("claim: %v %v", ok, err)
				}
				o = routing.Offer{CallID: "c1", Topic: "audit", Node: "n1", Agent: st}
			} else {
				e.enqueue(t, "c1", "audit")
				o = e.offers.last(t)
			}
			if tt.pause != "" {
				if err := e.r.Pause(ctx, "a", tt.pause); err != nil {
					t.Fatal(err)
				}
			}
			n := len(e.offers.all())
			if err := e.r.ReleaseOffer(ctx, o); err != nil {
				t.Fatalf("release: %v", err)
			}
			st := e.state(t, "a")
			if st.State != tt.wantState || (tt.pause != "" && st.Reason != tt.pause) {
				t.Errorf("agent %s %q, want %s", st.State, st.Reason, tt.wantState)
			}
			c, err := e.r.Call(ctx, "c1")
			switch {
			case tt.wantCall == "" && !errors.Is(err, routing.ErrNotFound):
				t.Errorf("call %+v %v, want gone", c, err)
			case tt.wantCall != "" && (err != nil || c.State != tt.wantCall):
				t.Errorf("call %s %v, want %s", c.State, err, tt.wantCall)
			}
			if got := len(e.offers.all()) > n; got != tt.reoffered {
				t.Errorf("offered again: %v, want %v", got, tt.reoffered)
			}
		})
	}
}
