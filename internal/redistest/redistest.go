// Package redistest starts a real redis-server on a free loopback port for
// tests. The server is the Debian package's binary; the README's test command
// installs it. A test that needs Redis and cannot find the binary skips with a
// message that says how to get it; CI always has it, so there it never skips.
package redistest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Server is a running redis-server owned by one test (or one package's
// TestMain). Addr is host:port on 127.0.0.1.
type Server struct {
	Addr string
	cmd  *exec.Cmd
	dir  string
}

// Start launches redis-server for t and stops it when t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s, err := StartServer()
	if err != nil {
		if err == errNoBinary {
			t.Skip("redis-server not found in PATH: install Debian's redis-server (the README's test command does)")
		}
		t.Fatalf("start redis-server: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

var errNoBinary = fmt.Errorf("redis-server not found in PATH")

// StartServer launches redis-server without a testing.TB, for TestMain and
// benchmarks run from a command. The caller must call Stop.
func StartServer() (*Server, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, errNoBinary
	}
	dir, err := os.MkdirTemp("", "hotline-redis-")
	if err != nil {
		return nil, err
	}
	// A port picked by the kernel can be taken again before redis binds it;
	// retry a few times rather than fail a test on a race with another test.
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		s := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), dir: dir}
		s.cmd = exec.Command(bin,
			"--port", strconv.Itoa(port),
			"--bind", "127.0.0.1",
			"--dir", dir,
			"--save", "",
			"--appendonly", "no",
			"--protected-mode", "no",
			"--loglevel", "warning",
			"--logfile", filepath.Join(dir, "redis.log"),
		)
		if err := s.cmd.Start(); err != nil {
			return nil, fmt.Errorf("start %s: %w", bin, err)
		}
		if err := s.waitReady(5 * time.Second); err == nil {
			return s, nil
		}
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
	}
	_ = os.RemoveAll(dir)
	return nil, fmt.Errorf("redis-server did not become ready (log in %s)", dir)
}

func (s *Server) waitReady(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if s.ping() == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("redis at %s not ready", s.Addr)
}

func (s *Server) ping() error {
	c, err := net.DialTimeout("tcp", s.Addr, 200*time.Millisecond)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("unexpected reply %q", line)
	}
	return nil
}

// Restart stops and starts the server on the same address with empty data,
// the way a Redis restart without persistence looks to a client (scripts
// flushed, keys gone). Tests of script reloading use it.
func (s *Server) Restart() error {
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = exec.Command(s.cmd.Path, s.cmd.Args[1:]...)
	if err := s.cmd.Start(); err != nil {
		return err
	}
	return s.waitReady(5 * time.Second)
}

// Stop kills the server and removes its directory.
func (s *Server) Stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
	}
	_ = os.RemoveAll(s.dir)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
