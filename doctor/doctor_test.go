package doctor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"reflect"
	"strings"
	"testing"

	"github.com/hotline-project/hotline/ari"
	"github.com/hotline-project/hotline/dialplan"
)

// testConfig is a small configuration with uk, pl and en; the lines of
// the keys the tests look for are fixed by it.
const testConfig = `ari:
  url: http://127.0.0.1:8088/ari
  application: hotline
  username: hotline
  password_file: /run/secrets/ari-password
languages:
  default: uk
  supported: [uk, pl, en]
topics:
  audit: {description: billing, prompt: hotline-topic-audit}
  service: {description: faults, prompt: hotline-topic-audit}
menus:
  main:
    prompt: hotline-main-menu
    default: audit
    options:
      "1": {topic: audit}
      "2": {topic: service}
numbers:
  "100": {menu: main}
agents:
  - {id: "101", endpoint: PJSIP/101, topics: [audit, service]}
  - {id: "102", endpoint: PJSIP/102, topics: [audit]}
  - id: "999"
    endpoint: PJSIP/999
    topics: [service]
  - {id: "301", endpoint: Local/301@phones, topics: [audit]}
  - {id: "400", endpoint: PJSIP/400@trunk, topics: [audit]}
  - {id: "500", endpoint: IAX2/500, topics: [audit]}
prompts:
  closed: hotline-closed
`

// Lines in testConfig.
const (
	lineURL       = 2
	lineApp       = 3
	linePassword  = 5
	lineLanguages = 8
	lineTopicA    = 10
	lineTopicS    = 11
	lineMenu      = 14
	lineAgent101  = 22
	lineAgent102  = 23
	lineAgent999  = 25 // the endpoint key of a block item
	lineAgent301  = 27
	lineAgent400  = 28
	lineAgent500  = 29
	lineClosed    = 31
)

func loadConfig(t *testing.T, text string) *dialplan.Config {
	t.Helper()
	cfg, err := dialplan.Parse("hotline.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func sound(id string, langs ...string) ari.Sound {
	s := ari.Sound{ID: id}
	for _, l := range langs {
		s.Formats = append(s.Formats, ari.SoundFormat{Language: l, Format: "wav"})
	}
	return s
}

// withDigits adds every digits/ sound English numbers need in langs.
func withDigits(have []ari.Sound, langs ...string) []ari.Sound {
	_, files := numberSounds("en")
	for _, f := range files {
		have = append(have, sound(f, langs...))
	}
	return have
}

func TestFindingString(t *testing.T) {
	for _, tc := range []struct {
		f    Finding
		want string
	}{
		{Finding{File: "h.yaml", Line: 3, Message: "bad"}, "h.yaml:3: bad"},
		{Finding{File: "h.yaml", Line: 3, Level: Warning, Message: "meh"}, "h.yaml:3: warning: meh"},
		{Finding{File: "h.yaml", Level: Note, Message: "fyi"}, "h.yaml: note: fyi"},
		{Finding{Message: "bare"}, "bare"},
	} {
		if got := tc.f.String(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.f, got, tc.want)
		}
	}
}

func TestTransferHandlingSupported(t *testing.T) {
	for v, want := range map[string]bool{
		"22.10.1": true, "22.3.0": true, "22.2.0": false, "21.8.0": true, "21.7.1": false,
		"20.13.0": true, "20.12.0": false, "23.0.0": true, "18.20.0": false, "GIT-master-abc": false,
		"20.7-cert5": false, "22.3.0-rc1": true, "": false,
	} {
		if got := TransferHandlingSupported(v); got != want {
			t.Errorf("%q: %v, want %v", v, got, want)
		}
	}
}

func TestCheckVersion(t *testing.T) {
	for _, tc := range []struct {
		version string
		want    []Level
		has     string
	}{
		{"22.10.1", nil, ""},
		{"20.13.0", nil, ""},
		{"22.2.0", []Level{Error}, "22.3"},
		{"18.20.0", []Level{Error}, "PJSIP_TRANSFER_HANDLING"},
		{"GIT-master-abc", []Level{Warning}, "cannot tell"},
	} {
		fs := CheckVersion(tc.version)
		if !reflect.DeepEqual(levels(fs), tc.want) {
			t.Errorf("%s: %v, want levels %v", tc.version, fs, tc.want)
		}
		if tc.has != "" && (len(fs) == 0 || !strings.Contains(fs[0].Message, tc.has)) {
			t.Errorf("%s: %v should mention %q", tc.version, fs, tc.has)
		}
	}
}

