package e2e

import (
	"net/http"
	"testing"
	"time"

	"github.com/hotline-project/hotline/phones"
)

// TestMenuRouting: the voice menu sends a caller to the topic of the digit
// pressed; a wrong digit re-prompts; silence falls back to the default
// topic after the retries. The agent of the topic rings, hears the topic
// in the whisper, and talks to the caller.
func TestMenuRouting(t *testing.T) {
	tests := []struct {
		name   string
		press  []string // digits, one per hearing of the menu
		agent  string
		topic  string
		menus  int // how often the caller hears the menu
		before []string
	}{
		{name: "digit 1 connections", press: []string{"1"}, agent: "301", topic: "connections", menus: 1},
		{name: "digit 2 audit", press: []string{"2"}, agent: "302", topic: "audit", menus: 1},
		{name: "digit 3 service", press: []string{"3"}, agent: "303", topic: "service", menus: 1},
		{name: "wrong digit then right", press: []string{"7", "2"}, agent: "302", topic: "audit", menus: 2},
		{name: "silence falls back to the default", press: nil, agent: "303", topic: "service", menus: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := scenario(t)
			e.login(tc.agent)
			caller := e.call("100", "5550100")
			for i, d := range tc.press {
				e.must(caller.WaitHeardCount(e.wctx(), "hotline-main-menu", i+1))
				e.must(caller.Press(e.wctx(), d))
			}
			ap := e.ring(tc.agent)
			e.must(ap.WaitHeard(e.wctx(), "hotline-topic-"+tc.topic))
			e.must(caller.WaitConnectedTo(e.wctx(), ap))
			if got := caller.HeardCount("hotline-main-menu"); got != tc.menus {
				t.Errorf("caller heard the menu %d times, want %d (heard %v)", got, tc.menus, caller.Heard())
			}
			if c := e.callOf("5550100"); c.Topic != tc.topic || c.AgentID != tc.agent {
				t.Errorf("call %+v, want topic %s with agent %s", c, tc.topic, tc.agent)
			}
			e.hangupAll(ap, caller)
			e.noLeaks()
		})
	}
}

// TestLongestIdleFirst: of two available agents the one idle longer gets
// the call; the next call goes to the other.
func TestLongestIdleFirst(t *testing.T) {
	e := scenario(t)
	e.login("304") // first: idle longest
	// Idle time is kept to the millisecond (ties go to the lower id): let
	// the clock move on before the second agent logs in.
	for since := e.agent("304").IdleSince; time.Since(since) < 2*time.Millisecond; {
		time.Sleep(time.Millisecond)
	}
	e.login("301")
	if a, b := e.agent("304"), e.agent("301"); !a.IdleSince.Before(b.IdleSince) {
		t.Fatalf("idle since: 304 %v, 301 %v", a.IdleSince, b.IdleSince)
	}
	c1, a1 := e.connect("200", "5550201", "304")
	c2, a2 := e.connect("200", "5550202", "301")
	e.hangupAll(a1, a2, c1, c2)
	e.noLeaks()
}

// TestRingTimeoutNextAgent: an agent who does not answer is paused (no
// answer) and the caller, keeping their place, goes to the next agent.
func TestRingTimeoutNextAgent(t *testing.T) {
	e := scenario(t)
	e.phones.Agent("301").SetAnswer(phones.AnswerNever)
	e.login("301", "304")
	caller := e.call("200", "5550301")
	first := e.ring("301")
	e.must(first.WaitHungUp(e.wctx()))
	if first.Answered() || first.HungUpBy() != phones.ByRemote {
		t.Errorf("unanswered phone: answered %v, ended by %q", first.Answered(), first.HungUpBy())
	}
	second := e.ring("304")
	e.must(caller.WaitConnectedTo(e.wctx(), second))
	a := e.agent("301")
	if a.State != "paused" || a.Reason != "no answer" {
		t.Errorf("agent 301: %+v, want paused with reason \"no answer\"", a)
	}
	e.hangupAll(second, caller)
	e.noLeaks()
}

// TestRatingCountedOnce: after the agent hangs up the caller is asked to
// rate; the first valid digit counts and repeated presses change nothing.
func TestRatingCountedOnce(t *testing.T) {
	e := scenario(t)
	e.login("302")
	caller, ap := e.connect("300", "5550401", "302")
	before := e.metric("hotline_ratings_total")
	e.hangupAll(ap)
	e.must(caller.WaitHeard(e.wctx(), "hotline-survey"))
	for _, d := range []string{"1", "1", "2"} {
		if err := caller.Press(e.wctx(), d); err != nil {
			break // the hotline may have said goodbye and hung up already
		}
	}
	e.must(caller.WaitHungUp(e.wctx()))
	if got := e.metric("hotline_ratings_total") - before; got != 1 {
		t.Errorf("ratings counted %v, want 1", got)
	}
	if got := e.metric("hotline_ratings_total", "score", "1"); got != 1 {
		t.Errorf("ratings with score 1: %v, want 1", got)
	}
	e.noLeaks()
}

// TestAbandonDuringAnnouncement: a caller waiting behind a busy agent hears
// the position announcement and hangs up during it; the abandon is
// counted and nothing is left behind.
func TestAbandonDuringAnnouncement(t *testing.T) {
	e := scenario(t)
	e.login("303")
	c1, ap := e.connect("400", "5550501", "303")
	before := e.metric("hotline_calls_abandoned_total", "topic", "service")
	c2 := e.call("400", "5550502")
	e.must(c2.WaitHeard(e.wctx(), "hotline-position"))
	e.must(c2.Hangup(e.wctx()))
	e.must(c2.WaitHungUp(e.wctx()))
	e.eventually("abandon counted", func() bool {
		return e.metric("hotline_calls_abandoned_total", "topic", "service")-before == 1
	})
	if n := len(e.calls()); n != 1 {
		t.Errorf("%d active calls, want only the connected one", n)
	}
	e.hangupAll(ap, c1)
	e.noLeaks()
	st, _ := e.api(http.MethodGet, "/calls", nil)
	if st != http.StatusOK {
		t.Errorf("calls: %d", st)
	}
}

// TestUnreachableAgentPaused: an agent whose phone is not registered
// (Asterisk answers the originate 500 "Allocation failed") is paused
// "unreachable" after a few refusals, a few seconds apart, instead of
// being dialled again as fast as Asterisk answers; the caller keeps their
// place and is served by the next agent who logs in.
func TestUnreachableAgentPaused(t *testing.T) {
	e := scenario(t)
	e.login("310")
	caller := e.call("500", "5550801")
	a := e.waitAgent("310", "paused")
	if a.Reason != "unreachable" {
		t.Errorf("agent paused %q, want unreachable", a.Reason)
	}
	if n := e.metric("hotline_agents_unreachable_total"); n != 1 {
		t.Errorf("hotline_agents_unreachable_total = %v, want 1", n)
	}
	if c := e.callOf("5550801"); c.State != "queued" {
		t.Errorf("caller %+v, want still queued", c)
	}
	e.hangupAll(caller)
	e.noLeaks()
}
