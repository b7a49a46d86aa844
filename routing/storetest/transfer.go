package storetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/hotline-project/hotline/routing"
)

const goodNote = "router resets every night"

func dest(s string) routing.Destination {
	d, err := routing.ParseDestination(s)
	if err != nil {
		panic(err)
	}
	return d
}

func pathStrings(p []routing.Hop) []string {
	out := make([]string, len(p))
	for i, h := range p {
		out[i] = h.To.String()
	}
	return out
}

// transferEnv has agent a (audit) talking to call c1, and free agents b
// (service), c (connections), d (audit, service).
func transferEnv(t *testing.T, open Open, opts ...envOpt) *env {
	t.Helper()
	e := newEnv(t, open, []routing.Agent{
		agent("a", "audit"), agent("b", "service"), agent("c", "connections"), agent("d", "audit", "service"),
	}, opts...)
	e.login(t, "a")
	e.connect(t, "c1", "audit")
	e.login(t, "b", "c", "d")
	return e
}

// hop moves call c1 from its current agent to the target and accepts.
func (e *env) hop(t *testing.T, by, to string) routing.Transfer {
	t.Helper()
	ctx := context.Background()
	tr, err := e.r.BeginTransfer(ctx, routing.TransferRequest{CallID: "c1", By: by, To: dest(to), Note: goodNote, Mode: routing.ModeAttended})
	if err != nil {
		t.Fatalf("transfer %s by %s: %v", to, by, err)
	}
	if err := e.r.AcceptTransfer(ctx, "c1", tr.ID); err != nil {
		t.Fatalf("accept %s: %v", to, err)
	}
	return tr
}