func levels(fs []Finding) []Level {
	var out []Level
	for _, f := range fs {
		out = append(out, f.Level)
	}
	return out
}

func TestCheckModules(t *testing.T) {
	all := func() []ari.Module {
		var ms []ari.Module
		for _, r := range requiredModules {
			ms = append(ms, ari.Module{Name: r.name, Status: "Running"})
		}
		return append(ms, ari.Module{Name: "acl", Status: "Running"})
	}
	if fs := CheckModules(all()); len(fs) != 0 {
		t.Errorf("every module running: %v", fs)
	}
	noPJSIP := all()[1:]
	fs := CheckModules(noPJSIP)
	if len(fs) != 1 || fs[0].Level != Error || !strings.Contains(fs[0].Message, "res_pjsip.so is not loaded") {
		t.Errorf("without res_pjsip: %v", fs)
	}
	stopped := all()
	stopped[3].Status = "Not Running"
	fs = CheckModules(stopped)
	if len(fs) != 1 || fs[0].Level != Error || !strings.Contains(fs[0].Message, stopped[3].Name) {
		t.Errorf("a stopped module: %v", fs)
	}
	if fs := CheckModules(nil); len(fs) != len(requiredModules) {
		t.Errorf("no modules at all: %d findings, want %d", len(fs), len(requiredModules))
	}
}

func TestNumberSounds(t *testing.T) {
	for _, tc := range []struct {
		lang, syntax string
		count        int
	}{
		{"en", "en", 28}, // 0–19, 20–90
		{"uk", "en", 28}, // say.c has no Ukrainian: English
		{"en_GB", "en_gb", 28},
		{"pl", "pl", 28},
		{"ru", "ru", 28},
		{"pt_BR", "pt", 0}, // not modelled
		{"cs", "cs", 0},
		{"fr", "fr", 21 + 4 + 1 + 1}, // 0–20, 30 40 50 60, 80, et
		{"es", "es", 31 + 6 + 1},     // 0–30, 40–90, and
		{"de", "de", 28 + 9},         // and 1-and … 9-and
		{"it", "it", 28 + 16},        // and 21 28 31 38 … 91 98
	} {
		syntax, files := numberSounds(tc.lang)
		if syntax != tc.syntax || len(files) != tc.count {
			t.Errorf("%s: syntax %s with %d files, want %s with %d: %v", tc.lang, syntax, len(files), tc.syntax, tc.count, files)
		}
	}
	// What say.c plays, number by number.
	for _, tc := range []struct {
		syntax string
		n      int
		want   string
	}{
		{"en", 0, "0"}, {"en", 7, "7"}, {"en", 13, "13"}, {"en", 40, "40"}, {"en", 42, "40 2"},
		{"pl", 25, "20 5"},
		{"fr", 21, "20 et 1"}, {"fr", 70, "60 10"}, {"fr", 71, "60 et 11"}, {"fr", 80, "80"}, {"fr", 81, "80 1"}, {"fr", 99, "80 19"},
		{"es", 30, "30"}, {"es", 42, "40 and 2"},
		{"de", 42, "2-and 40"}, {"de", 40, "40"},
		{"it", 21, "21"}, {"it", 42, "40 2"}, {"it", 98, "98"},
	} {
		got := strings.ReplaceAll(strings.Join(numberFiles[tc.syntax](tc.n), " "), "digits/", "")
		if got != tc.want {
			t.Errorf("%s %d: %q, want %q", tc.syntax, tc.n, got, tc.want)
		}
	}
}

