package ari

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// Errors from Run.
var (
	// ErrAlreadyRunning is returned by a second concurrent Run.
	ErrAlreadyRunning = errors.New("ari client already running")
	// ErrNoHandler is returned by Run when Options.Handler is nil: events
	// would otherwise be read and thrown away.
	ErrNoHandler = errors.New("ari options: no event handler")
	// errReplaced ends a session when another connection took our
	// application name.
	errReplaced = errors.New("application replaced by another connection")
)

// Run keeps the events websocket up until ctx is done, then returns
// ctx.Err() (nil is never returned). After every successful connect it
// calls OnConnect; when a connection fails or drops it waits BackoffMin,
// doubling up to BackoffMax with jitter, and connects again. The backoff
// resets once a connection has stayed up longer than BackoffMax.
func (c *Client) Run(ctx context.Context) error {
	if c.opts.Handler == nil {
		return ErrNoHandler
	}
	if !c.running.TryLock() {
		return ErrAlreadyRunning
	}
	defer c.running.Unlock()
	// Idle keep-alive connections would otherwise outlive the client by the
	// transport's idle timeout, each with its goroutines; REST calls made
	// after Run returns simply dial again.
	defer c.http.CloseIdleConnections()
	defer c.wsHTTP.CloseIdleConnections()

	attempt := 0
	for {
		start := time.Now()
		connected, err := c.session(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Since(start) > c.opts.BackoffMax {
			attempt = 0
		}
		delay := backoff(c.opts.BackoffMin, c.opts.BackoffMax, attempt)
		attempt++
		level := slog.LevelWarn
		if errors.Is(err, errReplaced) {
			level = slog.LevelError
		}
		msg := "ari events connection lost, reconnecting"
		if !connected {
			msg = "ari events: cannot connect, retrying"
		}
		c.log.Log(ctx, level, msg, "err", err, "retry_in", delay, "attempt", attempt)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// backoff is the delay before reconnect attempt n (0-based): min·2ⁿ capped
// at max, of which the upper half is random so that several nodes (or a
// restarted Asterisk's many clients) do not reconnect in step.
func backoff(lo, hi time.Duration, n int) time.Duration {
	d := hi
	if n < 32 && lo<<n > 0 && lo<<n < hi {
		d = lo << n
	}
	half := d / 2
	if half <= 0 {
		return d
	}
	return half + rand.N(d-half+1)
}

// session runs one websocket connection: dial, OnConnect, then the read
// loop with a keepalive beside it, until the connection or ctx ends.
// connected says whether the dial succeeded.
func (c *Client) session(ctx context.Context) (connected bool, _ error) {
	dialCtx, cancelDial := context.WithTimeout(ctx, c.opts.DialTimeout)
	conn, resp, err := websocket.Dial(dialCtx, c.wsURL, &websocket.DialOptions{
		HTTPClient: c.wsHTTP,
		HTTPHeader: http.Header{"Authorization": {c.authValue}},
	})
	cancelDial()
	if err != nil {
		// The error holds the URL at most, never credentials: they travel
		// in a header, and New refuses URLs with a user part.
		if resp != nil && resp.StatusCode == http.StatusUnauthorized {
			return false, fmt.Errorf("connect events: %w", &HTTPError{Status: resp.StatusCode, Message: "authentication failed"})
		}
		return false, fmt.Errorf("connect events: %w", err)
	}
	defer conn.CloseNow()
	conn.SetReadLimit(maxEventBytes)

	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	defer c.setConnected(false) // after wg.Wait: nothing sets it true again

	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		c.keepalive(sctx, conn, cancel)
	}()
	go func() {
		defer wg.Done()
		// Asterisk registers the application just after the upgrade: a
		// subscription made in between is refused, and a call sent to the
		// application meanwhile fails. Connected, and OnConnect, wait
		// for the registration while events are read.
		c.awaitRegistered(sctx)
		c.filterEvents(sctx)
		if sctx.Err() != nil {
			return
		}
		c.setConnected(true)
		c.log.Info("ari events connected")
		if c.opts.OnConnect != nil {
			c.opts.OnConnect(sctx)
		}
	}()
	// A stop closes the connection with the close handshake, which ends
	// the read loop once Asterisk answers it (the library bounds the
	// wait): cancelling the read instead drops the TCP connection, and
	// Asterisk logs two warnings per stop. So the read runs on a context
	// the stop does not cancel; the keepalive's verdict still closes the
	// connection under it.
	stopped := context.AfterFunc(ctx, func() {
		_ = conn.Close(websocket.StatusNormalClosure, "client stopping")
	})
	defer stopped()
	err = c.readLoop(context.WithoutCancel(sctx), conn)
	cancel(err)
	wg.Wait()
	if cause := context.Cause(sctx); cause != nil && !errors.Is(cause, context.Canceled) {
		err = cause // the keepalive's verdict explains a read error it caused
	}
	return true, err
}

// registerLimit bounds the wait for Asterisk to register the application
// once the events websocket is up; it takes milliseconds.
const registerLimit = 5 * time.Second

// awaitRegistered waits until Asterisk knows the application, polling with
// a backoff from 5 ms to 200 ms, for at most registerLimit.
func (c *Client) awaitRegistered(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, registerLimit)
	defer cancel()
	for wait := 5 * time.Millisecond; ; wait = min(2*wait, 200*time.Millisecond) {
		err := c.do(ctx, call{op: "get application", method: http.MethodGet, path: []string{"applications", c.opts.Application}})
		if !errors.Is(err, ErrCallGone) {
			return // registered, or a failure that waiting does not mend
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			if context.Cause(ctx) == context.DeadlineExceeded {
				c.log.Warn("ari application still not registered", "after", registerLimit.Seconds())
			}
			return
		case <-t.C:
		}
	}
}

// filterEvents asks Asterisk to send the application only Options.Events
// (and ApplicationReplaced). The filter belongs to the application inside
// Asterisk, which may forget it with the connection: it is set again on
// every connect. Events before it are only more to skip.
func (c *Client) filterEvents(ctx context.Context) {
	if len(c.opts.Events) == 0 || ctx.Err() != nil {
		return
	}
	types := append([]string{"ApplicationReplaced"}, c.opts.Events...)
	allowed := make([]map[string]string, 0, len(types))
	for i, t := range types {
		if !slices.Contains(types[:i], t) {
			allowed = append(allowed, map[string]string{"type": t})
		}
	}
	err := c.do(ctx, call{op: "set event filter", method: http.MethodPut,
		path: []string{"applications", c.opts.Application, "eventFilter"}, body: map[string]any{"allowed": allowed}})
	if err != nil && ctx.Err() == nil {
		c.log.Warn("ari event filter refused: Asterisk sends every event", "err", err)
	}
}

// keepalive pings every PingInterval; a ping not answered within
// PingTimeout means the TCP connection is dead (no FIN ever comes from a
// vanished host), so it closes the connection, which ends the read loop.
func (c *Client) keepalive(ctx context.Context, conn *websocket.Conn, cancel context.CancelCauseFunc) {
	t := time.NewTicker(c.opts.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, pcancel := context.WithTimeout(ctx, c.opts.PingTimeout)
		err := conn.Ping(pctx)
		pcancel()
		if err != nil {
			if ctx.Err() == nil {
				cancel(fmt.Errorf("keepalive: no pong within %s: %w", c.opts.PingTimeout, err))
				conn.CloseNow()
			}
			return
		}
	}
}

// maxKeptBuffer is the largest read buffer the events reader keeps between
// messages; ordinary events are a few kilobytes.
const maxKeptBuffer = 64 << 10

// readLoop reads and dispatches messages in order until an error.
//
// Each message is read into one buffer kept for the connection and then
// copied once, at its exact size, into the event's Raw: conn.Read would
// grow a fresh slice per message and DecodeEvent copy it again, which at
// dozens of events per call was the daemon's largest source of garbage.
func (c *Client) readLoop(ctx context.Context, conn *websocket.Conn) error {
	var buf bytes.Buffer
	for {
		typ, r, err := conn.Reader(ctx)
		if err != nil {
			return fmt.Errorf("read events: %w", err)
		}
		buf.Reset()
		if _, err := buf.ReadFrom(r); err != nil {
			return fmt.Errorf("read events: %w", err)
		}
		if typ != websocket.MessageText {
			c.log.Warn("ari events: skipping binary message", "bytes", buf.Len())
			continue
		}
		msg := bytes.Clone(buf.Bytes())
		if buf.Cap() > maxKeptBuffer {
			buf = bytes.Buffer{} // an unusually large event's buffer is not kept
		}
		ev, err := decodeEvent(msg, true)
		switch {
		case errors.Is(err, ErrUnknownEvent):
			c.log.Debug("ari events: skipping unknown event type", "type", ev.Type)
			continue
		case err != nil:
			c.log.Error("ari events: skipping undecodable message", "err", err, "bytes", len(msg))
			continue
		}
		if ev.Type == "ApplicationReplaced" {
			conn.Close(websocket.StatusNormalClosure, "replaced")
			return errReplaced
		}
		c.opts.Handler(ev)
	}
}