func testTransferRules(t *testing.T, open Open) {
	ctx := context.Background()
	tests := []struct {
		name   string
		opts   []envOpt
		setup  func(t *testing.T, e *env) (by string) // returns the agent now talking
		to     string
		note   string
		mode   routing.TransferMode
		refuse routing.RefusalCode
		target string // agent claimed when not refused
		conv   bool
	}{
		{name: "to a topic: longest idle agent of the topic", to: "topic:service", target: "b"},
		{name: "to an agent", to: "agent:c", target: "c"},
		{name: "note too short", to: "topic:service", note: "pls", refuse: routing.RefuseNoteRequired},
		{name: "blind refused", to: "topic:service", mode: routing.ModeBlind, refuse: routing.RefuseBlind},
		{name: "blind converted", to: "topic:service", mode: routing.ModeBlind, target: "b", conv: true,
			opts: []envOpt{func(o *routing.Options) { o.Policy.Blind = routing.BlindConvert }}},
		{name: "back to the entry topic is a loop", to: "topic:audit", refuse: routing.RefuseLoop},
		{name: "to oneself is a loop", to: "agent:a", refuse: routing.RefuseLoop},
		{name: "back to an agent who had the caller is a loop", to: "agent:a",
			setup: func(t *testing.T, e *env) string { e.hop(t, "a", "agent:c"); return "c" }, refuse: routing.RefuseLoop},
		{name: "back to a topic already visited is a loop", to: "topic:service",
			setup: func(t *testing.T, e *env) string {
				e.hop(t, "a", "topic:service")
				e.hop(t, "b", "agent:c")
				return "c"
			},
			refuse: routing.RefuseLoop},
		{name: "past the hop limit", to: "agent:d",
			opts:  []envOpt{func(o *routing.Options) { o.Policy.MaxHops = 1 }},
			setup: func(t *testing.T, e *env) string { e.hop(t, "a", "agent:c"); return "c" }, refuse: routing.RefuseMaxHops},
		{name: "at the hop limit", to: "agent:d",
			opts:  []envOpt{func(o *routing.Options) { o.Policy.MaxHops = 2 }},
			setup: func(t *testing.T, e *env) string { e.hop(t, "a", "agent:c"); return "c" }, target: "d"},
		{name: "another transfer pending", to: "agent:c",
			setup: func(t *testing.T, e *env) string {
				if _, err := e.r.BeginTransfer(ctx, routing.TransferRequest{CallID: "c1", By: "a", To: dest("agent:b"), Note: goodNote}); err != nil {
					t.Fatal(err)
				}
				return "a"
			}, refuse: routing.RefuseTransferPending},
		{name: "target agent not available", to: "agent:b",
			setup: func(t *testing.T, e *env) string {
				if err := e.r.Pause(ctx, "b", "lunch"); err != nil {
					t.Fatal(err)
				}
				return "a"
			}, refuse: routing.RefuseTargetUnavail},
		{name: "topic whose only free agent had the caller", to: "topic:service",
			setup: func(t *testing.T, e *env) string {
				// d (audit, service) took the caller from a, then passed
				// them to c; b is busy; d is free again but excluded.
				e.hop(t, "a", "agent:d")
				e.hop(t, "d", "agent:c")
				if err := e.r.Pause(ctx, "b", "lunch"); err != nil {
					t.Fatal(err)
				}
				return "c"
			}, refuse: routing.RefuseTargetUnavail},
		{name: "unknown topic", to: "topic:nowhere", refuse: routing.RefuseTargetUnavail},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := append([]envOpt{func(o *routing.Options) { o.Policy.WrapUp = 0 }}, tc.opts...)
			e := transferEnv(t, open, opts...)
			by := "a"
			if tc.setup != nil {
				by = tc.setup(t, e)
			}
			note := tc.note
			if note == "" {
				note = goodNote
			}
			mode := tc.mode
			if mode == "" {
				mode = routing.ModeAttended
			}
			path, err := e.r.CallPath(ctx, "c1")
			if err != nil {
				t.Fatal(err)
			}
			tr, err := e.r.BeginTransfer(ctx, routing.TransferRequest{CallID: "c1", By: by, To: dest(tc.to), Note: note, Mode: mode})
			if tc.refuse != "" {
				ref, ok := routing.AsRefusal(err)
				if !ok {
					t.Fatalf("err = %v, want refusal %s", err, tc.refuse)
				}
				if ref.Code != tc.refuse {
					t.Errorf("refusal %s (%s), want %s", ref.Code, ref.Message, tc.refuse)
				}
				if !slices.Equal(pathStrings(ref.Path), pathStrings(path)) || len(ref.Path) == 0 {
					t.Errorf("refusal path %v, want %v", pathStrings(ref.Path), pathStrings(path))
				}
				if tc.refuse != routing.RefuseTransferPending {
					// A refused transfer leaves nothing pending: a correct
					// transfer can follow at once.
					if p, ok, _ := e.st.Cases.Pending(ctx, "c1"); ok {
						t.Errorf("pending transfer left behind: %+v", p)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("transfer: %v", err)
			}
			if tr.Target.ID != tc.target || tr.Target.State != routing.StateRinging || tr.Target.CallID != "c1" {
				t.Errorf("target = %s %s %s, want %s ringing for c1", tr.Target.ID, tr.Target.State, tr.Target.CallID, tc.target)
			}
			if tr.Converted != tc.conv {
				t.Errorf("converted = %v", tr.Converted)
			}
		})
	}
}

