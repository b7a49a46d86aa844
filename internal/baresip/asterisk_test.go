package baresip

import (
	"context"
	"errors"
	"flag"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotline-project/hotline/ari"
)

// The driver against a real Asterisk (scripts/e2e-asterisk.sh), without
// the hotline: a small ARI application of the test's own answers
// caller1's call to 100, rings the agent phone 101 and bridges them.

const limit = 15 * time.Second

var sipTrace = flag.Bool("baresip.trace", false, "write every SIP message to the phones' logs (shown when a test fails)")

// realEnv is the Asterisk the test runs against, from the environment
// scripts/e2e-asterisk.sh writes.
type realEnv struct {
	ariURL, ariUser, ariPassword string
	sipAddr                      string
	accounts                     map[string]string
}

func needAsterisk(t *testing.T) realEnv {
	t.Helper()
	e := realEnv{
		ariURL: os.Getenv("HOTLINE_E2E_ARI_URL"), ariUser: os.Getenv("HOTLINE_E2E_ARI_USER"),
		ariPassword: os.Getenv("HOTLINE_E2E_ARI_PASSWORD"), sipAddr: os.Getenv("HOTLINE_E2E_SIP_ADDR"),
	}
	phones := os.Getenv("HOTLINE_E2E_SIP_PHONES")
	if e.ariURL == "" || e.sipAddr == "" || phones == "" {
		t.Skip("no real Asterisk with SIP phones: set HOTLINE_E2E_ARI_URL, _USER, _PASSWORD, HOTLINE_E2E_SIP_ADDR and HOTLINE_E2E_SIP_PHONES (scripts/e2e-asterisk.sh up DIR writes them)")
	}
	var err error
	if e.accounts, err = LoadAccounts(phones); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e realEnv) phone(t *testing.T, user string, hz int) *Phone {
	t.Helper()
	pw, ok := e.accounts[user]
	if !ok {
		t.Fatalf("no phone %s in HOTLINE_E2E_SIP_PHONES", user)
	}
	p := Start(t, Options{Registrar: e.sipAddr, User: user, Password: pw, ToneHz: hz, SIPTrace: *sipTrace})
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	if err := p.Register(ctx); err != nil {
		t.Fatal(err)
	}
	return p
}

// app is a minimal ARI application: it keeps every event for the test
// to wait on.
type app struct {
	c       *ari.Client
	mu      sync.Mutex
	events  []ari.Event
	changed chan struct{}
	ready   chan struct{}
	once    sync.Once
}

func startApp(t *testing.T, e realEnv, name string) *app {
	t.Helper()
	a := &app{changed: make(chan struct{}), ready: make(chan struct{})}
	c, err := ari.New(ari.Options{
		URL: e.ariURL, Application: name, Username: e.ariUser, Password: e.ariPassword,
		Handler: func(ev ari.Event) {
			a.mu.Lock()
			a.events = append(a.events, ev)
			close(a.changed)
			a.changed = make(chan struct{})
			a.mu.Unlock()
		},
		OnConnect: func(context.Context) { a.once.Do(func() { close(a.ready) }) },
	})
	if err != nil {
		t.Fatal(err)
	}
	a.c = c
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = c.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		if t.Failed() {
			a.mu.Lock()
			defer a.mu.Unlock()
			for _, ev := range a.events {
				t.Logf("ARI event: %s", ev.Raw)
			}
		}
	})
	select {
	case <-a.ready:
	case <-time.After(limit):
		t.Fatalf("ARI application %s not connected within %v", name, limit)
	}
	return a
}

func (a *app) mark() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.events)
}

// wait returns the first event from index from on that matches; match
// sees each event once, in order.
func (a *app) wait(t *testing.T, what string, from int, match func(ari.Event) bool) ari.Event {
	t.Helper()
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	for i := from; ; {
		a.mu.Lock()
		for ; i < len(a.events); i++ {
			if ev := a.events[i]; match(ev) {
				a.mu.Unlock()
				return ev
			}
		}
		ch := a.changed
		a.mu.Unlock()
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("ARI: no %s within %v", what, limit)
		}
	}
}

// waitDigits waits until Asterisk has reported digits from a channel
// (ChannelDtmfReceived, from index from on).
func (a *app) waitDigits(t *testing.T, from int, channelID, digits string) {
	t.Helper()
	var seen string
	a.wait(t, "digits "+digits+" from "+channelID, from, func(ev ari.Event) bool {
		if ev.Type == "ChannelDtmfReceived" && ev.Channel.ID == channelID {
			seen += ev.Digit
		}
		return seen == digits
	})
}

