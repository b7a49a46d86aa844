package baresip

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// State is a call's progress as baresip reports it.
type State int

// Call states, in the order a call goes through them (a call may skip
// some).
const (
	StateNew         State = iota // dialled; nothing heard back yet
	StateIncoming                 // ringing here, not yet answered
	StateRinging                  // dialled; the far end rings (180)
	StateProgress                 // dialled; early media (183)
	StateEstablished              // answered
	StateClosed                   // ended; Reason says why
)

func (s State) String() string {
	switch s {
	case StateNew:
		return "new"
	case StateIncoming:
		return "incoming"
	case StateRinging:
		return "ringing"
	case StateProgress:
		return "progress"
	case StateEstablished:
		return "established"
	case StateClosed:
		return "closed"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// TransferResult is the outcome of the phone's REFER as the final NOTIFY
// reported it: Code 200 when the transfer succeeded, the failure's status
// otherwise (603 for a declined one). baresip 1.0 ends the call either
// way.
type TransferResult struct {
	Code   int
	Reason string
}

// ErrCallClosed is returned by waits that can no longer succeed because
// the call has ended.
var ErrCallClosed = errors.New("call closed")

// Call is one call of a phone. Its fields are fixed; its state is read
// through methods.
type Call struct {
	p         *Phone
	ID        string // baresip's call id
	Direction string // "incoming" or "outgoing"
	Peer      string // the peer's SIP URI, e.g. sip:caller1@127.0.0.1:5060

	// Guarded by p.mu.
	state        State
	reason       string
	dtmf         string
	transfers    []TransferResult
	transferSent int // len(transfers) when Transfer was last called
	referred     []string
	events       []Event
	recv, sent   string // recordings: what the phone received and sent
}

// advance moves the state forward, never back; p.mu is held.
func (c *Call) advance(s State) {
	if c.state < s && c.state != StateClosed {
		c.state = s
	}
}

func (c *Call) String() string { return c.p.opts.User + "/" + c.Direction + "/" + c.ID }

// State returns the call's state.
func (c *Call) State() State {
	c.p.mu.Lock()
	defer c.p.mu.Unlock()
	return c.state
}

// Reason is why a closed call ended, in baresip's words: a SIP status
// ("486 Busy Here"), "Connection reset by user" for the far end's BYE, "Call transfered" after a transfer, ...
func (c *Call) Reason() string {
	c.p.mu.Lock()
	defer c.p.mu.Unlock()
	return c.reason
}

// Events returns the call's events.
func (c *Call) Events() []Event {
	c.p.mu.Lock()
	defer c.p.mu.Unlock()
	return slices.Clone(c.events)
}

// DTMF returns the digits the phone has received on this call (RFC 4733
// events), in order.
func (c *Call) DTMF() string {
	c.p.mu.Lock()
	defer c.p.mu.Unlock()
	return c.dtmf
}

// Referred lists the targets of REFERs the phone received on this call.
func (c *Call) Referred() []string {
	c.p.mu.Lock()
	defer c.p.mu.Unlock()
	return slices.Clone(c.referred)
}

// waitState waits until the call reaches s; a call that closes first is
// an error naming its reason (unless s is StateClosed).
func (c *Call) waitState(ctx context.Context, s State) error {
	return c.p.wait(ctx, "call "+c.ID+" "+s.String(), func() (bool, error) {
		if c.state == s || (c.state > s && c.state != StateClosed) {
			return true, nil
		}
		if c.state == StateClosed {
			if s == StateClosed {
				return true, nil
			}
			return false, fmt.Errorf("%w: %s", ErrCallClosed, c.reason)
		}
		return false, nil
	})
}

// WaitRinging waits until the far end of a dialled call rings (or
// answered already).
func (c *Call) WaitRinging(ctx context.Context) error { return c.waitState(ctx, StateRinging) }

// WaitEstablished waits until the call is answered.
func (c *Call) WaitEstablished(ctx context.Context) error {
	return c.waitState(ctx, StateEstablished)
}

// WaitClosed waits until the call has ended and returns the reason.
func (c *Call) WaitClosed(ctx context.Context) (string, error) {
	if err := c.waitState(ctx, StateClosed); err != nil {
		return "", err
	}
	return c.Reason(), nil
}

// Answer answers an incoming call and waits until it is established.
func (c *Call) Answer(ctx context.Context) error {
	if err := c.p.onCall(ctx, c, "accept", ""); err != nil {
		return err
	}
	return c.WaitEstablished(ctx)
}

// Hangup ends the call (CANCEL, decline or BYE, as its state needs) and
// waits until baresip has closed it.
func (c *Call) Hangup(ctx context.Context) error {
	if c.State() == StateClosed {
		return nil
	}
	if err := c.p.onCall(ctx, c, "hangup", ""); err != nil {
		return err
	}
	_, err := c.WaitClosed(ctx)
	return err
}

// SendDTMF sends digits (0-9, *, #, A-D) as RFC 4733 events, one at a
// time with Options.DTMFGap between them.
func (c *Call) SendDTMF(ctx context.Context, digits string) error {
	for i, d := range digits {
		if !strings.ContainsRune("0123456789*#ABCD", d) {
			return fmt.Errorf("send dtmf %q: %q is not a DTMF digit", digits, d)
		}
		if i > 0 {
			t := time.NewTimer(c.p.opts.DTMFGap)
			select {
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("send dtmf %q: %w", digits, context.Cause(ctx))
			case <-t.C:
			}
		}
		if st := c.State(); st == StateClosed {
			return fmt.Errorf("send dtmf %q: %w", digits, ErrCallClosed)
		}
		if err := c.p.onCall(ctx, c, "sndcode", string(d)); err != nil {
			return fmt.Errorf("send dtmf %q: %w", digits, err)
		}
	}
	return nil
}

// WaitDTMF waits until the digits received on the call end with want.
func (c *Call) WaitDTMF(ctx context.Context, want string) error {
	return c.p.wait(ctx, "dtmf "+want, func() (bool, error) {
		if strings.HasSuffix(c.dtmf, want) {
			return true, nil
		}
		if c.state == StateClosed {
			return false, fmt.Errorf("%w with %q received: %s", ErrCallClosed, c.dtmf, c.reason)
		}
		return false, nil
	})
}

// Transfer sends a blind transfer: a REFER to target (a user part such as
// "302", completed with the registrar, or a sip: URI). The outcome comes
// as a NOTIFY: WaitTransfer.
func (c *Call) Transfer(ctx context.Context, target string) error {
	c.p.mu.Lock()
	c.transferSent = len(c.transfers)
	c.p.mu.Unlock()
	return c.p.onCall(ctx, c, "transfer", target)
}

// WaitTransfer waits for the final outcome of the last Transfer.
func (c *Call) WaitTransfer(ctx context.Context) (TransferResult, error) {
	var r TransferResult
	err := c.p.wait(ctx, "transfer outcome", func() (bool, error) {
		if len(c.transfers) > c.transferSent {
			r = c.transfers[c.transferSent]
			return true, nil
		}
		if c.state == StateClosed {
			return false, fmt.Errorf("%w with no transfer outcome: %s", ErrCallClosed, c.reason)
		}
		return false, nil
	})
	return r, err
}

// Transfers returns every transfer outcome the call has had.
func (c *Call) Transfers() []TransferResult {
	c.p.mu.Lock()
	defer c.p.mu.Unlock()
	return slices.Clone(c.transfers)
}

// recording returns the file of what the call has received, claiming it
// if that has not happened yet.
func (c *Call) recording() (string, error) {
	c.p.mu.Lock()
	defer c.p.mu.Unlock()
	if c.recv == "" && c.state == StateEstablished {
		c.p.claimRecording(c)
	}
	if c.recv == "" {
		return "", ErrNoAudio
	}
	return c.recv, nil
}

// Level measures the last window of audio the call received at hz.
func (c *Call) Level(window time.Duration, hz int) (Level, error) {
	l, _, err := c.level(window, hz)
	return l, err
}

// level is Level and the number of samples recorded so far.
func (c *Call) level(window time.Duration, hz int) (Level, int64, error) {
	path, err := c.recording()
	if err != nil {
		return Level{}, 0, err
	}
	r, err := tail(path, window)
	if err != nil {
		return Level{}, 0, err
	}
	l := measure(r.samples, r.rate, float64(hz))
	l.Age = time.Since(r.modified)
	return l, r.total, nil
}

// WaitHears waits until the phone hears other's voice on this call: most
// of 400 ms received after the wait began is other's tone.
func (c *Call) WaitHears(ctx context.Context, other *Phone) error {
	return c.WaitTone(ctx, other.ToneHz())
}

// WaitTone waits until most of 400 ms the call received after the wait
// began is a tone of hz (what was recorded before does not count). It
// polls the recording every 100 ms.
func (c *Call) WaitTone(ctx context.Context, hz int) error {
	start := int64(-1)
	var last Level
	var lastErr error
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	window := int64(toneWindow.Seconds() * sampleRate)
	for {
		var total int64
		last, total, lastErr = c.level(toneWindow, hz)
		if lastErr == nil {
			if start < 0 {
				start = total
			}
			if total-start >= window && last.hears() {
				return nil
			}
		}
		if st := c.State(); st == StateClosed {
			return fmt.Errorf("%s: hear %d Hz: %w: %s (last: %v, %v)", c, hz, ErrCallClosed, c.Reason(), last, lastErr)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: hear %d Hz: %w (last: %v, %v)", c, hz, context.Cause(ctx), last, lastErr)
		case <-tick.C:
		}
	}
}

// Hears reports whether the phone hears a tone of hz now: most of the
// last 400 ms received is that tone, and audio is still arriving.
func (c *Call) Hears(hz int) bool {
	l, err := c.Level(toneWindow, hz)
	return err == nil && l.hears()
}
