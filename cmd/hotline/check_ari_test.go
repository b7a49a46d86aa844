package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/hotline-project/hotline/app"
	"github.com/hotline-project/hotline/dialplan"
)

const fakeARIPassword = "doctor-s3cret-Pa55"

// fakeARI is the part of Asterisk's ARI the doctor reads, as Asterisk 22
// answers it. Its fields say what this Asterisk has.
type fakeARI struct {
	t         *testing.T
	version   string
	sounds    map[string][]string // id → languages
	endpoints map[string]string   // PJSIP resource → state
	modules   []string
	apps      []string
	wsStatus  int    // refuse the events websocket with this status
	hang      string // a path answered only when the request gives up

	mu     sync.Mutex
	probes []string               // applications the events websocket was opened as
	closes []websocket.StatusCode // how each was closed
	closed chan struct{}          // a send per websocket, once its close is recorded
}

// newFakeARI is an Asterisk with everything cfg needs: every sound and the
// English digits in every supported language, every PJSIP agent registered,
// the modules loaded.
func newFakeARI(t *testing.T, cfg *dialplan.Config) *fakeARI {
	f := &fakeARI{t: t, version: "22.10.1", sounds: map[string][]string{}, endpoints: map[string]string{},
		closed:  make(chan struct{}, 10),
		modules: []string{"res_pjsip.so", "chan_pjsip.so", "res_pjsip_refer.so", "res_stasis_playback.so", "res_musiconhold.so", "res_ari.so"}}
	langs := cfg.Languages.Supported
	for _, s := range app.Sounds(cfg) {
		f.sounds[s] = langs
	}
	for n := 0; n < 100; n++ {
		if n < 20 || n%10 == 0 {
			f.sounds["digits/"+strconv.Itoa(n)] = langs
		}
	}
	for _, a := range cfg.Agents {
		if res, ok := strings.CutPrefix(a.Endpoint, "PJSIP/"); ok {
			f.endpoints[res] = "online"
		}
	}
	return f
}

