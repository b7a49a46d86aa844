package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hotline-project/hotline/api"
	"github.com/hotline-project/hotline/asterisksim"
	"github.com/hotline-project/hotline/desk"
	"github.com/hotline-project/hotline/dialplan"
	"github.com/hotline-project/hotline/internal/redistest"
)

const testConfig = `
ari:
  url: %s
  username: hotline
  password_env: HOTLINE_TEST_UNUSED
  reconnect_backoff: {min: 50ms, max: 200ms}
redis:
  addrs: [%s]
topics:
  audit: {description: billing}
numbers:
  "100": {topic: audit}
agents:
  - {id: "101", name: Olena, endpoint: Local/101@phones, topics: [audit]}
`

// TestLifecycle runs the whole daemon in-process against the simulated
// Asterisk and a real Redis: it becomes ready, serves its API and metrics,
// survives a dropped ARI websocket, and stops cleanly.
func TestLifecycle(t *testing.T) {
	srv := redistest.Start(t)
	sim := asterisksim.New(asterisksim.Options{Username: "hotline", Password: "secret"})
	if err := sim.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close(context.Background()) })

	cfg, err := dialplan.Parse("test.yaml", []byte(fmt.Sprintf(testConfig, sim.URL(), srv.Addr)))
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = rdb.Close() })
	password := "secret"
	const token = "admin-token-0123456789"
	a, err := New(Options{
		Config: cfg, Redis: rdb, ARIPassword: &password, Listen: "127.0.0.1:0",
		Authenticate: api.StaticTokens(map[string]api.Token{token: {Role: api.RoleAdmin}}),
		Desk:         desk.New(desk.Options{}),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = a.Stop(context.Background())
		}
	})

	waitReady(t, a.URL())
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
	waitReady(t, a.URL())

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
	if err := a.Stop(stopCtx); err != nil {
		t.Fatalf("stop: %v", err)
	}
	stopped = true
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

func waitReady(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("not ready within 10s")
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
	srv := redistest.Start(t)
	sim := asterisksim.New(asterisksim.Options{Username: "hotline", Password: "secret"})
	if err := sim.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close(context.Background()) })

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
		text := fmt.Sprintf(testConfig, sim.URL(), srv.Addr) + fmt.Sprintf("http:\n  tokens_file: %s\n", tokensPath)
		cfg, err := dialplan.Parse("test.yaml", []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	writeTokens(oldToken)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = rdb.Close() })
	password := "secret"
	a, err := New(Options{Config: loadConfig(), Redis: rdb, ARIPassword: &password, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Stop(context.Background()) })

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
