package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

func runCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), nil, args, &out, &errb)
	return code, out.String(), errb.String()
}

// TestCheckReferenceConfiguration checks deploy/hotline.yaml with the
// secrets it names in place (here: in a temporary directory), and alone
// with --no-secrets.
func TestCheckReferenceConfiguration(t *testing.T) {
	data, err := os.ReadFile("../../deploy/hotline.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	text := string(data)
	for old, file := range map[string]string{
		"password_file: /etc/hotline/ari-password": "ari-password",
		"tokens_file: /etc/hotline/tokens.yaml":    "tokens.yaml",
	} {
		if !strings.Contains(text, old) {
			t.Fatalf("deploy/hotline.yaml no longer has %q", old)
		}
		text = strings.Replace(text, old, strings.SplitN(old, ":", 2)[0]+": "+file, 1)
	}
	writeFiles(t, dir, map[string]string{
		"hotline.yaml": text,
		"ari-password": "ari-secret-Zq81\n",
		"tokens.yaml":  `"admin-token-4f1c0e9b2d4a8f3e": admin` + "\n" + `"agent-token-a1b2c3d4e5f60718": agent:101` + "\n",
	})
	t.Setenv("HOTLINE_REDIS_PASSWORD", "redis-secret-Pw77")
	for _, args := range [][]string{
		{"check", "--config", filepath.Join(dir, "hotline.yaml")},
		{"check", "--no-secrets", "--config", "../../deploy/hotline.yaml"},
	} {
		code, out, errOut := runCmd(t, args...)
		if code != 0 {
			t.Fatalf("%s: exit %d\nstdout: %s\nstderr: %s", args, code, out, errOut)
		}
		if !strings.Contains(out, "topics") || !strings.Contains(out, "numbers") {
			t.Errorf("summary %q", out)
		}
	}
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// secretsConfig names a secret of every kind: a file, a variable, a tokens
// file. The tests below change it and the files it names.
const secretsConfig = `ari:
  password_file: ari-password
redis:
  password_env: HOTLINE_TEST_REDIS_PASSWORD
http:
  tokens_file: tokens.yaml
  listen: 127.0.0.1:0
topics:
  audit: {}
numbers:
  "100": {topic: audit}
agents:
  - {id: "101", endpoint: PJSIP/101, topics: [audit]}
callback:
  dial_template: PJSIP/${NUMBER}@trunk
`

// The secrets of the good setup; none may ever be printed.
const (
	testARIPassword   = "ari-secret-Zq81"
	testRedisPassword = "redis-secret-Pw77"
	testAdminToken    = "admin-token-4f1c0e9b2d4a8f3e"
	testAgentToken    = "agent-token-a1b2c3d4e5f60718"
)

var goodTokens = `"` + testAdminToken + `": admin` + "\n" + `"` + testAgentToken + `": agent:101` + "\n"

// TestCheckReadsSecrets: every setup serve refuses over its secrets,
// check refuses too, with the same problems: a secret that cannot be read
// at the configuration key naming it, a problem inside the tokens file at
// that file's line. Nothing secret is printed by either.
func TestCheckReadsSecrets(t *testing.T) {
	tests := []struct {
		name   string
		config map[string]string // replacements in secretsConfig
		files  map[string]string // over the good ones; "" for none, "DIR" for a directory
		env    map[string]string // over the good ones
		want   []string          // {CONFIG}, {TOKENS} and {DIR} stand for the paths
	}{
		{name: "good"},
		{
			name:  "ari password file missing",
			files: map[string]string{"ari-password": ""},
			want:  []string{"{CONFIG}:2: ari.password_file: read secret: open {DIR}/ari-password: no such file or directory"},
		},
		{
			name:  "ari password file empty",
			files: map[string]string{"ari-password": "\n"},
			want:  []string{"{CONFIG}:2: ari.password_file: read secret {DIR}/ari-password: secret not set"},
		},
		{
			name:   "redis password file unreadable",
			config: map[string]string{"password_env: HOTLINE_TEST_REDIS_PASSWORD": "password_file: redis-password"},
			files:  map[string]string{"redis-password": "DIR"},
			want:   []string{"{CONFIG}:4: redis.password_file: read secret: read {DIR}/redis-password: is a directory"},
		},
		{
			name: "redis password variable unset",
			env:  map[string]string{"HOTLINE_TEST_REDIS_PASSWORD": "UNSET"},
			want: []string{"{CONFIG}:4: redis.password_env: read secret $HOTLINE_TEST_REDIS_PASSWORD: secret not set"},
		},
		{
			name: "redis password variable empty",
			env:  map[string]string{"HOTLINE_TEST_REDIS_PASSWORD": ""},
			want: []string{"{CONFIG}:4: redis.password_env: read secret $HOTLINE_TEST_REDIS_PASSWORD: secret not set"},
		},
		{
			name:  "tokens file missing",
			files: map[string]string{"tokens.yaml": ""},
			want:  []string{"{CONFIG}:6: http.tokens_file: read secret: open {DIR}/tokens.yaml: no such file or directory"},
		},
		{
			name:  "tokens file empty",
			files: map[string]string{"tokens.yaml": "\n\n"},
			want:  []string{"{CONFIG}:6: http.tokens_file: read secret {DIR}/tokens.yaml: secret not set"},
		},
		{
			name:  "tokens file malformed",
			files: map[string]string{"tokens.yaml": `"` + testAdminToken + `": admin` + "\n" + `"` + testAgentToken + ": agent:101\n"},
			want:  []string{"{TOKENS}:2: invalid YAML: quoted string not closed (the file ends inside it)"},
		},
		{
			name:  "tokens file not a mapping",
			files: map[string]string{"tokens.yaml": "- " + testAdminToken + "\n"},
			want:  []string{"{TOKENS}:1: tokens: expected a mapping of token: role"},
		},
		{
			name:  "token for an unknown agent",
			files: map[string]string{"tokens.yaml": goodTokens + `"agent-token-ffee0102030405": agent:102` + "\n"},
			want:  []string{`{TOKENS}:3: token for unknown agent "102" (not in agents)`},
		},
		{
			name:  "bad role",
			files: map[string]string{"tokens.yaml": goodTokens + `"root-token-0123456789ab": root` + "\n"},
			want:  []string{`{TOKENS}:3: role "root": role must be "admin", "senior" or "agent:ID"`},
		},
		{
			name:  "duplicate token",
			files: map[string]string{"tokens.yaml": goodTokens + `"` + testAdminToken + `": senior` + "\n"},
			want:  []string{"{TOKENS}:3: duplicate token (first at line 1)"},
		},
		{
			name:  "short token",
			files: map[string]string{"tokens.yaml": goodTokens + `"0123456789": admin` + "\n"},
			want:  []string{"{TOKENS}:3: token shorter than 16 characters"},
		},
		{
			name:   "tokens variable unset",
			config: map[string]string{"tokens_file: tokens.yaml": "tokens_env: HOTLINE_TEST_TOKENS"},
			want:   []string{"{CONFIG}:6: http.tokens_env: read secret $HOTLINE_TEST_TOKENS: secret not set"},
		},
		{
			name:   "tokens variable malformed",
			config: map[string]string{"tokens_file: tokens.yaml": "tokens_env: HOTLINE_TEST_TOKENS"},
			env:    map[string]string{"HOTLINE_TEST_TOKENS": `{"` + testAdminToken + `": admin, "` + testAgentToken + `": agent:7}`},
			want:   []string{`$HOTLINE_TEST_TOKENS:1: token for unknown agent "7" (not in agents)`},
		},
		{
			name:  "several at once",
			files: map[string]string{"ari-password": "", "tokens.yaml": goodTokens + `"root-token-0123456789ab": root` + "\n" + `"agent-token-ffee0102030405": agent:102` + "\n"},
			env:   map[string]string{"HOTLINE_TEST_REDIS_PASSWORD": "UNSET"},
			want: []string{
				"{CONFIG}:2: ari.password_file: read secret: open {DIR}/ari-password: no such file or directory",
				"{CONFIG}:4: redis.password_env: read secret $HOTLINE_TEST_REDIS_PASSWORD: secret not set",
				`{TOKENS}:3: role "root": role must be "admin", "senior" or "agent:ID"`,
				`{TOKENS}:4: token for unknown agent "102" (not in agents)`,
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			text := secretsConfig
			for old, new := range tc.config {
				if !strings.Contains(text, old) {
					t.Fatalf("secretsConfig has no %q", old)
				}
				text = strings.Replace(text, old, new, 1)
			}
			files := map[string]string{"hotline.yaml": text, "ari-password": testARIPassword + "\n", "tokens.yaml": goodTokens}
			for name, data := range tc.files {
				files[name] = data
			}
			for name, data := range files {
				switch data {
				case "":
				case "DIR":
					if err := os.Mkdir(filepath.Join(dir, name), 0o700); err != nil {
						t.Fatal(err)
					}
				default:
					writeFiles(t, dir, map[string]string{name: data})
				}
			}
			env := map[string]string{"HOTLINE_TEST_REDIS_PASSWORD": testRedisPassword, "HOTLINE_TEST_TOKENS": "UNSET"}
			for k, v := range tc.env {
				env[k] = v
			}
			for k, v := range env {
				t.Setenv(k, v)
				if v == "UNSET" {
					os.Unsetenv(k)
				}
			}
			config := filepath.Join(dir, "hotline.yaml")
			var want []string
			for _, w := range tc.want {
				want = append(want, strings.NewReplacer("{CONFIG}", config, "{TOKENS}", filepath.Join(dir, "tokens.yaml"), "{DIR}", dir).Replace(w))
			}

			code, out, errOut := runCmd(t, "check", "--config", config)
			noSecrets(t, out+errOut)
			if len(want) == 0 {
				if code != 0 {
					t.Fatalf("check: exit %d\n%s", code, errOut)
				}
				return
			}
			wantOut := strings.Join(want, "\n") + fmt.Sprintf("\n%s: %d problem(s)\n", config, len(want))
			if code != 1 || errOut != wantOut {
				t.Errorf("check: exit %d, stderr:\n%s\nwant exit 1, stderr:\n%s", code, errOut, wantOut)
			}
			// The file alone is fine.
			if code, _, errOut := runCmd(t, "check", "--no-secrets", "--config", config); code != 0 {
				t.Errorf("check --no-secrets: exit %d\n%s", code, errOut)
			}

			// serve refuses the same setup with the same problems, before
			// connecting to anything (the context is cancelled anyway).
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			var serveOut, serveErr bytes.Buffer
			if code := run(ctx, nil, []string{"serve", "--config", config}, &serveOut, &serveErr); code != 1 {
				t.Errorf("serve: exit %d", code)
			}
			noSecrets(t, serveOut.String()+serveErr.String())
			if got := strings.TrimPrefix(serveErr.String(), "hotline serve: "); got != strings.Join(want, "\n")+"\n" {
				t.Errorf("serve: stderr:\n%s\nwant:\n%s", serveErr.String(), strings.Join(want, "\n"))
			}
		})
	}
}

func noSecrets(t *testing.T, output string) {
	t.Helper()
	for _, s := range []string{testARIPassword, testRedisPassword, testAdminToken, testAgentToken} {
		if strings.Contains(output, s) {
			t.Errorf("a secret is printed:\n%s", output)
		}
	}
}

// TestCheckReportsEveryProblem breaks a copy of the reference configuration
// three ways and expects all three reported as FILE:LINE: message, exit 1.
func TestCheckReportsEveryProblem(t *testing.T) {
	data, err := os.ReadFile("../../deploy/hotline.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	replace := func(old, new string) {
		t.Helper()
		if !strings.Contains(s, old) {
			t.Fatalf("reference configuration no longer contains %q", old)
		}
		s = strings.Replace(s, old, new, 1)
	}
	replace("  application: hotline\n", "  application: hotline\n  aplication: typo\n") // unknown key
	replace(`"4": {topic: requests}`, `"44": {topic: requests}`)                        // bad digit
	replace(`"1": {lang: uk, menu: topics}`, `"1": {lang: uk, menu: main}`)             // main → language → main
	path := filepath.Join(t.TempDir(), "broken.yaml")
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCmd(t, "check", "--config", path)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, errOut)
	}
	for _, want := range []string{"aplication", `"44"`, "cycle"} {
		re := regexp.MustCompile(regexp.QuoteMeta(path) + `:\d+: .*` + regexp.QuoteMeta(want))
		if !re.MatchString(errOut) {
			t.Errorf("no FILE:LINE: line mentioning %s in:\n%s", want, errOut)
		}
	}
}

