package callflow

import (
	"context"
	"errors"
	"time"

	"github.com/hotline-project/hotline/routing"
)

// No caller is answered into silence. When the store cannot be reached a
// call cannot be routed (nor its case opened), and answering it only to
// hang up — what a failing enqueue did — leaves the caller in silence.
// So, while the engine knows the store to be down, a new caller is not
// answered at all: the call goes back to the dialplan with
// HOTLINE_RESULT=unavailable, and the administrator's fallback runs
// (deploy/asterisk/extensions_hotline.conf: an operator group, then the
// "technical difficulties" prompt). A caller already answered when the
// store fails (after the menu) hears that prompt first, then goes the
// same way. Callers already waiting keep waiting: their place is in the
// store, and they are served when it is back.
//
// The engine learns that the store is down from a failed enqueue, case
// lookup or durable write, and that it is back from a probe (Options.
// Probe, a ping) it then repeats every second: calls never wait on a
// ping of their own.

// ResultUnavailable is the value of the channel variable ResultVariable
// for a call the hotline handed back because it cannot route now.
const (
	ResultVariable    = "HOTLINE_RESULT"
	ResultUnavailable = "unavailable"
)

// probeEvery is how often a down store is probed.
const probeEvery = time.Second

// storeDown reports whether the engine knows the store to be unreachable.
func (e *Engine) storeDown() bool { return e.down.Load() }

// storeFailed notes a store error: one that is not an answer (final)
// marks the store down, and the first starts the probe that marks it up.
func (e *Engine) storeFailed(err error) {
	if err == nil || final(err) || errors.Is(err, context.Canceled) || e.probe == nil {
		return
	}
	e.down.Store(true)
	if !e.probing.CompareAndSwap(false, true) {
		return
	}
	e.lingering.Add(1)
	go func() {
		defer e.lingering.Done()
		defer e.probing.Store(false)
		t := time.NewTicker(probeEvery)
		defer t.Stop()
		for {
			select {
			case <-e.base.Done():
				return
			case <-t.C:
			}
			ctx, cancel := context.WithTimeout(e.base, probeEvery)
			err := e.probe(ctx)
			cancel()
			if err == nil {
				e.down.Store(false)
				e.log.Info("the store answers again: calls are routed")
				return
			}
		}
	}()
	e.log.Warn("the store does not answer: new calls go back to the dialplan (HOTLINE_RESULT=unavailable) until it does", logErr, err)
}

// handBack gives a caller's channel back to the dialplan with
// HOTLINE_RESULT=unavailable: Asterisk goes on after Stasis() with the
// administrator's fallback. A channel handed back is no longer ours.
func (e *Engine) handBack(ctx context.Context, channelID string) error {
	if err := e.tel.HandBack(ctx, channelID, map[string]string{ResultVariable: ResultUnavailable}); err != nil {
		return err
	}
	e.metrics.HandedBack(ResultUnavailable)
	return nil
}

// unavailable ends an answered caller's call when it cannot be routed:
// the "technical difficulties" prompt, then back to the dialplan's
// fallback. finish then leaves the channel alone.
func (c *call) unavailable(cause error) error {
	c.log.Warn("call cannot be routed: handing it back to the dialplan", logErr, cause)
	c.stopMOH()
	if err := c.playWait(c.caller, c.prompts(c.lang, PromptUnavailable), c.lang); err != nil {
		return err
	}
	if err := c.e.handBack(c.ctx, c.caller); err != nil && !errors.Is(err, routing.ErrCallGone) {
		return errors.Join(cause, err)
	}
	c.enter(handedBack)
	return nil
}
