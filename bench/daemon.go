package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hotline-project/hotline/internal/redisproc"
)

// child is a process the bench started (the hotline daemon, the floor):
// its CPU is its own, read from /proc. It dies with the bench.
type child struct {
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

func startChild(exe string, args []string, logPath string) (*child, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", filepath.Base(exe), err)
	}
	c := &child{cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(c.done)
	}()
	return c, nil
}

func (c *child) pid() int { return c.cmd.Process.Pid }

func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// stop asks the process to stop (SIGTERM), then kills it after limit.
func (c *child) stop(limit time.Duration) {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(limit):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

// logTail is the end of the child's log, for an error message.
func (c *child) logTail() string {
	b, err := os.ReadFile(c.log)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-8):], "\n")
}

// daemon is `hotline serve` run by the bench, with its own redis-server.
type daemon struct {
	*child
	redis    *redisproc.Server
	redisPID int
	http     string // its API base
	token    string
}

// startDaemon writes a configuration into dir and starts `hotline serve`
// from exe on it, against a fresh redis-server. The ARI password and the
// API token are in files beside the configuration, never on a command
// line.
func startDaemon(ctx context.Context, exe, dir string, a *Asterisk, announce time.Duration, agents int) (_ *daemon, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	d := &daemon{}
	defer func() {
		if err != nil {
			d.stop()
		}
	}()
	if d.redis, err = redisproc.Start(); err != nil {
		return nil, fmt.Errorf("start redis-server: %w", err)
	}
	d.redisPID = childNamed("redis-server", d.redis.Port())
	var tok [20]byte
	_, _ = rand.Read(tok[:])
	d.token = hex.EncodeToString(tok[:])
	pwFile, tokFile := filepath.Join(dir, "ari-password"), filepath.Join(dir, "tokens.yaml")
	if err := os.WriteFile(pwFile, []byte(a.Password+"\n"), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(tokFile, []byte(fmt.Sprintf("%q: admin\n", d.token)), 0o600); err != nil {
		return nil, err
	}
	listen, err := freeTCPAddr()
	if err != nil {
		return nil, err
	}
	d.http = "http://" + listen
	ids := make([]string, agents)
	for i := range ids {
		ids[i] = agentID(i)
	}
	cfg, err := hotlineConfig(hotlineParams{URL: a.URL, App: hotlineApp, User: a.User, PasswordFile: pwFile,
		Redis: d.redis.Addr, Listen: listen, TokensFile: tokFile, Number: benchNumber,
		AnnounceEvery: announce.String(), AnnounceSound: announceSound, WaitSound: waitSound, Agents: ids})
	if err != nil {
		return nil, err
	}
	cfgFile := filepath.Join(dir, "hotline.yaml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	if d.child, err = startChild(exe, []string{"serve", "--config", cfgFile}, filepath.Join(dir, "hotline.log")); err != nil {
		return nil, err
	}
	if err := d.ready(ctx); err != nil {
		return nil, err
	}
	return d, nil
}

func (d *daemon) ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	for {
		if d.exited() {
			return fmt.Errorf("hotline serve exited:\n%s", d.logTail())
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, d.http+"/readyz", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if err := sleepCtx(ctx, 50*time.Millisecond); err != nil {
			return fmt.Errorf("hotline serve not ready: %w\n%s", err, d.logTail())
		}
	}
}

// setAgents logs agents in or out through the API, as a desk would.
func (d *daemon) setAgents(ctx context.Context, action string, ids ...string) error {
	for _, id := range ids {
		body := strings.NewReader(fmt.Sprintf(`{"action":%q}`, action))
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.http+"/api/v1/agents/"+id+"/state", body)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+d.token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return fmt.Errorf("%s agent %s: %w", action, id, err)
		}
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s agent %s: %s %s", action, id, resp.Status, bytes.TrimSpace(msg))
		}
	}
	return nil
}

// metrics returns the daemon's /metrics samples whose names start with
// prefix, by "name{labels}".
func (d *daemon) metrics(ctx context.Context, prefix string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.http+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return parseMetrics(resp.Body, prefix)
}

// parseMetrics reads the Prometheus text format's samples.
func parseMetrics(r io.Reader, prefix string) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' || !strings.HasPrefix(line, prefix) {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		out[line[:i]] = v
	}
	return out, sc.Err()
}

func (d *daemon) stop() {
	if d.child != nil {
		d.child.stop(35 * time.Second)
	}
	if d.redis != nil {
		d.redis.Stop()
	}
}

// floorProc is the floor router run as its own process (`hotline bench
// --floor-router FILE`), so its CPU is its own as the daemon's is.
type floorProc struct{ *child }

// FloorConfig is the file --floor-router reads.
type FloorConfig struct {
	URL          string   `json:"url"`
	User         string   `json:"user"`
	PasswordFile string   `json:"password_file"`
	App          string   `json:"app"`
	Agents       []string `json:"agents"`
	AgentContext string   `json:"agent_context"`
}

// LoadFloorConfig reads a floor router's file and its password.
func LoadFloorConfig(path string) (FloorOptions, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return FloorOptions{}, err
	}
	var fc FloorConfig
	if err := json.Unmarshal(b, &fc); err != nil {
		return FloorOptions{}, fmt.Errorf("floor config %s: %w", path, err)
	}
	pw, err := os.ReadFile(fc.PasswordFile)
	if err != nil {
		return FloorOptions{}, fmt.Errorf("floor config: password: %w", err)
	}
	return FloorOptions{URL: fc.URL, User: fc.User, Password: strings.TrimRight(string(pw), "\r\n"),
		App: fc.App, Agents: fc.Agents, AgentContext: fc.AgentContext}, nil
}

func startFloor(ctx context.Context, exe, dir string, a *Asterisk, agents int) (*floorProc, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	pwFile := filepath.Join(dir, "ari-password")
	if err := os.WriteFile(pwFile, []byte(a.Password+"\n"), 0o600); err != nil {
		return nil, err
	}
	fc := FloorConfig{URL: a.URL, User: a.User, PasswordFile: pwFile, App: floorApp, AgentContext: agentsContext}
	for i := range agents {
		fc.Agents = append(fc.Agents, agentID(i))
	}
	b, _ := json.MarshalIndent(fc, "", "  ")
	cfg := filepath.Join(dir, fmt.Sprintf("floor-%d.json", agents))
	if err := os.WriteFile(cfg, b, 0o600); err != nil {
		return nil, err
	}
	c, err := startChild(exe, []string{"bench", "--floor-router", cfg}, filepath.Join(dir, fmt.Sprintf("floor-%d.log", agents)))
	if err != nil {
		return nil, err
	}
	f := &floorProc{c}
	// Ready once Asterisk knows the application.
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	for a.do(ctx, http.MethodGet, "applications/"+floorApp, nil, nil) != nil {
		if f.exited() {
			return nil, fmt.Errorf("floor router exited:\n%s", f.logTail())
		}
		if err := sleepCtx(ctx, 50*time.Millisecond); err != nil {
			f.stop(5 * time.Second)
			return nil, fmt.Errorf("floor router not connected: %w\n%s", err, f.logTail())
		}
	}
	return f, nil
}

// freeTCPAddr is a loopback address with a port free a moment ago.
func freeTCPAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
