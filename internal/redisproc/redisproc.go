// Package redisproc starts real redis-server processes on free loopback
// ports: a standalone server (Start, StartAOF), a Sentinel set
// (StartSentinel: a master, a replica and three sentinels) and a Cluster
// (StartCluster: three masters with a replica each), for the tests
// (through internal/redistest, which ties them to a test) and for
// hotline bench. The server is the Debian package's binary (7.0 in CI);
// the README's test command installs it.
//
// Every process dies with the program that started it (Pdeathsig) if
// that crashes; Stop kills it and removes its directory. Every wait is
// bounded. A port the kernel picked can be taken again before redis binds
// it, so a server that does not come up is retried on another port. The
// package does not import testing, so the daemon binary may use it.
package redisproc

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Server is one redis-server (or sentinel) process owned by one test (or
// one package's TestMain). Addr is host:port on 127.0.0.1 and stays the
// same across Kill, Shutdown, Resume and Restart.
type Server struct {
	Addr string

	bin  string
	args []string
	dir  string

	mu   sync.Mutex
	proc *process
}

type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited and been reaped
}

// Limits of the process helpers: generous, since a loaded 2-core machine
// is slow to fork and to load an AOF; a healthy server takes milliseconds.
const (
	readyLimit    = 10 * time.Second
	exitLimit     = 10 * time.Second
	startAttempts = 5
)

// ErrNoBinary: redis-server is not installed.
var ErrNoBinary = errors.New("redis-server not found in PATH")

// Start launches redis-server without persistence. The caller must call
// Stop.
func Start() (*Server, error) {
	return startIn(func(dir string, port int) []string {
		return serverArgs(port, dir, "--save", "", "--appendonly", "no")
	})
}

// StartAOF launches redis-server with the append-only file on (fsync every
// second, Redis's default): Shutdown then Resume brings back everything
// written before the shutdown, as a restart of a persistent production
// server would. The caller must call Stop.
func StartAOF() (*Server, error) {
	return startIn(func(dir string, port int) []string {
		return serverArgs(port, dir, "--appendonly", "yes", "--appendfsync", "everysec")
	})
}

// startIn starts a server in a new directory of its own.
func startIn(args func(dir string, port int) []string) (*Server, error) {
	dir, err := os.MkdirTemp("", "hotline-redis-")
	if err != nil {
		return nil, err
	}
	s, err := startNode(dir, func(port int) ([]string, error) { return args(dir, port), nil })
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

// serverArgs are the flags every server of this package gets, then extra.
func serverArgs(port int, dir string, extra ...string) []string {
	return append([]string{
		"--port", strconv.Itoa(port),
		"--bind", "127.0.0.1",
		"--dir", dir,
		"--protected-mode", "no",
		"--loglevel", "notice",
		"--logfile", filepath.Join(dir, "redis.log"),
		// A replica's first sync starts at once, not after the default
		// 5 s wait for more replicas.
		"--repl-diskless-sync-delay", "0",
	}, extra...)
}

// startNode starts a server in dir on a free port, with the arguments
// argsFor gives for that port, retrying on other ports when it does not
// come up (the port taken meanwhile).
func startNode(dir string, argsFor func(port int) ([]string, error)) (*Server, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, ErrNoBinary
	}
	var last error
	for attempt := 0; attempt < startAttempts; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		args, err := argsFor(port)
		if err != nil {
			return nil, err
		}
		s := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), bin: bin, args: args, dir: dir}
		if last = s.launch(); last == nil {
			return s, nil
		}
		s.Kill()
	}
	return nil, fmt.Errorf("redis-server did not come up on %d ports (log in %s): %w%s", startAttempts, dir, last, dirLogTail(dir))
}

func dirLogTail(dir string) string {
	if t := logTail(filepath.Join(dir, "redis.log"), 5); t != "" {
		return "\n" + t
	}
	return ""
}

// launch starts the process with s's arguments and waits until it answers
// PING, or fails if it exits first (a port in use) or takes readyLimit.
func (s *Server) launch() error {
	cmd := exec.Command(s.bin, s.args...)
	// Never outlive the test binary, even if it crashes.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.bin, err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	s.mu.Lock()
	s.proc = p
	s.mu.Unlock()
	deadline := time.Now().Add(readyLimit)
	for {
		select {
		case <-p.done:
			return fmt.Errorf("redis-server on %s exited at start: %v", s.Addr, cmd.ProcessState)
		default:
		}
		if s.ping() == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redis-server on %s not answering after %v", s.Addr, readyLimit)
		}
		time.Sleep(20 * time.Millisecond)
	}
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
		// -LOADING while an AOF loads: not ready yet.
		return fmt.Errorf("unexpected reply %q", line)
	}
	return nil
}

// Running reports whether the process is up (it may still be loading).
func (s *Server) Running() bool {
	s.mu.Lock()
	p := s.proc
	s.mu.Unlock()
	if p == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Kill ends the process with SIGKILL, as a crash would: nothing is
// flushed, the directory (AOF, cluster state) is kept for Resume.
func (s *Server) Kill() { s.signal(syscall.SIGKILL) }

// Shutdown ends the process with SIGTERM, which Redis handles as SHUTDOWN
// (the AOF is written and fsynced), and waits for it to exit; one that
// does not exit in time is killed. The directory is kept for Resume.
func (s *Server) Shutdown() { s.signal(syscall.SIGTERM) }

func (s *Server) signal(sig syscall.Signal) {
	s.mu.Lock()
	p := s.proc
	s.mu.Unlock()
	if p == nil {
		return
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
		return
	case <-time.After(exitLimit):
	}
	_ = p.cmd.Process.Kill()
	<-p.done // SIGKILL cannot be ignored: the process is gone within moments
}

// Resume starts the server again on the same address, directory and
// arguments after Kill or Shutdown: a persistent server loads its AOF, a
// cluster node its nodes.conf. It waits until the server answers PING
// (which it does only once the AOF is loaded). The port cannot change —
// clients know it — so a port taken meanwhile is retried for a while
// and then reported.
func (s *Server) Resume() error {
	if s.Running() {
		return fmt.Errorf("resume %s: still running", s.Addr)
	}
	var err error
	for attempt := 0; attempt < startAttempts; attempt++ {
		if err = s.launch(); err == nil {
			return nil
		}
		s.Kill()
		time.Sleep(200 * time.Millisecond << attempt)
	}
	return fmt.Errorf("resume %s: %w", s.Addr, err)
}

// Restart kills the server and starts it again on the same address. A
// server without persistence (Start) comes back empty, the way a Redis
// restart without persistence looks to a client (scripts flushed, keys
// gone); tests of script reloading use it. A StartAOF server comes back
// with what its AOF had (up to a second lost, as after a crash).
func (s *Server) Restart() error {
	s.Kill()
	return s.Resume()
}

// Stop kills the server and removes its directory.
func (s *Server) Stop() {
	s.Kill()
	if s.dir != "" {
		_ = os.RemoveAll(s.dir)
	}
}

// LogTail is the last n lines of the server's log file.
func (s *Server) LogTail(n int) string {
	for _, name := range []string{"redis.log", "sentinel.log"} {
		if t := logTail(filepath.Join(s.dir, name), n); t != "" {
			return t
		}
	}
	return ""
}

func logTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Port is the server's TCP port.
func (s *Server) Port() string {
	_, port, _ := net.SplitHostPort(s.Addr)
	return port
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
