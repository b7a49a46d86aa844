package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hotline-project/hotline/internal/baresip"
	"github.com/hotline-project/hotline/internal/harness"
	"github.com/hotline-project/hotline/internal/testclock"
)

// The SIP phone scenarios: real phones registered to the real Asterisk
// (scripts/e2e-asterisk.sh) call the hotline and answer it. baresip plays
// callers and agents (internal/baresip); where baresip 1.0 cannot do what
// the scenario needs, SIPp plays the agent's phone (testdata/sipp/). The
// daemon runs in-process as in every scenario, with testdata/hotline-sip.yaml,
// whose agents are PJSIP endpoints. Each phone talks with a tone of its own
// frequency, so "they talk" is heard: each side's recording is mostly the
// other's tone.

// sipLimit bounds a whole SIP scenario; every single wait is bounded by
// waitLimit within it.
const sipLimit = 3 * time.Minute

// The phones' voices, away from DTMF's frequencies and from each other.
const (
	toneCaller = 600
	toneA      = 1020 // the first agent
	toneB      = 1380 // the second agent
)

// sipEnv is a SIP scenario's world: env (Redis, daemon, the real
// Asterisk's REST for leak checks) and the phones' registrar.
type sipEnv struct {
	*env
	sipAddr  string
	accounts map[string]string
}

// sipScenario starts Redis and the daemon against the real Asterisk with
// the SIP configuration; blind is the transfer policy for a phone's REFER
// ("refuse" or "convert"). It skips without a real Asterisk with phones.
func sipScenario(t *testing.T, blind string) *sipEnv {
	t.Helper()
	tg := currentTarget()
	sipAddr, phonesFile := os.Getenv("HOTLINE_E2E_SIP_ADDR"), os.Getenv("HOTLINE_E2E_SIP_PHONES")
	if !tg.real() || sipAddr == "" || phonesFile == "" {
		t.Skip("no real Asterisk with SIP phones: set HOTLINE_E2E_SIP_ADDR and HOTLINE_E2E_SIP_PHONES, and HOTLINE_E2E_ARI_URL, _USER, _PASSWORD (scripts/e2e-asterisk.sh up DIR writes them)")
	}
	accounts, err := baresip.LoadAccounts(phonesFile)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, tg: tg, clock: testclock.NewWall()}
	ctx, cancel := context.WithTimeout(context.Background(), sipLimit)
	t.Cleanup(cancel)
	e.ctx = ctx
	// Registered first, so it runs last: after the daemon and the phones
	// have stopped, nothing may be left in Asterisk.
	e.ast = realClient(t, tg)
	t.Cleanup(e.clearAsterisk)
	e.redis, e.rdb = harness.Redis(t)
	e.cfg = harness.ConfigFile(t, "testdata/hotline-sip.yaml", map[string]string{
		"ARI_URL": tg.url, "ARI_APP": "hotline", "REDIS": e.redis.Addr, "PREFIX": "e2e:", "NODE": "e2e", "BLIND": blind,
	})
	e.cfg.ARI.Username = tg.user
	e.ariPass = tg.password
	e.startDaemon(tg.password)
	return &sipEnv{env: e, sipAddr: sipAddr, accounts: accounts}
}

func (e *sipEnv) password(user string) string {
	e.t.Helper()
	pw, ok := e.accounts[user]
	if !ok {
		e.t.Fatalf("no phone %s in HOTLINE_E2E_SIP_PHONES", user)
	}
	return pw
}

// phone starts a registered baresip phone for endpoint user.
func (e *sipEnv) phone(user string, hz int) *baresip.Phone {
	e.t.Helper()
	p := baresip.Start(e.t, baresip.Options{Registrar: e.sipAddr, User: user, Password: e.password(user), ToneHz: hz})
	e.must(p.Register(e.wctx()))
	return p
}

// dialMenu has the caller dial the menu number 100 and, once the hotline
// has answered, key digit (RFC 4733) for the topic.
func (e *sipEnv) dialMenu(caller *baresip.Phone, digit string) *baresip.Call {
	e.t.Helper()
	c, err := caller.Dial(e.wctx(), "100")
	e.must(err)
	e.must(c.WaitEstablished(e.wctx()))
	e.must(c.SendDTMF(e.wctx(), digit))
	return c
}

