package asterisksim

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// event is one websocket message before "application" is filled in. Values
// in it are snapshots (copied structs), so the writer may marshal it after
// the server lock is released.
type event map[string]any

// maxQueue bounds a connection's backlog; a client this far behind is
// treated as gone, which is what a real Asterisk's failing write does.
const maxQueue = 1 << 17

// batchEvents is how many events at most go out in one socket write.
const batchEvents = 64

// writeTimeout bounds one websocket write so a stuck client cannot keep its
// writer goroutine forever.
const writeTimeout = 10 * time.Second

// wsConn is one events websocket. Events are queued under the server lock
// (so the order per application is the order of state changes) and written
// by the connection's own goroutine, so a slow client never blocks the
// server or other clients.
type wsConn struct {
	ws   *websocket.Conn
	raw  *batchConn // the socket under ws; nil if the handler could not wrap it
	apps []string   // guarded by Server.mu

	mu     sync.Mutex
	queue  []event
	notify chan struct{}
	dead   bool
}

func (c *wsConn) enqueue(ev event) bool {
	c.mu.Lock()
	if c.dead {
		c.mu.Unlock()
		return false
	}
	if len(c.queue) >= maxQueue {
		c.dead = true
		c.mu.Unlock()
		c.ws.CloseNow() //nolint:errcheck // closing a connection we give up on
		return false
	}
	c.queue = append(c.queue, ev)
	c.mu.Unlock()
	select {
	case c.notify <- struct{}{}:
	default:
	}
	return true
}

func (c *wsConn) closeNow() {
	c.mu.Lock()
	c.dead = true
	c.mu.Unlock()
	_ = c.ws.CloseNow() // abrupt on purpose: a lost connection
}

// writeLoop runs in the websocket's HTTP handler goroutine until the
// connection dies (ctx is cancelled when the reader sees the close).
func (s *Server) writeLoop(ctx context.Context, c *wsConn) {
	var batch []event
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.notify:
		}
		c.mu.Lock()
		batch, c.queue = c.queue, batch[:0]
		c.mu.Unlock()
		if !s.writeBatch(ctx, c, batch) {
			return
		}
		clear(batch)
	}
}

// writeBatch writes every queued event, sending up to batchEvents of them
// in one socket write. It reports false once the connection has failed.
func (s *Server) writeBatch(ctx context.Context, c *wsConn, batch []event) bool {
	held := 0 // events written to the held buffer, not yet to the socket
	flush := func() bool {
		if c.raw != nil {
			if err := c.raw.release(writeTimeout); err != nil {
				return false
			}
		}
		s.eventsSent.Add(uint64(held))
		held = 0
		return true
	}
	for i, ev := range batch {
		if held == 0 && c.raw != nil {
			c.raw.hold()
		}
		b, err := json.Marshal(ev)
		if err != nil {
			s.log.Error("asterisksim: marshal event", "err", err)
			continue
		}
		err = s.writeEvent(ctx, c, b)
		if err == nil {
			held++
			// A long backlog goes out in slices, so the first events of
			// a burst are not held back while the last are encoded.
			if held < batchEvents || flush() {
				continue
			}
		}
		if c.raw != nil {
			_ = c.raw.release(writeTimeout)
		}
		s.eventsDropped.Add(uint64(len(batch) - i + held))
		return false
	}
	if !flush() {
		s.eventsDropped.Add(uint64(held))
		return false
	}
	return true
}

// writeEvent writes one event. While a batch is held the library's write
// only fills memory and the socket write in release has its own deadline,
// so no timer is set up per event; without a batching connection each
// write reaches the socket and is bounded here.
func (s *Server) writeEvent(ctx context.Context, c *wsConn, b []byte) error {
	if c.raw != nil {
		return c.ws.Write(ctx, websocket.MessageText, b)
	}
	wctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	return c.ws.Write(wctx, websocket.MessageText, b)
}

// handleEvents serves /ari/events?app=A[,B]&subscribeAll=false.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	var apps []string
	for _, v := range r.URL.Query()["app"] {
		for _, a := range strings.Split(v, ",") {
			if a != "" && !slices.Contains(apps, a) {
				apps = append(apps, a)
			}
		}
	}
	if len(apps) == 0 {
		writeErr(w, http.StatusBadRequest, "Missing parameter app")
		return
	}
	bw := &batchWriter{ResponseWriter: w}
	ws, err := websocket.Accept(bw, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return // Accept has written the HTTP error
	}
	ws.SetReadLimit(1 << 16)
	c := &wsConn{ws: ws, raw: bw.conn, notify: make(chan struct{}, 1)}

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = ws.CloseNow()
		return
	}
	s.wsWG.Add(1)
	defer s.wsWG.Done()
	s.conns[c] = struct{}{}
	for _, a := range apps {
		if old := s.apps[a]; old != nil && old != c {
			// Asterisk keeps the old socket open but tells it the
			// application went elsewhere; it gets nothing more for it.
			if s.filters[a].passes("ApplicationReplaced") {
				old.enqueue(event{"type": "ApplicationReplaced", "application": a,
					"timestamp": now(), "asterisk_id": s.astID})
			}
			old.apps = slices.DeleteFunc(old.apps, func(x string) bool { return x == a })
		}
		s.apps[a] = c
	}
	c.apps = apps
	s.mu.Unlock()

	// CloseRead reads (and answers pings/close frames) until the peer goes
	// away, then cancels ctx; its goroutine ends with the connection.
	ctx := ws.CloseRead(context.Background())
	s.writeLoop(ctx, c)
	_ = ws.CloseNow()

	s.mu.Lock()
	delete(s.conns, c)
	for _, a := range c.apps {
		if s.apps[a] == c {
			// Asterisk keeps an unregistered application's filter only
			// while something still holds the application (a channel in
			// it); the simulator forgets it with the websocket.
			delete(s.apps, a)
			delete(s.filters, a)
		}
	}
	s.mu.Unlock()
}

// connected reports whether app has a websocket. Callers hold s.mu.
func (s *Server) connected(app string) bool { return s.apps[app] != nil }

// emit sends one event to each application in apps (deduplicated by the
// caller). Callers hold s.mu.
func (s *Server) emit(apps []string, typ string, ev event) {
	if len(apps) == 0 {
		return
	}
	ev["type"] = typ
	ev["timestamp"] = now()
	ev["asterisk_id"] = s.astID
	for i, a := range apps {
		if !s.filters[a].passes(typ) {
			continue
		}
		e := ev
		if i < len(apps)-1 {
			e = make(event, len(ev)+1)
			for k, v := range ev {
				e[k] = v
			}
		}
		e["application"] = a
		c := s.apps[a]
		if c == nil || !c.enqueue(e) {
			s.eventsDropped.Add(1)
		}
	}
}
