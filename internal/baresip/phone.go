// Package baresip plays SIP phones in tests: one baresip process per
// phone, registered to a real Asterisk, with no sound card. Each phone has
// its own configuration directory (baresip -f DIR) with generated config
// and accounts files: SIP over UDP on loopback, G.711 µ-law, RFC 4733 DTMF,
// a sine tone of the phone's own frequency as its voice (a wav sox makes,
// played by the aufile module) and everything it receives recorded by the
// sndfile filter, so a test can tell whom a phone hears.
//
// The driver controls baresip through its ctrl_tcp module (netstring JSON
// commands and events on a loopback TCP port): dial, accept, hangup,
// sndcode (DTMF) and transfer (a blind REFER) are baresip's own commands,
// and its call events (CALL_INCOMING, CALL_RINGING, CALL_ESTABLISHED,
// CALL_CLOSED with the reason, CALL_DTMF_START, TRANSFER_FAILED, ...) are
// kept per call. Every wait takes a context. Close (or the test's cleanup,
// with Start) stops the process, which hangs up and unregisters, kills it
// if it does not stop, and removes its directory; no goroutine outlives it.
//
// Two details of baresip 1.0 (Debian 12) shape the driver: no event
// names a dialled call before the far end answers more than 100 Trying,
// so Dial reads the new call's id with callstat; and each call's
// recording is the one sndfile starts as the call is established, renamed
// then so that a later call in the same second cannot overwrite it.
//
// What baresip 1.0 cannot do, and the driver therefore does not offer: an
// attended transfer (a REFER with Replaces; the e2e suite uses SIPp),
// hold by command, and staying in a call whose transfer failed: on a
// failure NOTIFY (603 ...) baresip reports TRANSFER_FAILED and hangs up
// the call itself (a BYE, and no CALL_CLOSED event; the driver marks the
// call closed with ReasonTransferFailed). A 2xx NOTIFY closes the call
// with "Call transfered"; 1xx NOTIFYs are ignored by baresip (they are in
// the SIP trace, Options.SIPTrace).
//
// This is test tooling: the hotline daemon never imports it.
package baresip

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Options configure one phone.
type Options struct {
	// Registrar is the SIP server's UDP address, host:port
	// (HOTLINE_E2E_SIP_ADDR); the phone registers there and sends every
	// call there. Empty: the phone registers nowhere and is called, or
	// calls, directly at its URI (peer to peer, for the driver's own
	// tests).
	Registrar string
	// User and Password are the endpoint's (a line of
	// HOTLINE_E2E_SIP_PHONES).
	User, Password string
	// ToneHz is the frequency of the phone's voice; default 440. Give
	// every phone of a test its own, away from DTMF's frequencies.
	ToneHz int
	// Binary and Sox are the programs; defaults "baresip" and "sox" from
	// PATH.
	Binary, Sox string
	// Dir is where the phone's directory is made (default os.TempDir()).
	Dir string
	// RTPPorts is the phone's RTP port range, "LOW-HIGH"; default a free
	// block below 20000 (scripts/e2e-asterisk.sh gives Asterisk ports
	// from 20000 up).
	RTPPorts string
	// SIPTrace writes every SIP message to the phone's log (baresip -s).
	SIPTrace bool
	// DTMFGap is the pause between two digits of SendDTMF; default 250ms.
	DTMFGap time.Duration
	Logger  *slog.Logger
}

// ErrClosed is returned by a phone's methods after Close, or once its
// baresip process has gone.
var ErrClosed = errors.New("baresip phone closed")

// ReasonTransferFailed begins the Reason of a call that baresip ended
// because its transfer failed: baresip 1.0 hangs up (BYE) on a failure
// NOTIFY, so a phone whose REFER is refused does not stay in the call.
const ReasonTransferFailed = "transfer failed"

// stopGrace is how long baresip may take to hang up and unregister when
// asked to stop before it is killed.
const stopGrace = 3 * time.Second