// answer waits for the agent phone to ring and answers.
func (e *sipEnv) answer(agent *baresip.Phone) *baresip.Call {
	e.t.Helper()
	c, err := agent.WaitIncoming(e.wctx())
	e.must(err)
	e.must(c.Answer(e.wctx()))
	return c
}

// talking asserts that two calls hear each other's phones.
func (e *sipEnv) talking(a *baresip.Call, ap *baresip.Phone, b *baresip.Call, bp *baresip.Phone) {
	e.t.Helper()
	e.must(a.WaitHears(e.wctx(), bp))
	e.must(b.WaitHears(e.wctx(), ap))
}

// writeNote gives the caller's case a note, as the agent's desk would: a
// transfer needs one (min_note_length).
func (e *sipEnv) writeNote(number string) callJSON {
	e.t.Helper()
	c := e.callOf(number)
	e.apiOK(http.MethodPut, "/calls/"+c.ID+"/note", map[string]string{"note": note}, nil)
	return c
}

// sipNoLeaks: no call the daemon thinks is active, and no channel or
// bridge left in Asterisk.
func (e *sipEnv) sipNoLeaks() {
	e.t.Helper()
	var chans, bridges []string
	deadline := time.Now().Add(waitLimit)
	for {
		chans, bridges = e.leftInAsterisk()
		calls := e.calls()
		if len(chans)+len(bridges)+len(calls) == 0 {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("left after the scenario: calls %+v, channels %q, bridges %q", calls, chans, bridges)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// noDTMF asserts that a call received no digits at all.
func noDTMF(t *testing.T, who string, c *baresip.Call) {
	t.Helper()
	if got := c.DTMF(); got != "" {
		t.Errorf("%s received DTMF %q", who, got)
	}
}

// TestSIPCallerHangsUp: a SIP caller dials the menu, keys 1 (connections)
// and reaches the connections agent's SIP phone, which answers; they hear
// each other; the caller hangs up and the agent's phone is hung up.
func TestSIPCallerHangsUp(t *testing.T) {
	e := sipScenario(t, "refuse")
	caller := e.phone("caller1", toneCaller)
	agent := e.phone("301", toneA)
	e.login("301")

	cc := e.dialMenu(caller, "1")
	ac := e.answer(agent)
	e.talking(cc, caller, ac, agent)
	if c := e.callOf("caller1"); c.Topic != "connections" || c.AgentID != "301" {
		t.Errorf("call %+v, want connections with 301", c)
	}

	e.must(cc.Hangup(e.wctx()))
	reason, err := ac.WaitClosed(e.wctx())
	e.must(err)
	t.Logf("the agent's phone was hung up: %q", reason)
	e.waitAgent("301", "available")
	noDTMF(t, "the agent", ac)
	e.sipNoLeaks()
}

// TestSIPAgentHangsUp: as above, but the agent hangs up; the caller gets
// the survey, rates the call with 1 and is hung up by the hotline.
func TestSIPAgentHangsUp(t *testing.T) {
	e := sipScenario(t, "refuse")
	caller := e.phone("caller1", toneCaller)
	agent := e.phone("301", toneA)
	e.login("301")

	cc := e.dialMenu(caller, "1")
	ac := e.answer(agent)
	e.talking(cc, caller, ac, agent)

	e.must(ac.Hangup(e.wctx()))
	// The agent's hangup has reached Asterisk (its BYE is answered): the
	// caller's digit comes after it, in the survey.
	e.must(cc.SendDTMF(e.wctx(), "1"))
	e.eventually("the rating counted", func() bool { return e.metric("hotline_ratings_total", "score", "1") == 1 })
	reason, err := cc.WaitClosed(e.wctx())
	e.must(err)
	t.Logf("the caller was hung up after the survey: %q", reason)
	e.waitAgent("301", "available")
	e.sipNoLeaks()
}

// TestSIPConsultFeatureCodes: during the conversation the agent keys *2 2
// to consult the audit topic; the audit agent's phone rings, answers,
// talks with the first agent (the caller holds and hears neither) and
// accepts with 1: the caller talks with the audit agent. A second call is
// consulted the same way and completed by the first agent's #. The
// caller's phone receives none of the agents' digits.
func TestSIPConsultFeatureCodes(t *testing.T) {
	e := sipScenario(t, "refuse")
	caller := e.phone("caller1", toneCaller)
	a1 := e.phone("301", toneA)
	a2 := e.phone("302", toneB)
	e.login("301", "302")

	for _, how := range []string{"target accepts with 1", "agent completes with #"} {
		func() {
			t.Logf("consult, %s", how)
			cc := e.dialMenu(caller, "1")
			c1 := e.answer(a1)
			e.talking(cc, caller, c1, a1)
			e.writeNote("caller1")
			before := e.metric("hotline_transfers_total", "result", "completed")

			e.must(c1.SendDTMF(e.wctx(), "*22"))
			c2, err := a2.WaitIncoming(e.wctx())
			if err != nil {
				t.Fatalf("the audit agent's phone did not ring after *22 (%v); the caller's phone received %q", err, cc.DTMF())
			}
			e.must(c2.Answer(e.wctx()))
			e.talking(c1, a1, c2, a2)
			if cc.Hears(toneA) || cc.Hears(toneB) {
				t.Error("the caller hears the agents during the consult")
			}
			if how == "target accepts with 1" {
				e.must(c2.SendDTMF(e.wctx(), "1"))
			} else {
				e.must(c1.SendDTMF(e.wctx(), "#"))
			}
			e.talking(cc, caller, c2, a2)
			if _, err := c1.WaitClosed(e.wctx()); err != nil {
				t.Errorf("the transferring agent's phone: %v", err)
			}
			e.eventually("call with 302", func() bool { return e.callOf("caller1").AgentID == "302" })
			e.eventually("transfer counted", func() bool {
				return e.metric("hotline_transfers_total", "result", "completed") == before+1
			})
			noDTMF(t, "the caller", cc)

			e.must(cc.Hangup(e.wctx()))
			if _, err := c2.WaitClosed(e.wctx()); err != nil {
				t.Fatal(err)
			}
			noDTMF(t, "the caller", cc)
			t.Logf("DTMF received: audit agent %q, connections agent %q", c2.DTMF(), c1.DTMF())
			e.waitAgent("301", "available")
			e.waitAgent("302", "available")
			e.sipNoLeaks()
		}()
	}
}

// TestSIPBlindReferRefused: the agent's phone transfers the caller with
// its own button (a blind REFER, policy refuse): the hotline refuses it,
// the phone gets NOTIFY 603, the REFER's target is not offered the call,
// and the caller stays with the agent. The agent's phone is SIPp: baresip
// 1.0 hangs up by itself after a failed transfer.
func TestSIPBlindReferRefused(t *testing.T) {
	e := sipScenario(t, "refuse")
	caller := e.phone("caller1", toneCaller)
	target := e.phone("302", toneB)
	agent := e.sippAgent("303", "<sip:302@"+e.sipAddr+">")
	e.login("303", "302")
	before := e.metric("hotline_transfers_total", "result", "blind_transfer_forbidden")

	cc := e.dialMenu(caller, "3") // service: 303
	e.writeNote("caller1")        // before the phone's REFER, two seconds after it answers
	e.must(agent.waitLog(e.wctx(), "ANSWERED"))
	// The agent's phone echoes what it hears: the caller hears itself
	// through the agent.
	e.must(cc.WaitTone(e.wctx(), toneCaller))
	e.must(agent.waitLog(e.wctx(), "REFER 202"))
	e.must(agent.waitLog(e.wctx(), "NOTIFY 603"))
	e.eventually("the REFER refused", func() bool {
		return e.metric("hotline_transfers_total", "result", "blind_transfer_forbidden") == before+1
	})
	e.must(cc.WaitTone(e.wctx(), toneCaller))
	if c := e.callOf("caller1"); c.AgentID != "303" {
		t.Errorf("call with %q after a refused REFER, want 303", c.AgentID)
	}
	if calls := target.Calls(); len(calls) != 0 || e.agent("302").State != "available" {
		t.Errorf("the REFER's target was offered the call: %d calls, %+v", len(calls), e.agent("302"))
	}

	e.must(cc.Hangup(e.wctx()))
	e.must(agent.waitLog(e.wctx(), "BYE"))
	agent.stop()
	noDTMF(t, "the caller", cc)
	e.sipNoLeaks()
	if n := e.metric("hotline_transfers_total", "result", "blind_transfer_forbidden"); n != before+1 {
		t.Errorf("one REFER counted %v times", n-before)
	}
}

// TestSIPAttendedReferDeclined: the agent's phone sends an attended
// transfer (a REFER whose Refer-To carries Replaces); the hotline declines
// it cleanly (NOTIFY 603) and the caller stays with the agent. SIPp plays
// the phone: baresip 1.0 has no attended transfer. The Replaces names a
// consultation dialog Asterisk does not know; Asterisk hands the REFER to
// the hotline all the same, with the dialog's Call-ID as protocol_id. The
// policy is blind: convert, so the decline is the attended REFER's own
// rule.
func TestSIPAttendedReferDeclined(t *testing.T) {
	e := sipScenario(t, "convert")
	caller := e.phone("caller1", toneCaller)
	target := e.phone("302", toneB)
	replaces := "consult-call-1%40127.0.0.1%3Bto-tag%3Dtarget-tag%3Bfrom-tag%3Dagent-tag"
	agent := e.sippAgent("303", "<sip:302@"+e.sipAddr+"?Replaces="+replaces+">")
	e.login("303", "302")

	cc := e.dialMenu(caller, "3")
	e.writeNote("caller1")
	e.must(agent.waitLog(e.wctx(), "ANSWERED"))
	e.must(cc.WaitTone(e.wctx(), toneCaller))
	e.must(agent.waitLog(e.wctx(), "REFER 202"))
	e.must(agent.waitLog(e.wctx(), "NOTIFY 603"))
	e.must(cc.WaitTone(e.wctx(), toneCaller))
	if c := e.callOf("caller1"); c.AgentID != "303" {
		t.Errorf("call with %q after a declined attended REFER, want 303", c.AgentID)
	}
	if calls := target.Calls(); len(calls) != 0 {
		t.Errorf("the REFER's target was called: %d calls", len(calls))
	}

	e.must(cc.Hangup(e.wctx()))
	e.must(agent.waitLog(e.wctx(), "BYE"))
	agent.stop()
	e.sipNoLeaks()
}

// TestSIPBlindReferConverted: with blind: convert, the agent's blind
// REFER becomes an attended consult: the target's phone rings, answers
// and talks with the agent while the caller holds, accepts with 1, and the
// caller talks with the target; the agent's phone gets NOTIFY 200 (baresip
// then ends its call).
func TestSIPBlindReferConverted(t *testing.T) {
	e := sipScenario(t, "convert")
	caller := e.phone("caller1", toneCaller)
	a1 := e.phone("301", toneA)
	a2 := e.phone("302", toneB)
	e.login("301", "302")

	cc := e.dialMenu(caller, "1")
	c1 := e.answer(a1)
	e.talking(cc, caller, c1, a1)
	e.writeNote("caller1")

	e.must(c1.Transfer(e.wctx(), "302"))
	c2 := e.answer(a2)
	e.talking(c1, a1, c2, a2)
	if cc.Hears(toneA) || cc.Hears(toneB) {
		t.Error("the caller hears the agents during the consult")
	}
	e.must(c2.SendDTMF(e.wctx(), "1"))
	r, err := c1.WaitTransfer(e.wctx())
	e.must(err)
	if r.Code != 200 {
		t.Errorf("the agent's phone got NOTIFY %d %s, want 200", r.Code, r.Reason)
	}
	e.talking(cc, caller, c2, a2)
	e.eventually("call with 302", func() bool { return e.callOf("caller1").AgentID == "302" })

	e.must(cc.Hangup(e.wctx()))
	if _, err := c2.WaitClosed(e.wctx()); err != nil {
		t.Fatal(err)
	}
	noDTMF(t, "the caller", cc)
	e.waitAgent("302", "available")
	e.sipNoLeaks()
}

// sippAgent is an agent's desk phone played by SIPp
// (testdata/sipp/agent-register.xml and agent-call.xml): registered as
// its endpoint, it answers the hotline's call with its media echoed back,
// sends a REFER to referTo two seconds later and logs what happens.
type sippAgent struct {
	t       *testing.T
	e       *sipEnv
	user    string
	dir     string
	log     string
	cmd     *exec.Cmd
	exited  chan struct{}
	stopped bool
}

func (e *sipEnv) sippAgent(user, referTo string) *sippAgent {
	e.t.Helper()
	if _, err := exec.LookPath("sipp"); err != nil {
		e.t.Skip("sipp not found in PATH: install Debian's sip-tester")
	}
	s := &sippAgent{t: e.t, e: e, user: user, dir: e.t.TempDir()}
	s.log = filepath.Join(s.dir, "actions.log")
	sipPort, err := freeUDP(1)
	e.must(err)
	mediaPort, err := freeUDP(4) // SIPp echoes on the port and the port + 2
	e.must(err)
	args := append(s.common("agent-register.xml"),
		"-oocsf", sippFile("agent-call.xml"),
		"-p", strconv.Itoa(sipPort), "-m", "1",
		"-rtp_echo", "-mp", strconv.Itoa(mediaPort),
		"-key", "refer_to", referTo, "-key", "user", user,
		"-trace_logs", "-log_file", s.log,
		"-trace_err", "-error_file", filepath.Join(s.dir, "errors.log"),
		"-timeout", strconv.Itoa(int(sipLimit.Seconds()))+"s",
		e.sipAddr)
	out, err := os.Create(filepath.Join(s.dir, "sipp.out"))
	e.must(err)
	defer out.Close()
	s.cmd = exec.Command("sipp", args...)
	s.cmd.Dir = s.dir
	s.cmd.Stdout, s.cmd.Stderr = out, out
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlives the test binary
	e.must(s.cmd.Start())
	s.exited = make(chan struct{})
	go func() {
		_ = s.cmd.Wait() // the scenario's outcome is in its log, not its status
		close(s.exited)
	}()
	e.t.Cleanup(func() {
		if e.t.Failed() {
			for _, f := range []string{"actions.log", "errors.log"} {
				if b, err := os.ReadFile(filepath.Join(s.dir, f)); err == nil {
					e.t.Logf("sipp %s %s:\n%s", user, f, b)
				}
			}
		}
		s.stop()
	})
	e.must(s.waitLog(e.wctx(), "REGISTERED"))
	return s
}

// common is the SIPp command line every run of a scenario shares: the
// endpoint and its password come from an injection file, never from the
// command line.
func (s *sippAgent) common(scenario string) []string {
	s.t.Helper()
	csv := filepath.Join(s.dir, "phone.csv")
	if err := os.WriteFile(csv, []byte("SEQUENTIAL\n"+s.user+";"+s.e.password(s.user)+";\n"), 0o600); err != nil {
		s.t.Fatal(err)
	}
	return []string{"-sf", sippFile(scenario), "-inf", csv, "-i", "127.0.0.1", "-nostdin"}
}

func sippFile(name string) string {
	abs, err := filepath.Abs(filepath.Join("testdata", "sipp", name))
	if err != nil {
		panic(err) // the working directory is gone
	}
	return abs
}

// waitLog waits until the scenario has logged line.
func (s *sippAgent) waitLog(ctx context.Context, line string) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if s.logged(line) {
			return nil
		}
		select {
		case <-ctx.Done():
			b, _ := os.ReadFile(s.log)
			return fmt.Errorf("sipp %s: no %q within the wait (log: %q): %w", s.user, line, b, context.Cause(ctx))
		case <-s.exited:
			if s.logged(line) {
				return nil
			}
			b, _ := os.ReadFile(s.log)
			return fmt.Errorf("sipp %s exited before %q (log: %q)", s.user, line, b)
		case <-tick.C:
		}
	}
}

func (s *sippAgent) logged(line string) bool {
	f, err := os.Open(s.log)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == line {
			return true
		}
	}
	return false
}

