package phones

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hotline-project/hotline/ari"
	"github.com/hotline-project/hotline/asterisksim"
)

// The tests play the hotline's side themselves through a second ARI
// application on the simulated Asterisk, so the driver is checked against
// the protocol, not against the call flow.

const waitLimit = 10 * time.Second

type rig struct {
	sim     *asterisksim.Server
	driver  *Driver
	hotline *ari.Client
	events  chan ari.Event
}

func newRig(t *testing.T, opts Options) *rig {
	t.Helper()
	sim := asterisksim.New(asterisksim.Options{Username: "u", Password: "p"})
	if err := sim.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	r := &rig{sim: sim, events: make(chan ari.Event, 1024)}
	ctx, cancel := context.WithCancel(context.Background())
	hotline, err := ari.New(ari.Options{
		URL: sim.URL(), Application: "hotline", Username: "u", Password: "p",
		BackoffMin: 20 * time.Millisecond, BackoffMax: 100 * time.Millisecond,
		Handler: func(ev ari.Event) {
			select {
			case r.events <- ev:
			default:
				t.Error("hotline test app: event buffer full")
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	r.hotline = hotline
	opts.URL, opts.Username, opts.Password = sim.URL(), "u", "p"
	opts.ReconnectMin, opts.ReconnectMax = 20*time.Millisecond, 100*time.Millisecond
	d, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	r.driver = d
	done := make(chan struct{}, 2)
	go func() { _ = hotline.Run(ctx); done <- struct{}{} }()
	go func() { _ = d.Run(ctx); done <- struct{}{} }()
	t.Cleanup(func() {
		cancel()
		<-done
		<-done
		_ = sim.Close(context.Background())
	})
	wctx, wcancel := context.WithTimeout(ctx, waitLimit)
	defer wcancel()
	if err := d.Ready(wctx); err != nil {
		t.Fatal(err)
	}
	// A client counts itself connected once its handshake is done, a
	// moment before the simulator has registered its application; a call
	// entering Stasis() in that moment would be hung up.
	for !hotline.Connected() || sim.Stats().Websockets < 2 {
		select {
		case <-wctx.Done():
			t.Fatal("hotline test app not connected")
		case <-time.After(5 * time.Millisecond):
		}
	}
	return r
}

// expect waits for the hotline app's next event matching match.
func (r *rig) expect(t *testing.T, what string, match func(ari.Event) bool) ari.Event {
	t.Helper()
	timeout := time.NewTimer(waitLimit)
	defer timeout.Stop()
	for {
		select {
		case ev := <-r.events:
			if match(ev) {
				return ev
			}
		case <-timeout.C:
			t.Fatalf("hotline app: no %s", what)
		}
	}
}

func isType(typ, channel string) func(ari.Event) bool {
	return func(ev ari.Event) bool {
		return ev.Type == typ && (channel == "" || ev.Channel != nil && ev.Channel.ID == channel)
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	t.Cleanup(cancel)
	return ctx
}

func (r *rig) noLeaks(t *testing.T) {
	t.Helper()
	ctx := ctxT(t)
	for {
		st := r.sim.Stats()
		if st.Channels == 0 && st.Bridges == 0 && r.driver.Active() == 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("leak: sim %+v, driver active %d", st, r.driver.Active())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// TestCallerToAgent walks a whole call: a caller reaches the hotline, hears
// the welcome, presses digits the hotline receives, an agent's phone
// answers and hears the whisper, both are bridged, the agent hangs up and
// the hotline ends the caller's side.
func TestCallerToAgent(t *testing.T) {
	r := newRig(t, Options{})
	ctx := ctxT(t)
	h := r.hotline

	caller, err := r.driver.Call(ctx, "100", "5551234")
	if err != nil {
		t.Fatal(err)
	}
	start := r.expect(t, "caller StasisStart", isType("StasisStart", ""))
	if start.Channel.ID != caller.PeerID() || len(start.Args) != 1 || start.Args[0] != "100" || start.Channel.CallerNumber != "5551234" {
		t.Fatalf("StasisStart %+v args %v, want peer %s with [100]", start.Channel, start.Args, caller.PeerID())
	}
	if caller.Answered() {
		t.Fatal("caller answered before the hotline answered")
	}
	if err := h.Answer(ctx, start.Channel.ID); err != nil {
		t.Fatal(err)
	}
	if err := caller.WaitAnswered(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Play(ctx, start.Channel.ID, "", []string{"sound:hotline-welcome", "digits:42"}, ""); err != nil {
		t.Fatal(err)
	}
	if err := caller.WaitHeard(ctx, "digits:42"); err != nil {
		t.Fatal(err)
	}
	if got := caller.Heard(); len(got) != 2 || got[0] != "sound:hotline-welcome" {
		t.Fatalf("heard %v", got)
	}

	if err := caller.Press(ctx, "1#"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"1", "#"} {
		ev := r.expect(t, "digit "+want, isType("ChannelDtmfReceived", start.Channel.ID))
		if ev.Digit != want {
			t.Fatalf("digit %q, want %q", ev.Digit, want)
		}
	}

	agent := r.driver.Agent("101")
	leg := "leg-101"
	if _, err := h.Originate(ctx, ari.OriginateRequest{ChannelID: leg, Endpoint: r.driver.Endpoint("101"), App: "hotline", AppArgs: []string{"agent", "c1", "101"}}); err != nil {
		t.Fatal(err)
	}
	ap, err := agent.WaitRing(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ap.PeerID() != leg || ap.Number() != "101" || ap.Outgoing() {
		t.Fatalf("agent phone peer %q number %q", ap.PeerID(), ap.Number())
	}
	r.expect(t, "agent leg StasisStart", isType("StasisStart", leg))
	if err := ap.WaitAnswered(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Play(ctx, leg, "", []string{"sound:hotline-case"}, ""); err != nil {
		t.Fatal(err)
	}
	if err := ap.WaitHeard(ctx, "hotline-case"); err != nil {
		t.Fatal(err)
	}
	if caller.HeardCount("hotline-case") != 0 {
		t.Fatal("the caller heard the agent's whisper")
	}
	b, err := h.CreateBridge(ctx, "br-1", "mixing", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.AddToBridge(ctx, b.ID, ari.JoinOptions{}, start.Channel.ID, leg); err != nil {
		t.Fatal(err)
	}
	if err := caller.WaitConnectedTo(ctx, ap); err != nil {
		t.Fatal(err)
	}
	if !caller.Connected() || caller.Bridge() != b.ID {
		t.Fatalf("caller bridge %q", caller.Bridge())
	}

	if err := ap.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	if err := ap.WaitHungUp(ctx); err != nil {
		t.Fatal(err)
	}
	if ap.HungUpBy() != ByPhone {
		t.Fatalf("agent hung up by %q", ap.HungUpBy())
	}
	r.expect(t, "agent leg gone", isType("StasisEnd", leg))
	if !caller.Connected() {
		t.Fatal("the caller left the bridge with the agent")
	}
	if err := h.Hangup(ctx, start.Channel.ID, ""); err != nil {
		t.Fatal(err)
	}
	if err := caller.WaitHungUp(ctx); err != nil {
		t.Fatal(err)
	}
	if caller.HungUpBy() != ByRemote {
		t.Fatalf("caller hung up by %q", caller.HungUpBy())
	}
	if caller.Connected() {
		t.Fatal("a hung-up caller is still connected")
	}
	if err := caller.Press(ctx, "1"); !errors.Is(err, ErrHungUp) {
		t.Fatalf("press after hangup: %v", err)
	}
	if err := caller.WaitConnected(ctx); !errors.Is(err, ErrHungUp) {
		t.Fatalf("wait connected after hangup: %v", err)
	}
	if err := h.DestroyBridge(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	r.noLeaks(t)
}

// TestAnswerModes: a rejecting phone ends the hotline's leg, a phone that
// never answers rings until the hotline gives up or the script answers.
func TestAnswerModes(t *testing.T) {
	r := newRig(t, Options{DefaultAnswer: AnswerNever})
	h := r.hotline
	tests := []struct {
		name   string
		mode   AnswerMode
		script func(t *testing.T, ctx context.Context, p *Phone, leg string)
	}{
		{"reject", AnswerReject, func(t *testing.T, ctx context.Context, p *Phone, leg string) {
			r.expect(t, "leg destroyed", isType("ChannelDestroyed", leg))
			if err := p.WaitHungUp(ctx); err != nil {
				t.Fatal(err)
			}
			if p.Answered() || p.HungUpBy() != ByPhone {
				t.Fatalf("answered %v by %q", p.Answered(), p.HungUpBy())
			}
		}},
		{"never, hotline gives up", AnswerNever, func(t *testing.T, ctx context.Context, p *Phone, leg string) {
			if err := h.Hangup(ctx, leg, ""); err != nil {
				t.Fatal(err)
			}
			if err := p.WaitHungUp(ctx); err != nil {
				t.Fatal(err)
			}
			if p.Answered() || p.HungUpBy() != ByRemote {
				t.Fatalf("answered %v by %q", p.Answered(), p.HungUpBy())
			}
		}},
		{"never, script answers", AnswerNever, func(t *testing.T, ctx context.Context, p *Phone, leg string) {
			if p.Answered() {
				t.Fatal("answered by itself")
			}
			if err := p.Answer(ctx); err != nil {
				t.Fatal(err)
			}
			r.expect(t, "leg StasisStart", isType("StasisStart", leg))
			if err := p.Hangup(ctx); err != nil {
				t.Fatal(err)
			}
			if err := p.WaitHungUp(ctx); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := ctxT(t)
			ext := "20" + string(rune('0'+i))
			line := r.driver.Line(ext)
			line.SetAnswer(tc.mode)
			leg := "leg-" + ext
			if _, err := h.Originate(ctx, ari.OriginateRequest{ChannelID: leg, Endpoint: r.driver.Endpoint(ext), App: "hotline", AppArgs: []string{"agent"}}); err != nil {
				t.Fatal(err)
			}
			p, err := line.WaitRing(ctx)
			if err != nil {
				t.Fatal(err)
			}
			tc.script(t, ctx, p, leg)
			r.noLeaks(t)
		})
	}
}

// TestReconnect: a dropped websocket is reconnected, a phone whose call
// ended meanwhile is found ended, and new calls work.
func TestReconnect(t *testing.T) {
	r := newRig(t, Options{})
	ctx := ctxT(t)
	caller, err := r.driver.Call(ctx, "100", "5551234")
	if err != nil {
		t.Fatal(err)
	}
	start := r.expect(t, "StasisStart", isType("StasisStart", ""))
	if err := r.hotline.Answer(ctx, start.Channel.ID); err != nil {
		t.Fatal(err)
	}
	if err := caller.WaitAnswered(ctx); err != nil {
		t.Fatal(err)
	}
	r.sim.DropWebsockets()
	r.waitDropped(t)
	// The hangup happens while the driver may be disconnected: its event
	// may be lost, and reconciliation must notice.
	if err := r.hotline.Hangup(ctx, start.Channel.ID, ""); err != nil {
		t.Fatal(err)
	}
	if err := caller.WaitHungUp(ctx); err != nil {
		t.Fatal(err)
	}
	r.waitReconnected(t)
	again, err := r.driver.Call(ctx, "100", "5551234")
	if err != nil {
		t.Fatal(err)
	}
	if err := again.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	if err := again.WaitHungUp(ctx); err != nil {
		t.Fatal(err)
	}
	r.noLeaks(t)
}

func TestNewRejectsBadOptions(t *testing.T) {
	if _, err := New(Options{URL: "not a url", Username: "u"}); !errors.Is(err, ErrInvalidOptions) {
		t.Fatalf("err %v", err)
	}
}

// waitDropped waits until both applications have noticed the drop; the
// clients notice asynchronously, so this polls.
func (r *rig) waitDropped(t *testing.T) {
	t.Helper()
	r.poll(t, "websockets dropped", func() bool { return !r.driver.Connected() && !r.hotline.Connected() })
}

func (r *rig) waitReconnected(t *testing.T) {
	t.Helper()
	r.poll(t, "reconnected", func() bool { return r.driver.Connected() && r.hotline.Connected() })
	if err := r.driver.Ready(ctxT(t)); err != nil {
		t.Fatal(err)
	}
}

func (r *rig) poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx := ctxT(t)
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("not %s", what)
		case <-time.After(2 * time.Millisecond):
		}
	}
}