// Phone is one running baresip.
type Phone struct {
	opts Options
	dir  string
	log  *slog.Logger
	cmd  *exec.Cmd
	conn net.Conn
	// sipPort is the phone's SIP (UDP) port on 127.0.0.1.
	sipPort int

	exited     chan struct{} // closed once the process has been waited for
	waitErr    error         // its exit status, set before exited closes
	readerDone chan struct{}
	closeOnce  sync.Once

	writeMu sync.Mutex // one writer on conn
	cmdMu   sync.Mutex // one command sequence (callfind + command) at a time

	mu         sync.Mutex
	changed    chan struct{} // closed and replaced on every change below
	pending    map[string]chan message
	token      int
	registered bool
	regFail    string
	calls      []*Call
	byID       map[string]*Call
	handed     int // incoming calls WaitIncoming has returned
	events     []Event
	dead       error // set once the control connection is gone
	recSeq     int
}

// Event is one baresip event as the driver received it.
type Event struct {
	Time      time.Time
	Type      string // baresip's name: REGISTER_OK, CALL_ESTABLISHED, CALL_DTMF_START, ...
	CallID    string // baresip's call id; empty for events of no call
	Direction string // "incoming" or "outgoing"
	Peer      string // the peer's SIP URI
	Param     string // the reason of CALL_CLOSED, the digit of CALL_DTMF_START, ...
}

func (e Event) String() string {
	s := e.Time.Format("15:04:05.000") + " " + e.Type
	if e.CallID != "" {
		s += " call=" + e.CallID
	}
	if e.Param != "" {
		s += " " + strconv.Quote(e.Param)
	}
	return s
}

