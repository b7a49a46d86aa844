package callflow

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/hotline-project/hotline/routing"
)

// The API's CallControl (api/contract.go) with the routing types its
// Transfer and Callback become aliases of.
var _ interface {
	Transfer(ctx context.Context, callID, by string, to routing.Destination, note string, mode routing.TransferMode) (routing.Transfer, error)
	CompleteTransfer(ctx context.Context, callID, by string) error
	CancelTransfer(ctx context.Context, callID, by string) error
	ScheduleCallback(ctx context.Context, callID, by string, at time.Time, note string) (routing.Callback, error)
} = (*Engine)(nil)

// apiCtx bounds an API call in tests: an answer that never comes fails the
// test instead of hanging it.
func apiCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	t.Cleanup(cancel)
	return ctx
}

var (
	toService = routing.Destination{Kind: routing.DestTopic, Name: "service"}
	toRefuse  = routing.Destination{Kind: routing.DestTopic, Name: "refuse"}
)

// consulting starts an API transfer of a connected call to topic service
// and returns the target leg, ringing; the caller holds.
func (h *harness) consulting(ch, leg, br string) (target string) {
	h.t.Helper()
	tr, err := h.e.Transfer(apiCtx(h.t), ch, "100", toService, "needs the billing team", routing.ModeAttended)
	if err != nil {
		h.t.Fatalf("Transfer: %v", err)
	}
	if tr.ID != "tr1" || tr.Target.ID != "200" || tr.By != "100" {
		h.t.Errorf("transfer %+v", tr)
	}
	h.r.waitCall(h.t, "BeginTransfer "+ch+" topic:service attended needs the billing team")
	h.cur.expect("caller out of the bridge", op("remove", br))
	tp := h.cur.expect("caller told where", playing(ch, "transferring"))
	target = h.cur.expect("target rung", op("originate", "Local/200@agents")).ID
	h.pbDone(tp)
	h.cur.expect("caller on hold", op("moh", ch))
	return target
}

// targetJoined answers a ringing target and plays its whisper.
func (h *harness) targetJoined(target string) {
	h.t.Helper()
	h.answer(target)
	h.pbDone(h.cur.expect("target whisper", playing(target, "whisper-service")))
	h.cur.expect("target joins the agent", func(a action) bool { return a.Op == "add" && slices.Equal(a.Chans, []string{target}) })
	h.cur.expect("accept prompt", playing(target, "accept-transfer"))
}

func TestAPITransfer(t *testing.T) {
	tests := []struct {
		name   string
		act    func(h *harness, ch, leg, target string)
		accept bool
		result string
		router string // router call that settles the transfer
	}{
		{name: "target accepts", accept: true, result: ResultCompleted, router: "AcceptTransfer",
			act: func(h *harness, ch, leg, target string) { h.dtmf(target, "1") }},
		{name: "agent completes through the API", accept: true, result: ResultCompleted, router: "AcceptTransfer",
			act: func(h *harness, ch, leg, target string) {
				if err := h.e.CompleteTransfer(apiCtx(h.t), ch, "100"); err != nil {
					h.t.Errorf("CompleteTransfer: %v", err)
				}
			}},
		{name: "target declines", result: ResultDeclined, router: "CancelTransfer",
			act: func(h *harness, ch, leg, target string) { h.dtmf(target, "2") }},
		{name: "agent cancels through the API", result: ResultCancelled, router: "CancelTransfer",
			act: func(h *harness, ch, leg, target string) {
				if err := h.e.CancelTransfer(apiCtx(h.t), ch, "100"); err != nil {
					h.t.Errorf("CancelTransfer: %v", err)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, withTransfers)
			ch := h.queued()
			leg, br := h.connected(ch, "100")
			target := h.consulting(ch, leg, br)
			h.targetJoined(target)
			tt.act(h, ch, leg, target)
			h.r.waitCall(t, tt.router+" "+ch+" tr1")
			h.cur.expect("caller off hold", op("stopmoh", ch))
			h.cur.expect("caller back in the bridge", func(a action) bool { return a.Op == "add" && slices.Equal(a.Chans, []string{ch}) })
			if !h.obs.has("transfer "+tt.result) || !h.obs.has("consult "+tt.result) {
				t.Errorf("metrics %v", h.obs.log)
			}
			talker, gone := leg, target
			if tt.accept {
				talker, gone = target, leg
			} else {
				h.cur.expect("caller told they are back with their agent", playing(ch, "transfer-declined"))
				if h.tel.count(playing(leg, "transfer-declined")) != 0 {
					t.Errorf("the agent heard the caller's prompt:\n%s", h.tel.dump())
				}
			}
			if h.tel.count(op("hangup", gone)) != 1 || h.tel.count(op("hangup", talker)) != 0 {
				t.Errorf("wrong leg released:\n%s", h.tel.dump())
			}
			// The call goes on with whoever holds it now: the API follows.
			if tt.accept {
				if err := h.e.CancelTransfer(apiCtx(t), ch, "100"); !errors.Is(err, ErrNotYourCall) {
					t.Errorf("transferring agent after completion: %v, want ErrNotYourCall", err)
				}
			}
			h.hangup(talker)
			h.r.waitCall(t, "EndCall "+ch+" "+map[bool]string{true: "200", false: "100"}[tt.accept])
			h.hangup(ch)
			h.idle()
			h.noLeaks()
		})
	}
}

