package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hotline-project/hotline/api"
	"github.com/hotline-project/hotline/app"
	"github.com/hotline-project/hotline/asterisksim"
	"github.com/hotline-project/hotline/desk"
	"github.com/hotline-project/hotline/dialplan"
	"github.com/hotline-project/hotline/internal/harness"
	"github.com/hotline-project/hotline/internal/redistest"
)

// TestLifecycle runs the whole daemon in-process against the simulated
// Asterisk and a real Redis: it becomes ready, serves its API and metrics,
// survives a dropped ARI websocket, and stops cleanly.
func TestLifecycle(t *testing.T) {
	const token = "admin-token-0123456789"
	h := harness.Start(t, harness.Options{Config: app.TestConfig, App: app.Options{
		Authenticate: api.StaticTokens(map[string]api.Token{token: {Role: api.RoleAdmin}}),
		Desk:         desk.New(desk.Options{}),
	}})
	a, sim, ctx := h.Daemon, h.Sim, context.Background()
	body := get(t, a.URL()+"/api/v1/agents", token, http.StatusOK)
	var agents []map[string]any
	if err := json.Unmarshal([]byte(body), &agents); err != nil || len(agents) != 1 {
		t.Fatalf("agents: %s (%v)", body, err)
	}
	metricsText := get(t, a.URL()+"/metrics", "", http.StatusOK)
	for _, name := range []string{"hotline_ari_connected 1", `hotline_agents{state="offline"} 1`, "hotline_build_info"} {
		if !strings.Contains(metricsText, name) {
			t.Errorf("metrics lack %q", name)
		}
	}

	// A lost websocket is noticed and the node reconnects by itself.
	sim.DropWebsockets()
	a.WaitReady()

	// The agent desk is mounted at the root.
	if page := get(t, a.URL()+"/", "", http.StatusOK); !strings.Contains(strings.ToLower(page), "<!doctype html>") {
		t.Errorf("/ is not the desk page: %.200s", page)
	}

	// An open desk (events stream) must not hold the stop to its deadline:
	// the stop below would fail with "stop http: context deadline exceeded".
	stream := openEvents(t, a.URL(), token)
	streamEnded := make(chan error, 1)
	go func() { _, err := io.Copy(io.Discard, stream); streamEnded <- err }()

	stopCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := a.Shutdown(stopCtx); err != nil {
		t.Fatalf("stop: %v", err)
	}
	select {
	case <-streamEnded:
	case <-time.After(5 * time.Second):
		t.Error("events stream still open after Stop")
	}
	if _, err := http.Get(a.URL() + "/healthz"); err == nil {
		t.Error("HTTP still served after Stop")
	}
}

// openEvents opens the events stream and reads its hello, so the handler
// is known to be running.
func openEvents(t *testing.T, base, token string) io.ReadCloser {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/events", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("events: %d", resp.StatusCode)
	}
	buf := make([]byte, 512)
	n, err := resp.Body.Read(buf)
	if err != nil || !strings.Contains(string(buf[:n]), "hello") {
		t.Fatalf("events: first read %q, %v", buf[:n], err)
	}
	return resp.Body
}

func get(t *testing.T, url, token string, want int) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return string(b)
}

