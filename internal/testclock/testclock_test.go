package testclock

import (
	"context"
	"slices"
	"testing"
	"time"
)

func TestStandingClock(t *testing.T) {
	c := New(time.Time{})
	if !c.Now().Equal(Start) {
		t.Fatalf("starts at %v, want %v", c.Now(), Start)
	}
	a, b := c.NewTimer(time.Second), c.NewTimer(3*time.Second)
	now := c.NewTimer(0)
	select {
	case <-now.C():
	default:
		t.Error("a timer of 0 did not fire at once")
	}
	c.Advance(999 * time.Millisecond)
	select {
	case <-a.C():
		t.Fatal("fired early")
	default:
	}
	c.Advance(time.Millisecond)
	if got := <-a.C(); !got.Equal(Start.Add(time.Second)) {
		t.Errorf("fired with %v", got)
	}
	if !b.Stop() || b.Stop() {
		t.Error("Stop of a running timer must report true once")
	}
	c.Advance(time.Hour)
	select {
	case <-b.C():
		t.Error("a stopped timer fired")
	default:
	}
	if a.Stop() {
		t.Error("Stop of a fired timer reported true")
	}
	if got := c.Started(); !slices.Equal(got, []time.Duration{time.Second, 3 * time.Second, 0}) {
		t.Errorf("Started %v", got)
	}
}

func TestWaitTimer(t *testing.T) {
	c := New(time.Time{})
	go func() {
		time.Sleep(10 * time.Millisecond)
		c.NewTimer(time.Minute)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.WaitTimer(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	short, cancel2 := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel2()
	if err := c.WaitTimer(short, time.Hour); err == nil {
		t.Error("found a timer nobody started")
	}
}

func TestWallClock(t *testing.T) {
	c := NewWall()
	if d := time.Until(c.Now()); d > time.Second || d < -time.Second {
		t.Fatalf("wall clock off by %v", d)
	}
	target := time.Now().Add(30 * time.Minute)
	c.SkipTo(target)
	if d := c.Now().Sub(target); d < 0 || d > time.Second {
		t.Errorf("after SkipTo: %v from the target", d)
	}
	c.SkipTo(time.Now()) // the past: stays
	if c.Now().Before(target) {
		t.Error("SkipTo moved the clock back")
	}
}