func (f *fakeARI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if u, p, ok := r.BasicAuth(); !ok || u != "hotline" || p != fakeARIPassword {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"message":"Authentication required"}`)
		return
	}
	if r.URL.Path == f.hang {
		<-r.Context().Done()
		return
	}
	var body any
	switch r.URL.Path {
	case "/ari/events":
		f.events(w, r)
		return
	case "/ari/asterisk/info":
		body = map[string]any{"system": map[string]string{"version": f.version, "entity_id": "02:fc:00:00:00:01"},
			"config": map[string]string{"default_language": "en"}}
	case "/ari/asterisk/modules":
		var ms []map[string]any
		for _, m := range f.modules {
			ms = append(ms, map[string]any{"name": m, "description": m, "use_count": 1, "status": "Running", "support_level": "core"})
		}
		body = ms
	case "/ari/sounds":
		ss := []map[string]any{}
		for id, langs := range f.sounds {
			var fs []map[string]string
			for _, l := range langs {
				fs = append(fs, map[string]string{"language": l, "format": "wav"})
			}
			if len(fs) > 0 {
				ss = append(ss, map[string]any{"id": id, "formats": fs})
			}
		}
		body = ss
	case "/ari/endpoints":
		es := []map[string]any{}
		for res, state := range f.endpoints {
			es = append(es, map[string]any{"technology": "PJSIP", "resource": res, "state": state, "channel_ids": []string{}})
		}
		body = es
	case "/ari/applications":
		as := []map[string]any{}
		for _, a := range f.apps {
			as = append(as, map[string]any{"name": a, "channel_ids": []string{}, "bridge_ids": []string{}, "endpoint_ids": []string{}, "device_names": []string{}})
		}
		body = as
	default:
		f.t.Errorf("the doctor asked for %s %s", r.Method, r.URL)
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet {
		f.t.Errorf("the doctor sent %s %s: it must only read", r.Method, r.URL)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(body)
}

func (f *fakeARI) events(w http.ResponseWriter, r *http.Request) {
	if f.wsStatus != 0 {
		http.Error(w, "refused", f.wsStatus)
		return
	}
	conn, err := websocket.Accept(w, r, nil)
	if err != nil {
		f.t.Errorf("accept: %v", err)
		return
	}
	defer conn.CloseNow()
	f.mu.Lock()
	f.probes = append(f.probes, r.URL.Query().Get("app"))
	f.mu.Unlock()
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	_, _, err = conn.Read(ctx)
	f.mu.Lock()
	f.closes = append(f.closes, websocket.CloseStatus(err))
	f.mu.Unlock()
	f.closed <- struct{}{}
}

// doctorConfig is the configuration the command tests check; {{URL}} is
// the fake's. It has a Ukrainian default, so most sounds are looked for in
// uk and en.
const doctorConfig = `ari:
  url: {{URL}}/ari
  application: hotline
  username: hotline
  password_file: ari-password
  request_timeout: 500ms
languages: [uk, en]
topics:
  audit: {description: billing, prompt: hotline-topic-audit}
numbers:
  "100": {topic: audit}
agents:
  - {id: "101", endpoint: PJSIP/101, topics: [audit]}
  - {id: "999", endpoint: PJSIP/999, topics: [audit]}
  - {id: "301", endpoint: Local/301@phones, topics: [audit]}
prompts:
  closed: hotline-closed
`

// doctorEnv is a configuration file, its password file and a fake ARI.
type doctorEnv struct {
	path, text string
	cfg        *dialplan.Config
	ari        *fakeARI
}

func newDoctorEnv(t *testing.T, text string, password string) *doctorEnv {
	t.Helper()
	var fake *fakeARI
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fake.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	text = strings.ReplaceAll(text, "{{URL}}", srv.URL)
	e := &doctorEnv{path: filepath.Join(dir, "hotline.yaml"), text: text}
	if err := os.WriteFile(e.path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ari-password"), []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := dialplan.Load(e.path)
	if err != nil {
		t.Fatal(err)
	}
	e.cfg = cfg
	fake = newFakeARI(t, cfg)
	e.ari = fake
	return e
}

// line is the line of the first line of the file containing s.
func (e *doctorEnv) line(t *testing.T, s string) int {
	t.Helper()
	for i, l := range strings.Split(e.text, "\n") {
		if strings.Contains(l, s) {
			return i + 1
		}
	}
	t.Fatalf("the configuration has no %q", s)
	return 0
}

// run runs the doctor under a deadline and returns its exit code and
// output.
func (e *doctorEnv) run(t *testing.T) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	err := runCheckARI(ctx, e.cfg, &out, &errb)
	var exit exitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = int(exit)
	default:
		t.Fatalf("runCheckARI: %v", err)
	}
	for _, s := range []string{out.String(), errb.String()} {
		if strings.Contains(s, fakeARIPassword) {
			t.Errorf("the password is printed:\n%s", s)
		}
	}
	return code, out.String(), errb.String()
}

// wantLines checks that stderr has a line matching each pattern (regular
// expressions after "FILE:"), and no other errors or warnings.
func wantLines(t *testing.T, e *doctorEnv, stderr string, patterns ...string) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	matched := make([]bool, len(lines))
	for _, p := range patterns {
		re := regexp.MustCompile("^" + regexp.QuoteMeta(e.path) + p)
		found := false
		for i, l := range lines {
			if re.MatchString(l) {
				found, matched[i] = true, true
			}
		}
		if !found {
			t.Errorf("no line matches %q in\n%s", p, stderr)
		}
	}
	for i, l := range lines {
		rest := strings.TrimPrefix(l, e.path)
		if !matched[i] && !regexp.MustCompile(`^(:\d+)?: note: `).MatchString(rest) && !strings.HasPrefix(rest, ": Asterisk ") && l != "" {
			t.Errorf("unexpected line %q", l)
		}
	}
}

func TestCheckARIHealthy(t *testing.T) {
	e := newDoctorEnv(t, doctorConfig, fakeARIPassword)
	code, out, errOut := e.run(t)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	want := e.path + ": Asterisk 22.10.1 at " + e.cfg.ARI.URL + ": no problems\n"
	if out != want {
		t.Errorf("stdout %q, want %q", out, want)
	}
	wantLines(t, e, errOut,
		fmt.Sprintf(`:%d: note: application hotline is not connected now`, e.line(t, "application:")),
		fmt.Sprintf(`:%d: note: agents\[2\].endpoint: agent 301: Local/301@phones is a Local channel`, e.line(t, "Local/301")),
		`: note: dialplan not checked \(ARI cannot read it\)`)

	select {
	case <-e.ari.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the events websocket was never closed")
	}
	e.ari.mu.Lock()
	defer e.ari.mu.Unlock()
	if len(e.ari.probes) != 1 || !strings.HasPrefix(e.ari.probes[0], "hotline-doctor-") {
		t.Errorf("events websocket opened as %q, want once under a hotline-doctor-… name", e.ari.probes)
	}
	if len(e.ari.closes) != 1 || e.ari.closes[0] != websocket.StatusNormalClosure {
		t.Errorf("closed with %v, want a close handshake", e.ari.closes)
	}
}

func TestCheckARIReports(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(e *doctorEnv)
		want  func(t *testing.T, e *doctorEnv) []string
		code  int
	}{
		{"missing sound at its line", func(e *doctorEnv) {
			delete(e.ari.sounds, "hotline-closed")
			e.ari.sounds["hotline-topic-audit"] = []string{"en"}
		}, func(t *testing.T, e *doctorEnv) []string {
			return []string{
				fmt.Sprintf(`:%d: prompts.closed: sound hotline-closed missing in uk, en$`, e.line(t, "closed:")),
				fmt.Sprintf(`:%d: warning: topics.audit.prompt: sound hotline-topic-audit missing in uk: callers hear the en recording$`, e.line(t, "prompt: hotline-topic-audit")),
			}
		}, 1},
		{"a built-in sound and the digits", func(e *doctorEnv) {
			delete(e.ari.sounds, "hotline-unknown-number")
			e.ari.sounds["digits/40"] = []string{"en"}
			delete(e.ari.sounds, "digits/7")
		}, func(t *testing.T, e *doctorEnv) []string {
			l := e.line(t, "languages:")
			return []string{
				`: built-in sound hotline-unknown-number missing in uk, en$`,
				fmt.Sprintf(`:%d: numbers \(number:N\) in uk: digits/7 missing \(1 of the 28 digits/ sounds Asterisk's English number syntax \(which it uses for uk\) needs for 0–99\)$`, l),
				fmt.Sprintf(`:%d: warning: numbers \(number:N\) in uk: digits/40 missing: callers hear those in en$`, l),
				fmt.Sprintf(`:%d: numbers \(number:N\) in en: digits/7 missing`, l),
			}
		}, 1},
		{"missing endpoint and an agent off", func(e *doctorEnv) {
			delete(e.ari.endpoints, "999")
			e.ari.endpoints["101"] = "offline"
		}, func(t *testing.T, e *doctorEnv) []string {
			return []string{
				fmt.Sprintf(`:%d: warning: agents\[0\].endpoint: agent 101: PJSIP/101 is not registered now \(state offline\): fine if the agent is off$`, e.line(t, "PJSIP/101")),
				fmt.Sprintf(`:%d: agents\[1\].endpoint: agent 999: PJSIP/999 does not exist in Asterisk`, e.line(t, "PJSIP/999")),
			}
		}, 1},
		{"old version", func(e *doctorEnv) { e.ari.version = "22.2.0" },
			func(t *testing.T, e *doctorEnv) []string {
				return []string{`: Asterisk 22.2.0 has no PJSIP_TRANSFER_HANDLING\(\): .*use 20.13, 21.8, 22.3 or later$`}
			}, 1},
		{"no res_pjsip", func(e *doctorEnv) { e.ari.modules = e.ari.modules[1:] },
			func(t *testing.T, e *doctorEnv) []string {
				return []string{`: module res_pjsip.so is not loaded`}
			}, 1},
		{"websocket refused", func(e *doctorEnv) { e.ari.wsStatus = http.StatusBadRequest },
			func(t *testing.T, e *doctorEnv) []string {
				return []string{fmt.Sprintf(`:%d: ari.url: the events websocket ws://.*/ari/events failed \(.*400.*\): the daemon would receive no calls`, e.line(t, "url:"))}
			}, 1},
		{"the daemon is running", func(e *doctorEnv) { e.ari.apps = []string{"hotline"} },
			func(t *testing.T, e *doctorEnv) []string {
				return []string{fmt.Sprintf(`:%d: note: application hotline is connected now`, e.line(t, "application:"))}
			}, 0},
		{"a request that never ends", func(e *doctorEnv) { e.ari.hang = "/ari/sounds" },
			func(t *testing.T, e *doctorEnv) []string {
				return []string{`: warning: sounds not checked: list sounds: .*deadline exceeded`}
			}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newDoctorEnv(t, doctorConfig, fakeARIPassword)
			tc.setup(e)
			start := time.Now()
			code, out, errOut := e.run(t)
			if code != tc.code {
				t.Errorf("exit %d, want %d\n%s", code, tc.code, errOut)
			}
			wantLines(t, e, errOut, tc.want(t, e)...)
			summary := out
			if tc.code != 0 {
				summary = errOut[strings.LastIndex(strings.TrimSuffix(errOut, "\n"), "\n")+1:]
				if out != "" {
					t.Errorf("stdout %q with errors", out)
				}
			}
			if !strings.HasPrefix(summary, e.path+": Asterisk ") {
				t.Errorf("summary %q", summary)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("took %s with a 500ms request timeout", d)
			}
		})
	}
}