func testTransferAcceptAndCancel(t *testing.T, open Open) {
	ctx := context.Background()
	tests := []struct {
		name      string
		finish    func(e *env, tr routing.Transfer) error
		wantAgent string // talking to the caller afterwards
		wantPath  []string
		target    routing.AgentState
		targetWhy string
		from      routing.AgentState
	}{
		{
			name:      "accepted",
			finish:    func(e *env, tr routing.Transfer) error { return e.r.AcceptTransfer(ctx, "c1", tr.ID) },
			wantAgent: "b", wantPath: []string{"topic:audit", "topic:service"},
			target: routing.StateOnCall, from: routing.StateWrapUp,
		},
		{
			name:      "declined",
			finish:    func(e *env, tr routing.Transfer) error { return e.r.CancelTransfer(ctx, "c1", tr.ID, false) },
			wantAgent: "a", wantPath: []string{"topic:audit"},
			target: routing.StateAvailable, from: routing.StateOnCall,
		},
		{
			name:      "not answered",
			finish:    func(e *env, tr routing.Transfer) error { return e.r.CancelTransfer(ctx, "c1", tr.ID, true) },
			wantAgent: "a", wantPath: []string{"topic:audit"},
			target: routing.StatePaused, targetWhy: routing.ReasonNoAnswer, from: routing.StateOnCall,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, open, []routing.Agent{agent("a", "audit"), agent("b", "service")})
			cs, err := e.r.OpenCase(ctx, "+380501112233", "audit", "uk")
			if err != nil {
				t.Fatal(err)
			}
			e.login(t, "a")
			if _, err := e.r.Enqueue(ctx, routing.Call{ID: "c1", CaseID: cs.ID, Topic: "audit", CallerNumber: cs.CallerNumber}); err != nil {
				t.Fatal(err)
			}
			if err := e.r.Answered(ctx, e.offers.last(t)); err != nil {
				t.Fatal(err)
			}
			e.login(t, "b")
			tr, err := e.r.BeginTransfer(ctx, routing.TransferRequest{CallID: "c1", By: "a", To: dest("topic:service"), Note: goodNote})
			if err != nil {
				t.Fatal(err)
			}
			if c, _ := e.r.Call(ctx, "c1"); c.State != routing.CallConsulting || c.ConsultAgent != "b" {
				t.Errorf("during consult: %s %q", c.State, c.ConsultAgent)
			}
			if err := tc.finish(e, tr); err != nil {
				t.Fatal(err)
			}
			c, err := e.r.Call(ctx, "c1")
			if err != nil {
				t.Fatal(err)
			}
			if c.AgentID != tc.wantAgent || c.State != routing.CallConnected {
				t.Errorf("call with %s (%s), want %s connected", c.AgentID, c.State, tc.wantAgent)
			}
			path, _ := e.r.CallPath(ctx, "c1")
			if got := pathStrings(path); !slices.Equal(got, tc.wantPath) {
				t.Errorf("call path %v, want %v", got, tc.wantPath)
			}
			got, err := e.r.Case(ctx, cs.ID)
			if err != nil {
				t.Fatal(err)
			}
			if p := pathStrings(got.Path); !slices.Equal(p, tc.wantPath) {
				t.Errorf("case path %v, want %v", p, tc.wantPath)
			}
			if len(got.Path) > 1 && got.Path[1].By != "a" {
				t.Errorf("hop by %q, want a", got.Path[1].By)
			}
			if got.Owner != "a" {
				t.Errorf("owner %q, want a", got.Owner)
			}
			if b := e.state(t, "b"); b.State != tc.target || b.Reason != tc.targetWhy {
				t.Errorf("target b = %s %q, want %s %q", b.State, b.Reason, tc.target, tc.targetWhy)
			}
			if a := e.state(t, "a"); a.State != tc.from {
				t.Errorf("transferring agent a = %s, want %s", a.State, tc.from)
			}
			// The same transfer cannot be finished twice.
			if err := e.r.AcceptTransfer(ctx, "c1", tr.ID); !errors.Is(err, routing.ErrNotFound) {
				t.Errorf("second finish: %v", err)
			}
		})
	}
}

