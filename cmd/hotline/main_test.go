package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

func runCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), nil, args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestCheckReferenceConfiguration(t *testing.T) {
	code, out, errOut := runCmd(t, "check", "--config", "../../deploy/hotline.yaml")
	if code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if !strings.Contains(out, "topics") || !strings.Contains(out, "numbers") {
		t.Errorf("summary %q", out)
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
