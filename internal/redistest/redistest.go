// Package redistest ties the redis-server processes of internal/redisproc
// to a test: each is stopped when the test ends, after the end of its log
// is shown if the test failed. A test that needs Redis and cannot find
// redis-server skips with a message that says how to get it; CI always has
// it (the README's test command installs it), so there it never skips.
package redistest

import (
	"errors"
	"testing"

	"github.com/hotline-project/hotline/internal/redisproc"
)

// The processes, as redisproc has them.
type (
	Server   = redisproc.Server
	Cluster  = redisproc.Cluster
	Sentinel = redisproc.Sentinel
)

// StartServer launches redis-server without persistence for a package's
// TestMain, which must Stop it.
func StartServer() (*Server, error) { return redisproc.Start() }

// Start launches redis-server without persistence for t.
func Start(t testing.TB) *Server {
	t.Helper()
	s, err := redisproc.Start()
	must(t, "redis-server", err)
	t.Cleanup(func() { stop(t, s) })
	return s
}

// StartAOF launches redis-server with the append-only file on for t (see
// redisproc.StartAOF).
func StartAOF(t testing.TB) *Server {
	t.Helper()
	s, err := redisproc.StartAOF()
	must(t, "redis-server", err)
	t.Cleanup(func() { stop(t, s) })
	return s
}

// StartCluster starts a Redis Cluster for t (see redisproc.StartCluster).
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	c, err := redisproc.StartCluster()
	must(t, "Redis Cluster", err)
	t.Cleanup(func() {
		for _, n := range c.Nodes {
			stop(t, n)
		}
	})
	return c
}

// StartSentinel starts a Sentinel set for t (see redisproc.StartSentinel).
func StartSentinel(t testing.TB) *Sentinel {
	t.Helper()
	s, err := redisproc.StartSentinel()
	must(t, "Sentinel set", err)
	t.Cleanup(func() {
		for _, n := range s.Processes() {
			stop(t, n)
		}
	})
	return s
}

func must(t testing.TB, what string, err error) {
	t.Helper()
	if errors.Is(err, redisproc.ErrNoBinary) {
		t.Skip("redis-server not found in PATH: install Debian's redis-server (the README's test command does)")
	}
	if err != nil {
		t.Fatalf("start %s: %v", what, err)
	}
}

// stop stops s at the end of t, after showing the end of its log if t
// failed.
func stop(t testing.TB, s *Server) {
	if t.Failed() {
		if tail := s.LogTail(15); tail != "" {
			t.Logf("redis %s log:\n%s", s.Addr, tail)
		}
	}
	s.Stop()
}