func TestCommandLine(t *testing.T) {
	tests := []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"version"}, 0, "hotline "},
		{nil, 2, ""},
		{[]string{"bogus"}, 2, ""},
		{[]string{"check"}, 1, ""},
		{[]string{"check", "--config", "/nonexistent/hotline.yaml"}, 1, ""},
		{[]string{"serve", "--config", "/nonexistent/hotline.yaml"}, 1, ""},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, out, errOut := runCmd(t, tt.args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\n%s%s", code, tt.code, out, errOut)
			}
			if !strings.Contains(out, tt.out) {
				t.Errorf("stdout %q lacks %q", out, tt.out)
			}
		})
	}
}

// TestRelayReloads: SIGHUPs become reload requests without blocking the
// signal side; several before serve looks merge into one; the relay ends
// with its context.
func TestRelayReloads(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	hup := make(chan os.Signal, 1)
	reload := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() { relayReloads(ctx, hup, reload); close(done) }()

	for range 3 {
		hup <- syscall.SIGHUP
	}
	<-reload
	select {
	case <-reload:
		// The third SIGHUP may land after the first request was taken.
	default:
	}
	hup <- syscall.SIGHUP
	<-reload
	cancel()
	<-done
}

// TestServeMountsDesk: the production daemon serves the agent desk at "/".
func TestServeMountsDesk(t *testing.T) {
	opts := serveOptions(nil, nil)
	if opts.Desk == nil {
		t.Fatal("serve mounts no desk")
	}
	rec := httptest.NewRecorder()
	opts.Desk.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusOK || !strings.Contains(strings.ToLower(rec.Body.String()), "<!doctype html>") {
		t.Errorf("GET /: %d %.200s", rec.Code, rec.Body.String())
	}
}

// TestLogFormat: the daemon's log is JSON with durations in seconds (slog
// alone writes nanoseconds), at the configured level.
func TestLogFormat(t *testing.T) {
	var buf bytes.Buffer
	level := new(slog.LevelVar)
	log := newLogger(&buf, level)
	log.Debug("hidden at info")
	log.Info("retrying", "retry_in", 1500*time.Millisecond)
	level.Set(slog.LevelDebug)
	log.Debug("shown at debug")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("log lines %q, want the info and the later debug line", lines)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &m); err != nil {
		t.Fatal(err)
	}
	if m["retry_in"] != 1.5 {
		t.Errorf("duration logged as %v, want 1.5 (seconds)", m["retry_in"])
	}
}
