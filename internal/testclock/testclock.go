// Package testclock is the tests' one clock. New makes a clock that stands
// still until the test moves it (Advance), with timers that fire when it
// passes their time; NewWall makes the wall clock plus an offset the test
// may move forward (Advance, SkipTo), for a whole daemon whose callbacks
// should come due now rather than in half an hour. Both are safe for
// concurrent use.
package testclock

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Clock is a test's clock.
type Clock struct {
	mu      sync.Mutex
	wall    bool          // the wall clock plus off; no timers
	now     time.Time     // a standing clock's time
	off     time.Duration // a wall clock's offset
	timers  []*Timer
	started []time.Duration
	added   chan struct{} // closed (and replaced) when a timer is started
}

// Start is where New's clocks start when a test does not care: a Monday
// morning, inside every test configuration's opening hours.
var Start = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// New is a clock standing at start (Start if zero).
func New(start time.Time) *Clock {
	if start.IsZero() {
		start = Start
	}
	return &Clock{now: start, added: make(chan struct{})}
}

// NewWall is the wall clock, moved forward by Advance and SkipTo.
func NewWall() *Clock { return &Clock{wall: true, added: make(chan struct{})} }

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.wall {
		return time.Now().Add(c.off)
	}
	return c.now
}

// Advance moves the clock forward by d and fires the timers that are due.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.wall {
		c.off += d
		return
	}
	c.now = c.now.Add(d)
	for _, t := range c.timers {
		if !t.done && !t.at.After(c.now) {
			t.done = true
			t.ch <- c.now
		}
	}
	c.timers = slices.DeleteFunc(c.timers, func(t *Timer) bool { return t.done })
}

// SkipTo moves the clock forward so that it reads t now; a clock past t
// stays.
func (c *Clock) SkipTo(t time.Time) {
	if d := t.Sub(c.Now()); d > 0 {
		c.Advance(d)
	}
}

// Timer fires once, when its clock reaches its time.
type Timer struct {
	c    *Clock
	d    time.Duration
	at   time.Time
	ch   chan time.Time
	done bool // fired or stopped
}

// NewTimer starts a timer of d on a standing clock; d <= 0 fires at once.
// A wall clock has no timers (it panics): its users take time.Timer.
func (c *Clock) NewTimer(d time.Duration) *Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.wall {
		panic("testclock: a wall clock has no timers")
	}
	t := &Timer{c: c, d: d, at: c.now.Add(d), ch: make(chan time.Time, 1)}
	c.started = append(c.started, d)
	if d <= 0 {
		t.done = true
		t.ch <- c.now
		return t
	}
	c.timers = append(c.timers, t)
	close(c.added)
	c.added = make(chan struct{})
	return t
}

// C delivers the clock's time when the timer fires.
func (t *Timer) C() <-chan time.Time { return t.ch }

// Stop stops the timer; false if it had fired or been stopped.
func (t *Timer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := !t.done
	t.done = true
	return was
}

// Started lists the durations of every timer started so far, in order.
func (c *Clock) Started() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.started)
}

// WaitTimer waits until a running timer of duration d exists, for a test
// that must not move the clock before the code under test started its
// timer; ctx bounds the wait.
func (c *Clock) WaitTimer(ctx context.Context, d time.Duration) error {
	for {
		c.mu.Lock()
		found := slices.ContainsFunc(c.timers, func(t *Timer) bool { return !t.done && t.d == d })
		added := c.added
		c.mu.Unlock()
		if found {
			return nil
		}
		select {
		case <-added:
		case <-ctx.Done():
			return fmt.Errorf("no timer of %v started: %w", d, ctx.Err())
		}
	}
}
