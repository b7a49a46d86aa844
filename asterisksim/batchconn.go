package asterisksim

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"
)

// The websocket library flushes every message to the socket as it is
// written: one write syscall per event. A call produces dozens of events,
// and under load the writer finds many queued at each wake-up, so the
// connection below lets the writer hold a batch in memory and send it with
// one write. Frames written while no batch is held (control frames from
// the library's reader, a close) go straight through, and the lock keeps
// them from overtaking a batch being sent.

var errNoHijack = errors.New("response writer cannot hijack")

// batchConn is a net.Conn whose writes can be held and sent as one.
type batchConn struct {
	net.Conn
	mu      sync.Mutex
	holding bool
	buf     []byte
}

// hold starts collecting writes.
func (c *batchConn) hold() {
	c.mu.Lock()
	c.holding = true
	c.mu.Unlock()
}

// release sends what was collected since hold in one write, giving up
// after timeout (a client that stopped reading).
func (c *batchConn) release(timeout time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.holding = false
	if len(c.buf) == 0 {
		return nil
	}
	_ = c.Conn.SetWriteDeadline(time.Now().Add(timeout))
	_, err := c.Conn.Write(c.buf)
	_ = c.Conn.SetWriteDeadline(time.Time{})
	if cap(c.buf) > 1<<20 {
		c.buf = nil // a burst's buffer is not kept for the connection's life
	} else {
		c.buf = c.buf[:0]
	}
	return err
}

func (c *batchConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.holding {
		c.buf = append(c.buf, p...)
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// batchWriter hands the websocket library a hijacked connection that is a
// batchConn.
type batchWriter struct {
	http.ResponseWriter
	conn *batchConn // set by Hijack
}

func (w *batchWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errNoHijack
	}
	conn, brw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	w.conn = &batchConn{Conn: conn}
	// The library writes through brw.Writer, which wraps the raw
	// connection: give it one that wraps ours.
	return w.conn, bufio.NewReadWriter(brw.Reader, bufio.NewWriterSize(w.conn, 4096)), nil
}