// Start starts a phone for a test, skipping the test when baresip or sox
// is missing. Cleanup closes the phone; if the test failed, the phone's
// events and the end of its log are logged first.
func Start(t testing.TB, opts Options) *Phone {
	t.Helper()
	for _, bin := range []struct{ name, pkg string }{{or(opts.Binary, "baresip"), "baresip"}, {or(opts.Sox, "sox"), "sox"}} {
		if _, err := exec.LookPath(bin.name); err != nil {
			t.Skipf("%s not found in PATH: install Debian's %s", bin.name, bin.pkg)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p, err := StartPhone(ctx, opts)
	if err != nil {
		t.Fatalf("start phone %s: %v", opts.User, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("phone %s: events:\n%s\nrecordings: %s\nlog (end):\n%s", opts.User, p.EventLog(), p.recordings(), p.LogTail(60))
		}
		if err := p.Close(); err != nil {
			t.Errorf("close phone %s: %v", opts.User, err)
		}
	})
	return p
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

var unsafeAccountValue = regexp.MustCompile(`[\s;<>"',\\]`)

// StartPhone starts a phone; the caller must Close it. The phone registers
// at once; Register waits for that.
func StartPhone(ctx context.Context, opts Options) (*Phone, error) {
	if opts.Registrar != "" {
		if _, _, err := net.SplitHostPort(opts.Registrar); err != nil {
			return nil, fmt.Errorf("baresip: registrar %q: %w", opts.Registrar, err)
		}
	}
	if opts.User == "" || unsafeAccountValue.MatchString(opts.User) || unsafeAccountValue.MatchString(opts.Password) {
		return nil, errors.New("baresip: user and password must be non-empty tokens without spaces or ;<>\"',\\")
	}
	if opts.ToneHz == 0 {
		opts.ToneHz = 440
	}
	if opts.ToneHz < 50 || opts.ToneHz > 3500 {
		return nil, fmt.Errorf("baresip: tone %d Hz outside the telephone band", opts.ToneHz)
	}
	if opts.DTMFGap == 0 {
		opts.DTMFGap = 250 * time.Millisecond
	}
	opts.Binary, opts.Sox = or(opts.Binary, "baresip"), or(opts.Sox, "sox")
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	dir, err := os.MkdirTemp(opts.Dir, "baresip-"+opts.User+"-")
	if err != nil {
		return nil, fmt.Errorf("baresip: %w", err)
	}
	p := &Phone{
		opts: opts, dir: dir, log: logger.With("phone", opts.User),
		changed: make(chan struct{}), pending: map[string]chan message{}, byID: map[string]*Call{},
	}
	if err := p.start(ctx); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	return p, nil
}

func (p *Phone) start(ctx context.Context) error {
	if err := os.Mkdir(filepath.Join(p.dir, "rec"), 0o700); err != nil {
		return fmt.Errorf("baresip: %w", err)
	}
	tone := filepath.Join(p.dir, "voice.wav")
	if err := makeTone(ctx, p.opts.Sox, tone, p.opts.ToneHz); err != nil {
		return fmt.Errorf("baresip: %w", err)
	}
	rtp := p.opts.RTPPorts
	if rtp == "" {
		lo, err := freeUDPBlock(20)
		if err != nil {
			return fmt.Errorf("baresip: rtp ports: %w", err)
		}
		rtp = fmt.Sprintf("%d-%d", lo, lo+19)
	}
	account := fmt.Sprintf("<sip:%s@127.0.0.1>;regint=0", p.opts.User)
	if p.opts.Registrar != "" {
		account = fmt.Sprintf("<sip:%s@%s;transport=udp>;auth_pass=%s;regint=600", p.opts.User, p.opts.Registrar, p.opts.Password)
	}
	account += ";answermode=manual;audio_codecs=PCMU;ptime=20;call_transfer=yes\n"
	if err := os.WriteFile(filepath.Join(p.dir, "accounts"), []byte(account), 0o600); err != nil {
		return fmt.Errorf("baresip: %w", err)
	}
	// The ports are picked here and may be taken before baresip binds
	// them; baresip then fails to start, and we try others.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		ctrl, err := freePort("tcp")
		if err != nil {
			return fmt.Errorf("baresip: control port: %w", err)
		}
		sip, err := freePort("udp")
		if err != nil {
			return fmt.Errorf("baresip: sip port: %w", err)
		}
		if err := os.WriteFile(filepath.Join(p.dir, "config"), []byte(p.config(ctrl, sip, tone, rtp)), 0o600); err != nil {
			return fmt.Errorf("baresip: %w", err)
		}
		if lastErr = p.launch(ctx, ctrl); lastErr == nil {
			p.sipPort = sip
			return nil
		}
		if ctx.Err() != nil {
			break
		}
	}
	return lastErr
}

// config is baresip's config file: no sound card (a tone file as source,
// aubridge devices nobody reads as player and alert), only the modules a
// test phone needs.
func (p *Phone) config(ctrlPort, sipPort int, tone, rtp string) string {
	lines := []string{
		"# Written by the hotline's test driver (internal/baresip).",
		"poll_method epoll",
		"sip_listen 127.0.0.1:" + strconv.Itoa(sipPort),
		"net_interface 127.0.0.1",
		"call_local_timeout 120",
		"call_max_calls 4",
		"audio_source aufile," + tone,
		"audio_player aubridge,nobody-listens-" + p.opts.User,
		"audio_alert aubridge,nobody-listens-alert-" + p.opts.User,
		"ausrc_srate 8000",
		"auplay_srate 8000",
		"ausrc_channels 1",
		"auplay_channels 1",
		"audio_level no",
		"rtp_ports " + rtp,
		"rtcp_mux no",
		"jitter_buffer_delay 1-10",
		"rtp_stats no",
		"module_path /usr/lib/baresip/modules",
		"module g711.so",
		"module aufile.so",
		"module aubridge.so",
		"module sndfile.so",
		"module_tmp account.so",
		"module_app menu.so",
		"module_app ctrl_tcp.so",
		"ctrl_tcp_listen 127.0.0.1:" + strconv.Itoa(ctrlPort),
		"snd_path " + filepath.Join(p.dir, "rec"),
		"menu_bell no",
		"ringback_disabled yes",
		"statmode_default off",
	}
	return strings.Join(lines, "\n") + "\n"
}

// launch runs baresip and connects to its control port.
func (p *Phone) launch(ctx context.Context, port int) error {
	logf, err := os.OpenFile(filepath.Join(p.dir, "baresip.log"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("baresip: %w", err)
	}
	defer logf.Close() // the child has its own descriptor
	args := []string{"-f", p.dir}
	if p.opts.SIPTrace {
		args = append(args, "-s")
	}
	cmd := exec.Command(p.opts.Binary, args...)
	cmd.Dir = p.dir
	cmd.Stdin = nil
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = []string{"HOME=" + p.dir, "PATH=/usr/bin:/bin"}
	// A test binary that dies without cleaning up takes its phones along
	// (Linux sends this when the thread that started the phone exits,
	// which for the Go runtime means the process).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("baresip: start %s: %w", p.opts.Binary, err)
	}
	exited := make(chan struct{})
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.waitErr = err
		p.mu.Unlock()
		close(exited)
	}()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	var d net.Dialer
	delay := 20 * time.Millisecond
	for {
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			p.cmd, p.conn, p.exited = cmd, conn, exited
			p.readerDone = make(chan struct{})
			go p.read(bufio.NewReader(conn))
			return nil
		}
		if strings.Contains(p.LogTail(20), "ctrl_tcp: failed to listen") {
			kill(cmd, exited)
			return fmt.Errorf("baresip: control port %s taken", addr)
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			kill(cmd, exited)
			return fmt.Errorf("baresip: control port %s: %w (log: %s)", addr, context.Cause(ctx), p.LogTail(10))
		case <-exited:
			t.Stop()
			return fmt.Errorf("baresip exited at start: %v (log: %s)", p.exitErr(), p.LogTail(10))
		case <-t.C:
		}
		delay = min(2*delay, 200*time.Millisecond)
	}
}