// TestReloadTokens: SIGHUP's Reload applies the token file, so a token
// taken out of it stops working at once and a new one starts.
func TestReloadTokens(t *testing.T) {
	sim := harness.Sim(t, asterisksim.Options{Username: harness.ARIUser, Password: harness.ARIPassword})
	srv, rdb := harness.Redis(t)
	const oldToken, newToken = "admin-token-old-0123456789", "admin-token-new-0123456789"
	tokensPath := filepath.Join(t.TempDir(), "tokens.yaml")
	writeTokens := func(token string) {
		t.Helper()
		if err := os.WriteFile(tokensPath, []byte(fmt.Sprintf("%q: admin\n", token)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	loadConfig := func() *dialplan.Config {
		t.Helper()
		text := app.TestConfig + fmt.Sprintf("http:\n  tokens_file: %s\n", tokensPath)
		return harness.Config(t, "test.yaml", text, map[string]string{"ARI_URL": sim.URL(), "REDIS": srv.Addr})
	}
	writeTokens(oldToken)
	password := harness.ARIPassword
	a := harness.StartDaemon(t, app.Options{Config: loadConfig(), Redis: rdb, ARIPassword: &password})
	ctx := context.Background()

	get(t, a.URL()+"/api/v1/me", oldToken, http.StatusOK)
	get(t, a.URL()+"/api/v1/me", newToken, http.StatusUnauthorized)

	writeTokens(newToken)
	if err := a.Reload(ctx, loadConfig()); err != nil {
		t.Fatalf("reload: %v", err)
	}
	get(t, a.URL()+"/api/v1/me", oldToken, http.StatusUnauthorized)
	get(t, a.URL()+"/api/v1/me", newToken, http.StatusOK)

	// A token file with problems refuses the reload and keeps the table.
	if err := os.WriteFile(tokensPath, []byte("short: admin\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := a.Reload(ctx, loadConfig()); err == nil {
		t.Error("reload with a bad token file succeeded")
	}
	get(t, a.URL()+"/api/v1/me", newToken, http.StatusOK)
}

// readyz is /readyz's status and body.
func readyz(t *testing.T, base string) (int, string) {
	t.Helper()
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatalf("readyz: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitStatus polls /readyz until it answers want, up to limit.
func waitStatus(t *testing.T, base string, want int, limit time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		code, body := readyz(t, base)
		if code == want {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("readyz still %d %s after %v, want %d", code, body, limit, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestStartBeforeRedis: the daemon starts while Redis is down (it serves
// HTTP, /readyz is 503 naming Redis, go-redis's complaints reach the
// daemon's JSON log a few times, not several a second), becomes ready
// once Redis is started, and again after Redis is restarted.
func TestStartBeforeRedis(t *testing.T) {
	srv := redistest.StartAOF(t)
	srv.Shutdown() // its address is now one where nothing listens
	sim := harness.Sim(t, asterisksim.Options{Username: harness.ARIUser, Password: harness.ARIPassword})
	cfg := harness.Config(t, "test.yaml", app.TestConfig, map[string]string{"ARI_URL": sim.URL(), "REDIS": srv.Addr})
	var logs harness.LogBuffer
	password := harness.ARIPassword
	const token = "admin-token-0123456789"
	start := time.Now()
	a := harness.NewDaemon(t, app.Options{
		Config: cfg, ARIPassword: &password, // the daemon's own Redis client
		Logger:       slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
		Authenticate: api.StaticTokens(map[string]api.Token{token: {Role: api.RoleAdmin}}),
	})
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Start took %v with Redis down: it must not wait for Redis", d)
	}
	if resp, err := http.Get(a.URL() + "/healthz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz with Redis down: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	// Long enough for several attempts and go-redis dial failures.
	time.Sleep(2 * time.Second)
	code, body := readyz(t, a.URL())
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "redis: not started") || !strings.Contains(body, "refused") {
		t.Errorf("readyz with Redis down: %d %s; want 503 naming Redis and why", code, body)
	}
	t.Logf("readyz with Redis down: %d %s", code, body)
	goRedis, retries := 0, 0
	for _, l := range logs.Lines(t) {
		switch l["msg"] {
		case "go-redis":
			goRedis++
		case "store not prepared: Redis does not answer; retrying":
			retries++
		}
	}
	// go-redis fails a dial at every attempt and check; one line of each
	// kind per 10 s gets through.
	if goRedis < 1 || goRedis > 3 {
		t.Errorf("%d go-redis lines in 2 s of outage, want 1 to 3 (deduplicated, in the JSON log)", goRedis)
	}
	if retries < 2 {
		t.Errorf("%d retries logged in 2 s, want a few (backoff from 200 ms)", retries)
	}

	if err := srv.Resume(); err != nil {
		t.Fatal(err)
	}
	resumed := time.Now()
	waitStatus(t, a.URL(), http.StatusOK, 15*time.Second)
	t.Logf("ready %v after Redis started", time.Since(resumed).Round(time.Millisecond))
	status := func() int {
		req, _ := http.NewRequest(http.MethodPost, a.URL()+"/api/v1/agents/101/state", strings.NewReader(`{"action":"login"}`))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := status(); st/100 != 2 {
		t.Fatalf("login after start: %d", st) // the agents were synced once Redis answered
	}

	// A restart: /readyz says so while Redis is down, and routing scripts
	// work once it is back, though its script cache is empty (an AOF
	// keeps data, not scripts): the store falls back to EVAL and reloads.
	srv.Shutdown()
	body = waitStatus(t, a.URL(), http.StatusServiceUnavailable, 5*time.Second)
	if !strings.Contains(body, "redis") {
		t.Errorf("readyz with Redis stopped: %s; want it to name Redis", body)
	}
	if err := srv.Resume(); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, a.URL(), http.StatusOK, 15*time.Second)
	req, _ := http.NewRequest(http.MethodPost, a.URL()+"/api/v1/agents/101/state", strings.NewReader(`{"action":"pause","reason":"lunch"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Errorf("pause after a Redis restart (script cache empty): %d", resp.StatusCode)
	}
}