func TestCheckARIUserRejected(t *testing.T) {
	e := newDoctorEnv(t, doctorConfig, "not-"+fakeARIPassword)
	code, out, errOut := e.run(t)
	if code != 1 || out != "" {
		t.Errorf("exit %d, stdout %q", code, out)
	}
	pwFile := filepath.Join(filepath.Dir(e.path), "ari-password")
	want := fmt.Sprintf("%s:%d: ARI user %q rejected: check ari.conf and the password file %s\n%s: Asterisk at %s (not reached): 1 error, 0 warnings\n",
		e.path, e.line(t, "password_file:"), "hotline", pwFile, e.path, e.cfg.ARI.URL)
	if errOut != want {
		t.Errorf("stderr\n%s\nwant\n%s", errOut, want)
	}
	if strings.Contains(errOut, "not-"+fakeARIPassword) {
		t.Error("the wrong password is printed")
	}
}

func TestCheckARIUnreachable(t *testing.T) {
	e := newDoctorEnv(t, doctorConfig, fakeARIPassword)
	cfg := *e.cfg
	cfg.ARI.URL = "http://127.0.0.1:1/ari" // nothing listens on port 1
	e.cfg = &cfg
	code, _, errOut := e.run(t)
	if code != 1 || !strings.Contains(errOut, fmt.Sprintf("%s:%d: ari.url: cannot reach ARI at http://127.0.0.1:1/ari: ", e.path, e.line(t, "url:"))) {
		t.Errorf("exit %d\n%s", code, errOut)
	}
}