func (p *Phone) exitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.waitErr
}

// kill ends a baresip that does not stop (or never became ours).
func kill(cmd *exec.Cmd, exited <-chan struct{}) {
	_ = cmd.Process.Kill()
	<-exited
}

// Close stops the phone: baresip is asked to stop (it hangs up its calls
// and unregisters), killed if it has not within a few seconds, and its
// directory removed. Close is idempotent.
func (p *Phone) Close() error {
	var err error
	p.closeOnce.Do(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		t := time.NewTimer(stopGrace)
		select {
		case <-p.exited:
			t.Stop()
		case <-t.C:
			err = fmt.Errorf("baresip %s did not stop within %v; killed", p.opts.User, stopGrace)
			kill(p.cmd, p.exited)
		}
		_ = p.conn.Close()
		<-p.readerDone
		if rerr := os.RemoveAll(p.dir); rerr != nil && err == nil {
			err = rerr
		}
	})
	return err
}

// read is the one reader of the control connection.
func (p *Phone) read(r *bufio.Reader) {
	defer close(p.readerDone)
	for {
		b, err := readNetstring(r)
		if err != nil {
			p.mu.Lock()
			p.dead = fmt.Errorf("%w (%s: %v)", ErrClosed, p.opts.User, err)
			for tok, ch := range p.pending {
				close(ch)
				delete(p.pending, tok)
			}
			p.broadcast()
			p.mu.Unlock()
			return
		}
		m, err := decodeMessage(b)
		if err != nil {
			p.log.Warn("skip control message", "err", err)
			continue
		}
		p.mu.Lock()
		if m.Response {
			if ch, ok := p.pending[m.Token]; ok {
				ch <- m
				delete(p.pending, m.Token)
			}
		} else {
			p.event(m)
		}
		p.mu.Unlock()
	}
}

