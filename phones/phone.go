package phones

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/hotline-project/hotline/ari"
)

// Phone is one call as a phone sees it: a caller placed by Call, or an
// incoming call on an AgentPhone. Its methods are safe for concurrent use.
type Phone struct {
	d        *Driver
	id       string // the phone's half
	number   string // the number dialled (caller) or the extension rung
	outgoing bool

	mu           sync.Mutex
	peer         string // the hotline's half
	callerNumber string
	answered     bool
	heard        []string
	digits       []string
	bridge       string
	hungUp       bool
	hungUpBy     string
	cause        int
	hangingUp    bool // our own Hangup is in flight
	placed       bool // the channel exists (originate returned, or it rang us)
	changed      chan struct{}
}

func newPhone(d *Driver, id, number string, outgoing bool) *Phone {
	return &Phone{d: d, id: id, number: number, outgoing: outgoing, changed: make(chan struct{})}
}

// notify wakes every waiter; callers hold p.mu.
func (p *Phone) notify() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// ID is the phone's own channel id.
func (p *Phone) ID() string { return p.id }

// PeerID is the channel id of the hotline's half of the pair ("" until it
// is known for an incoming call).
func (p *Phone) PeerID() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.peer
}

func (p *Phone) peerID() string { return p.PeerID() }

// Number is the number dialled (a caller) or the extension that rang (an
// agent's id, or a caller's number being called back).
func (p *Phone) Number() string { return p.number }

// CallerNumber is the caller id an incoming call presented.
func (p *Phone) CallerNumber() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.callerNumber
}

// Outgoing reports whether the phone placed the call (a caller).
func (p *Phone) Outgoing() bool { return p.outgoing }

func (p *Phone) setPeer(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.peer = id
	p.notify()
}

func (p *Phone) setPlaced() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.placed = true
}

func (p *Phone) isPlaced() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.placed
}

func (p *Phone) setAnswered() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.answered {
		p.answered = true
		p.notify()
	}
}

func (p *Phone) heardMedia(uri string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.heard = append(p.heard, uri)
	p.notify()
}

func (p *Phone) gotDigit(d string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.digits = append(p.digits, d)
	p.notify()
}

func (p *Phone) setBridge(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bridge != id {
		p.bridge = id
		p.notify()
	}
}

// end marks the call over; by "" means: ByPhone if our own hangup was in
// flight, else ByRemote.
func (p *Phone) end(by string, cause int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.hungUp {
		return
	}
	if by == "" {
		by = ByRemote
		if p.hangingUp {
			by = ByPhone
		}
	}
	p.hungUp, p.hungUpBy, p.cause = true, by, cause
	p.bridge = ""
	p.notify()
}

// Answered reports whether the call is up: the hotline answered a caller,
// or an incoming call was answered.
func (p *Phone) Answered() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.answered
}

// Heard returns the media the hotline has played to this phone so far, in
// order ("sound:hotline-welcome", "number:3", ...). Music on hold raises
// no events and is not listed.
func (p *Phone) Heard() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.heard...)
}

// HeardCount counts the media heard so far that contain substr.
func (p *Phone) HeardCount(substr string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.countLocked(substr)
}

func (p *Phone) countLocked(substr string) int {
	n := 0
	for _, m := range p.heard {
		if strings.Contains(m, substr) {
			n++
		}
	}
	return n
}

// Digits returns the DTMF the hotline's side sent to this phone.
func (p *Phone) Digits() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.digits...)
}

// Connected reports whether the hotline's half is in a bridge now.
func (p *Phone) Connected() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.bridge != ""
}

// Bridge is the id of the bridge the hotline's half is in, or "".
func (p *Phone) Bridge() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.bridge
}

// ConnectedTo reports whether this phone and q are in the same bridge
// now: they hear each other.
func (p *Phone) ConnectedTo(q *Phone) bool {
	b := p.Bridge()
	return b != "" && b == q.Bridge()
}

// HungUp reports whether the call has ended.
func (p *Phone) HungUp() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hungUp
}