func TestAPITransferRefused(t *testing.T) {
	tests := []struct {
		name    string
		pending bool // a transfer is already being consulted
		to      routing.Destination
		mode    routing.TransferMode
		code    routing.RefusalCode
	}{
		{name: "loop", to: toRefuse, mode: routing.ModeAttended, code: routing.RefuseLoop},
		{name: "blind", to: routing.Destination{Kind: routing.DestAgent, Name: "150"}, mode: routing.ModeBlind, code: routing.RefuseBlind},
		{name: "transfer pending", pending: true, to: toService, mode: routing.ModeAttended, code: routing.RefuseTransferPending},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, withTransfers)
			ch := h.queued()
			leg, br := h.connected(ch, "100")
			if tt.pending {
				h.consulting(ch, leg, br)
			}
			removes := h.tel.count(op("remove", ""))
			_, err := h.e.Transfer(apiCtx(t), ch, "100", tt.to, "why", tt.mode)
			ref, ok := routing.AsRefusal(err)
			if !ok {
				t.Fatalf("Transfer = %v, want a refusal", err)
			}
			if ref.Code != tt.code {
				t.Errorf("refusal %q, want %q", ref.Code, tt.code)
			}
			h.cur.expect("refusal to the agent", playing(leg, PromptRefusedPrefix+string(tt.code)))
			if !h.obs.has("transfer " + string(tt.code)) {
				t.Errorf("refusal not counted: %v", h.obs.log)
			}
			if h.tel.count(op("remove", "")) != removes {
				t.Errorf("caller moved by a refused transfer:\n%s", h.tel.dump())
			}
			if got := h.r.countPrefix("BeginTransfer"); got != 1 {
				// a pending transfer is refused without asking the router again
				t.Errorf("BeginTransfer %d times: %v", got, h.r.log())
			}
			h.hangup(ch)
			h.idle()
			h.noLeaks()
		})
	}
}

