package callflow

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/hotline-project/hotline/routing"
)

// Ending a call is durable. The writes that end a call's part in the
// router — an agent's call ended (EndCall), a caller out of the queue
// (Leave), a transfer given up, a case closed — must reach Redis even if
// Redis is failing over right then: one lost EndCall leaves an agent
// on_call for good, a lost Leave a ghost in the queue. Such a write is
// retried in the background, with backoff, until the store answers it
// (or refuses it for a reason that will not change: the call is already
// over, the agent moved on). The call itself goes on meanwhile: the caller
// hears the survey, the legs are hung up. A write still pending when the
// node stops is left to the periodic reconcile of the node that comes
// back (endVanished), which ends whatever Asterisk no longer has.

// Backoff bounds of a durable write's retries.
const (
	durableMin = 250 * time.Millisecond
	durableMax = 10 * time.Second
)

// final reports whether a store error is an answer rather than a failure
// to reach the store: retrying would get the same.
func final(err error) bool {
	return errors.Is(err, routing.ErrNotFound) || errors.Is(err, routing.ErrIllegalTransition) ||
		errors.Is(err, routing.ErrNotYourCall) || errors.Is(err, routing.ErrBadCall) ||
		errors.Is(err, routing.ErrNoTransfer)
}

// durable runs write now, on a context of its own (the call's may be
// cancelled), and, if the store could not be reached, again and again in
// the background until it could. It reports whether the first attempt
// went through; a refusal (final) is logged and not retried.
func (e *Engine) durable(log *slog.Logger, what string, write func(ctx context.Context) error) bool {
	err := e.attempt(write)
	switch {
	case err == nil:
		return true
	case final(err):
		log.Info(what+": refused by the router", logErr, err)
		return false
	}
	log.Warn(what+": the store did not answer; retrying until it does", logErr, err)
	e.storeFailed(err)
	e.writes.Add(1)
	go func() {
		defer e.writes.Done()
		for n := 0; ; n++ {
			t := time.NewTimer(durableBackoff(n))
			select {
			case <-e.base.Done():
				t.Stop()
				log.Warn(what+": not written before the node stopped; the next reconcile ends the call", logErr, err)
				return
			case <-t.C:
			}
			if err = e.attempt(write); err == nil || final(err) {
				log.Info(what+": written after retries", "attempts", n+2, logErr, err)
				return
			}
		}
	}()
	return false
}

func (e *Engine) attempt(write func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(e.base), e.cleanupT)
	defer cancel()
	return write(ctx)
}

// durableBackoff is the wait before retry n: doubling from durableMin to
// durableMax, the upper half random so that nodes do not retry in step.
func durableBackoff(n int) time.Duration {
	d := durableMax
	if n < 16 && durableMin<<n < durableMax {
		d = durableMin << n
	}
	return d/2 + rand.N(d/2+1)
}