func TestCheckSounds(t *testing.T) {
	cfg := loadConfig(t, testConfig)
	const all = "uk, pl, en"
	tests := []struct {
		name   string
		wanted []string
		have   []ari.Sound
		want   []string // "LINE level message", the message abbreviated to what matters
	}{
		{"everything installed", []string{"hotline-closed", "hotline-topic-audit"},
			withDigits([]ari.Sound{sound("hotline-closed", "uk", "pl", "en"), sound("hotline-topic-audit", "uk", "pl", "en")}, "uk", "pl", "en"),
			nil},
		{"missing everywhere, at its key", []string{"hotline-closed"},
			withDigits(nil, "uk", "pl", "en"),
			[]string{fmt.Sprintf("%d error prompts.closed: sound hotline-closed missing in %s", lineClosed, all)}},
		{"two keys name one sound: the first line", []string{"hotline-topic-audit"},
			withDigits([]ari.Sound{sound("hotline-topic-audit", "uk", "pl")}, "uk", "pl", "en"),
			[]string{fmt.Sprintf("%d error topics.audit.prompt, topics.service.prompt: sound hotline-topic-audit missing in en", lineTopicA)}},
		{"only in en: the others hear English", []string{"hotline-main-menu"},
			withDigits([]ari.Sound{sound("hotline-main-menu", "en")}, "uk", "pl", "en"),
			[]string{fmt.Sprintf("%d warning menus.main.prompt: sound hotline-main-menu missing in uk, pl: callers hear the en recording", lineMenu)}},
		{"missing in en, only pl has it", []string{"hotline-main-menu"},
			withDigits([]ari.Sound{sound("hotline-main-menu", "pl")}, "uk", "pl", "en"),
			[]string{fmt.Sprintf("%d error menus.main.prompt: sound hotline-main-menu missing in uk, en", lineMenu)}},
		{"a default key is named, without a line", []string{"vm-goodbye"},
			withDigits([]ari.Sound{sound("vm-goodbye", "en")}, "uk", "pl", "en"),
			[]string{"0 warning prompts.goodbye: sound vm-goodbye missing in uk, pl: callers hear the en recording"}},
		{"a built-in sound", []string{"hotline-unknown-number", "hotline-unknown-number"},
			withDigits(nil, "uk", "pl", "en"),
			[]string{"0 error built-in sound hotline-unknown-number missing in " + all}},
		{"no digits at all", nil, nil, []string{
			fmt.Sprintf("%d error numbers (number:N) in uk: none of the 28 digits/ sounds Asterisk's English number syntax (which it uses for uk) needs", lineLanguages),
			fmt.Sprintf("%d error numbers (number:N) in pl: none of the 28 digits/ sounds Asterisk's Polish number syntax needs", lineLanguages),
			fmt.Sprintf("%d error numbers (number:N) in en: none of the 28", lineLanguages),
		}},
		{"digits in en only", nil, withDigits(nil, "en"), []string{
			fmt.Sprintf("%d warning numbers (number:N) in uk: digits/0, digits/1, digits/2, digits/3, digits/4, digits/5, digits/6, digits/7 … and 20 more missing: callers hear those in en", lineLanguages),
			fmt.Sprintf("%d warning numbers (number:N) in pl:", lineLanguages),
		}},
		{"a few digits missing", nil, withDigits(nil, "uk", "pl", "en")[2:], []string{
			fmt.Sprintf("%d error numbers (number:N) in uk: digits/0, digits/1 missing (2 of the 28", lineLanguages),
			fmt.Sprintf("%d error numbers (number:N) in pl: digits/0, digits/1 missing", lineLanguages),
			fmt.Sprintf("%d error numbers (number:N) in en: digits/0, digits/1 missing", lineLanguages),
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkFindings(t, CheckSounds(cfg, tc.wanted, tc.have), tc.want)
		})
	}
}

func TestCheckSoundsDialects(t *testing.T) {
	cfg := loadConfig(t, `languages: [pt_BR, en_GB, uk]
prompts:
  closed: hotline-closed
topics: {audit: {description: billing}}
numbers: {"100": {topic: audit}}
`)
	have := withDigits([]ari.Sound{sound("hotline-closed", "pt", "en")}, "en")
	// pt_BR takes pt's recording and en_GB en's, as Asterisk strips the
	// dialect; uk falls back on en.
	checkFindings(t, CheckSounds(cfg, []string{"hotline-closed"}, have), []string{
		"3 warning prompts.closed: sound hotline-closed missing in uk: callers hear the en recording",
		"1 note numbers (number:N) in pt_BR not checked: Asterisk says them with its pt syntax",
		"1 warning numbers (number:N) in uk: digits/0",
	})
}

