package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestRedisLog: go-redis's lines reach the daemon's log as JSON records,
// failures as warnings, one line of a kind per interval with the count
// of those dropped.
func TestRedisLog(t *testing.T) {
	var buf bytes.Buffer
	l := newRedisLog(slog.New(slog.NewJSONHandler(&buf, nil)))
	records := func() (out []map[string]any) {
		for d := json.NewDecoder(bytes.NewReader(buf.Bytes())); ; {
			var m map[string]any
			if err := d.Decode(&m); err != nil {
				return out
			}
			out = append(out, m)
		}
	}
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	l.now = func() time.Time { return now }
	ctx := context.Background()
	const dial = "redis: connection pool: failed to dial after %d attempts: %v"
	for i := 0; i < 50; i++ { // 5 a second for 10 s
		l.Printf(ctx, dial, 1, "dial tcp 127.0.0.1:6379: connect: connection refused")
		now = now.Add(200 * time.Millisecond)
	}
	l.Printf(ctx, "sentinel: new master=%q addr=%q", "hotline", "127.0.0.1:6380")
	lines := records()
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
	lines = records()
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