// HungUpBy says who ended the call (ByPhone or ByRemote), "" while up.
func (p *Phone) HungUpBy() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hungUpBy
}

// Cause is the hangup cause Asterisk reported (0 if unknown).
func (p *Phone) Cause() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cause
}

// Wait blocks until cond (called with the phone's state locked, so it must
// only read the phone through the *State it is given) holds, the call ends
// (ErrHungUp, unless cond holds then), or ctx ends.
func (p *Phone) Wait(ctx context.Context, what string, cond func(State) bool) error {
	for {
		p.mu.Lock()
		st := State{p: p}
		ok, ended, ch := cond(st), p.hungUp, p.changed
		p.mu.Unlock()
		if ok {
			return nil
		}
		if ended {
			return fmt.Errorf("wait %s on %s: %w (heard %v)", what, p.id, ErrHungUp, p.Heard())
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait %s on %s: %w (heard %v)", what, p.id, ctx.Err(), p.Heard())
		case <-ch:
		}
	}
}

// State is a phone's state as a Wait condition sees it.
type State struct{ p *Phone }

// Answered, Connected, Bridge, HungUp and HeardCount mirror the Phone's.
func (s State) Answered() bool  { return s.p.answered }
func (s State) Connected() bool { return s.p.bridge != "" }
func (s State) Bridge() string  { return s.p.bridge }
func (s State) HungUp() bool    { return s.p.hungUp }
func (s State) HeardCount(substr string) int {
	return s.p.countLocked(substr)
}
func (s State) Digits() int { return len(s.p.digits) }

// WaitAnswered waits until the call is up.
func (p *Phone) WaitAnswered(ctx context.Context) error {
	return p.Wait(ctx, "answered", State.Answered)
}

// WaitHeard waits until media containing substr has been played to the
// phone (at any time during the call, including before the wait).
func (p *Phone) WaitHeard(ctx context.Context, substr string) error {
	return p.WaitHeardCount(ctx, substr, 1)
}

// WaitHeardCount waits until media containing substr has been played n
// times.
func (p *Phone) WaitHeardCount(ctx context.Context, substr string, n int) error {
	return p.Wait(ctx, fmt.Sprintf("heard %q x%d", substr, n), func(s State) bool { return s.HeardCount(substr) >= n })
}

// WaitConnected waits until the hotline's half is bridged.
func (p *Phone) WaitConnected(ctx context.Context) error {
	return p.Wait(ctx, "connected", State.Connected)
}

// WaitDisconnected waits until the hotline's half has left its bridge (or
// the call ended).
func (p *Phone) WaitDisconnected(ctx context.Context) error {
	err := p.Wait(ctx, "disconnected", func(s State) bool { return !s.Connected() })
	if errors.Is(err, ErrHungUp) {
		return nil
	}
	return err
}

// WaitConnectedTo waits until this phone and q are in the same bridge.
func (p *Phone) WaitConnectedTo(ctx context.Context, q *Phone) error {
	for {
		pb, pEnded, pCh := p.snapshot()
		qb, qEnded, qCh := q.snapshot()
		if pb != "" && pb == qb {
			return nil
		}
		if pEnded || qEnded {
			return fmt.Errorf("wait %s connected to %s: %w", p.id, q.id, ErrHungUp)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait %s connected to %s: %w (bridges %q, %q)", p.id, q.id, ctx.Err(), pb, qb)
		case <-pCh:
		case <-qCh:
		}
	}
}

// snapshot reads what WaitConnectedTo needs without holding the lock, so
// two phones' locks are never held together.
func (p *Phone) snapshot() (bridge string, ended bool, changed <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.bridge, p.hungUp, p.changed
}

// WaitHungUp waits until the call has ended.
func (p *Phone) WaitHungUp(ctx context.Context) error {
	err := p.Wait(ctx, "hung up", State.HungUp)
	if errors.Is(err, ErrHungUp) {
		return nil
	}
	return err
}