func TestAPIControlErrors(t *testing.T) {
	callback := func(h *harness, ch, by string) error {
		_, err := h.e.ScheduleCallback(apiCtx(h.t), ch, by, h.clk.Now().Add(time.Hour), "n")
		return err
	}
	transfer := func(h *harness, ch, by string) error {
		_, err := h.e.Transfer(apiCtx(h.t), ch, by, toService, "n", routing.ModeAttended)
		return err
	}
	complete := func(h *harness, ch, by string) error { return h.e.CompleteTransfer(apiCtx(h.t), ch, by) }
	cancel := func(h *harness, ch, by string) error { return h.e.CancelTransfer(apiCtx(h.t), ch, by) }
	all := map[string]func(h *harness, ch, by string) error{"transfer": transfer, "complete": complete, "cancel": cancel, "callback": callback}

	tests := []struct {
		name string
		// reach brings a call to the phase under test and returns its id.
		reach func(h *harness) string
		by    string
		want  map[string]error
	}{
		{name: "unknown call", reach: func(h *harness) string { return "nosuchcall" }, by: "100",
			want: map[string]error{"transfer": routing.ErrCallGone, "complete": routing.ErrCallGone, "cancel": routing.ErrCallGone, "callback": routing.ErrCallGone}},
		{name: "ended call", reach: func(h *harness) string {
			ch := h.queued()
			h.connected(ch, "100")
			h.hangup(ch)
			h.idle()
			return ch
		}, by: "100",
			want: map[string]error{"transfer": routing.ErrCallGone, "complete": routing.ErrCallGone, "cancel": routing.ErrCallGone, "callback": routing.ErrCallGone}},
		{name: "another agent", reach: func(h *harness) string {
			ch := h.queued()
			h.connected(ch, "100")
			return ch
		}, by: "101",
			want: map[string]error{"transfer": ErrNotYourCall, "complete": ErrNotYourCall, "cancel": ErrNotYourCall, "callback": ErrNotYourCall}},
		{name: "queued: no agent yet", reach: func(h *harness) string { return h.queued() }, by: "100",
			want: map[string]error{"transfer": ErrNotYourCall, "complete": ErrNotYourCall, "cancel": ErrNotYourCall, "callback": ErrNotYourCall}},
		{name: "agent hears the whisper", reach: func(h *harness) string {
			ch := h.queued()
			h.e.Deliver(h.offer(ch, "100"))
			leg := h.cur.expect("originate", op("originate", "Local/100@agents")).ID
			h.answer(leg)
			h.cur.expect("whisper", playing(leg, "whisper"))
			return ch
		}, by: "100",
			want: map[string]error{"transfer": ErrNotTalking, "complete": ErrNotTalking, "cancel": ErrNotTalking, "callback": ErrNotTalking}},
		{name: "talking, nothing pending", reach: func(h *harness) string {
			ch := h.queued()
			h.connected(ch, "100")
			return ch
		}, by: "100",
			want: map[string]error{"complete": ErrNoTransfer, "cancel": ErrNoTransfer}},
		{name: "target still ringing", reach: func(h *harness) string {
			ch := h.queued()
			leg, br := h.connected(ch, "100")
			h.consulting(ch, leg, br)
			return ch
		}, by: "100",
			want: map[string]error{"complete": ErrNotAnswered, "callback": ErrNotTalking}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, withTransfers)
			ch := tt.reach(h)
			before := len(h.r.log())
			for _, name := range []string{"complete", "cancel", "callback", "transfer"} {
				want, ok := tt.want[name]
				if !ok {
					continue
				}
				err := all[name](h, ch, tt.by)
				if !errors.Is(err, want) {
					t.Errorf("%s = %v, want %v", name, err, want)
				}
				if (want == ErrNotTalking || want == ErrNotAnswered) && !errors.Is(err, routing.ErrIllegalTransition) {
					t.Errorf("%s = %v, want it to wrap ErrIllegalTransition (409)", name, err)
				}
			}
			if got := h.r.log()[before:]; len(got) != 0 {
				t.Errorf("refused commands reached the router: %v", got)
			}
			h.hangup(ch)
			h.idle()
		})
	}
}