func TestCheckARIPasswordUnreadable(t *testing.T) {
	e := newDoctorEnv(t, doctorConfig, fakeARIPassword)
	if err := os.Remove(filepath.Join(filepath.Dir(e.path), "ari-password")); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := e.run(t)
	if code != 1 || !strings.HasPrefix(errOut, fmt.Sprintf("%s:%d: ari.password_file: read secret: ", e.path, e.line(t, "password_file:"))) {
		t.Errorf("exit %d\n%s", code, errOut)
	}
	e.ari.mu.Lock()
	defer e.ari.mu.Unlock()
	if len(e.ari.probes) != 0 {
		t.Error("the doctor went on without a password")
	}
}

// TestCheckARIRealAsterisk runs the doctor against a real Asterisk set up
// as deploy/asterisk/ (scripts/e2e-asterisk.sh up), with the end-to-end
// suite's configuration and two PJSIP agents added: 101, which that
// Asterisk has, and 999, which it has not. What it says of the sounds is
// compared with what that Asterisk lists, so the test holds whether or not
// the hotline's prompts are installed there.
func TestCheckARIRealAsterisk(t *testing.T) {
	url, user, password := os.Getenv("HOTLINE_E2E_ARI_URL"), os.Getenv("HOTLINE_E2E_ARI_USER"), os.Getenv("HOTLINE_E2E_ARI_PASSWORD")
	if url == "" || user == "" || password == "" {
		t.Skip("no real Asterisk: set HOTLINE_E2E_ARI_URL, HOTLINE_E2E_ARI_USER and HOTLINE_E2E_ARI_PASSWORD (scripts/e2e-asterisk.sh up DIR writes them)")
	}
	raw, err := os.ReadFile("../../e2e/testdata/hotline.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "ari-password")
	if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	text := strings.NewReplacer(
		"{{ARI_URL}}", url, "{{ARI_APP}}", "hotline", "{{REDIS}}", "127.0.0.1:6379",
		"{{PREFIX}}", "doctor:", "{{NODE}}", "doctor",
	).Replace(string(raw))
	for old, new := range map[string]string{
		"  username: hotline\n":                "  username: " + user + "\n",
		"  password_env: HOTLINE_E2E_UNUSED\n": "  password_file: " + pwFile + "\n",
		"agents:\n": "agents:\n" +
			`  - {id: "101", name: Doctor, endpoint: PJSIP/101, topics: [connections]}` + "\n" +
			`  - {id: "999", name: Nobody, endpoint: PJSIP/999, topics: [connections]}` + "\n",
	} {
		if !strings.Contains(text, old) {
			t.Fatalf("e2e/testdata/hotline.yaml no longer has %q", old)
		}
		text = strings.Replace(text, old, new, 1)
	}
	e := &doctorEnv{path: filepath.Join(dir, "hotline.yaml"), text: text}
	if err := os.WriteFile(e.path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if e.cfg, err = dialplan.Load(e.path); err != nil {
		t.Fatal(err)
	}

	// What this Asterisk has, asked directly.
	get := func(path string, out any) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, strings.TrimSuffix(url, "/")+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth(user, password)
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s", path, resp.Status)
		}
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
	}
	var info struct {
		System struct{ Version string } `json:"system"`
	}
	get("/asterisk/info", &info)
	var sounds []struct {
		ID      string `json:"id"`
		Formats []struct {
			Language string `json:"language"`
		} `json:"formats"`
	}
	get("/sounds", &sounds)
	inEnglish := map[string]bool{}
	for _, s := range sounds {
		for _, f := range s.Formats {
			inEnglish[s.ID] = inEnglish[s.ID] || f.Language == "en"
		}
	}
	logStart := asteriskLogSize(t)

	code, out, errOut := e.run(t)
	t.Logf("exit %d\n%s%s", code, errOut, out)
	lines := strings.Split(errOut, "\n")
	has := func(pattern string) bool {
		re := regexp.MustCompile("^" + regexp.QuoteMeta(e.path) + pattern)
		for _, l := range lines {
			if re.MatchString(l) {
				return true
			}
		}
		return false
	}
	for _, tc := range []struct {
		what, pattern string
		want          bool
	}{
		{"999 missing", fmt.Sprintf(`:%d: agents\[1\].endpoint: agent 999: PJSIP/999 does not exist in Asterisk`, e.line(t, "PJSIP/999")), true},
		{"101 exists", `.*PJSIP/101 does not exist`, false},
		{"101 registered or not, a warning at most", fmt.Sprintf(`:%d: agents\[0\]`, e.line(t, "PJSIP/101")), false},
		{"transfer handling supported", `.*PJSIP_TRANSFER_HANDLING`, false},
		{"user accepted", `.*rejected`, false},
		{"events websocket works", `.*events websocket`, false},
		{"modules loaded", `.*module `, false},
		{"the application noted", fmt.Sprintf(`:%d: note: application hotline is (not )?connected now`, e.line(t, "application:")), true},
		{"Local agents skipped", `:\d+: note: agents\[2\].endpoint: agent 301: Local/301@phones is a Local channel`, true},
		{"the dialplan to check by hand", `: note: dialplan not checked`, true},
	} {
		if has(tc.pattern) != tc.want {
			t.Errorf("%s: a line matching %q: %v, want %v", tc.what, tc.pattern, !tc.want, tc.want)
		}
	}
	for _, s := range app.Sounds(e.cfg) {
		missing := has(`(:\d+)?: .*sound ` + regexp.QuoteMeta(s) + ` missing in en$`)
		if missing == inEnglish[s] {
			t.Errorf("sound %s: Asterisk has it in en: %v; the doctor reports it missing: %v", s, inEnglish[s], missing)
		}
	}
	if !inEnglish["hotline-closed"] && !has(fmt.Sprintf(`:%d: prompts.closed: sound hotline-closed missing in en$`, e.line(t, "closed: hotline-closed"))) {
		t.Error("hotline-closed is not reported at its line")
	}
	allDigits := true
	for n := 0; n < 100; n++ {
		if n < 20 || n%10 == 0 {
			allDigits = allDigits && inEnglish["digits/"+strconv.Itoa(n)]
		}
	}
	if has(`(:\d+)?: numbers \(number:N\) in en: `) == allDigits {
		t.Errorf("digits: Asterisk has all of 0–19 and the tens in en: %v, and the doctor says so: %v", allDigits, !allDigits)
	}
	if code != 1 { // PJSIP/999 at least
		t.Errorf("exit %d, want 1", code)
	}
	if summary := lines[len(lines)-2]; !strings.HasPrefix(summary, e.path+": Asterisk "+info.System.Version+" at "+url+": ") {
		t.Errorf("summary %q", summary)
	}

	// The probe's application is gone, and went without the warnings a
	// websocket closed without a handshake leaves in Asterisk's log.
	deadline := time.Now().Add(5 * time.Second)
	for {
		var apps []struct {
			Name string `json:"name"`
		}
		get("/applications", &apps)
		left := ""
		for _, a := range apps {
			if strings.HasPrefix(a.Name, "hotline-doctor-") {
				left = a.Name
			}
		}
		if left == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("application %s still registered after the doctor", left)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if warned := probeWarnings(asteriskLogSince(t, logStart)); len(warned) > 0 {
		t.Errorf("Asterisk logged warnings on the probe's websocket:\n%s", strings.Join(warned, "\n"))
	}
}

// probeWarnings picks from Asterisk's log the warnings of the threads that
// served a doctor's probe ("Creating Stasis app 'hotline-doctor-…'"), so
// that other tests using the same Asterisk meanwhile do not count.
func probeWarnings(log string) []string {
	thread := regexp.MustCompile(`^\[[^]]*\] [A-Z]+\[(\d+)\]`)
	probes := map[string]bool{}
	lines := strings.Split(log, "\n")
	for _, l := range lines {
		if m := thread.FindStringSubmatch(l); m != nil && strings.Contains(l, "Creating Stasis app 'hotline-doctor-") {
			probes[m[1]] = true
		}
	}
	var out []string
	for _, l := range lines {
		if m := thread.FindStringSubmatch(l); m != nil && probes[m[1]] && strings.Contains(l, "] WARNING[") {
			out = append(out, l)
		}
	}
	return out
}

// asteriskLogPath is the log of the Asterisk scripts/e2e-asterisk.sh
// started, or "" for one run elsewhere.
func asteriskLogPath() string {
	dir := os.Getenv("HOTLINE_E2E_ASTERISK_DIR")
	if dir == "" {
		return ""
	}
	return filepath.Join(dir, "var", "log", "asterisk", "messages.log")
}

func asteriskLogSize(t *testing.T) int64 {
	p := asteriskLogPath()
	if p == "" {
		return 0
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Logf("no Asterisk log to look at: %v", err)
		return 0
	}
	return fi.Size()
}

func asteriskLogSince(t *testing.T, offset int64) string {
	p := asteriskLogPath()
	if p == "" {
		return ""
	}
	data, err := os.ReadFile(p)
	if err != nil || int64(len(data)) < offset {
		return ""
	}
	return string(data[offset:])
}
