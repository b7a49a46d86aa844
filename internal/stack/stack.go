// Package stack starts the pieces of a whole hotline in one process: the
// simulated Asterisk, the daemon (until it is ready) and the phones driver
// that plays its callers and agents. hotline demo and hotline bench are
// built on it, and so is the tests' harness (internal/harness), which ties
// each piece to a test. The store is each one's own: an embedded one for
// the demo, a redis-server for the benchmark and the tests.
package stack

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/hotline-project/hotline/app"
	"github.com/hotline-project/hotline/asterisksim"
	"github.com/hotline-project/hotline/phones"
)

// Sim starts a simulated Asterisk on a free loopback port.
func Sim(opts asterisksim.Options) (*asterisksim.Server, error) {
	s := asterisksim.New(opts)
	if err := s.Start("127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("start simulated Asterisk: %w", err)
	}
	return s, nil
}

// Daemon builds and starts the daemon and waits, within ctx, until its
// /readyz says ready. A daemon that does not start or get ready is
// stopped again.
func Daemon(ctx context.Context, o app.Options) (*app.App, error) {
	a, err := app.New(o)
	if err != nil {
		return nil, fmt.Errorf("build daemon: %w", err)
	}
	err = a.Start(ctx)
	if err != nil {
		err = fmt.Errorf("start daemon: %w", err)
	} else {
		err = WaitReady(ctx, a.URL())
	}
	if err != nil {
		// Stop undoes New as well as Start.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		return nil, errors.Join(err, a.Stop(sctx))
	}
	return a, nil
}

// ErrNotReady: the daemon did not become ready in time.
var ErrNotReady = errors.New("daemon not ready")

// WaitReady polls base/readyz until it answers 200 or ctx ends
// (ErrNotReady).
func WaitReady(ctx context.Context, base string) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	last := "no answer"
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
		if err != nil {
			return err
		}
		if resp, err := http.DefaultClient.Do(req); err != nil {
			last = err.Error()
		} else {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (%s): %w", ErrNotReady, last, context.Cause(ctx))
		case <-tick.C:
		}
	}
}

// Phones is a running phones driver.
type Phones struct {
	*phones.Driver
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

// StartPhones runs a phones driver and waits, within ctx, until it is
// connected. Stop ends it.
func StartPhones(ctx context.Context, o phones.Options) (*Phones, error) {
	d, err := phones.New(o)
	if err != nil {
		return nil, fmt.Errorf("build phones: %w", err)
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p := &Phones{Driver: d, cancel: cancel, done: make(chan error, 1)}
	go func() { p.done <- d.Run(runCtx) }()
	if err := d.Ready(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("phones: %w", err), p.Stop())
	}
	return p, nil
}

// Stop ends the driver and waits for it; again, it returns the same.
func (p *Phones) Stop() error {
	p.once.Do(func() {
		p.cancel()
		if err := <-p.done; err != nil && !errors.Is(err, context.Canceled) {
			p.err = fmt.Errorf("phones: %w", err)
		}
	})
	return p.err
}
