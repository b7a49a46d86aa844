package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hotline-project/hotline/api"
	"github.com/hotline-project/hotline/asterisksim"
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

	stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := a.Stop(stopCtx); err != nil {
		t.Fatalf("stop: %v", err)
	}
	stopped = true
	if _, err := http.Get(a.URL() + "/healthz"); err == nil {
		t.Error("HTTP still served after Stop")
	}
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