func TestAPIScheduleCallback(t *testing.T) {
	h := newHarness(t, withTransfers)
	ch := h.queued()
	leg, _ := h.connected(ch, "100")
	at := h.clk.Now().Add(2*time.Hour + 10*time.Minute)
	cb, err := h.e.ScheduleCallback(apiCtx(t), ch, "100", at, "send the invoice copy")
	if err != nil {
		t.Fatalf("ScheduleCallback: %v", err)
	}
	if cb.Owner != "100" || !cb.DueAt.Equal(at) || cb.Note != "send the invoice copy" {
		t.Errorf("callback %+v", cb)
	}
	h.cbs.waitCall(t, "ScheduleOwner case1 100 2026-11-23 12:10:00 send the invoice copy")
	p := h.cur.expect("caller told", playing(ch, "owner-will-call"))
	want := []string{"sound:en/owner-will-call", "sound:en/callback-in", "number:2", "sound:en/hours"}
	if !slices.Equal(p.Media, want) || p.Lang != "en" {
		t.Errorf("caller hears %v (%s), want %v", p.Media, p.Lang, want)
	}
	if h.tel.count(op("hangup", leg)) != 0 {
		t.Errorf("agent released before the caller heard the promise")
	}
	h.pbDone(p)
	h.cur.expect("agent's part ends", op("hangup", leg))
	h.r.waitCall(t, "EndCall "+ch+" 100")
	h.cur.expect("survey", playing(ch, "survey"))
	h.hangup(ch)
	h.idle()
	h.noLeaks()
	if h.r.countPrefix("CloseCase") != 0 {
		t.Errorf("case closed although the owner owes a callback: %v", h.r.log())
	}
	if !h.obs.has("callback scheduled") {
		t.Errorf("metrics %v", h.obs.log)
	}
}

func TestRoughlyIn(t *testing.T) {
	tests := []struct {
		d    time.Duration
		n    int
		unit string
	}{
		{-time.Minute, 1, PromptMinutes},
		{0, 1, PromptMinutes},
		{20 * time.Second, 1, PromptMinutes},
		{14*time.Minute + time.Second, 15, PromptMinutes},
		{89 * time.Minute, 89, PromptMinutes},
		{90 * time.Minute, 2, PromptHours},
		{2*time.Hour + 29*time.Minute, 2, PromptHours},
		{2*time.Hour + 30*time.Minute, 3, PromptHours},
		{35 * time.Hour, 35, PromptHours},
		{36 * time.Hour, 2, PromptDays},
		{5*24*time.Hour + 11*time.Hour, 5, PromptDays},
	}
	for _, tt := range tests {
		t.Run(tt.d.String(), func(t *testing.T) {
			n, unit := RoughlyIn(tt.d)
			if n != tt.n || unit != tt.unit {
				t.Errorf("RoughlyIn(%v) = %d %s, want %d %s", tt.d, n, unit, tt.n, tt.unit)
			}
		})
	}
}

// mailboxLen is how many messages wait for a call (0 for no call).
func (h *harness) mailboxLen(callID string) int {
	h.e.mu.Lock()
	c := h.e.calls[callID]
	h.e.mu.Unlock()
	if c == nil {
		return 0
	}
	c.mb.mu.Lock()
	defer c.mb.mu.Unlock()
	return len(c.mb.items)
}

