package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"
)

// events streams live updates as server-sent events:
//
//	id: 42
//	event: agent
//	data: {...}
//
// The stream starts with a "hello" event; the client then fetches its
// snapshots (agents, calls) and applies updates on top. There is no replay:
// after any reconnect the client refetches. A subscriber that falls behind
// is dropped with an "overflow" event and reconnects (EventSource does so
// by itself after the advertised retry delay).
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	if s.opts.Updates == nil {
		writeError(w, http.StatusServiceUnavailable, "unavailable", "events not configured")
		return
	}
	tok := tokenFrom(r)
	view, err := s.eventFilter(r.Context(), tok)
	if err != nil {
		s.fail(w, r, "events", err)
		return
	}

	rc := http.NewResponseController(w)
	// The server's read and write timeouts are for ordinary requests; this
	// one lives until the client leaves. Lift them and bound each write.
	if err := rc.SetReadDeadline(time.Time{}); err != nil {
		s.log.Debug("events: cannot lift read deadline", "err", err)
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	defer context.AfterFunc(s.streams, cancel)()
	updates := s.opts.Updates.Subscribe(ctx, view)

	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)

	write := func(format string, args ...any) bool {
		if err := rc.SetWriteDeadline(time.Now().Add(s.opts.WriteWait)); err != nil {
			s.log.Debug("events: cannot set write deadline", "err", err)
		}
		if _, err := fmt.Fprintf(w, format, args...); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	retry := s.opts.Heartbeat.Milliseconds() / 5
	if retry < 1000 {
		retry = 1000
	}
	if !write("retry: %d\nevent: hello\ndata: {\"role\":%q}\n\n", retry, tok.Role) {
		return
	}

	heartbeat := time.NewTicker(s.opts.Heartbeat)
	defer heartbeat.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-heartbeat.C:
			// A comment line keeps proxies from closing an idle stream
			// and finds dead clients by failing to write.
			if !write(": ping\n\n") {
				return
			}
		case u, ok := <-updates:
			if !ok {
				if ctx.Err() == nil {
					write("event: overflow\ndata: {}\n\n")
				}
				return
			}
			data, ok := u.Data.(json.RawMessage)
			if !ok {
				// An Updates other than the Hub may hand over raw values.
				b, err := json.Marshal(u.Data)
				if err != nil {
					s.log.Error("events: encode update", "kind", string(u.Kind), "err", err)
					continue
				}
				data = b
			}
			if !write("id: %d\nevent: %s\ndata: %s\n\n", u.Seq, u.Kind, data) {
				return
			}
		}
	}
}

// eventFilter decides what a token sees: seniors and admins everything;
// an agent no more than the REST API shows them (least privilege: the
// stream is no side door). That is: their own agent's updates; a call they
// are on, or that their status points at (offered, or the consult of a
// transfer to them) — the calls GET /calls lists them, in the same view;
// of a call handed on from them, its id alone; their callbacks and the
// requests they filed; the queue depths of their topics, which GET /topics
// shows everyone. Never a queued caller: not their number, case or call id.
//
// Which call their status points at is read at connect and then followed
// through their own agent updates, which the hub hands to the filter in
// publishing order, before the call updates of the same change. Topics are
// read once at connect; a topic change in configuration takes effect on
// reconnect.
func (s *Server) eventFilter(ctx context.Context, tok Token) (func(Update) (Update, bool), error) {
	if tok.privileged() {
		return nil, nil
	}
	var topics map[string]int
	var current string
	if s.opts.Agents != nil {
		a, err := s.opts.Agents.Agent(ctx, tok.AgentID)
		if err != nil {
			return nil, fmt.Errorf("agent %s: %w", tok.AgentID, err)
		}
		topics, current = a.Topics, a.CallID
	}
	id := tok.AgentID
	// The hub calls this for one update at a time, under its lock: current
	// needs no lock of its own.
	return func(u Update) (Update, bool) {
		named := slices.Contains(u.Agents, id)
		switch u.Kind {
		case UpdateAgent:
			if named {
				current = u.CallID
			}
			return u, named
		case UpdateCall:
			// As the REST API's mayTouch: on the call, or offered it; but a
			// call that moved on from them is only its id, even if their
			// own agent update saying so comes after it.
			switch {
			case named:
				return u, true
			case u.Brief != nil && slices.Contains(u.Former, id):
				return Update{Seq: u.Seq, Kind: u.Kind, CallID: u.CallID, Data: u.Brief}, true
			case u.CallID != "" && u.CallID == current:
				return u, true
			}
			return Update{}, false
		case UpdateQueue:
			_, mine := topics[u.Topic]
			return u, u.Topic != "" && mine
		}
		return u, named
	}, nil
}