// broadcast wakes every waiter; p.mu is held.
func (p *Phone) broadcast() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// event records a baresip event; p.mu is held.
func (p *Phone) event(m message) {
	ev := Event{Time: time.Now(), Type: m.Type, CallID: m.ID, Direction: m.Direction, Peer: m.PeerURI, Param: m.Param}
	p.events = append(p.events, ev)
	defer p.broadcast()
	p.log.Debug("event", "type", ev.Type, "call", ev.CallID, "param", ev.Param)
	switch m.Type {
	case "REGISTER_OK":
		p.registered, p.regFail = true, ""
	case "REGISTER_FAIL":
		p.registered, p.regFail = false, m.Param
	case "UNREGISTERING":
		p.registered = false
	}
	if m.ID == "" {
		return
	}
	c := p.byID[m.ID]
	if c == nil {
		c = p.newCall(m.ID, m.Direction, m.PeerURI)
	}
	c.events = append(c.events, ev)
	switch m.Type {
	case "CALL_INCOMING":
		c.advance(StateIncoming)
	case "CALL_RINGING":
		c.advance(StateRinging)
	case "CALL_PROGRESS":
		c.advance(StateProgress)
	case "CALL_ESTABLISHED":
		c.advance(StateEstablished)
		p.claimRecording(c)
	case "CALL_CLOSED":
		c.state, c.reason = StateClosed, m.Param
		if m.Param == "Call transfered" { // sic: baresip's words for a 2xx NOTIFY
			c.transfers = append(c.transfers, TransferResult{Code: 200, Reason: m.Param})
		}
	case "CALL_DTMF_START":
		c.dtmf += m.Param
	case "TRANSFER_FAILED":
		c.transfers = append(c.transfers, parseTransferResult(m.Param))
		// baresip 1.0 ends a call whose transfer failed (ua.c drops it on
		// CALL_EVENT_TRANSFER_FAILED: a BYE, and no CALL_CLOSED event).
		c.state, c.reason = StateClosed, ReasonTransferFailed+": "+m.Param
	case "TRANSFER":
		c.referred = append(c.referred, m.Param)
	}
}

// parseTransferResult reads TRANSFER_FAILED's "603 Declined".
func parseTransferResult(s string) TransferResult {
	code, reason, _ := strings.Cut(strings.TrimSpace(s), " ")
	n, err := strconv.Atoi(code)
	if err != nil {
		return TransferResult{Reason: s}
	}
	return TransferResult{Code: n, Reason: reason}
}

// command sends one command and waits for its response.
func (p *Phone) command(ctx context.Context, name, params string) (string, error) {
	p.mu.Lock()
	if p.dead != nil {
		err := p.dead
		p.mu.Unlock()
		return "", err
	}
	p.token++
	tok := strconv.Itoa(p.token)
	ch := make(chan message, 1)
	p.pending[tok] = ch
	p.mu.Unlock()
	forget := func() {
		p.mu.Lock()
		delete(p.pending, tok)
		p.mu.Unlock()
	}
	b, err := json.Marshal(command{Command: name, Params: params, Token: tok})
	if err != nil {
		forget()
		return "", err
	}
	p.writeMu.Lock()
	if dl, ok := ctx.Deadline(); ok {
		_ = p.conn.SetWriteDeadline(dl)
	}
	_, err = p.conn.Write(appendNetstring(nil, b))
	p.writeMu.Unlock()
	if err != nil {
		forget()
		return "", fmt.Errorf("baresip %s: send %s: %w", p.opts.User, name, err)
	}
	select {
	case m, ok := <-ch:
		if !ok {
			return "", fmt.Errorf("baresip %s: %s: %w", p.opts.User, name, p.deadErr())
		}
		if !m.OK {
			return m.Data, fmt.Errorf("baresip %s: %s %s: refused: %s", p.opts.User, name, params, strings.TrimSpace(m.Data))
		}
		return m.Data, nil
	case <-ctx.Done():
		forget()
		return "", fmt.Errorf("baresip %s: %s: %w", p.opts.User, name, context.Cause(ctx))
	}
}

func (p *Phone) deadErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dead != nil {
		return p.dead
	}
	return ErrClosed
}

// onCall runs a command on one call: baresip's commands act on the
// current call, which callfind sets.
func (p *Phone) onCall(ctx context.Context, c *Call, name, params string) error {
	p.cmdMu.Lock()
	defer p.cmdMu.Unlock()
	data, err := p.command(ctx, "callfind", c.ID)
	if err != nil {
		return err
	}
	if strings.Contains(data, "not found") {
		return fmt.Errorf("baresip %s: %s on call %s: %w (%s)", p.opts.User, name, c.ID, ErrCallClosed, strings.TrimSpace(data))
	}
	_, err = p.command(ctx, name, params)
	return err
}