func testCaseLifecycle(t *testing.T, open Open) {
	ctx := context.Background()
	e := newEnv(t, open, []routing.Agent{agent("a", "audit"), agent("b", "service")}, func(o *routing.Options) { o.Policy.WrapUp = 0 })
	cs, err := e.r.OpenCase(ctx, "+48221234567", "audit", "pl")
	if err != nil {
		t.Fatal(err)
	}
	e.login(t, "a", "b")
	if _, err := e.r.Enqueue(ctx, routing.Call{ID: "c1", CaseID: cs.ID, Topic: "audit", CallerNumber: cs.CallerNumber}); err != nil {
		t.Fatal(err)
	}
	if err := e.r.Answered(ctx, e.offers.last(t)); err != nil {
		t.Fatal(err)
	}
	if err := e.r.SetNote(ctx, cs.ID, "invoice twice in March", "a"); err != nil {
		t.Fatal(err)
	}
	e.hop(t, "a", "agent:b")
	if err := e.r.EndCall(ctx, "c1", "b"); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name    string
		score   int
		counted bool
	}{{"first press counts", 1, true}, {"repeated press ignored", 2, false}}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			counted, err := e.r.Rate(ctx, cs.ID, s.score)
			if err != nil || counted != s.counted {
				t.Errorf("rate %d = %v %v, want %v", s.score, counted, err, s.counted)
			}
		})
	}
	got, err := e.r.Case(ctx, cs.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Note != "invoice twice in March" || got.Owner != "a" || got.Rating != 1 || got.RatedBy != "b" ||
		!slices.Equal(got.Agents, []string{"a", "b"}) || got.Lang != "pl" || got.Status != routing.CaseOpen {
		t.Errorf("case = %+v", got)
	}
	if !slices.Equal(pathStrings(got.Path), []string{"topic:audit", "agent:b"}) {
		t.Errorf("path %v", pathStrings(got.Path))
	}
	back, ok, err := e.r.OpenCaseFor(ctx, "+48221234567")
	if err != nil || !ok || back.ID != cs.ID {
		t.Errorf("returning caller: %v %v %v", back.ID, ok, err)
	}
	for _, f := range []struct {
		name string
		f    routing.CaseFilter
		want int
	}{{"all", routing.CaseFilter{}, 1}, {"open", routing.CaseFilter{Status: routing.CaseOpen}, 1}, {"owner a", routing.CaseFilter{Owner: "a"}, 1}, {"owner b", routing.CaseFilter{Owner: "b"}, 0}} {
		if l, err := e.r.Cases(ctx, f.f); err != nil || len(l) != f.want {
			t.Errorf("cases %s: %d %v, want %d", f.name, len(l), err, f.want)
		}
	}
	if _, err := e.r.CloseCase(ctx, cs.ID); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := e.r.OpenCaseFor(ctx, "+48221234567"); ok || err != nil {
		t.Errorf("closed case still found for returning caller: %v %v", ok, err)
	}
	if _, err := e.r.Case(ctx, "nope"); !errors.Is(err, routing.ErrNotFound) {
		t.Errorf("unknown case: %v", err)
	}
	if err := e.r.SetNote(ctx, "nope", "x", "a"); !errors.Is(err, routing.ErrNotFound) {
		t.Errorf("note on unknown case: %v", err)
	}
}

