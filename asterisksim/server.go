package asterisksim

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Sentinel errors of the Go control API.
var (
	// ErrBadBehaviour: a dialplan behaviour the simulator does not know.
	ErrBadBehaviour = errors.New("unknown dialplan behaviour")
	// ErrChannelNotFound: no live channel has that id.
	ErrChannelNotFound = errors.New("channel not found")
	// ErrNotInStasis: the channel is not controlled by an application.
	ErrNotInStasis = errors.New("channel not in stasis")
	// ErrClosed: the server has been closed.
	ErrClosed = errors.New("server closed")
	// ErrStarted: Start was called twice.
	ErrStarted = errors.New("server already started")
)

// timeLayout is Asterisk's timestamp format, e.g. 2026-11-21T23:51:24.966+0000.
const timeLayout = "2006-01-02T15:04:05.000-0700"

// Server is one simulated Asterisk. All of its state sits behind one mutex:
// ARI operations are short, and a single lock keeps the event order per
// application identical to the order of the state changes.
type Server struct {
	opts     Options
	log      *slog.Logger
	dialplan map[string]step
	sounds   map[string]bool // nil: the "missing*"/"no-such*" rule
	handler  http.Handler
	astID    string
	started  time.Time
	// fallback is the FALLBACK of [hotline-fallback] ("" for none), rung
	// for fallbackRing.
	fallback     string
	fallbackRing time.Duration

	eventsSent    atomic.Uint64
	eventsDropped atomic.Uint64

	mu        sync.Mutex
	closed    bool
	channels  map[string]*channel
	bridges   map[string]*bridge
	playbacks map[string][]*playback  // by id; Asterisk accepts a duplicate id
	apps      map[string]*wsConn      // application name → its websocket
	allBridge map[string]bool         // applications subscribed to bridge: (every bridge)
	allChan   map[string]bool         // applications subscribed to channel: (every channel)
	filters   map[string]*eventFilter // by application, until its websocket closes
	conns     map[*wsConn]struct{}
	endpoints map[string]Endpoint
	idSeq     uint64
	localSeq  uint64
	pjsipSeq  uint64
	snoopSeq  uint64
	annSeq    uint64

	wsWG    sync.WaitGroup // websocket handlers
	httpSrv *http.Server
	url     string
}

// Stats are counters for leak checks and the bench.
type Stats struct {
	Channels      int
	Bridges       int
	Playbacks     int
	Websockets    int
	EventsSent    uint64 // written to a websocket
	EventsDropped uint64 // for an application with no websocket, or a client too slow
}

// New builds a Server; it serves nothing until Start (or Handler is mounted).
func New(opts Options) *Server {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Server{
		opts:      opts,
		log:       log,
		dialplan:  make(map[string]step),
		astID:     opts.AsteriskID,
		started:   time.Now(),
		channels:  make(map[string]*channel),
		bridges:   make(map[string]*bridge),
		playbacks: make(map[string][]*playback),
		apps:      make(map[string]*wsConn),
		allBridge: make(map[string]bool),
		allChan:   make(map[string]bool),
		filters:   make(map[string]*eventFilter),
		conns:     make(map[*wsConn]struct{}),
		endpoints: make(map[string]Endpoint),
	}
	if s.astID == "" {
		s.astID = "02:fc:00:00:00:01"
	}
	switch opts.Fallback {
	case "":
		s.fallback = DefaultFallback
	case FallbackNone:
	default:
		s.fallback = opts.Fallback
	}
	s.fallbackRing = opts.FallbackRing
	if s.fallbackRing <= 0 {
		s.fallbackRing = 30 * time.Second
	}
	dp := opts.Dialplan
	if dp == nil {
		dp = DefaultDialplan()
	}
	for ctx, b := range dp {
		st, err := parseBehaviour(b)
		if err != nil {
			// A bad entry behaves like a missing context; say so once.
			log.Warn("asterisksim: ignoring dialplan context", "context", ctx, "err", err)
			continue
		}
		if (ctx == "hotline" || ctx == "agents-ari") && st.kind == kindStasis {
			st.deployed = ctx
		}
		s.dialplan[ctx] = st
	}
	eps := opts.Endpoints
	if eps == nil {
		eps = DefaultEndpoints()
	}
	for n, e := range eps {
		s.endpoints[n] = e
	}
	if opts.Sounds != nil {
		s.sounds = make(map[string]bool, len(opts.Sounds))
		for _, n := range opts.Sounds {
			s.sounds[n] = true
		}
	}
	s.handler = s.routes()
	return s
}

// Handler serves ARI under /ari; use it to mount the simulator in another
// server (URL is then the caller's business).
func (s *Server) Handler() http.Handler { return s.handler }

// Start listens on addr (e.g. "127.0.0.1:0") and serves until Close.
func (s *Server) Start(addr string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("start: %w", ErrClosed)
	}
	if s.httpSrv != nil {
		return fmt.Errorf("start: %w", ErrStarted)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("start: %w", err)
	}
	srv := &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second}
	s.httpSrv = srv
	s.url = "http://" + ln.Addr().String() + "/ari"
	go func() {
		// Serve returns ErrServerClosed once Close shuts the server down.
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("asterisksim: serve", "err", err)
		}
	}()
	return nil
}

// URL is the ARI base URL, e.g. http://127.0.0.1:40123/ari; empty before Start.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.url
}

// Close stops timers, closes every websocket and the HTTP server, and waits
// for the goroutines it started, or for ctx.
func (s *Server) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for _, c := range s.channels {
		c.stopTimer()
		if c.dpWait != nil {
			c.dpWait.stop()
		}
	}
	for _, ps := range s.playbacks {
		for _, p := range ps {
			p.stopTimer()
		}
	}
	conns := make([]*wsConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	srv := s.httpSrv
	s.mu.Unlock()

	for _, c := range conns {
		c.closeNow()
	}
	var err error
	if srv != nil {
		if e := srv.Shutdown(ctx); e != nil {
			err = fmt.Errorf("close: %w", e)
		}
	}
	done := make(chan struct{})
	go func() { s.wsWG.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		if err == nil {
			err = fmt.Errorf("close: %w", ctx.Err())
		}
	}
	return err
}

// Stats returns current counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{
		Channels:      len(s.channels),
		Bridges:       len(s.bridges),
		Playbacks:     len(s.playbacks),
		Websockets:    len(s.conns),
		EventsSent:    s.eventsSent.Load(),
		EventsDropped: s.eventsDropped.Load(),
	}
}

// DropWebsockets closes every events websocket abruptly, as a lost
// connection would. Applications stay known; events for them are dropped
// until a client connects again (as Asterisk's "missed message").
func (s *Server) DropWebsockets() {
	s.mu.Lock()
	conns := make([]*wsConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.closeNow()
	}
}

// SetEndpointOnline marks a known PJSIP endpoint as having a contact (or not).
func (s *Server) SetEndpointOnline(name string, online bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.endpoints[name]
	if !ok {
		return fmt.Errorf("set endpoint %q: %w", name, ErrChannelNotFound)
	}
	e.Offline = !online
	s.endpoints[name] = e
	return nil
}

// newID returns an id in Asterisk's default "<unix-seconds>.<counter>" form.
// Callers hold s.mu.
func (s *Server) newID() string {
	n := s.idSeq
	s.idSeq++
	return strconv.FormatInt(time.Now().Unix(), 10) + "." + strconv.FormatUint(n, 10)
}

// newUUID returns a random version-4 UUID string, as Asterisk uses for
// bridges and playbacks.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func now() string { return time.Now().UTC().Format(timeLayout) }