// transferStates lists the states of the ChannelTransfer events from
// index from on ("" for the REFER itself, then Asterisk's progress).
func (a *app) transferStates(from int) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, ev := range a.events[from:] {
		if ev.Type == "ChannelTransfer" {
			out = append(out, strconv.Quote(ev.Transfer.State))
		}
	}
	return out
}

func (a *app) stasisStart(t *testing.T, from int, arg string) ari.Channel {
	t.Helper()
	ev := a.wait(t, "StasisStart "+arg, from, func(ev ari.Event) bool {
		return ev.Type == "StasisStart" && slices.Contains(ev.Args, arg)
	})
	return *ev.Channel
}

func (a *app) gone(t *testing.T, from int, channelID string) {
	t.Helper()
	a.wait(t, "StasisEnd of "+channelID, from, func(ev ari.Event) bool {
		return ev.Type == "StasisEnd" && ev.Channel.ID == channelID
	})
}

func wctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	t.Cleanup(cancel)
	return ctx
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// conversation is one bridged call between the two phones.
type conversation struct {
	caller, agent     *Call
	callerCh, agentCh string
	bridge            string
}

// connect has the caller dial 100; the application rings the caller
// back (180), originates the agent phone, and once the agent answers,
// answers the caller and bridges both.
func connect(t *testing.T, a *app, caller, agent *Phone) conversation {
	t.Helper()
	ctx := wctx(t)
	from := a.mark()
	cc, err := caller.Dial(ctx, "100")
	must(t, err)
	callerCh := a.stasisStart(t, from, "100")
	if callerCh.CallerNumber != caller.User() {
		t.Errorf("caller number %q, want %q", callerCh.CallerNumber, caller.User())
	}
	must(t, a.c.Ring(ctx, callerCh.ID))
	must(t, cc.WaitRinging(ctx))
	if st := cc.State(); st != StateRinging {
		t.Errorf("caller's call %v after 180, want ringing", st)
	}
	b, err := a.c.CreateBridge(ctx, "", "mixing,dtmf_events", "baresip-test")
	must(t, err)
	t.Cleanup(func() { _ = a.c.DestroyBridge(context.Background(), b.ID) })
	agentCh, err := a.c.Originate(ctx, ari.OriginateRequest{
		Endpoint: "PJSIP/" + agent.User(), App: a.c.Application(), AppArgs: []string{"agent-leg"},
		CallerID: `"Hotline" <100>`, Timeout: limit,
	})
	must(t, err)
	in, err := agent.WaitIncoming(ctx)
	must(t, err)
	if in.State() != StateIncoming {
		t.Errorf("agent's call %v before answer, want incoming", in.State())
	}
	must(t, in.Answer(ctx))
	a.stasisStart(t, from, "agent-leg")
	must(t, a.c.Answer(ctx, callerCh.ID))
	must(t, cc.WaitEstablished(ctx))
	must(t, a.c.AddToBridge(ctx, b.ID, ari.JoinOptions{}, callerCh.ID, agentCh.ID))
	return conversation{caller: cc, agent: in, callerCh: callerCh.ID, agentCh: agentCh.ID, bridge: b.ID}
}

