package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hotline-project/hotline/api"
	"github.com/hotline-project/hotline/asterisksim"
	"github.com/hotline-project/hotline/dialplan"
	"github.com/hotline-project/hotline/internal/redistest"
)

// logBuffer is a log destination tests read while the daemon writes.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// lines are the JSON records written so far; a line that is not JSON
// fails t.
func (l *logBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	l.mu.Lock()
	text := l.b.String()
	l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Errorf("log line is not JSON: %q", line)
			continue
		}
		out = append(out, m)
	}
	return out
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
	sim := asterisksim.New(asterisksim.Options{Username: "hotline", Password: "secret"})
	if err := sim.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close(context.Background()) })
	cfg, err := dialplan.Parse("test.yaml", []byte(fmt.Sprintf(testConfig, sim.URL(), srv.Addr)))
	if err != nil {
		t.Fatal(err)
	}
	var logs logBuffer
	password := "secret"
	const token = "admin-token-0123456789"
	a, err := New(Options{
		Config: cfg, ARIPassword: &password, Listen: "127.0.0.1:0", // the daemon's own Redis client
		Logger:       slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
		Authenticate: api.StaticTokens(map[string]api.Token{token: {Role: api.RoleAdmin}}),
	})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := a.Start(context.Background()); err != nil {
		t.Fatalf("start with Redis down: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := a.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
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
	for _, l := range logs.lines(t) {
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

// TestRedisLog: go-redis's lines reach the daemon's log as JSON records,
// failures as warnings, one line of a kind per interval with the count
// of those dropped.
func TestRedisLog(t *testing.T) {
	var buf logBuffer
	l := newRedisLog(slog.New(slog.NewJSONHandler(&buf, nil)))
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	l.now = func() time.Time { return now }
	ctx := context.Background()
	const dial = "redis: connection pool: failed to dial after %d attempts: %v"
	for i := 0; i < 50; i++ { // 5 a second for 10 s
		l.Printf(ctx, dial, 1, "dial tcp 127.0.0.1:6379: connect: connection refused")
		now = now.Add(200 * time.Millisecond)
	}
	l.Printf(ctx, "sentinel: new master=%q addr=%q", "hotline", "127.0.0.1:6380")
	lines := buf.lines(t)
	want := []struct {
		level, said string
		repeated    float64
	}{
		{"WARN", "connection pool: failed to dial after 1 attempts: dial tcp 127.0.0.1:6379: connect: connection refused", 0},
		{"WARN", "connection pool: failed to dial after 1 attempts: dial tcp 127.0.0.1:6379: connect: connection refused", 49},
		{"INFO", `sentinel: new master="hotline" addr="127.0.0.1:6380"`, 0},
	}
	// The 51st dial line (at 10 s) is the second written.
	l.Printf(ctx, dial, 1, "dial tcp 127.0.0.1:6379: connect: connection refused")
	lines = buf.lines(t)
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3: %v", len(lines), lines)
	}
	got := []map[string]any{lines[0], lines[2], lines[1]}
	for i, w := range want {
		g := got[i]
		if g["msg"] != "go-redis" || g["component"] != "go-redis" || g["level"] != w.level || g["said"] != w.said {
			t.Errorf("line %d: %v; want %s %q", i, g, w.level, w.said)
		}
		if r, _ := g["repeated"].(float64); r != w.repeated {
			t.Errorf("line %d: repeated %v, want %v", i, g["repeated"], w.repeated)
		}
	}
}

// TestSlotMapSuspect: which node failures make the Cluster client reload
// its slot map.
func TestSlotMapSuspect(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"none", nil, false},
		{"nil reply", redis.Nil, false},
		{"caller cancelled", context.Canceled, false},
		{"refused", refused, true},
		{"eof", io.EOF, true},
		{"deadline", context.DeadlineExceeded, true},
		{"wrapped refused", fmt.Errorf("enqueue: %w", refused), true},
		{"clusterdown", replyErr("CLUSTERDOWN The cluster is down"), true},
		{"readonly", replyErr("READONLY You can't write against a read only replica."), true},
		{"loading", replyErr("LOADING Redis is loading the dataset in memory"), true},
		{"noscript", replyErr("NOSCRIPT No matching script."), false},
		{"script error", replyErr("ERR user_script:1: oops"), false},
		{"wrongtype", replyErr("WRONGTYPE Operation against a key holding the wrong kind of value"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := slotMapSuspect(tt.err); got != tt.want {
				t.Errorf("slotMapSuspect(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

// replyErr is a Redis error reply: go-redis's own type (proto.RedisError)
// is internal, and a type is a Redis error to go-redis if it has the
// RedisError method.
type replyErr string

func (e replyErr) Error() string { return string(e) }
func (replyErr) RedisError()     {}
