package redisproc

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// Sentinel is a Redis Sentinel set on loopback: a master, one replica of
// it and three sentinels watching it under MasterName with a quorum of 2.
// A master that stops answering is marked down after DownAfter and the
// sentinels promote the replica a few seconds later.
type Sentinel struct {
	MasterName string
	// Data are the two data servers: Data[0] starts as the master,
	// Data[1] as its replica.
	Data []*Server
	// Sentinels are the three sentinel processes.
	Sentinels []*Server
}

// Sentinel timing: short, so a test's failover takes seconds, yet well
// above what a loaded 2-core machine can stall a healthy process for.
const (
	// SentinelDownAfter is down-after-milliseconds: how long the master
	// must not answer before a sentinel thinks it down.
	SentinelDownAfter = 2 * time.Second
	sentinelFailover  = 10 * time.Second // failover-timeout
	sentinelSetup     = 30 * time.Second // until every sentinel knows the replica and its peers
)

// StartSentinel starts the set. It returns once the replica is in sync
// and every sentinel knows the replica and the two other sentinels, so a
// failover can happen from then on. The caller must call Stop.
func StartSentinel() (*Sentinel, error) {
	s := &Sentinel{MasterName: "hotline"}
	if err := s.start(); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// Stop stops the sentinels, then the data servers.
func (s *Sentinel) Stop() {
	for _, n := range s.Processes() {
		n.Stop()
	}
}

// Processes are the set's processes, sentinels first.
func (s *Sentinel) Processes() []*Server {
	return append(append([]*Server(nil), s.Sentinels...), s.Data...)
}

func (s *Sentinel) start() error {
	master, err := s.data("master")
	if err != nil {
		return err
	}
	replica, err := s.data("replica", "--replicaof", "127.0.0.1", master.Port())
	if err != nil {
		return err
	}
	if err := waitLinkUp(replica, readyLimit); err != nil {
		return err
	}
	for i := 0; i < 3; i++ {
		dir, err := os.MkdirTemp("", "hotline-sentinel-")
		if err != nil {
			return err
		}
		n, err := startNode(dir, func(port int) ([]string, error) {
			conf := filepath.Join(dir, "sentinel.conf")
			text := fmt.Sprintf(`port %d
bind 127.0.0.1
protected-mode no
dir %s
logfile %s
sentinel monitor %s 127.0.0.1 %s 2
sentinel down-after-milliseconds %[4]s %[6]d
sentinel failover-timeout %[4]s %[7]d
sentinel parallel-syncs %[4]s 1
`, port, dir, filepath.Join(dir, "sentinel.log"), s.MasterName, master.Port(),
				SentinelDownAfter.Milliseconds(), sentinelFailover.Milliseconds())
			// Sentinel rewrites its configuration file: it must be its own.
			if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
				return nil, err
			}
			return []string{conf, "--sentinel"}, nil
		})
		if err != nil {
			_ = os.RemoveAll(dir)
			return fmt.Errorf("sentinel %d: %w", i, err)
		}
		s.Sentinels = append(s.Sentinels, n)
	}
	for _, n := range s.Sentinels {
		err := poll(sentinelSetup, 50*time.Millisecond, "sentinel "+n.Addr+" knows the replica and its peers", func() (bool, error) {
			m, err := sentinelMaster(n.Addr, s.MasterName)
			if err != nil {
				return false, err
			}
			return m["num-slaves"] == "1" && m["num-other-sentinels"] == "2" && m["flags"] == "master", nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *Sentinel) data(name string, extra ...string) (*Server, error) {
	dir, err := os.MkdirTemp("", "hotline-redis-"+name+"-")
	if err != nil {
		return nil, err
	}
	n, err := startNode(dir, func(port int) ([]string, error) {
		return serverArgs(port, dir, append([]string{"--save", "", "--appendonly", "no"}, extra...)...), nil
	})
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	s.Data = append(s.Data, n)
	return n, nil
}

// Addrs are the sentinels' addresses: a client's seed list.
func (s *Sentinel) Addrs() []string {
	out := make([]string, len(s.Sentinels))
	for i, n := range s.Sentinels {
		out[i] = n.Addr
	}
	return out
}

// Master is the data server the sentinels currently name master.
func (s *Sentinel) Master() (*Server, error) {
	var last error
	for _, n := range s.Sentinels {
		if !n.Running() {
			continue
		}
		addr, err := sentinelMasterAddr(n.Addr, s.MasterName)
		if err != nil {
			last = err
			continue
		}
		for _, d := range s.Data {
			if d.Addr == addr {
				return d, nil
			}
		}
		return nil, fmt.Errorf("sentinel %s names %s master, not one of the set's servers", n.Addr, addr)
	}
	if last == nil {
		last = errors.New("no sentinel running")
	}
	return nil, fmt.Errorf("sentinel master: %w", last)
}

// WaitFailover waits, up to limit, until a sentinel names a master other
// than old and that server says it is master (it accepts writes), and
// returns it. Polled every 20 ms: the time it returns is the failover's
// end as a client that asked the sentinels would see it.
func (s *Sentinel) WaitFailover(old *Server, limit time.Duration) (*Server, error) {
	var found *Server
	err := poll(limit, 20*time.Millisecond, "Sentinel failover away from "+old.Addr, func() (bool, error) {
		m, err := s.Master()
		if err != nil {
			return false, err
		}
		if m == old {
			return false, nil
		}
		r, err := role(m.Addr)
		if err != nil || r != "master" {
			return false, err
		}
		found = m
		return true, nil
	})
	return found, err
}

// WaitReplicated waits, up to limit, until the master's replicas have
// acknowledged everything written to it so far (a write of the helper's
// own key, then WAIT), so that killing the master now loses nothing
// written before: replication is asynchronous, and a test of the client's
// failover is not a test of that.
func (s *Sentinel) WaitReplicated(limit time.Duration) error {
	m, err := s.Master()
	if err != nil {
		return err
	}
	return waitReplicas(m.Addr, "redistest:replicated", limit)
}

// waitReplicas writes key on the master at addr and WAITs, up to limit,
// for one replica to acknowledge it, on the same connection (WAIT counts
// the connection's own writes).
func waitReplicas(addr, key string, limit time.Duration) error {
	c, err := net.DialTimeout("tcp", addr, cmdTimeout)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(limit + cmdTimeout))
	ms := strconv.FormatInt(limit.Milliseconds(), 10)
	req := fmt.Sprintf("*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$1\r\n1\r\n*3\r\n$4\r\nWAIT\r\n$1\r\n1\r\n$%d\r\n%s\r\n", len(key), key, len(ms), ms)
	if _, err := c.Write([]byte(req)); err != nil {
		return err
	}
	r := bufio.NewReader(c)
	if v, err := readReply(r); err != nil {
		return err
	} else if re, ok := v.(ReplyError); ok {
		return fmt.Errorf("SET %s on %s: %w", key, addr, re)
	}
	v, err := readReply(r)
	if err != nil {
		return err
	}
	if n, ok := v.(int64); !ok || n < 1 {
		return fmt.Errorf("WAIT on %s: %v replicas acknowledged within %v", addr, v, limit)
	}
	return nil
}

// waitLinkUp waits until replica reports its link to the master up (the
// initial sync done).
func waitLinkUp(replica *Server, limit time.Duration) error {
	return poll(limit, 20*time.Millisecond, "replica "+replica.Addr+" in sync", func() (bool, error) {
		v, err := infoField(replica.Addr, "replication", "master_link_status")
		return v == "up", err
	})
}

func sentinelMasterAddr(addr, name string) (string, error) {
	v, err := do(addr, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", name)
	if err != nil {
		return "", err
	}
	arr, ok := v.([]any)
	if !ok || len(arr) != 2 {
		return "", fmt.Errorf("SENTINEL GET-MASTER-ADDR-BY-NAME: reply %v", v)
	}
	host, _ := arr[0].(string)
	port, _ := arr[1].(string)
	return net.JoinHostPort(host, port), nil
}

func sentinelMaster(addr, name string) (map[string]string, error) {
	v, err := do(addr, "SENTINEL", "MASTER", name)
	if err != nil {
		return nil, err
	}
	return pairs(v)
}

// pairs reads a flat array of field, value, field, value...
func pairs(v any) (map[string]string, error) {
	arr, ok := v.([]any)
	if !ok || len(arr)%2 != 0 {
		return nil, fmt.Errorf("reply %v is not field-value pairs", v)
	}
	out := make(map[string]string, len(arr)/2)
	for i := 0; i+1 < len(arr); i += 2 {
		k, _ := arr[i].(string)
		val, _ := arr[i+1].(string)
		out[k] = val
	}
	return out, nil
}