func testClaimForCallback(t *testing.T, open Open) {
	ctx := context.Background()
	senior := agent("s1", "audit")
	senior.Senior = true
	senior2 := agent("s2", "audit")
	senior2.Senior = true
	e := newEnv(t, open, []routing.Agent{agent("a", "audit"), senior, senior2})
	e.login(t, "s2", "s1")
	tests := []struct {
		name   string
		claim  func() (routing.AgentStatus, bool, error)
		want   string
		wantOK bool
	}{
		{"owner offline", func() (routing.AgentStatus, bool, error) { return e.r.ClaimAgent(ctx, "a", routing.Call{ID: "cb-1"}) }, "", false},
		{"longest idle senior", func() (routing.AgentStatus, bool, error) { return e.r.ClaimSenior(ctx, routing.Call{ID: "cb-2"}) }, "s2", true},
		{"next senior", func() (routing.AgentStatus, bool, error) {
			return e.r.ClaimSenior(ctx, routing.Call{ID: "cb-3", CaseID: "k3", Topic: "audit", CallerNumber: "5550003", Lang: "pl"})
		}, "s1", true},
		{"no senior left", func() (routing.AgentStatus, bool, error) { return e.r.ClaimSenior(ctx, routing.Call{ID: "cb-4"}) }, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, ok, err := tc.claim()
			if err != nil || ok != tc.wantOK || a.ID != tc.want {
				t.Errorf("claim = %s %v %v, want %s %v", a.ID, ok, err, tc.want, tc.wantOK)
			}
		})
	}
	// A claimed agent who does not answer is paused; the direct call is gone.
	if err := e.r.NoAnswer(ctx, routing.Offer{CallID: "cb-2", Agent: routing.AgentStatus{Agent: senior2}}); err != nil {
		t.Fatal(err)
	}
	if s := e.state(t, "s2"); s.State != routing.StatePaused {
		t.Errorf("s2 after no answer: %s", s.State)
	}
	if err := e.r.Answered(ctx, routing.Offer{CallID: "cb-3", Agent: routing.AgentStatus{Agent: senior}}); err != nil {
		t.Fatal(err)
	}
	// The live views show who the claimed call is for.
	if c, err := e.r.Call(ctx, "cb-3"); err != nil || c.CallerNumber != "5550003" || c.CaseID != "k3" || c.Topic != "audit" || c.Lang != "pl" {
		t.Errorf("claimed call %+v %v", c, err)
	}
	// A claimed call has a path: it can be transferred like any other.
	if path, err := e.r.CallPath(ctx, "cb-3"); err != nil || len(path) != 1 || path[0].To.String() != "agent:s1" {
		t.Errorf("claimed call path %v %v", path, err)
	}
	if s := e.state(t, "s1"); s.State != routing.StateOnCall {
		t.Errorf("s1 talking to callback: %s", s.State)
	}
	if err := e.r.EndCall(ctx, "cb-3", "s1"); err != nil {
		t.Fatal(err)
	}
	if s := e.state(t, "s1"); s.State != routing.StateWrapUp {
		t.Errorf("s1 after callback call: %s", s.State)
	}
}

// testConsultOutlivesRingDeadline: once the target answered, the sweep
// (meant for a dead node) leaves a consult alone until the consult's own
// limit, and still frees the target after it.
func testConsultOutlivesRingDeadline(t *testing.T, open Open) {
	ctx := context.Background()
	const grace = 30 * time.Second // the Router's default SweepGrace
	tests := []struct {
		name     string
		answered bool
		wait     time.Duration
		swept    bool
	}{
		{name: "ringing target past its deadline is swept", wait: 15*time.Second + grace + time.Second, swept: true},
		{name: "answered target in a long consult is kept", answered: true, wait: 15*time.Second + grace + time.Minute},
		{name: "answered target past the consult limit is swept", answered: true, wait: 2*time.Minute + grace + time.Second, swept: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := transferEnv(t, open)
			tr, err := e.r.BeginTransfer(ctx, routing.TransferRequest{CallID: "c1", By: "a", To: dest("agent:b"), Note: goodNote, Mode: routing.ModeAttended})
			if err != nil {
				t.Fatal(err)
			}
			if tt.answered {
				if err := e.r.ConsultAnswered(ctx, "c1", "b", e.clk.Now().Add(2*time.Minute)); err != nil {
					t.Fatal(err)
				}
			}
			e.clk.Advance(tt.wait)
			if _, err := e.r.Tick(ctx); err != nil {
				t.Fatal(err)
			}
			ringing := e.state(t, "b").State == routing.StateRinging
			if ringing == tt.swept {
				t.Fatalf("target b is %s after %v", e.state(t, "b").State, tt.wait)
			}
			if !tt.swept {
				if err := e.r.AcceptTransfer(ctx, "c1", tr.ID); err != nil {
					t.Fatalf("accept after a long consult: %v", err)
				}
			}
		})
	}
	t.Run("not the claimed target", func(t *testing.T) {
		e := transferEnv(t, open)
		if _, err := e.r.BeginTransfer(ctx, routing.TransferRequest{CallID: "c1", By: "a", To: dest("agent:b"), Note: goodNote, Mode: routing.ModeAttended}); err != nil {
			t.Fatal(err)
		}
		if err := e.r.ConsultAnswered(ctx, "c1", "c", e.clk.Now().Add(time.Hour)); err == nil {
			t.Fatal("another agent's answer moved the deadline")
		}
	})
}
