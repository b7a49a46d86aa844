package desk

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hotline-project/hotline/api"
	"github.com/hotline-project/hotline/app"
	"github.com/hotline-project/hotline/internal/harness"
	"github.com/hotline-project/hotline/phones"
)

// daemonConfig is a small hotline: two topics, one number each, one agent
// per topic, every phone played by the phones driver. Hold announcements
// and callback offers are off so that a queued caller just waits.
//
// The agents are PJSIP endpoints of the simulated Asterisk (played by the
// driver's "phones" application) rather than Local/<id>@phones: with a
// Local agent leg the simulator hands the StasisStart of the ;2 half, which
// enters Stasis(phones), to the hotline as well (it is subscribed to both
// halves), and the call flow takes it for a new inbound call to an unknown
// number and hangs the agent's leg up.
const daemonConfig = `
ari:
  url: {{ARI_URL}}
  username: hotline
  password_env: HOTLINE_TEST_UNUSED
  reconnect_backoff: {min: 50ms, max: 200ms}
redis:
  addrs: [{{REDIS}}]
topics:
  service: {description: Faults and repairs}
  audit: {description: Billing and contracts}
numbers:
  "300": {topic: service}
  "301": {topic: audit}
agents:
  - {id: "101", name: Olena Kovalenko, endpoint: PJSIP/agent101, topics: [service]}
  - {id: "102", name: Petro Shevchenko, endpoint: PJSIP/agent102, topics: [audit]}
queue:
  wrap_up: 0s
  announce_every: 0s
callback:
  offer_wait_threshold: 1h
  dial_template: Local/${NUMBER}@phones
`

const (
	daemonAgentToken  = "daemon-agent-101-token-0123"
	daemonSeniorToken = "daemon-senior-token-0123456"
)

// daemonSite runs the whole daemon in-process — real Redis, the simulated
// Asterisk, app.New with the desk mounted — and the phones driver that
// plays its callers and agents.
func daemonSite(t *testing.T) (site, *app.App, *phones.Driver) {
	t.Helper()
	h := harness.Start(t, harness.Options{
		Config: daemonConfig, ConfigName: "desk-test.yaml",
		App: app.Options{
			Logger: harness.Logger(t, "daemon"),
			Desk:   New(Options{Product: "Hotline"}),
			Authenticate: api.StaticTokens(map[string]api.Token{
				daemonAgentToken:  {Role: api.RoleAgent, AgentID: "101"},
				daemonSeniorToken: {Role: api.RoleSenior},
			}),
		},
		Phones: &phones.Options{},
	})
	return site{URL: h.Daemon.URL(), AgentToken: daemonAgentToken, AgentNumber: "101", SeniorToken: daemonSeniorToken}, h.Daemon.App, h.Phones
}

