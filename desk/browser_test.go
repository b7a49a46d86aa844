package desk

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hotline-project/hotline/api"
	"github.com/hotline-project/hotline/routing"
)

// site is a running desk to drive: where it is and who may sign in. The
// browser scenarios take only this, so they can run against the whole
// daemon as well as against api.Server over fakes.
type site struct {
	URL         string
	AgentToken  string // an agent token
	AgentNumber string // that agent's id
	SeniorToken string
}

// serve runs h on a loopback port until the test ends.
func serve(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	ts := httptest.NewServer(h)
	t.Cleanup(func() {
		// The events streams stay open until the browser goes; do not
		// wait on them.
		ts.CloseClientConnections()
		ts.Close()
	})
	return ts
}

// chromiumPath finds the browser, or skips the test.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no chromium: install Debian's chromium (apt-get install -y chromium) to run the browser test; CI installs it")
	return ""
}

// browser starts a headless Chromium for the test and returns a context
// for its first tab. The flags keep it off the network: this machine's
// network is closed and Chromium otherwise retries refused connections.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1366, 768),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	t.Cleanup(bcancel)
	if err := chromedp.Do(bctx, chromedp.EmulateViewport(1366, 768)); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	watchConsole(t, bctx)
	return bctx
}

// watchConsole logs what the page writes to its console and fails the test
// on an uncaught exception: a script error is a broken page even when the
// assertions happen to pass.
func watchConsole(t *testing.T, tabCtx context.Context) {
	t.Helper()
	ctx, cancel := context.WithCancel(tabCtx)
	messages := chromedp.Console(ctx)
	done := make(chan struct{})
	var got []chromedp.ConsoleMessage
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			got = append(got, m)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		for _, m := range got {
			if m.IsException() {
				t.Errorf("page exception: %s (%s:%d)", m.Text, m.URL, m.Line+1)
			} else {
				t.Logf("page console: %s", m)
			}
		}
	})
}

// tab opens another tab of the same browser: its own sessionStorage, so
// another user.
func tab(t *testing.T, parent context.Context) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(parent)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1366, 768)); err != nil {
		t.Fatalf("open tab: %v", err)
	}
	watchConsole(t, ctx)
	return ctx
}

// artifacts is where screenshots go: $HOTLINE_ARTIFACTS, else the test's
// temporary directory.
func artifacts(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv("HOTLINE_ARTIFACTS"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatalf("artifacts: %v", err)
		}
		return dir
	}
	return t.TempDir()
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	p := filepath.Join(artifacts(t), name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	t.Logf("screenshot: %s", p)
}

// waitFor polls a JavaScript predicate; on timeout it fails with what the
// given element shows, which is what a reader of the failure needs.
func waitFor(t *testing.T, ctx context.Context, what, predicate, show string) {
	t.Helper()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](predicate,
		chromedp.WithPollingTimeout(5*time.Second), chromedp.WithPollingInterval(50*time.Millisecond)))
	if err != nil {
		text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](
			fmt.Sprintf(`(document.querySelector(%q) || {}).innerText || ''`, show)))
		t.Fatalf("%s: %v; %s shows %q", what, err, show, text)
	}
}

// textHas is a predicate: the element's text contains each of want.
func textHas(sel string, want ...string) string {
	conds := []string{fmt.Sprintf(`document.querySelector(%q)`, sel)}
	for _, w := range want {
		conds = append(conds, fmt.Sprintf(`document.querySelector(%q).textContent.includes(%q)`, sel, w))
	}
	return strings.Join(conds, " && ")
}

func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// clickDone presses a request's Done button (any, for an empty id). The
// board redraws its list every second, so a pointer click (press, then
// release) can straddle a redraw and land on nothing; the button's own
// click() cannot.
func clickDone(t *testing.T, ctx context.Context, id string) {
	t.Helper()
	sel := `#req-list button[data-done]`
	if id != "" {
		sel = `#req-list button[data-done="` + id + `"]`
	}
	waitFor(t, ctx, "Done button "+id, `!!document.querySelector('`+sel+`:not([disabled])')`, "#req-list")
	got := must(chromedp.Run(ctx, chromedp.Evaluate[string](`(document.querySelector('`+sel+`').click(), 'clicked')`)))
	if got != "clicked" {
		t.Fatalf("click Done %s: %q", id, got)
	}
}