// TestPhonesThroughAsterisk: DTMF both ways (as RFC 4733 events Asterisk
// decodes), audio both ways, hangup from either side with its reason, and
// the agent phone's blind transfer refused (NOTIFY 603) and accepted
// (NOTIFY 200).
func TestPhonesThroughAsterisk(t *testing.T) {
	e := needAsterisk(t)
	caller := e.phone(t, "caller1", 600)
	agent := e.phone(t, "101", 1020)
	a := startApp(t, e, "hotline")

	t.Run("talk, caller hangs up", func(t *testing.T) {
		ctx := wctx(t)
		cv := connect(t, a, caller, agent)
		must(t, cv.caller.WaitHears(ctx, agent))
		must(t, cv.agent.WaitHears(ctx, caller))
		if cv.caller.Hears(caller.ToneHz()) {
			t.Error("the caller hears its own voice")
		}

		from := a.mark()
		must(t, cv.caller.SendDTMF(ctx, "159*#"))
		must(t, cv.agent.WaitDTMF(ctx, "159*#"))
		a.waitDigits(t, from, cv.callerCh, "159*#")
		must(t, cv.agent.SendDTMF(ctx, "0D7"))
		must(t, cv.caller.WaitDTMF(ctx, "0D7"))
		if got := cv.caller.DTMF(); got != "0D7" {
			t.Errorf("caller received %q, want only the agent's 0D7", got)
		}

		from = a.mark()
		must(t, cv.caller.Hangup(ctx))
		a.gone(t, from, cv.callerCh)
		must(t, a.c.Hangup(ctx, cv.agentCh, "normal"))
		reason, err := cv.agent.WaitClosed(ctx)
		must(t, err)
		t.Logf("agent's call closed: %q", reason)
		if reason == "" {
			t.Error("closed with no reason")
		}
		noneLeft(t, a, cv.bridge)
	})

	t.Run("agent hangs up", func(t *testing.T) {
		ctx := wctx(t)
		cv := connect(t, a, caller, agent)
		must(t, cv.caller.WaitHears(ctx, agent))
		from := a.mark()
		must(t, cv.agent.Hangup(ctx))
		a.gone(t, from, cv.agentCh)
		must(t, a.c.Hangup(ctx, cv.callerCh, "normal"))
		reason, err := cv.caller.WaitClosed(ctx)
		must(t, err)
		t.Logf("caller's call closed: %q", reason)
		noneLeft(t, a, cv.bridge)
	})

	t.Run("transfer refused", func(t *testing.T) {
		ctx := wctx(t)
		cv := connect(t, a, caller, agent)
		from := a.mark()
		must(t, cv.agent.Transfer(ctx, "102"))
		ev := a.wait(t, "ChannelTransfer", from, func(ev ari.Event) bool { return ev.Type == "ChannelTransfer" })
		if ev.Transfer.SourceChannel != cv.agentCh || ev.Transfer.Destination != "102" || ev.Transfer.ProtocolID != "" {
			t.Errorf("ChannelTransfer %+v, want a blind transfer of %s to 102", *ev.Transfer, cv.agentCh)
		}
		must(t, a.c.TransferProgress(ctx, cv.agentCh, ari.TransferStateDeclined))
		r, err := cv.agent.WaitTransfer(ctx)
		must(t, err)
		if r.Code != 603 {
			t.Errorf("transfer outcome %+v, want 603", r)
		}
		// baresip 1.0 hangs up after a failed transfer.
		reason, err := cv.agent.WaitClosed(ctx)
		must(t, err)
		if !strings.HasPrefix(reason, ReasonTransferFailed) {
			t.Errorf("agent's call closed with %q, want %s", reason, ReasonTransferFailed)
		}
		a.gone(t, from, cv.agentCh)
		t.Logf("ChannelTransfer events for one REFER, by state: %v", a.transferStates(from))
		must(t, cv.caller.Hangup(ctx))
		a.gone(t, from, cv.callerCh)
		noneLeft(t, a, cv.bridge)
	})

	t.Run("transfer accepted", func(t *testing.T) {
		ctx := wctx(t)
		cv := connect(t, a, caller, agent)
		from := a.mark()
		must(t, cv.agent.Transfer(ctx, "103"))
		a.wait(t, "ChannelTransfer", from, func(ev ari.Event) bool { return ev.Type == "ChannelTransfer" })
		must(t, a.c.TransferProgress(ctx, cv.agentCh, ari.TransferStateAnswered))
		r, err := cv.agent.WaitTransfer(ctx)
		must(t, err)
		if r.Code != 200 {
			t.Errorf("transfer outcome %+v, want 200", r)
		}
		if _, err := cv.agent.WaitClosed(ctx); err != nil {
			t.Fatal(err)
		}
		a.gone(t, from, cv.agentCh)
		must(t, cv.caller.Hangup(ctx))
		a.gone(t, from, cv.callerCh)
		noneLeft(t, a, cv.bridge)
	})
}

// noneLeft destroys the test's bridge and checks that Asterisk has no
// channel and no bridge left.
func noneLeft(t *testing.T, a *app, bridge string) {
	t.Helper()
	ctx := wctx(t)
	if err := a.c.DestroyBridge(ctx, bridge); err != nil && !errors.Is(err, ari.ErrCallGone) {
		t.Error(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		chans, err := a.c.Channels(ctx)
		must(t, err)
		bridges, err := a.c.Bridges(ctx)
		must(t, err)
		if len(chans)+len(bridges) == 0 {
			return
		}
		if time.Now().After(deadline) {
			var names []string
			for _, c := range chans {
				names = append(names, c.Name)
			}
			t.Fatalf("left in Asterisk: channels %s, %d bridges", strings.Join(names, ", "), len(bridges))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