// phoneCtx bounds one wait on a phone.
func phoneCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestBrowserAgainstDaemon drives the desk and the wallboard against the
// real daemon: the calls are placed and answered by the phones driver
// through ARI, so every state the page shows went through the call flow,
// the routing scripts in Redis and the events stream.
func TestBrowserAgainstDaemon(t *testing.T) {
	chromiumPath(t)
	s, a, d := daemonSite(t)
	agentPhone := d.Line("agent101")
	ctx := browser(t)

	// --- the agent signs in and logs in
	signIn(t, ctx, s, s.AgentToken, "#desk")
	waitFor(t, ctx, "own name shown", textHas("#who", "Olena Kovalenko"), "#who")
	waitFor(t, ctx, "offline at first", textHas("#my-state", "Offline"), "#my-state")
	do(t, ctx, "log in", chromedp.Click(chromedp.CSS("#btn-available")))
	waitFor(t, ctx, "available", textHas("#my-state", "Available"), "#my-state")

	// --- a caller dials the service number; the agent's phone answers
	caller, err := d.Call(phoneCtx(t), "300", "+380441234567")
	if err != nil {
		t.Fatalf("place call: %v", err)
	}
	if _, err := agentPhone.WaitRing(phoneCtx(t)); err != nil {
		t.Fatalf("agent phone never rang: %v", err)
	}
	if err := caller.WaitConnected(phoneCtx(t)); err != nil {
		t.Fatalf("caller not bridged: %v", err)
	}
	waitFor(t, ctx, "call arrives", textHas("#call", "+380441234567", "service", "topic:service"), "#call-card")
	waitFor(t, ctx, "on call", textHas("#my-state", "On call"), "#my-state")
	callID := agentCall(t, a, "101")

	// --- the note
	const note = "Internet down since Monday; router lights red, PSU already replaced"
	do(t, ctx, "edit note",
		chromedp.SetValue(chromedp.CSS("#note"), note),
		chromedp.Click(chromedp.CSS("#btn-note")))
	waitFor(t, ctx, "note saved", textHas("#note-status", "Saved"), "#note-status")
	c, err := a.Router.Call(context.Background(), callID)
	if err != nil {
		t.Fatal(err)
	}
	if cs, err := a.Router.Case(context.Background(), c.CaseID); err != nil || cs.Note != note {
		t.Errorf("case note %q (err %v), want %q", cs.Note, err, note)
	}

	// --- back to the call's own topic: refused as a loop, with the path
	do(t, ctx, "transfer back to service",
		chromedp.SetValue(chromedp.CSS("#xfer-to"), "topic:service"),
		chromedp.SetValue(chromedp.CSS("#xfer-note"), "Please check the line from the exchange side"),
		chromedp.Click(chromedp.CSS("#btn-transfer")))
	waitFor(t, ctx, "loop refused", textHas("#refusal", "transfer_loop", "Path", "topic:service"), "#refusal")
	screenshot(t, ctx, "daemon-desk-refusal.png")
	if c, err := a.Router.Call(context.Background(), callID); err != nil || c.State != api.CallConnected {
		t.Errorf("after the refusal the call is %+v (err %v), want still connected", c, err)
	}
	if caller.HungUp() || !caller.Connected() {
		t.Error("the refused transfer disturbed the caller")
	}

	// --- audit is offered although nobody staffs it; the router refuses it
	do(t, ctx, "transfer to the unstaffed audit topic",
		chromedp.SetValue(chromedp.CSS("#xfer-to"), "topic:audit"),
		chromedp.Click(chromedp.CSS("#btn-transfer")))
	waitFor(t, ctx, "no target refused", textHas("#refusal", "target_unavailable"), "#refusal")

	// --- a callback instead
	do(t, ctx, "schedule a callback",
		chromedp.SetValue(chromedp.CSS("#cb-in"), "2h"),
		chromedp.SetValue(chromedp.CSS("#cb-note"), "Call back once the exchange has checked the line"),
		chromedp.Click(chromedp.CSS("#btn-callback")))
	waitFor(t, ctx, "callback confirmed", textHas("#cb-status", "scheduled"), "#cb-status")
	waitFor(t, ctx, "callback listed", textHas("#cb-list", "+380441234567", "once the exchange"), "#cb-list")
	screenshot(t, ctx, "daemon-desk.png")

	// Scheduling the callback told the caller and ended the call; the
	// agent takes a break, so the next caller has to wait.
	if err := caller.WaitHungUp(phoneCtx(t)); err != nil {
		t.Errorf("caller still on the line after the callback was scheduled: %v", err)
	}
	waitFor(t, ctx, "call gone from the desk", `!document.querySelector('#no-call').hidden`, "#call-card")
	do(t, ctx, "pause", chromedp.SetValue(chromedp.CSS("#pause-reason"), "Paperwork"), chromedp.Click(chromedp.CSS("#btn-pause")))
	waitFor(t, ctx, "paused", textHas(".state-row", "Paused", "Paperwork"), ".state-row")

	// --- the senior's wallboard sees a second caller queue
	wall := tab(t, ctx)
	signIn(t, wall, s, s.SeniorToken, "#wall")
	waitFor(t, wall, "topics shown", textHas("#topics", "service", "audit", "Faults and repairs"), "#topics")
	waitFor(t, wall, "nobody waiting", textHas(`[data-topic="service"] .depth .n`, "0"), "#topics")
	second, err := d.Call(phoneCtx(t), "300", "+380501112233")
	if err != nil {
		t.Fatalf("place second call: %v", err)
	}
	if err := second.WaitAnswered(phoneCtx(t)); err != nil {
		t.Fatalf("second caller not answered by the hotline: %v", err)
	}
	waitFor(t, wall, "second caller waiting", textHas(`[data-topic="service"] .depth .n`, "1"), "#topics")
	waitFor(t, wall, "paused agent shown", textHas("#agent-tiles", "Olena Kovalenko", "Paperwork"), "#agent-tiles")
	screenshot(t, wall, "daemon-wallboard.png")
	if second.Connected() {
		t.Error("the second caller was bridged although the only agent is paused")
	}
	// The agent's desk counts the caller in its queue too.
	waitFor(t, ctx, "desk queue count", textHas("#my-queues", "service", "1"), "#my-queues")

	// The caller gives up: the count goes back down.
	if err := second.Hangup(phoneCtx(t)); err != nil {
		t.Fatalf("hang up: %v", err)
	}
	waitFor(t, wall, "nobody waiting again", textHas(`[data-topic="service"] .depth .n`, "0"), "#topics")

	// --- a complaint recorded on the desk is closed from the wallboard,
	// through the requests service and its Redis store.
	do(t, ctx, "record a complaint",
		chromedp.Click(chromedp.CSS(`input[name="rq-kind"][value="complaint"]`)),
		chromedp.SetValue(chromedp.CSS("#rq-failed_number"), "0 800 300 200"),
		chromedp.SetValue(chromedp.CSS("#rq-found_at"), "old website"),
		chromedp.SetValue(chromedp.CSS("#rq-full_name"), "Taras Lysenko"),
		chromedp.SetValue(chromedp.CSS("#rq-contact_phone"), "+380 67 000 11 22"),
		chromedp.Click(chromedp.CSS("#btn-request")))
	waitFor(t, wall, "complaint on the wallboard", textHas("#req-list", "Taras Lysenko", "0 800 300 200")+
		` && document.querySelector('#rq-complaints').innerText === '1'`, "#req-list")
	clickDone(t, wall, "")
	waitFor(t, wall, "complaint closed", `document.querySelector('#rq-complaints').innerText === '0' && `+
		`!document.querySelector('#req-list button[data-done]')`, "#req-list")
	waitFor(t, wall, "closer named", textHas("#rq-closed", "Taras Lysenko", "senior"), "#rq-closed")
	done, err := a.Requests.List(context.Background(), api.RequestFilter{State: "done"})
	if err != nil || len(done) != 1 || done[0].FullName != "Taras Lysenko" || done[0].DoneBy != "senior" {
		t.Errorf("done requests %+v (err %v), want the complaint closed by senior", done, err)
	}
}

// agentCall is the call the agent is on, from the routing core.
func agentCall(t *testing.T, a *app.App, agentID string) string {
	t.Helper()
	st, err := a.Router.Agent(context.Background(), agentID)
	if err != nil || st.CallID == "" {
		t.Fatalf("agent %s: %+v (err %v), want on a call", agentID, st, err)
	}
	return st.CallID
}
