// Package ari is the hotline's adapter to the Asterisk REST Interface: the
// events websocket (read by us, with our own reconnect loop, keepalive and
// decoder, because the CyCoreSystems library's reader crashes on event
// types it does not know, ChannelTransfer among them) and the REST calls
// the hotline makes (our own net/http client, every request under the
// caller's context and our request timeout, which the library's client
// lacks). The library's own values are used where they fit ARI's JSON
// (bridge and playback snapshots, ARI's date format); no type from the
// library leaves this package.
//
// Errors: an ARI 404 wraps ErrCallGone (the channel, bridge or playback no
// longer exists: the caller hung up); other ARI failures are *HTTPError;
// transport failures and timeouts are returned wrapped with the operation.
// Each method says whether a retry is safe.
package ari

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hotline-project/hotline/routing"
)

// ErrCallGone is routing.ErrCallGone: ARI answered 404 because the channel
// (or its bridge or playback) is gone. Test with errors.Is.
var ErrCallGone = routing.ErrCallGone

// ErrNoVariable is returned by GetVar when the channel exists but the
// variable is not set.
var ErrNoVariable = errors.New("variable not set")

// ErrInvalidOptions is wrapped by New for unusable options.
var ErrInvalidOptions = errors.New("invalid ari options")

// HTTPError is an ARI error response other than 404. Message is ARI's
// explanation (from a {"message":...} or {"error":...} body).
type HTTPError struct {
	Status  int
	Message string
}

func (e *HTTPError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("ari status %d", e.Status)
	}
	return fmt.Sprintf("ari status %d: %s", e.Status, e.Message)
}

// Defaults for zero Options fields.
const (
	DefaultRequestTimeout = 5 * time.Second
	DefaultDialTimeout    = 10 * time.Second
	DefaultBackoffMin     = 500 * time.Millisecond
	DefaultBackoffMax     = 30 * time.Second
	DefaultPingInterval   = 10 * time.Second
	DefaultPingTimeout    = 5 * time.Second
	// DefaultFormats is what originated channels are offered unless the
	// request says otherwise: left alone, Asterisk negotiates slin192 on
	// Local channels and resamples every caller's hold music.
	DefaultFormats = "ulaw"
	// maxEventBytes bounds one websocket message; a bridge snapshot with
	// many channels can exceed the websocket library's 32 KiB default.
	maxEventBytes = 8 << 20
	// maxResponseBytes bounds a REST response; GET /channels with 10,000
	// calls is a few megabytes.
	maxResponseBytes = 64 << 20
)

// Options configure a Client. URL is the ARI base, e.g.
// http://127.0.0.1:8088/ari; WebsocketURL defaults to URL's /events with a
// ws/wss scheme. Credentials must not be embedded in either URL.
type Options struct {
	URL, WebsocketURL, Application, Username, Password string
	RequestTimeout                                     time.Duration // per REST request
	DialTimeout                                        time.Duration // websocket connect and handshake
	BackoffMin, BackoffMax                             time.Duration // reconnect delays, doubled with jitter
	PingInterval, PingTimeout                          time.Duration // websocket keepalive
	Logger                                             *slog.Logger
	// Handler is called from the one reader goroutine, in order, for every
	// decoded event. It must not block: the reader stops while it runs.
	// Unknown and undecodable messages are logged and skipped;
	// ApplicationReplaced is not passed on but ends the connection.
	Handler func(Event)
	// Events, when set, are the only event types Handler wants. On every
	// connect the client asks Asterisk to send the application just these
	// (PUT /applications/{app}/eventFilter), and ApplicationReplaced, which
	// the client itself needs: a call's dialplan steps, variable sets,
	// state and caller id changes are over half of what Asterisk would
	// otherwise serialize and write for it. Should Asterisk refuse, every
	// event keeps coming, and the handler skips what it does not want.
	Events []string
	// OnConnect runs after every (re)connect, concurrently with Handler, so
	// the application can reconcile (events during a gap are lost). Its
	// context ends when that connection does, and it must return then: the
	// next connection waits for it.
	OnConnect func(ctx context.Context)
	// OnState is told of every change of the connection state (metrics).
	OnState func(connected bool)
	// ObserveRequest is told of every REST request's operation, duration
	// and outcome (metrics).
	ObserveRequest func(op string, d time.Duration, err error)
}

