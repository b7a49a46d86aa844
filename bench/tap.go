package bench

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Tap wraps the simulated Asterisk's http.Handler and timestamps, on the
// Asterisk side of the wire, the moments the bench measures between:
//
//   - a StasisStart for the hotline's application leaving the simulator
//     (read from the websocket frames as they are written to the socket);
//   - a POST /ari/channels for an agent leg (appArgs agent,CALL,AGENT)
//     arriving;
//   - a DELETE /ari/channels/{id} (a phone hanging up) arriving.
//
// It sits outside asterisksim on purpose: the simulator stays a protocol
// server that knows nothing of benchmarks, and the measurement is what a
// packet capture beside a real Asterisk would see.
type Tap struct {
	next http.Handler
	app  string
	rec  *Recorder
}

// NewTap wraps next; events of application app are reported to rec.
func NewTap(next http.Handler, app string, rec *Recorder) *Tap {
	return &Tap{next: next, app: app, rec: rec}
}

func (t *Tap) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/ari/channels":
		q := r.URL.Query()
		if args := strings.Split(q.Get("appArgs"), ","); len(args) == 3 && args[0] == "agent" && q.Get("app") == t.app {
			// The call id is the caller's channel id (the agent legs carry no
			// originator: Asterisk refuses one together with formats).
			t.rec.originated(now, args[1], q.Get("endpoint"), args[1], args[2])
		}
	case r.Method == http.MethodDelete && strings.HasPrefix(r.URL.Path, "/ari/channels/"):
		id := strings.TrimPrefix(r.URL.Path, "/ari/channels/")
		if !strings.Contains(id, "/") {
			t.rec.hungUp(now, id)
		}
	case r.URL.Path == "/ari/events" && t.forApp(r):
		w = &tapWriter{ResponseWriter: w, tap: t}
	}
	t.next.ServeHTTP(w, r)
}

// forApp reports whether an events websocket carries the hotline's
// application (the phones driver's own socket is left alone).
func (t *Tap) forApp(r *http.Request) bool {
	for _, v := range r.URL.Query()["app"] {
		if slices.Contains(strings.Split(v, ","), t.app) {
			return true
		}
	}
	return false
}

// tapWriter hands the websocket library a connection whose writes pass
// through a frame reader.
type tapWriter struct {
	http.ResponseWriter
	tap *Tap
}

var errNoHijack = errors.New("response writer cannot hijack")

func (w *tapWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errNoHijack
	}
	conn, brw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	tc := &tapConn{Conn: conn, tap: w.tap}
	// The websocket library writes through brw.Writer, which wraps the raw
	// connection: give it one that wraps ours instead.
	return tc, bufio.NewReadWriter(brw.Reader, bufio.NewWriterSize(tc, 4096)), nil
}

// tapConn reads the server-to-client websocket stream it writes. Server
// frames are never masked, and the simulator does not negotiate
// compression, so payloads are plain JSON.
type tapConn struct {
	net.Conn
	tap *Tap
	buf []byte // unparsed bytes: a partial frame header or payload
	msg []byte // payload of a fragmented message so far
}

func (c *tapConn) Write(p []byte) (int, error) {
	// The time is taken before the bytes leave: once they do, the daemon
	// may react before this goroutine runs again.
	now := time.Now()
	n, err := c.Conn.Write(p)
	if n > 0 {
		c.feed(now, p[:n])
	}
	return n, err
}

// feed parses complete frames out of the written stream.
func (c *tapConn) feed(now time.Time, p []byte) {
	c.buf = append(c.buf, p...)
	for {
		hdr, size, ok := frameHeader(c.buf)
		if !ok || len(c.buf) < hdr+size {
			break
		}
		fin, op := c.buf[0]&0x80 != 0, c.buf[0]&0x0f
		payload := c.buf[hdr : hdr+size]
		switch {
		case op >= 0x8: // control frame: close, ping, pong
		case fin && len(c.msg) == 0:
			c.message(now, payload)
		default:
			c.msg = append(c.msg, payload...)
			if fin {
				c.message(now, c.msg)
				c.msg = c.msg[:0]
			}
		}
		c.buf = c.buf[hdr+size:]
	}
	if len(c.buf) == 0 {
		c.buf = nil // let a large frame's buffer go
	}
}

// frameHeader returns the header length and payload length of the frame
// at the start of b, or false if the header is not complete yet.
func frameHeader(b []byte) (hdr, size int, ok bool) {
	if len(b) < 2 {
		return 0, 0, false
	}
	hdr = 2
	n := int(b[1] & 0x7f)
	switch n {
	case 126:
		if len(b) < 4 {
			return 0, 0, false
		}
		n, hdr = int(binary.BigEndian.Uint16(b[2:4])), 4
	case 127:
		if len(b) < 10 {
			return 0, 0, false
		}
		n, hdr = int(binary.BigEndian.Uint64(b[2:10])), 10
	}
	if b[1]&0x80 != 0 {
		hdr += 4 // masked: never from a server, handled for completeness
	}
	return hdr, n, true
}

var stasisStartType = []byte(`"StasisStart"`)

// stasisStart is the part of a StasisStart event the bench reads.
type stasisStart struct {
	Type        string   `json:"type"`
	Application string   `json:"application"`
	Args        []string `json:"args"`
	Channel     struct {
		ID string `json:"id"`
	} `json:"channel"`
}

func (c *tapConn) message(now time.Time, b []byte) {
	if !bytes.Contains(b, stasisStartType) {
		return
	}
	var ev stasisStart
	if err := json.Unmarshal(b, &ev); err != nil || ev.Type != "StasisStart" || ev.Application != c.tap.app {
		return
	}
	if len(ev.Args) > 0 && ev.Args[0] == "agent" {
		return // an agent leg answering, not a caller arriving
	}
	number := ""
	if len(ev.Args) > 0 {
		number = ev.Args[0]
	}
	c.tap.rec.stasisStarted(now, ev.Channel.ID, number)
}
