// Package e2e is the hotline's end-to-end scenario suite (README, Tests): the
// whole daemon in-process against a real Redis and an ARI endpoint, with
// callers and agents played by the phones driver. By default every
// scenario gets its own simulated Asterisk, Redis and daemon, so scenarios
// run in parallel and leak checks are exact. With HOTLINE_E2E_ARI_URL,
// HOTLINE_E2E_ARI_USER and HOTLINE_E2E_ARI_PASSWORD set, the same
// scenarios run one after another against that Asterisk (whose dialplan
// follows deploy/asterisk/extensions.conf); scenarios that need a control
// hook only the simulator has skip there.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hotline-project/hotline/api"
	"github.com/hotline-project/hotline/app"
	"github.com/hotline-project/hotline/ari"
	"github.com/hotline-project/hotline/asterisksim"
	"github.com/hotline-project/hotline/dialplan"
	"github.com/hotline-project/hotline/internal/harness"
	"github.com/hotline-project/hotline/internal/redistest"
	"github.com/hotline-project/hotline/internal/testclock"
	"github.com/hotline-project/hotline/phones"
)

// waitLimit bounds every wait: generous, so a slow machine is not a
// failure; a scenario that works finishes far sooner. A real Asterisk
// plays real prompts (the main menu alone is 15 s), so waits there are
// longer.
var waitLimit = 15 * time.Second

const adminToken = "e2e-admin-token-0123456789"

// target is where the scenarios run.
type target struct {
	url, user, password string // a real Asterisk; empty url: the simulator
}

func (tg target) real() bool { return tg.url != "" }

func currentTarget() target {
	return target{
		url:      os.Getenv("HOTLINE_E2E_ARI_URL"),
		user:     os.Getenv("HOTLINE_E2E_ARI_USER"),
		password: os.Getenv("HOTLINE_E2E_ARI_PASSWORD"),
	}
}

func TestMain(m *testing.M) {
	if currentTarget().real() {
		waitLimit = 45 * time.Second
		fmt.Fprintln(os.Stderr, "e2e: running against the real Asterisk at HOTLINE_E2E_ARI_URL")
	} else {
		fmt.Fprintln(os.Stderr, "e2e: running against the simulated Asterisk (set HOTLINE_E2E_ARI_URL, _USER, _PASSWORD for a real one)")
	}
	before := runtime.NumGoroutine()
	code := m.Run()
	if code == 0 {
		// Every daemon, driver and simulator has been stopped by now: the
		// goroutines they ran must be gone (idle HTTP connections of the
		// test's own client may linger briefly, hence the wait).
		http.DefaultClient.CloseIdleConnections()
		deadline := time.Now().Add(10 * time.Second)
		for runtime.NumGoroutine() > before+2 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > before+2 {
			buf := make([]byte, 1<<20)
			fmt.Fprintf(os.Stderr, "e2e: goroutine leak: %d running, %d at start\n%s\n", n, before, buf[:runtime.Stack(buf, true)])
			code = 1
		}
	}
	os.Exit(code)
}

// env is one scenario's world: Redis, ARI endpoint, daemon and phones.
type env struct {
	t       *testing.T
	tg      target
	sim     *asterisksim.Server // nil against a real Asterisk
	ast     *ari.Client         // a real Asterisk's REST, to look at what is left; nil on the simulator
	proxy   *proxy              // between the clients and a real Asterisk, to cut their connections
	redis   *redistest.Server
	rdb     *redis.Client
	cfg     *dialplan.Config
	app     *harness.Daemon
	phones  *phones.Driver
	ctx     context.Context
	ariPass string // the ARI password, for a restarted daemon
	// clock is the daemon's routing and callbacks clock: the wall clock,
	// which a scenario may move forward so that a callback due in half an
	// hour comes due now. The call flow keeps the wall clock.
	clock *testclock.Clock
}

// scenario starts a fresh env and marks the test parallel when it can be.
func scenario(t *testing.T) *env {
	t.Helper()
	tg := currentTarget()
	if !tg.real() {
		t.Parallel()
	}
	e := &env{t: t, tg: tg, clock: testclock.NewWall()}
	ctx, cancel := context.WithTimeout(context.Background(), 4*waitLimit)
	t.Cleanup(cancel)
	e.ctx = ctx
	if tg.real() {
		// Registered first, so it runs last: after the daemon and the
		// phones have stopped, nothing of this scenario may be left in
		// Asterisk, and nothing it left may reach the next scenario.
		e.ast = realClient(t, tg)
		t.Cleanup(e.clearAsterisk)
	}
	e.redis, e.rdb = harness.Redis(t)
	ariURL, user, password := tg.url, tg.user, tg.password
	if tg.real() {
		e.proxy, ariURL = startProxy(t, tg.url)
	} else {
		user, password = harness.ARIUser, harness.ARIPassword
		// PJSIP/103 exists and is never registered, as on the real
		// Asterisk of scripts/e2e-asterisk.sh.
		eps := asterisksim.DefaultEndpoints()
		eps["103"] = asterisksim.Endpoint{Offline: true}
		e.sim = harness.Sim(t, asterisksim.Options{Username: user, Password: password, Endpoints: eps})
		ariURL = e.sim.URL()
	}
	e.cfg = harness.ConfigFile(t, "testdata/hotline.yaml", map[string]string{
		"ARI_URL": ariURL, "ARI_APP": "hotline", "REDIS": e.redis.Addr, "PREFIX": "e2e:", "NODE": "e2e",
	})
	e.cfg.ARI.Username = user
	e.ariPass = password
	e.startDaemon(password)
	e.phones = harness.Phones(t, phones.Options{URL: ariURL, Username: user, Password: password, Logger: harness.Logger(t, "phones")})
	return e
}