// Client talks to one Asterisk for one application. REST methods are safe
// for concurrent use; Run may be called once at a time.
type Client struct {
	opts      Options
	baseURL   string // REST base, no trailing slash
	wsURL     string // events URL with app and subscribeAll
	authValue string // precomputed Authorization header; never logged
	http      *http.Client
	wsHTTP    *http.Client
	log       *slog.Logger
	connected atomic.Bool
	running   sync.Mutex // held by Run
}

// New validates the options and builds a client; it does not connect.
func New(opts Options) (*Client, error) {
	var problems []string
	base, err := parseBase(opts.URL, "http", "https")
	if err != nil {
		problems = append(problems, "url: "+err.Error())
	}
	if opts.Application == "" {
		problems = append(problems, "application: required")
	} else if strings.ContainsAny(opts.Application, "/?#&=, ") {
		problems = append(problems, "application: must not contain / ? # & = , or spaces")
	}
	if opts.Username == "" {
		problems = append(problems, "username: required")
	}
	if slices.Contains(opts.Events, "") {
		problems = append(problems, "events: an empty event type")
	}
	if opts.BackoffMin < 0 || opts.BackoffMax < 0 || opts.RequestTimeout < 0 || opts.DialTimeout < 0 || opts.PingInterval < 0 || opts.PingTimeout < 0 {
		problems = append(problems, "durations must not be negative")
	}
	var ws *url.URL
	if err == nil {
		if opts.WebsocketURL == "" {
			ws = base.JoinPath("events")
			ws.Scheme = map[string]string{"http": "ws", "https": "wss"}[base.Scheme]
		} else if ws, err = parseBase(opts.WebsocketURL, "ws", "wss", "http", "https"); err != nil {
			problems = append(problems, "websocket_url: "+err.Error())
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrInvalidOptions, strings.Join(problems, "; "))
	}
	q := url.Values{"app": {opts.Application}, "subscribeAll": {"false"}}
	ws.RawQuery = q.Encode()

	setDefault(&opts.RequestTimeout, DefaultRequestTimeout)
	setDefault(&opts.DialTimeout, DefaultDialTimeout)
	setDefault(&opts.BackoffMin, DefaultBackoffMin)
	setDefault(&opts.BackoffMax, DefaultBackoffMax)
	setDefault(&opts.PingInterval, DefaultPingInterval)
	setDefault(&opts.PingTimeout, DefaultPingTimeout)
	if opts.BackoffMax < opts.BackoffMin {
		opts.BackoffMax = opts.BackoffMin
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	req, _ := http.NewRequest(http.MethodGet, "/", nil)
	req.SetBasicAuth(opts.Username, opts.Password)

	// One Asterisk gets all our requests: keep many idle connections to it
	// so bursts of calls do not open a socket per request.
	transport := &http.Transport{
		Proxy:               nil, // ARI is local; never send credentials through a proxy
		DialContext:         (&net.Dialer{Timeout: opts.DialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: opts.DialTimeout,
		ForceAttemptHTTP2:   false,
	}
	noRedirect := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Client{
		opts:      opts,
		baseURL:   base.String(),
		wsURL:     ws.String(),
		authValue: req.Header.Get("Authorization"),
		http:      &http.Client{Transport: transport, CheckRedirect: noRedirect},
		// The websocket needs its own transport: the connection is hijacked
		// and lives for hours.
		wsHTTP: &http.Client{Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: opts.DialTimeout, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout: opts.DialTimeout,
		}, CheckRedirect: noRedirect},
		log: logger.With("component", "ari", "app", opts.Application),
	}, nil
}

func setDefault(d *time.Duration, def time.Duration) {
	if *d == 0 {
		*d = def
	}
}

// parseBase parses a URL, requiring one of the schemes and refusing
// embedded credentials. Errors never repeat the URL, which might hold a
// password.
func parseBase(raw string, schemes ...string) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("required")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("not a valid URL")
	}
	if u.User != nil {
		return nil, errors.New("must not contain credentials (use username and password)")
	}
	ok := false
	for _, s := range schemes {
		ok = ok || u.Scheme == s
	}
	if !ok || u.Host == "" {
		return nil, fmt.Errorf("must be an absolute %s URL", strings.Join(schemes, "/"))
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	u.RawQuery, u.Fragment = "", ""
	return u, nil
}

// Application is the ARI application name the client serves.
func (c *Client) Application() string { return c.opts.Application }

// Connected reports whether the events websocket is up.
func (c *Client) Connected() bool { return c.connected.Load() }

func (c *Client) setConnected(v bool) {
	if c.connected.Swap(v) != v && c.opts.OnState != nil {
		c.opts.OnState(v)
	}
}

// call describes one REST request.
type call struct {
	op     string // for errors and ObserveRequest: "answer"
	id     string // the object acted on, for errors: "answer 1795305084.5: ..."
	method string
	path   []string // path segments below the base, escaped here
	query  url.Values
	body   any // JSON body, or nil for none
	out    any // decoded from a 200 response, or nil
}

// do performs a request under ctx and the request timeout and maps the
// response to an error. Errors read "op id: cause".
func (c *Client) do(ctx context.Context, rc call) (err error) {
	start := time.Now()
	defer func() {
		if c.opts.ObserveRequest != nil {
			c.opts.ObserveRequest(rc.op, time.Since(start), err)
		}
		if err != nil {
			if rc.id != "" {
				err = fmt.Errorf("%s %s: %w", rc.op, rc.id, err)
			} else {
				err = fmt.Errorf("%s: %w", rc.op, err)
			}
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, c.opts.RequestTimeout)
	defer cancel()

	target := c.baseURL + "/" + escapePath(rc.path)
	if len(rc.query) > 0 {
		target += "?" + rc.query.Encode()
	}
	var body io.Reader
	if rc.body != nil {
		b, err := json.Marshal(rc.body)
		if err != nil {
			return fmt.Errorf("encode body: %w", err)
		}
		body = strings.NewReader(string(b))
	}
	req, err := http.NewRequestWithContext(ctx, rc.method, target, body)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Authorization", c.authValue)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		// *url.Error carries the URL, which has no credentials (New refuses
		// them), so it may be returned as it is.
		return err
	}
	defer resp.Body.Close()
	limited := io.LimitReader(resp.Body, maxResponseBytes)
	if resp.StatusCode/100 != 2 {
		herr := &HTTPError{Status: resp.StatusCode, Message: errorMessage(limited)}
		if resp.StatusCode == http.StatusNotFound {
			return notFound(rc.op, herr)
		}
		return herr
	}
	if rc.out == nil || resp.StatusCode == http.StatusNoContent {
		_, _ = io.Copy(io.Discard, limited) // let the connection be reused
		return nil
	}
	if err := json.NewDecoder(limited).Decode(rc.out); err != nil {
		return fmt.Errorf("decode response: %w", err)
	}
	return nil
}

// notFound maps a 404. Only GetVar distinguishes a missing variable on a
// live channel from a missing channel; ARI says which in the message.
func notFound(op string, herr *HTTPError) error {
	if op == "get variable" && strings.Contains(strings.ToLower(herr.Message), "variable") {
		return ErrNoVariable
	}
	return ErrCallGone
}

func escapePath(segs []string) string {
	esc := make([]string, len(segs))
	for i, s := range segs {
		esc[i] = url.PathEscape(s)
	}
	return strings.Join(esc, "/")
}

// errorMessage reads ARI's error body: {"message":...} from most resources,
// {"error":...} from originate's allocation failures, or plain text.
func errorMessage(r io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(r, 4096))
	var body struct {
		Message string `json:"message"`
		Error   string `json:"error"`
	}
	if json.Unmarshal(b, &body) == nil {
		if body.Message != "" {
			return body.Message
		}
		if body.Error != "" {
			return body.Error
		}
		return ""
	}
	return truncate(strings.TrimSpace(string(b)), 200)
}

// CloseIdleConnections closes the REST connections kept for reuse, for a
// client that Run never ran (Run closes them when it returns).
func (c *Client) CloseIdleConnections() {
	c.http.CloseIdleConnections()
}