// checkFindings compares findings with "LINE level message-prefix" lines,
// in order.
func checkFindings(t *testing.T, got []Finding, want []string) {
	t.Helper()
	names := map[Level]string{Error: "error", Warning: "warning", Note: "note"}
	var lines []string
	for _, f := range got {
		lines = append(lines, fmt.Sprintf("%d %s %s", f.Line, names[f.Level], f.Message))
	}
	ok := len(lines) == len(want)
	for i := 0; ok && i < len(want); i++ {
		ok = strings.HasPrefix(lines[i], want[i])
	}
	if !ok {
		t.Errorf("findings:\n\t%s\nwant (prefixes):\n\t%s", strings.Join(lines, "\n\t"), strings.Join(want, "\n\t"))
	}
}

func TestCheckAgents(t *testing.T) {
	cfg := loadConfig(t, testConfig)
	eps := []ari.Endpoint{
		{Technology: "PJSIP", Resource: "101", State: "online"},
		{Technology: "PJSIP", Resource: "102", State: "offline"},
		{Technology: "PJSIP", Resource: "trunk", State: "unknown"},
		{Technology: "PJSIP", Resource: "103", State: "online"},
	}
	checkFindings(t, CheckAgents(cfg, eps), []string{
		fmt.Sprintf("%d warning agents[1].endpoint: agent 102: PJSIP/102 is not registered now (state offline): fine if the agent is off", lineAgent102),
		fmt.Sprintf(`%d error agents[2].endpoint: agent 999: PJSIP/999 does not exist in Asterisk (no PJSIP endpoint "999")`, lineAgent999),
		fmt.Sprintf("%d note agents[3].endpoint: agent 301: Local/301@phones is a Local channel (dialplan): ARI cannot check it, skipped", lineAgent301),
		fmt.Sprintf("%d warning agents[4].endpoint: agent 400: PJSIP/400@trunk is not registered now (state unknown)", lineAgent400),
		fmt.Sprintf("%d note agents[5].endpoint: agent 500: IAX2/500: Asterisk lists no IAX2 endpoints over ARI", lineAgent500),
	})

	// An Asterisk without PJSIP endpoints at all still gets PJSIP agents
	// reported; a technology it lists is checked like PJSIP, without the
	// registration warning.
	eps = []ari.Endpoint{{Technology: "IAX2", Resource: "501", State: "offline"}}
	got := CheckAgents(cfg, eps)
	var errs []string
	for _, f := range got {
		if f.Level == Error {
			errs = append(errs, f.Message[:strings.Index(f.Message, ":")])
		}
	}
	want := []string{"agents[0].endpoint", "agents[1].endpoint", "agents[2].endpoint", "agents[4].endpoint", "agents[5].endpoint"}
	if !reflect.DeepEqual(errs, want) {
		t.Errorf("errors for %v, want %v\n%v", errs, want, got)
	}
}

func TestResources(t *testing.T) {
	for _, tc := range []struct {
		tech, dest string
		want       []string
	}{
		{"pjsip", "101", []string{"101"}},
		{"pjsip", "101/sip:101@10.0.0.5:5060", []string{"101"}},
		{"pjsip", "0800123@trunk", []string{"0800123@trunk", "trunk"}},
		{"iax2", "500/extra", []string{"500"}},
	} {
		if got := resources(tc.tech, tc.dest); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s/%s: %v, want %v", tc.tech, tc.dest, got, tc.want)
		}
	}
}

func TestCheckApplication(t *testing.T) {
	cfg := loadConfig(t, testConfig)
	checkFindings(t, CheckApplication(cfg, []ari.Application{{Name: "other"}, {Name: "hotline", ChannelIDs: []string{"1", "2"}}}),
		[]string{fmt.Sprintf("%d note application hotline is connected now (a hotline daemon is running against this Asterisk, 2 channels)", lineApp)})
	checkFindings(t, CheckApplication(cfg, []ari.Application{{Name: "hotline-doctor-x"}}),
		[]string{fmt.Sprintf("%d note application hotline is not connected now", lineApp)})
}

// fakeAsterisk answers the doctor's questions from its fields.
type fakeAsterisk struct {
	info                             ari.AsteriskInfo
	infoErr, modErr, soundErr, epErr error
	appErr, probeErr                 error
	mods                             []ari.Module
	sounds                           []ari.Sound
	eps                              []ari.Endpoint
	apps                             []ari.Application
	probed                           []string
	calls                            int
}