// wait waits until cond (called with p.mu held) is true, cond fails, the
// phone dies or ctx ends.
func (p *Phone) wait(ctx context.Context, what string, cond func() (bool, error)) error {
	for {
		p.mu.Lock()
		ok, err := cond()
		ch, dead := p.changed, p.dead
		p.mu.Unlock()
		switch {
		case err != nil:
			return fmt.Errorf("%s: %s: %w", p.opts.User, what, err)
		case ok:
			return nil
		case dead != nil:
			return fmt.Errorf("%s: %s: %w", p.opts.User, what, dead)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %s: %w", p.opts.User, what, context.Cause(ctx))
		case <-ch:
		}
	}
}

// URI is where the phone can be called directly: sip:USER@127.0.0.1:PORT.
func (p *Phone) URI() string {
	return "sip:" + p.opts.User + "@127.0.0.1:" + strconv.Itoa(p.sipPort)
}

// User is the phone's endpoint name.
func (p *Phone) User() string { return p.opts.User }

// ToneHz is the frequency of the phone's voice.
func (p *Phone) ToneHz() int { return p.opts.ToneHz }

var regOK = regexp.MustCompile(`\bOK\b`)

// Register waits until the phone's registration has been accepted (it
// registers on start and refreshes by itself); a refused registration is
// an error at once.
func (p *Phone) Register(ctx context.Context) error {
	if p.opts.Registrar == "" {
		return errors.New("baresip: register: the phone has no registrar")
	}
	aor := "sip:" + p.opts.User + "@" + p.opts.Registrar
	// The registration may have been answered before the control
	// connection was up, with its event lost: ask as well.
	data, err := p.command(ctx, "reginfo", "")
	if err != nil {
		return err
	}
	if strings.Contains(data, aor) && regOK.MatchString(stripANSI(data)) {
		p.mu.Lock()
		p.registered = true
		p.mu.Unlock()
		return nil
	}
	return p.wait(ctx, "registered", func() (bool, error) {
		if p.regFail != "" {
			return false, fmt.Errorf("registration refused: %s", p.regFail)
		}
		return p.registered, nil
	})
}

var ansi = regexp.MustCompile(`\x1b\[[0-9;]*m`)

func stripANSI(s string) string { return ansi.ReplaceAllString(s, "") }

// Dial calls number (a user part such as "100", completed with the
// registrar, or a full sip: URI) and returns the call as soon as baresip
// has made it; wait on the call for its progress.
func (p *Phone) Dial(ctx context.Context, number string) (*Call, error) {
	p.cmdMu.Lock()
	defer p.cmdMu.Unlock()
	if _, err := p.command(ctx, "dial", number); err != nil {
		return nil, err
	}
	// No event names the new call before the far end answers the INVITE
	// with more than 100 Trying; baresip makes it the current call, whose
	// id callstat prints.
	stat, err := p.command(ctx, "callstat", "")
	if err != nil {
		return nil, err
	}
	m := callstatID.FindStringSubmatch(stat)
	if m == nil || !strings.Contains(stat, "direction: Outgoing") {
		return nil, fmt.Errorf("baresip %s: dial %s: no call made (%s; events: %s)", p.opts.User, number, strings.TrimSpace(stat), p.EventLog())
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.byID[m[1]]
	if c == nil {
		c = p.newCall(m[1], "outgoing", "")
	}
	if pm := callstatPeer.FindStringSubmatch(stat); pm != nil && c.Peer == "" {
		c.Peer = pm[1]
	}
	return c, nil
}

var (
	callstatID   = regexp.MustCompile(`\bid=([0-9A-Za-z._@-]+)`)
	callstatPeer = regexp.MustCompile(`peer_uri:\s*<([^>]*)>`)
)

// newCall records a call; p.mu is held.
func (p *Phone) newCall(id, direction, peer string) *Call {
	c := &Call{p: p, ID: id, Direction: direction, Peer: peer}
	p.byID[id] = c
	p.calls = append(p.calls, c)
	return c
}

// WaitIncoming waits for the next incoming call (one not returned
// before) and returns it ringing or, if the caller gave up meanwhile,
// closed.
func (p *Phone) WaitIncoming(ctx context.Context) (*Call, error) {
	var c *Call
	err := p.wait(ctx, "incoming call", func() (bool, error) {
		seen := 0
		for _, x := range p.calls {
			if x.Direction != "incoming" {
				continue
			}
			if seen == p.handed {
				p.handed++
				c = x
				return true, nil
			}
			seen++
		}
		return false, nil
	})
	return c, err
}

// Calls returns the phone's calls so far, oldest first.
func (p *Phone) Calls() []*Call {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.calls)
}