// startDaemon runs a daemon on e's Redis and ARI endpoint (again, for the
// restart scenario).
func (e *env) startDaemon(password string) {
	e.app = harness.StartDaemon(e.t, app.Options{
		Config: e.cfg, Redis: e.rdb, ARIPassword: &password,
		Authenticate: api.StaticTokens(map[string]api.Token{adminToken: {Role: api.RoleAdmin}}),
		Logger:       harness.Logger(e.t, "daemon"), Clock: e.clock,
	})
}

// eventually polls cond, for state that only the API or metrics show.
func (e *env) eventually(what string, cond func() bool) {
	e.t.Helper()
	harness.Eventually(e.t, waitLimit, what, cond)
}

// wctx is a context for one wait.
func (e *env) wctx() context.Context {
	ctx, cancel := context.WithTimeout(e.ctx, waitLimit)
	e.t.Cleanup(cancel)
	return ctx
}

func (e *env) must(err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
}

// api calls the daemon's HTTP API as admin and returns status and body.
func (e *env) api(method, path string, body any) (int, []byte) {
	e.t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		e.must(err)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(e.ctx, method, e.app.URL()+"/api/v1"+path, r)
	e.must(err)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	e.must(err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	e.must(err)
	return resp.StatusCode, b
}

func (e *env) apiOK(method, path string, body any, out any) {
	e.t.Helper()
	st, b := e.api(method, path, body)
	if st/100 != 2 {
		e.t.Fatalf("%s %s: %d %s", method, path, st, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			e.t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
}

type agentJSON struct {
	ID        string    `json:"id"`
	State     string    `json:"state"`
	Reason    string    `json:"reason"`
	IdleSince time.Time `json:"idle_since"`
	CallID    string    `json:"call_id"`
}

func (e *env) agent(id string) agentJSON {
	e.t.Helper()
	var a agentJSON
	e.apiOK(http.MethodGet, "/agents/"+id, nil, &a)
	return a
}

// login logs agents in, in order, each after the previous is available,
// so the first has been idle longest.
func (e *env) login(ids ...string) {
	e.t.Helper()
	for _, id := range ids {
		e.apiOK(http.MethodPost, "/agents/"+id+"/state", map[string]string{"action": "login"}, nil)
		e.waitAgent(id, "available")
	}
}

func (e *env) waitAgent(id, state string) agentJSON {
	e.t.Helper()
	var a agentJSON
	e.eventually("agent "+id+" "+state, func() bool { a = e.agent(id); return a.State == state })
	return a
}

type callJSON struct {
	ID      string `json:"id"`
	CaseID  string `json:"case_id"`
	Topic   string `json:"topic"`
	AgentID string `json:"agent_id"`
	State   string `json:"state"`
	Caller  string `json:"caller_number"`
}

func (e *env) calls() []callJSON {
	e.t.Helper()
	var out []callJSON
	e.apiOK(http.MethodGet, "/calls", nil, &out)
	return out
}

// callOf finds the active call of a caller number.
func (e *env) callOf(number string) callJSON {
	e.t.Helper()
	var c callJSON
	e.eventually("a call from "+number, func() bool {
		for _, x := range e.calls() {
			if x.Caller == number {
				c = x
				return true
			}
		}
		return false
	})
	return c
}

// metric sums the samples of a metric family whose labels contain every
// given name=value pair.
func (e *env) metric(name string, labels ...string) float64 {
	e.t.Helper()
	mfs, err := e.app.Registry().Gather()
	e.must(err)
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	sample:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue sample
				}
			}
			switch {
			case m.GetCounter() != nil:
				sum += m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				sum += m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				sum += float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return sum
}

// call places a caller and waits until the hotline answers.
func (e *env) call(number, from string) *phones.Phone {
	e.t.Helper()
	p, err := e.phones.Call(e.wctx(), number, from)
	e.must(err)
	e.must(p.WaitAnswered(e.wctx()))
	return p
}

// ring waits for the next call on an agent's (or caller's) line.
func (e *env) ring(ext string) *phones.Phone {
	e.t.Helper()
	p, err := e.phones.Line(ext).WaitRing(e.wctx())
	e.must(err)
	return p
}

// connect places a caller on a direct number and waits until agent picks
// up and both are bridged.
func (e *env) connect(number, from, agent string) (caller, agentPhone *phones.Phone) {
	e.t.Helper()
	caller = e.call(number, from)
	agentPhone = e.ring(agent)
	e.must(agentPhone.WaitAnswered(e.wctx()))
	e.must(caller.WaitConnectedTo(e.wctx(), agentPhone))
	return caller, agentPhone
}

// hangupAll ends the phones still up.
func (e *env) hangupAll(ps ...*phones.Phone) {
	e.t.Helper()
	for _, p := range ps {
		if p != nil {
			e.must(p.Hangup(e.wctx()))
		}
	}
	for _, p := range ps {
		if p != nil {
			e.must(p.WaitHungUp(e.wctx()))
		}
	}
}

// noLeaks asserts the world is back to where it started: no channel or
// bridge left in Asterisk (simulated or real), no call the daemon thinks
// is active, no phone the driver thinks is up.
func (e *env) noLeaks() {
	e.t.Helper()
	left := ""
	deadline := time.Now().Add(waitLimit)
	for {
		switch {
		case e.sim != nil && (e.sim.Stats().Channels != 0 || e.sim.Stats().Bridges != 0):
			left = fmt.Sprintf("simulator: %+v", e.sim.Stats())
		case len(e.calls()) != 0:
			left = fmt.Sprintf("daemon calls: %+v", e.calls())
		case e.phones.Active() != 0:
			left = fmt.Sprintf("%d phones up", e.phones.Active())
		default:
			left = ""
			if e.ast != nil {
				if chans, bridges := e.leftInAsterisk(); len(chans)+len(bridges) != 0 {
					left = fmt.Sprintf("Asterisk: channels %q, bridges %q", chans, bridges)
				}
			}
		}
		if left == "" {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("calls left after %v: %s", waitLimit, left)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// dropConnections cuts the ARI connections of the daemon and the phones,
// as a network failure would.
func (e *env) dropConnections() {
	if e.sim != nil {
		e.sim.DropWebsockets()
		return
	}
	e.proxy.drop()
}

// needSim skips t, a scenario or one of its subtests, when it needs a
// simulator-only control hook. Each such skip against a real Asterisk is
// declared, with the reason, in testdata/asterisk/skips.
func (e *env) needSim(t *testing.T, hook string) {
	t.Helper()
	if e.sim == nil {
		t.Skipf("needs the simulated Asterisk's %s; not available against a real Asterisk", hook)
	}
}

// realClient is a REST client of the real Asterisk for the harness's own
// looks at its channels and bridges.
func realClient(t *testing.T, tg target) *ari.Client {
	t.Helper()
	c, err := ari.New(ari.Options{URL: tg.url, Application: "e2e-harness", Username: tg.user, Password: tg.password})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// leftInAsterisk lists the real Asterisk's channels and bridges. The
// scenarios run one at a time against it, so anything there is theirs.
func (e *env) leftInAsterisk() (chans, bridges []string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cs, err := e.ast.Channels(ctx)
	if err != nil {
		e.t.Errorf("list channels: %v", err)
	}
	for _, c := range cs {
		chans = append(chans, c.ID+" "+c.Name)
	}
	bs, err := e.ast.Bridges(ctx)
	if err != nil {
		e.t.Errorf("list bridges: %v", err)
	}
	for _, b := range bs {
		bridges = append(bridges, b.ID)
	}
	return chans, bridges
}

// clearAsterisk ends the scenario on a real Asterisk: whatever is still
// there is hung up and destroyed, so the next scenario starts clean, and
// a scenario that passed fails for having left it.
func (e *env) clearAsterisk() {
	defer e.ast.CloseIdleConnections()
	chans, bridges := e.leftInAsterisk()
	if len(chans)+len(bridges) == 0 {
		return
	}
	if !e.t.Failed() {
		e.t.Errorf("left in Asterisk: channels %q, bridges %q", chans, bridges)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, c := range chans {
		id, _, _ := strings.Cut(c, " ")
		_ = e.ast.Hangup(ctx, id, "normal") // gone already is fine
	}
	for _, id := range bridges {
		_ = e.ast.DestroyBridge(ctx, id)
	}
}

// refusalJSON is the API's 409 body.
type refusalJSON struct {
	Error   string `json:"error"`
	Message string `json:"message"`
	Path    []struct {
		To string `json:"to"`
		By string `json:"by"`
	} `json:"path"`
}

func refusal(b []byte) refusalJSON {
	var r refusalJSON
	_ = json.Unmarshal(b, &r) // a body that is not a refusal leaves Error empty, which the caller reports
	return r
}