func (f *fakeAsterisk) Info(context.Context) (ari.AsteriskInfo, error) {
	f.calls++
	return f.info, f.infoErr
}
func (f *fakeAsterisk) Modules(context.Context) ([]ari.Module, error) {
	f.calls++
	return f.mods, f.modErr
}
func (f *fakeAsterisk) Sounds(context.Context) ([]ari.Sound, error) {
	f.calls++
	return f.sounds, f.soundErr
}
func (f *fakeAsterisk) Endpoints(context.Context) ([]ari.Endpoint, error) {
	f.calls++
	return f.eps, f.epErr
}
func (f *fakeAsterisk) Applications(context.Context) ([]ari.Application, error) {
	f.calls++
	return f.apps, f.appErr
}
func (f *fakeAsterisk) ProbeEvents(_ context.Context, app string) error {
	f.calls++
	f.probed = append(f.probed, app)
	return f.probeErr
}

// healthy is an Asterisk that has everything testConfig needs.
func healthy() *fakeAsterisk {
	f := &fakeAsterisk{info: ari.AsteriskInfo{Version: "22.10.1"}}
	for _, r := range requiredModules {
		f.mods = append(f.mods, ari.Module{Name: r.name, Status: "Running"})
	}
	f.sounds = withDigits([]ari.Sound{sound("hotline-closed", "uk", "pl", "en")}, "uk", "pl", "en")
	for _, r := range []string{"101", "102", "999", "trunk"} {
		f.eps = append(f.eps, ari.Endpoint{Technology: "PJSIP", Resource: r, State: "online"})
	}
	f.eps = append(f.eps, ari.Endpoint{Technology: "IAX2", Resource: "500", State: "online"})
	return f
}