// Events returns every event the phone has had.
func (p *Phone) Events() []Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.events)
}

// EventLog is Events, one a line.
func (p *Phone) EventLog() string {
	var b strings.Builder
	for _, e := range p.Events() {
		b.WriteString(e.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// LogTail returns the last n lines of baresip's own output.
func (p *Phone) LogTail(n int) string {
	b, err := os.ReadFile(filepath.Join(p.dir, "baresip.log"))
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(stripANSI(string(b)), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// claimRecording gives a call the recordings sndfile has just started
// (dump-TIME-decode.wav, dump-TIME-encode.wav), renaming them so that a
// later call in the same second cannot overwrite them; sndfile keeps
// writing to the renamed files. p.mu is held.
func (p *Phone) claimRecording(c *Call) {
	if c.recv != "" {
		return
	}
	rec := filepath.Join(p.dir, "rec")
	ents, err := os.ReadDir(rec)
	if err != nil {
		return
	}
	var newest string
	var newestT time.Time
	for _, e := range ents {
		name := e.Name()
		if !strings.HasPrefix(name, "dump-") || !strings.HasSuffix(name, "-dec.wav") {
			continue
		}
		if info, err := e.Info(); err == nil && !info.ModTime().Before(newestT) {
			newest, newestT = name, info.ModTime()
		}
	}
	if newest == "" {
		return
	}
	p.recSeq++
	base := fmt.Sprintf("call%d-", p.recSeq)
	recv := filepath.Join(rec, base+"received.wav")
	if os.Rename(filepath.Join(rec, newest), recv) != nil {
		return
	}
	c.recv = recv
	sent := strings.TrimSuffix(newest, "-dec.wav") + "-enc.wav"
	if os.Rename(filepath.Join(rec, sent), filepath.Join(rec, base+"sent.wav")) == nil {
		c.sent = filepath.Join(rec, base+"sent.wav")
	}
}

// recordings describes the recorded files, for a failed test's log.
func (p *Phone) recordings() string {
	ents, err := os.ReadDir(filepath.Join(p.dir, "rec"))
	if err != nil {
		return err.Error()
	}
	var out []string
	for _, e := range ents {
		if info, err := e.Info(); err == nil {
			out = append(out, fmt.Sprintf("%s (%d bytes)", e.Name(), info.Size()))
		}
	}
	return strings.Join(out, ", ")
}

// freePort asks the kernel for a free loopback port ("tcp" or "udp").
func freePort(network string) (int, error) {
	if network == "tcp" {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		defer l.Close()
		return l.Addr().(*net.TCPAddr).Port, nil
	}
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port, nil
}

// freeUDPBlock finds n consecutive UDP ports, starting even, free on
// loopback now, between 10000 and 19999.
func freeUDPBlock(n int) (int, error) {
	for attempt := 0; attempt < 50; attempt++ {
		lo := 10000 + 2*rand.IntN((10000-n)/2)
		ok := true
		for port := lo; port < lo+n && ok; port++ {
			c, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
			if err != nil {
				ok = false
				continue
			}
			_ = c.Close()
		}
		if ok {
			return lo, nil
		}
	}
	return 0, errors.New("no free block of UDP ports between 10000 and 19999")
}

// LoadAccounts reads a phones file of "endpoint password" lines (the
// sip-phones file deploy/asterisk/install.sh writes; HOTLINE_E2E_SIP_PHONES).
func LoadAccounts(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load phone accounts: %w", err)
	}
	out := map[string]string{}
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 2 {
			return nil, fmt.Errorf("load phone accounts: %s:%d: want \"endpoint password\"", path, i+1)
		}
		out[f[0]] = f[1]
	}
	return out, nil
}
