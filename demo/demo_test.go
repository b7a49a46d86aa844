package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is the demo's Out: written by its summary goroutine, read by
// the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("HOTLINE_DEMO_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// TestDemo runs the whole demo for a few seconds with fast traffic: calls
// are offered and answered, transfers are attempted, ratings counted, the
// API answers the demo's tokens, and Stop leaves no goroutine behind.
func TestDemo(t *testing.T) {
	baseline := runtime.NumGoroutine()
	out := &syncBuffer{}
	ctx := context.Background()
	d, err := Start(ctx, Options{
		Listen: "127.0.0.1:0", Rate: 240, Seed: 7, Logger: testLogger(t), Out: out,
		SummaryEvery: 500 * time.Millisecond, Pace: 0.3,
	})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = d.Stop(context.Background())
		}
	})
	d.PrintBanner(out)
	started := time.Now()

	client := &http.Client{Transport: &http.Transport{}, Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	tokens := d.Tokens()
	if len(tokens.Agents) != 9 || tokens.Admin == "" || tokens.Senior == "" {
		t.Fatalf("tokens: %+v", tokens)
	}
	for _, tc := range []struct {
		name, token string
		want        int
	}{
		{"admin", tokens.Admin, http.StatusOK},
		{"senior", tokens.Senior, http.StatusOK},
		{"agent", tokens.Agents["101"], http.StatusOK},
		{"wrong token", "not-a-demo-token-at-all", http.StatusUnauthorized},
	} {
		t.Run("api/"+tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, d.URL()+"/api/v1/agents", nil)
			req.Header.Set("Authorization", "Bearer "+tc.token)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("GET /api/v1/agents: %d, want %d", resp.StatusCode, tc.want)
			}
			if tc.want != http.StatusOK {
				return
			}
			var agents []map[string]any
			if err := json.NewDecoder(resp.Body).Decode(&agents); err != nil || len(agents) != 9 {
				t.Fatalf("agents: %d (%v)", len(agents), err)
			}
		})
	}

	// Run until every kind of traffic the test checks has been seen, up to
	// a bound: the script is random, the seed only makes it likely early.
	var s Stats
	deadline := time.Now().Add(12 * time.Second)
	for time.Now().Before(deadline) {
		if s, err = d.Stats(); err != nil {
			t.Fatal(err)
		}
		if s.Offered > 3 && s.Answered > 2 && s.TransferAttempts() > 0 && s.RatingsTotal() > 0 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("after %s: %s; transfers %v", time.Since(started).Round(time.Millisecond), s.Line(), s.Transfers)
	if s.Offered == 0 || s.Answered == 0 {
		t.Errorf("no calls flowed: %s", s.Line())
	}
	if s.TransferAttempts() == 0 {
		t.Errorf("no transfer attempted: %v", s.Transfers)
	}
	if s.RatingsTotal() == 0 {
		t.Errorf("no rating counted: %v", s.Ratings)
	}
	if !strings.Contains(out.String(), "calls ") {
		t.Errorf("no summary line printed:\n%s", out.String())
	}
	if !strings.Contains(out.String(), tokens.Admin) || !strings.Contains(out.String(), d.URL()+"/metrics") {
		t.Errorf("banner lacks the admin token or the metrics URL:\n%s", out.String())
	}

	stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := d.Stop(stopCtx); err != nil {
		t.Errorf("stop: %v", err)
	}
	stopped = true
	client.CloseIdleConnections()
	t.Logf("stopped in %s", time.Since(started).Round(time.Millisecond))

	// Every goroutine the demo started has exited; a few of the runtime's
	// and the HTTP client's may take a moment to notice closed connections.
	var n int
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if n = runtime.NumGoroutine(); n <= baseline+2 {
			t.Logf("goroutines back to %d (baseline %d) at %s", n, baseline, time.Since(started).Round(time.Millisecond))
			return
		}
	}
	buf := make([]byte, 1<<20)
	t.Errorf("goroutines: %d after stop, %d before start\n%s", n, baseline, buf[:runtime.Stack(buf, true)])
}