func TestRun(t *testing.T) {
	cfg := loadConfig(t, testConfig)
	ctx := context.Background()
	opts := Options{Sounds: []string{"hotline-closed"}}
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}

	t.Run("healthy", func(t *testing.T) {
		f := healthy()
		rep := Run(ctx, f, cfg, opts)
		checkFindings(t, rep.Findings, []string{
			fmt.Sprintf("%d note application hotline is not connected now", lineApp),
			fmt.Sprintf("%d note agents[3].endpoint: agent 301: Local/301@phones", lineAgent301),
			"0 note dialplan not checked (ARI cannot read it): check by hand that service numbers reach Stasis(hotline,NUMBER)",
		})
		if rep.Version != "22.10.1" || rep.Count(Error) != 0 || rep.Count(Warning) != 0 {
			t.Errorf("report %+v", rep)
		}
		if len(f.probed) != 1 || !strings.HasPrefix(f.probed[0], "hotline-doctor-") || len(f.probed[0]) != len("hotline-doctor-")+12 {
			t.Errorf("probed as %q, want one random hotline-doctor-… name", f.probed)
		}
		for _, fd := range rep.Findings {
			if fd.File != "hotline.yaml" {
				t.Errorf("finding without its file: %+v", fd)
			}
		}
		if want := "hotline.yaml: Asterisk 22.10.1 at http://127.0.0.1:8088/ari: no problems"; rep.Summary() != want {
			t.Errorf("summary %q, want %q", rep.Summary(), want)
		}
	})

	t.Run("random probe names differ", func(t *testing.T) {
		f := healthy()
		Run(ctx, f, cfg, opts)
		Run(ctx, f, cfg, opts)
		if len(f.probed) != 2 || f.probed[0] == f.probed[1] {
			t.Errorf("probes %q", f.probed)
		}
	})

	t.Run("never probes as the configured application", func(t *testing.T) {
		f := healthy()
		rep := Run(ctx, f, cfg, Options{Sounds: opts.Sounds, ProbeApplication: "hotline"})
		if len(f.probed) != 0 || rep.Count(Warning) != 1 {
			t.Errorf("probed %q; findings %v", f.probed, rep.Findings)
		}
	})

	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"user rejected", fmt.Errorf("asterisk info: %w", &ari.HTTPError{Status: 401, Message: "Authentication required"}),
			fmt.Sprintf(`%d error ARI user "hotline" rejected: check ari.conf and the password file /run/secrets/ari-password`, linePassword)},
		{"not ARI", &ari.HTTPError{Status: 404}, fmt.Sprintf("%d error ari.url: http://127.0.0.1:8088/ari answered 404", lineURL)},
		{"refused", fmt.Errorf("asterisk info: %w", refused), fmt.Sprintf("%d error ari.url: cannot reach ARI at http://127.0.0.1:8088/ari: asterisk info: dial tcp: connection refused", lineURL)},
		{"timeout", fmt.Errorf("asterisk info: %w", context.DeadlineExceeded), fmt.Sprintf("%d error ari.url: no answer from ARI at http://127.0.0.1:8088/ari within 10s (ari.request_timeout)", lineURL)},
		{"server error", &ari.HTTPError{Status: 500, Message: "boom"}, fmt.Sprintf("%d error ari.url: ARI at http://127.0.0.1:8088/ari refused the request: ari status 500: boom", lineURL)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := healthy()
			f.infoErr = tc.err
			rep := Run(ctx, f, cfg, opts)
			checkFindings(t, rep.Findings, []string{tc.want})
			if f.calls != 1 {
				t.Errorf("%d calls after the first failed, want none", f.calls-1)
			}
			if !strings.HasSuffix(rep.Summary(), "(not reached): 1 error, 0 warnings") {
				t.Errorf("summary %q", rep.Summary())
			}
		})
	}

	t.Run("events websocket refused", func(t *testing.T) {
		f := healthy()
		f.probeErr = fmt.Errorf("probe events x: %w", &ari.HTTPError{Status: 400, Message: "Bad Request"})
		rep := Run(ctx, f, cfg, opts)
		if rep.Count(Error) != 1 || !strings.Contains(rep.Findings[0].Message, "ari.url: the events websocket ws://127.0.0.1:8088/ari/events failed") ||
			rep.Findings[0].Line != lineURL {
			t.Errorf("findings %v", rep.Findings)
		}
		f.probeErr = &ari.HTTPError{Status: 401}
		rep = Run(ctx, f, cfg, opts)
		if rep.Count(Error) != 1 || !strings.Contains(rep.Findings[0].Message, "rejected by the events websocket") {
			t.Errorf("findings %v", rep.Findings)
		}
		f.probeErr = fmt.Errorf("probe events x: %w: %w", ari.ErrUncleanClose, errors.New("EOF"))
		rep = Run(ctx, f, cfg, opts)
		if rep.Count(Error) != 0 || rep.Count(Warning) != 1 || !strings.Contains(rep.Findings[0].Message, "opened, but did not close cleanly") {
			t.Errorf("findings %v", rep.Findings)
		}
	})

	t.Run("checks that cannot be made are warnings, the rest still run", func(t *testing.T) {
		f := healthy()
		f.modErr, f.soundErr, f.epErr, f.appErr = errors.New("m"), errors.New("s"), errors.New("e"), errors.New("a")
		rep := Run(ctx, f, cfg, opts)
		checkFindings(t, rep.Findings, []string{
			"0 warning modules not checked: m; check by hand",
			fmt.Sprintf("%d warning whether the application is connected not checked: a", lineApp),
			"0 warning sounds not checked: s",
			"0 warning agents' endpoints not checked: e",
			"0 note dialplan",
		})
		if f.calls != 6 {
			t.Errorf("%d calls, want all 6", f.calls)
		}
	})

	t.Run("everything wrong", func(t *testing.T) {
		f := healthy()
		f.info.Version = "22.2.0"
		f.mods = f.mods[1:]
		f.sounds = nil
		f.eps = f.eps[:1]
		f.eps[0].State = "offline"
		f.apps = []ari.Application{{Name: "hotline"}}
		rep := Run(ctx, f, cfg, opts)
		// version, res_pjsip, closed, three languages' digits, 102, 999,
		// 400 (IAX2/500 is a note now: Asterisk lists no IAX2 endpoints).
		if got := rep.Count(Error); got != 9 {
			t.Errorf("%d errors, want 9:\n%v", got, rep.Findings)
		}
		if !strings.HasSuffix(rep.Summary(), "Asterisk 22.2.0 at http://127.0.0.1:8088/ari: 9 errors, 1 warning") {
			t.Errorf("summary %q", rep.Summary())
		}
	})
}