func signIn(t *testing.T, ctx context.Context, s site, token, view string) {
	t.Helper()
	do(t, ctx, "sign in",
		chromedp.Navigate(s.URL+"/desk/"),
		chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), token),
		chromedp.Click(chromedp.CSS("#signin-btn")),
		chromedp.WaitVisible(chromedp.CSS(view)),
	)
	waitFor(t, ctx, "events stream live", `document.querySelector('#conn').dataset.state === 'live'`, "#conn")
	// The token is kept for the tab, never put in the page's address.
	loc, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href`))
	if err != nil || strings.Contains(loc, token) {
		t.Fatalf("address %q (err %v) carries the token", loc, err)
	}
}

const (
	agentToken  = "agent-100-token-0123456789"
	seniorToken = "senior-token-0123456789abc"
)

// fakeSite serves api.Server over fakeHotline with the desk mounted.
func fakeSite(t *testing.T) (site, *fakeHotline, *httptest.Server) {
	t.Helper()
	now := time.Now()
	hub := api.NewHub(api.HubOptions{})
	agent := func(id, name string, senior bool, st routing.AgentState, reason string, topics ...string) routing.AgentStatus {
		tp := map[string]int{}
		for _, x := range topics {
			tp[x] = 1
		}
		return routing.AgentStatus{Agent: routing.Agent{ID: id, Name: name, Endpoint: "PJSIP/" + id, Topics: tp, Senior: senior},
			State: st, Reason: reason, Since: now.Add(-3 * time.Minute), IdleSince: now.Add(-3 * time.Minute)}
	}
	f := newFakeHotline(hub,
		agent("100", "Olena Kovalenko", false, routing.StateOffline, "", "service", "connections"),
		agent("101", "Petro Shevchenko", false, routing.StateAvailable, "", "audit"),
		agent("102", "Marta Bondar", true, routing.StatePaused, "Lunch", "audit", "service"),
		agent("103", "Ihor Melnyk", false, routing.StateOnCall, "", "connections"),
	)
	f.requests = []api.Request{
		{ID: "rq-1", Kind: api.KindRequest, State: "new", City: "Lviv", Organisation: "Cable Supply Ltd",
			FullName: "Andrii Savchuk", Phone: "+380322000111", Purpose: "Offers fibre installation", CreatedAt: now.Add(-20 * time.Minute)},
		{ID: "rq-2", Kind: api.KindComplaint, State: "new", FullName: "Iryna Tkachenko", Phone: "+380671234000",
			FailedNumber: "0 800 300 100", FoundWhere: "printed bill", CreatedAt: now.Add(-5 * time.Minute)},
	}
	f.callbacks = []api.Callback{
		{ID: "cb-esc", CaseID: "case-old", Number: "+380509998877", Topic: "audit", Owner: "101", Note: "Wants a manager about the contract",
			Kind: api.CallbackSenior, State: api.CallbackEscalated, DueAt: now.Add(-40 * time.Minute), CreatedAt: now.Add(-2 * time.Hour)},
		{ID: "cb-late", CaseID: "case-late", Number: "+380631112200", Topic: "service", Owner: "102", Note: "Modem replacement follow-up",
			Kind: api.CallbackOwner, State: api.CallbackScheduled, DueAt: now.Add(-30 * time.Minute), Deadline: now.Add(-10 * time.Minute)},
	}
	srv := api.New(api.Options{
		Agents: f, Calls: f, Cases: f, Control: f,
		Callbacks: fakeCallbacks{f}, Requests: fakeRequests{f}, Updates: hub, Publish: hub.Publish,
		Queues: f,
		Topics: func(context.Context) ([]api.TopicConfig, error) {
			return []api.TopicConfig{
				{Name: "audit", Description: "Billing, contracts, documents"},
				{Name: "connections", Description: "New subscriptions and installs"},
				{Name: "requests", Description: "Vendors, advertisers, officials"},
				{Name: "service", Description: "Faults and repairs", WrapUp: time.Minute},
			}, nil
		},
		Authenticate: api.StaticTokens(map[string]api.Token{
			agentToken:  {Role: api.RoleAgent, AgentID: "100"},
			seniorToken: {Role: api.RoleSenior},
		}),
		Heartbeat: 2 * time.Second,
		Desk:      New(Options{Product: "Hotline"}),
	})
	ts := serve(t, srv.Handler())
	return site{URL: ts.URL, AgentToken: agentToken, AgentNumber: "100", SeniorToken: seniorToken}, f, ts
}

func TestBrowserDeskAndWallboard(t *testing.T) {
	chromiumPath(t)
	s, f, ts := fakeSite(t)
	ctx := browser(t)

	// --- the agent desk
	signIn(t, ctx, s, s.AgentToken, "#desk")
	waitFor(t, ctx, "own state shown", textHas("#my-state", "Offline"), "#my-state")
	waitFor(t, ctx, "own name shown", textHas("#who", "Olena Kovalenko"), "#who")
	do(t, ctx, "log in", chromedp.Click(chromedp.CSS("#btn-available")))
	waitFor(t, ctx, "available after log in", textHas("#my-state", "Available"), "#my-state")
	do(t, ctx, "pause", chromedp.SetValue(chromedp.CSS("#pause-reason"), "Lunch"), chromedp.Click(chromedp.CSS("#btn-pause")))
	waitFor(t, ctx, "paused with the reason", textHas(".state-row", "Paused", "Lunch"), ".state-row")
	do(t, ctx, "resume", chromedp.Click(chromedp.CSS("#btn-available")))
	waitFor(t, ctx, "available after resume", textHas("#my-state", "Available"), "#my-state")

	f.connectCall("k-1", "100", "service", "+380441234567", "Internet down since Monday")
	waitFor(t, ctx, "call arrives", textHas("#call", "+380441234567", "service", "case-k-1", "topic:service"), "#call-card")
	waitFor(t, ctx, "state follows the call", textHas("#my-state", "On call"), "#my-state")
	if v, _ := chromedp.Run(ctx, chromedp.Value(chromedp.CSS("#note"))); v != "Internet down since Monday" {
		t.Errorf("note field %q, want the case note", v)
	}

	const note = "Internet down since Monday; router lights red, replaced PSU already"
	do(t, ctx, "edit note",
		chromedp.SetValue(chromedp.CSS("#note"), note),
		chromedp.Click(chromedp.CSS("#btn-note")))
	waitFor(t, ctx, "note saved", textHas("#note-status", "Saved"), "#note-status")
	if got := f.note("case-k-1"); got != note {
		t.Errorf("case note %q, want %q", got, note)
	}

	// The picker offers every configured topic, staffed or not.
	waitFor(t, ctx, "unstaffed topic offered", `!!document.querySelector('#xfer-to option[value="topic:requests"]')`, "#xfer-to")

	// Sending the caller back where they came from is a loop.
	do(t, ctx, "transfer back to the entry topic",
		chromedp.SetValue(chromedp.CSS("#xfer-to"), "topic:service"),
		chromedp.SetValue(chromedp.CSS("#xfer-note"), "Please check the line"),
		chromedp.Click(chromedp.CSS("#btn-transfer")))
	waitFor(t, ctx, "refusal shown", textHas("#refusal", "transfer_loop", "already on this call's path", "topic:service"), "#refusal")
	if role, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('#refusal').getAttribute('role')`)); role != "alert" {
		t.Errorf("refusal role %q, want alert", role)
	}
	if f.call("k-1").State != api.CallConnected {
		t.Errorf("refused transfer changed the call: %+v", f.call("k-1"))
	}

	do(t, ctx, "schedule a callback",
		chromedp.SetValue(chromedp.CSS("#cb-in"), "30m"),
		chromedp.SetValue(chromedp.CSS("#cb-note"), "Check the line after the repair crew"),
		chromedp.Click(chromedp.CSS("#btn-callback")))
	waitFor(t, ctx, "callback listed", textHas("#cb-list", "+380441234567", "Check the line after the repair crew"), "#cb-list")
	waitFor(t, ctx, "callback confirmed", textHas("#cb-status", "scheduled"), "#cb-status")
	if cbs := f.callbackList(); len(cbs) != 3 || cbs[2].Owner != "100" || time.Until(cbs[2].DueAt) < 25*time.Minute {
		t.Errorf("callbacks %+v: want one more, owned by 100, due in 30m", cbs)
	}
	screenshot(t, ctx, "desk.png")

	// An allowed transfer: consult, then complete; the call leaves the desk.
	do(t, ctx, "transfer to audit",
		chromedp.SetValue(chromedp.CSS("#xfer-to"), "topic:audit"),
		chromedp.Click(chromedp.CSS("#btn-transfer")))
	waitFor(t, ctx, "consulting", `!document.querySelector('#xfer-pending').hidden && `+textHas("#xfer-target", "topic:audit", "Petro"), "#call-card")
	if got := strings.TrimSpace(string(must(chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('#refusal').innerText`))))); got != "" {
		t.Errorf("old refusal still shown: %q", got)
	}
	do(t, ctx, "complete", chromedp.Click(chromedp.CSS("#btn-complete")))
	waitFor(t, ctx, "call handed on", `!document.querySelector('#no-call').hidden`, "#call-card")
	if c := f.call("k-1"); c.AgentID != "101" {
		t.Errorf("call after completing: %+v, want it with 101", c)
	}

	// --- the wallboard
	wall := tab(t, ctx)
	signIn(t, wall, s, s.SeniorToken, "#wall")
	waitFor(t, wall, "topics shown", textHas("#topics", "service", "audit", "connections"), "#topics")
	waitFor(t, wall, "service queue empty", textHas(`[data-topic="service"] .depth`, "0"), "#topics")
	waitFor(t, wall, "callbacks counted", `document.querySelector('#cb-overdue').innerText === '1' && document.querySelector('#cb-escalated').innerText === '1'`, "#wcb-h")
	waitFor(t, wall, "requests counted", textHas("#req-list", "Andrii Savchuk", "0 800 300 100"), "#req-list")

	f.queueCall("k-2", "service", "+380501112233", 150*time.Second)
	f.queueCall("k-3", "connections", "+380672223344", 20*time.Second)
	waitFor(t, wall, "queued call counted", textHas(`[data-topic="service"] .depth .n`, "1"), "#topics")
	waitFor(t, wall, "long wait flagged", `document.querySelector('[data-topic="service"]').classList.contains('bad')`, "#topics")
	waitFor(t, wall, "longest wait shown", textHas(`[data-topic="service"] .longest`, "2:3"), "#topics")
	waitFor(t, wall, "unstaffed topic listed", textHas(`[data-topic="requests"]`, "Vendors", "no agents"), "#topics")
	// One caller ahead in service, nobody free among the two logged in
	// (4 min handle + 1 min wrap-up each): a new caller waits 5 minutes.
	waitFor(t, wall, "estimate shown", textHas(`[data-topic="service"] .estimate`, "5:00"), "#topics")

	// A request recorded on the desk reaches the wallboard live.
	do(t, ctx, "choose a request",
		chromedp.Click(chromedp.CSS(`input[name="rq-kind"][value="request"]`)),
		chromedp.SetValue(chromedp.CSS("#rq-organisation"), "Kyiv Regional Council"),
		chromedp.SetValue(chromedp.CSS("#rq-position"), "Deputy head"),
		chromedp.SetValue(chromedp.CSS("#rq-full_name"), "Oksana Hrytsenko"),
		chromedp.SetValue(chromedp.CSS("#rq-contact_phone"), "+380 44 555 12 12"),
		chromedp.SetValue(chromedp.CSS("#rq-purpose"), "Street cabinet blocks a pavement"),
		chromedp.Click(chromedp.CSS("#btn-request")))
	waitFor(t, ctx, "missing city marked at the field", textHas("#rq-city-err", "required"), "#rq-form")
	if inv, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('#rq-city').getAttribute('aria-invalid') || ''`)); inv != "true" {
		t.Errorf("city aria-invalid %q, want true", inv)
	}
	screenshot(t, ctx, "desk-request-error.png")
	do(t, ctx, "add the city and record",
		chromedp.SetValue(chromedp.CSS("#rq-city"), "Kyiv"),
		chromedp.Click(chromedp.CSS("#btn-request")))
	waitFor(t, ctx, "request recorded", textHas("#rq-status", "recorded"), "#rq-form")
	waitFor(t, ctx, "field error cleared", `document.querySelector('#rq-city-err').textContent === ''`, "#rq-form")
	waitFor(t, wall, "request on the wallboard", textHas("#req-list", "Oksana Hrytsenko", "Kyiv Regional Council"), "#req-list")
	waitFor(t, wall, "requests counted", `document.querySelector('#rq-requests').innerText === '2'`, "#req-list")

	// A complaint asks for other fields.
	do(t, ctx, "record a complaint",
		chromedp.Click(chromedp.CSS(`input[name="rq-kind"][value="complaint"]`)),
		chromedp.SetValue(chromedp.CSS("#rq-failed_number"), "0 800 300 200"),
		chromedp.SetValue(chromedp.CSS("#rq-found_at"), "old website"),
		chromedp.SetValue(chromedp.CSS("#rq-full_name"), "Taras Lysenko"),
		chromedp.SetValue(chromedp.CSS("#rq-contact_phone"), "no phone"),
		chromedp.Click(chromedp.CSS("#btn-request")))
	waitFor(t, ctx, "bad phone marked", textHas("#rq-contact_phone-err", "phone number"), "#rq-form")
	if hidden, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('[data-field="city"]').hidden`)); !hidden {
		t.Error("the city field is shown for a complaint")
	}
	do(t, ctx, "fix the phone",
		chromedp.SetValue(chromedp.CSS("#rq-contact_phone"), "+380 67 000 11 22"),
		chromedp.Click(chromedp.CSS("#btn-request")))
	waitFor(t, wall, "complaint on the wallboard", textHas("#req-list", "Taras Lysenko", "0 800 300 200"), "#req-list")
	screenshot(t, ctx, "desk-request.png")
	screenshot(t, wall, "wallboard.png")

	// A senior closes the first complaint: it leaves the list, the count
	// drops, and the board names who closed it.
	waitFor(t, wall, "complaints counted", `document.querySelector('#rq-complaints').innerText === '2'`, "#req-list")
	clickDone(t, wall, "rq-2")
	waitFor(t, wall, "complaint gone", `!document.querySelector('#req-list [data-request="rq-2"]') && `+
		`document.querySelector('#rq-complaints').innerText === '1'`, "#req-list")
	waitFor(t, wall, "closer named", textHas("#rq-closed", "Iryna Tkachenko", "senior"), "#rq-closed")
	if got := must(fakeRequests{f}.Get(context.Background(), "rq-2")); got.State != "done" || got.DoneBy != "senior" || got.DoneAt.IsZero() {
		t.Errorf("closed complaint %+v: want done by senior with a time", got)
	}
	if txt := must(chromedp.Run(wall, chromedp.Evaluate[string](`document.querySelector('#req-list').innerText`))); !strings.Contains(txt, "Taras Lysenko") {
		t.Errorf("the other complaint left the list too: %q", txt)
	}
	// A board learns of a close made elsewhere from the events stream
	// alone: the first board does not refetch here.
	other := tab(t, ctx)
	signIn(t, other, s, s.SeniorToken, "#wall")
	waitFor(t, other, "second board counts", `document.querySelector('#rq-requests').innerText === '2'`, "#req-list")
	clickDone(t, other, "rq-1")
	waitFor(t, wall, "first board follows", `!document.querySelector('#req-list [data-request="rq-1"]') && `+
		`document.querySelector('#rq-requests').innerText === '1'`, "#req-list")
	waitFor(t, wall, "first board names the other close", textHas("#rq-closed", "Andrii Savchuk", "senior"), "#rq-closed")
	screenshot(t, wall, "wallboard-done.png")

	// The stream breaks and an update is lost meanwhile: the page must
	// reconnect by itself and refetch what it missed.
	ts.CloseClientConnections()
	waitFor(t, wall, "stream lost", `document.querySelector('#conn').dataset.state === 'reconnecting'`, "#conn")
	f.queueCall("k-4", "audit", "+380443330000", 5*time.Second)
	waitFor(t, wall, "stream back", `document.querySelector('#conn').dataset.state === 'live'`, "#conn")
	waitFor(t, wall, "missed call refetched", textHas(`[data-topic="audit"] .depth .n`, "1"), "#topics")
}

// must drops an error the following assertion would report anyway.
func must[T any](v T, _ error) T { return v }