// TestAPICommandWhileCallEnds: a command waiting in the mailbox of a call
// that ends without reading it is answered ErrCallGone.
func TestAPICommandWhileCallEnds(t *testing.T) {
	var bt *blockingTel
	h := newHarness(t, func(h *harness, o *Options) {
		bt = &blockingTel{fakeTel: h.tel, release: make(chan struct{})}
		o.Telephony = bt
	})
	ch := h.arrive("200", "5551234") // stuck answering
	res := make(chan error, 1)
	go func() {
		_, err := h.e.Transfer(apiCtx(t), ch, "100", toService, "n", routing.ModeAttended)
		res <- err
	}()
	deadline := time.Now().Add(waitLimit)
	for h.mailboxLen(ch) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("command never posted")
		}
		time.Sleep(time.Millisecond) // observing the post, not logic
	}
	stopped, cancel := context.WithCancel(context.Background())
	cancel()
	if err := h.e.Stop(stopped); !errors.Is(err, context.Canceled) {
		t.Fatalf("Stop = %v", err)
	}
	select {
	case err := <-res:
		if !errors.Is(err, routing.ErrCallGone) {
			t.Errorf("Transfer = %v, want ErrCallGone", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("Transfer still waiting after the call ended")
	}
}

// TestAPIRequesterLeaves: a request whose context ends while the call is
// busy returns at once; the owner neither blocks on the answer nobody
// reads nor acts on a command nobody waits for, and no goroutine is left.
func TestAPIRequesterLeaves(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		h := newHarness(t, withTransfers)
		entered, release := make(chan struct{}), make(chan struct{})
		h.r.mu.Lock()
		inner := h.r.transfer
		h.r.transfer = func(req TransferRequest) (Transfer, error) {
			close(entered)
			<-release
			return inner(req)
		}
		h.r.mu.Unlock()
		ch := h.queued()
		leg, br := h.connected(ch, "100")

		// In flight: the owner is in BeginTransfer when the requester leaves.
		ctx, cancelReq := context.WithCancel(context.Background())
		res := make(chan error, 1)
		go func() {
			_, err := h.e.Transfer(ctx, ch, "100", toService, "n", routing.ModeAttended)
			res <- err
		}()
		<-entered
		cancelReq()
		if err := <-res; !errors.Is(err, context.Canceled) {
			t.Errorf("Transfer = %v, want canceled", err)
		}
		// Queued: a cancel posted by a requester already gone.
		gone, cancelGone := context.WithCancel(context.Background())
		cancelGone()
		if err := h.e.CancelTransfer(gone, ch, "100"); !errors.Is(err, context.Canceled) {
			t.Errorf("CancelTransfer = %v, want canceled", err)
		}
		close(release)
		// The transfer goes on (its answer went unread) and the dropped
		// cancel changes nothing: the target can still take the caller.
		h.cur.expect("caller out of the bridge", op("remove", br))
		target := h.cur.expect("target rung", op("originate", "Local/200@agents")).ID
		h.targetJoined(target)
		h.dtmf(target, "1")
		h.r.waitCall(t, "AcceptTransfer "+ch+" tr1")
		if h.r.countPrefix("CancelTransfer") != 0 {
			t.Errorf("a dropped cancel was applied: %v", h.r.log())
		}
		h.cur.expect("agent released", op("hangup", leg))
		h.hangup(target)
		h.hangup(ch)
		h.idle()
		ctxStop, cancelStop := context.WithTimeout(context.Background(), waitLimit)
		defer cancelStop()
		if err := h.e.Stop(ctxStop); err != nil {
			t.Fatal(err)
		}
	}()
	waitGoroutines(t, before+1) // +1: the harness's Run until cleanup
}

// TestCompleteDuringWhisper: an agent may complete while the target still
// hears the whisper; the target is not in the bridge yet and must be put
// there with the caller.
func TestCompleteDuringWhisper(t *testing.T) {
	tests := []struct {
		name     string
		complete func(h *harness, ch, leg string)
	}{
		{name: "api", complete: func(h *harness, ch, leg string) {
			if err := h.e.CompleteTransfer(apiCtx(h.t), ch, "100"); err != nil {
				h.t.Errorf("CompleteTransfer: %v", err)
			}
		}},
		{name: "dtmf", complete: func(h *harness, ch, leg string) { h.dtmf(leg, "#") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, withTransfers)
			ch := h.queued()
			leg, br := h.connected(ch, "100")
			target := h.consulting(ch, leg, br)
			h.answer(target)
			wh := h.cur.expect("target whisper", playing(target, "whisper-service"))
			tt.complete(h, ch, leg)
			h.r.waitCall(t, "AcceptTransfer "+ch+" tr1")
			h.cur.expect("caller and target bridged", func(a action) bool {
				return a.Op == "add" && a.Chan == br && slices.Equal(a.Chans, []string{ch, target})
			})
			h.cur.expect("whisper stopped", func(a action) bool { return a.Op == "stopplay" && a.ID == wh.ID })
			h.hangup(target)
			h.r.waitCall(t, "EndCall "+ch+" 200")
			h.hangup(ch)
			h.idle()
			h.noLeaks()
		})
	}
}