// stop ends SIPp and removes the phone's registration. Idempotent.
func (s *sippAgent) stop() {
	if s.stopped {
		return
	}
	s.stopped = true
	select {
	case <-s.exited:
	default:
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	port, err := freeUDP(1)
	if err != nil {
		s.t.Errorf("unregister %s: %v", s.user, err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	args := append(s.common("unregister.xml"), "-p", strconv.Itoa(port), "-m", "1", "-timeout", "8s", s.e.sipAddr)
	cmd := exec.CommandContext(ctx, "sipp", args...)
	cmd.Dir = s.dir
	if out, err := cmd.CombinedOutput(); err != nil {
		s.t.Errorf("unregister %s: %v: %.500s", s.user, err, out)
	}
}

// freeUDP finds n consecutive free UDP ports on loopback, the first even,
// below Asterisk's range (scripts/e2e-asterisk.sh gives it 20000 and up).
func freeUDP(n int) (int, error) {
	for attempt := 0; attempt < 50; attempt++ {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		lo := 10000 + (c.LocalAddr().(*net.UDPAddr).Port%4000)*2
		_ = c.Close()
		ok := true
		for p := lo; p < lo+n && ok; p++ {
			c, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
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
	return 0, errors.New("no free UDP ports between 10000 and 18000")
}