// Answer answers an incoming call (a no-op for a caller's phone, which the
// hotline answers). Retry is safe.
func (p *Phone) Answer(ctx context.Context) error {
	if p.outgoing {
		return nil
	}
	if p.HungUp() {
		return fmt.Errorf("answer %s: %w", p.id, ErrHungUp)
	}
	if err := p.d.client.Answer(ctx, p.id); err != nil {
		if errors.Is(err, ari.ErrCallGone) {
			p.gone()
			return fmt.Errorf("answer %s: %w", p.id, ErrHungUp)
		}
		return fmt.Errorf("answer %s: %w", p.id, err)
	}
	p.setAnswered()
	return nil
}

// Press sends DTMF digits from the phone ("1", "*2", "#"); they arrive on
// the hotline's half. The call must be up. Not safe to retry: the digits
// would be pressed twice.
func (p *Phone) Press(ctx context.Context, digits string) error {
	if p.HungUp() {
		return fmt.Errorf("press %q on %s: %w", digits, p.id, ErrHungUp)
	}
	if err := p.d.client.SendDTMF(ctx, p.id, digits); err != nil {
		if errors.Is(err, ari.ErrCallGone) {
			p.gone()
			return fmt.Errorf("press %q on %s: %w", digits, p.id, ErrHungUp)
		}
		return fmt.Errorf("press %q on %s: %w", digits, p.id, err)
	}
	return nil
}

// Hangup ends the call from the phone (a caller abandoning, an agent
// putting the handset down). It returns once Asterisk accepted the hangup;
// WaitHungUp waits for the call to be gone. Hanging up a call that is
// already over returns nil.
func (p *Phone) Hangup(ctx context.Context) error {
	return p.hangup(ctx, "normal")
}

func (p *Phone) hangup(ctx context.Context, reason string) error {
	p.mu.Lock()
	if p.hungUp {
		p.mu.Unlock()
		return nil
	}
	p.hangingUp = true
	p.mu.Unlock()
	err := p.d.client.Hangup(ctx, p.id, reason)
	switch {
	case errors.Is(err, ari.ErrCallGone):
		p.gone()
	case err != nil:
		p.mu.Lock()
		p.hangingUp = false
		p.mu.Unlock()
		return fmt.Errorf("hangup %s: %w", p.id, err)
	}
	return nil
}

// gone ends a phone whose channel Asterisk no longer knows: its end was
// not seen (the websocket was down), and no event will tell us now.
func (p *Phone) gone() {
	p.d.forget(p)
	p.end(ByRemote, 0)
}

// AgentPhone is the phone behind one extension of the phones context: an
// agent's desk phone, or a caller's line that the hotline dials back.
type AgentPhone struct {
	d    *Driver
	ext  string
	ring chan *Phone

	mu   sync.Mutex
	mode AnswerMode
}

// Ext is the extension (agent id or number).
func (a *AgentPhone) Ext() string { return a.ext }

// SetAnswer sets what the phone does with calls that ring from now on.
func (a *AgentPhone) SetAnswer(m AnswerMode) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.mode = m
}

// Mode is the current answer mode.
func (a *AgentPhone) Mode() AnswerMode {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.mode
}

// Ringing delivers every call that rings this phone, whatever the mode, in
// order, once the driver is subscribed to its hotline half (so a script
// may Answer it at once). Calls beyond the buffer are dropped from this
// channel (and logged), not from the phone.
func (a *AgentPhone) Ringing() <-chan *Phone { return a.ring }

// WaitRing waits for the next call to ring this phone.
func (a *AgentPhone) WaitRing(ctx context.Context) (*Phone, error) {
	select {
	case p := <-a.ring:
		return p, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("wait ring %s: %w", a.ext, ctx.Err())
	}
}

func (a *AgentPhone) deliver(p *Phone) {
	select {
	case a.ring <- p:
	default:
		a.d.log.Warn("ringing buffer full, call not delivered to the script", "ext", a.ext, "phone", p.id)
	}
}
