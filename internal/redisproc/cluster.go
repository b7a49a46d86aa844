package redisproc

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Cluster is a Redis Cluster on loopback: three masters sharing the 16384
// slots and one replica of each. A master that stops answering is marked
// failing after ClusterNodeTimeout and its replica takes its slots over
// a second or two later.
type Cluster struct {
	// Nodes[0..2] start as masters of slots 0-5460, 5461-10922 and
	// 10923-16383; Nodes[3+i] starts as the replica of Nodes[i].
	Nodes []*Server
}

// ClusterNodeTimeout is cluster-node-timeout: short, so a failover takes
// seconds, yet well above what a loaded 2-core machine can stall a
// healthy process for.
const ClusterNodeTimeout = 2 * time.Second

const clusterSetup = 30 * time.Second // from six empty nodes to cluster_state:ok everywhere

// StartCluster starts the cluster. It returns once every node sees the
// same six nodes, every replica is in sync with its master and every node
// reports cluster_state:ok. The caller must call Stop.
func StartCluster() (*Cluster, error) {
	c := &Cluster{}
	if err := c.start(); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// Stop stops every node.
func (c *Cluster) Stop() {
	for _, n := range c.Nodes {
		n.Stop()
	}
}

func (c *Cluster) start() error {
	for i := 0; i < 6; i++ {
		dir, err := os.MkdirTemp("", "hotline-cluster-")
		if err != nil {
			return err
		}
		n, err := startNode(dir, func(port int) ([]string, error) {
			return serverArgs(port, dir, "--save", "", "--appendonly", "no",
				"--cluster-enabled", "yes",
				"--cluster-config-file", filepath.Join(dir, "nodes.conf"),
				"--cluster-node-timeout", strconv.FormatInt(ClusterNodeTimeout.Milliseconds(), 10),
				// A replica may always take over: the test kills masters
				// that were in sync a moment ago.
				"--cluster-replica-validity-factor", "0",
			), nil
		})
		if err != nil {
			_ = os.RemoveAll(dir)
			return fmt.Errorf("cluster node %d: %w", i, err)
		}
		c.Nodes = append(c.Nodes, n)
	}
	ids := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		id, err := doString(n.Addr, "CLUSTER", "MYID")
		if err != nil {
			return err
		}
		ids[i] = id
		// Distinct epochs, as redis-cli --cluster create gives: no
		// collision to resolve before the cluster is stable.
		if _, err := n.Do("CLUSTER", "SET-CONFIG-EPOCH", strconv.Itoa(i+1)); err != nil {
			return err
		}
	}
	ranges := [][2]int{{0, 5460}, {5461, 10922}, {10923, 16383}}
	for i, r := range ranges {
		if _, err := c.Nodes[i].Do("CLUSTER", "ADDSLOTSRANGE", strconv.Itoa(r[0]), strconv.Itoa(r[1])); err != nil {
			return err
		}
	}
	for _, n := range c.Nodes[1:] {
		if _, err := c.Nodes[0].Do("CLUSTER", "MEET", "127.0.0.1", n.Port()); err != nil {
			return err
		}
	}
	for _, n := range c.Nodes {
		err := poll(clusterSetup, 50*time.Millisecond, "node "+n.Addr+" knows all six", func() (bool, error) {
			nodes, err := clusterNodes(n.Addr)
			if err != nil {
				return false, err
			}
			if len(nodes) != len(c.Nodes) {
				return false, nil
			}
			for _, x := range nodes {
				if x.has("handshake") || x.has("noaddr") {
					return false, nil
				}
			}
			return true, nil
		})
		if err != nil {
			return err
		}
	}
	for i := 0; i < 3; i++ {
		replica := c.Nodes[3+i]
		err := poll(clusterSetup, 50*time.Millisecond, "node "+replica.Addr+" replicates "+c.Nodes[i].Addr, func() (bool, error) {
			_, err := replica.Do("CLUSTER", "REPLICATE", ids[i])
			return err == nil, err
		})
		if err != nil {
			return err
		}
	}
	for _, r := range c.Nodes[3:] {
		if err := waitLinkUp(r, clusterSetup); err != nil {
			return err
		}
	}
	for _, n := range c.Nodes {
		err := poll(clusterSetup, 50*time.Millisecond, "node "+n.Addr+" sees the cluster ok", func() (bool, error) {
			state, err := clusterInfo(n.Addr, "cluster_state")
			if err != nil || state != "ok" {
				return false, err
			}
			nodes, err := clusterNodes(n.Addr)
			if err != nil {
				return false, err
			}
			replicas := 0
			for _, x := range nodes {
				if x.has("slave") && x.master != "-" {
					replicas++
				}
			}
			return replicas == 3, nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// Addrs are every node's address: a client's seed list.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = n.Addr
	}
	return out
}

// MasterOf is the running node that serves key's slot by its own
// account (another node's view may lag a failover by a moment).
func (c *Cluster) MasterOf(key string) (*Server, error) {
	slot := KeySlot(key)
	var last error
	for _, n := range c.Nodes {
		if !n.Running() {
			continue
		}
		owner, err := slotOwner(n.Addr, slot)
		if err != nil {
			last = err
			continue
		}
		if owner == n.Addr {
			return n, nil
		}
	}
	if last == nil {
		last = fmt.Errorf("no running node serves it")
	}
	return nil, fmt.Errorf("master of slot %d: %w", slot, last)
}

// WaitFailover waits, up to limit, until a running node other than old
// is master of key's slot by its own account and sees the cluster ok —
// the moment it accepts writes for the slot — and returns it. Polled
// every 20 ms.
func (c *Cluster) WaitFailover(key string, old *Server, limit time.Duration) (*Server, error) {
	slot := KeySlot(key)
	var found *Server
	err := poll(limit, 20*time.Millisecond, fmt.Sprintf("Cluster failover of slot %d away from %s", slot, old.Addr), func() (bool, error) {
		var last error
		for _, n := range c.Nodes {
			if n == old || !n.Running() {
				continue
			}
			owner, err := slotOwner(n.Addr, slot)
			if err != nil {
				last = err
				continue
			}
			if owner != n.Addr {
				continue
			}
			if r, err := role(n.Addr); err != nil || r != "master" {
				last = err
				continue
			}
			if state, err := clusterInfo(n.Addr, "cluster_state"); err != nil || state != "ok" {
				last = err
				continue
			}
			found = n
			return true, nil
		}
		return false, last
	})
	return found, err
}

// WaitReplicated waits, up to limit, until every master's replica has
// acknowledged everything written to it so far (see
// Sentinel.WaitReplicated for why a failover test wants that).
func (c *Cluster) WaitReplicated(limit time.Duration) error {
	for _, n := range c.Nodes {
		if !n.Running() {
			continue
		}
		if r, err := role(n.Addr); err != nil || r != "master" {
			continue
		}
		lo, hi, err := ownSlots(n.Addr)
		if err != nil {
			return err
		}
		if lo < 0 {
			continue // a master without slots: the one killed earlier, back
		}
		key := ""
		for i := 0; ; i++ {
			k := "redistest:{" + strconv.Itoa(i) + "}"
			if s := KeySlot(k); s >= lo && s <= hi {
				key = k
				break
			}
		}
		if err := waitReplicas(n.Addr, key, limit); err != nil {
			return err
		}
	}
	return nil
}

type clusterNode struct {
	id, addr, master string
	flags            []string
}

func (n clusterNode) has(flag string) bool {
	for _, f := range n.flags {
		if f == flag {
			return true
		}
	}
	return false
}

// clusterNodes parses CLUSTER NODES at addr.
func clusterNodes(addr string) ([]clusterNode, error) {
	text, err := doString(addr, "CLUSTER", "NODES")
	if err != nil {
		return nil, err
	}
	var out []clusterNode
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 {
			continue
		}
		a, _, _ := strings.Cut(f[1], "@")
		out = append(out, clusterNode{id: f[0], addr: a, flags: strings.Split(f[2], ","), master: f[3]})
	}
	return out, nil
}

func clusterInfo(addr, field string) (string, error) {
	text, err := doString(addr, "CLUSTER", "INFO")
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(text, "\r\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return v, nil
		}
	}
	return "", fmt.Errorf("CLUSTER INFO has no %s", field)
}

// clusterSlots is CLUSTER SLOTS at addr: each range with its master.
type slotRange struct {
	lo, hi int
	master string
}

func clusterSlots(addr string) ([]slotRange, error) {
	v, err := do(addr, "CLUSTER", "SLOTS")
	if err != nil {
		return nil, err
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("CLUSTER SLOTS: reply %T", v)
	}
	var out []slotRange
	for _, e := range arr {
		r, ok := e.([]any)
		if !ok || len(r) < 3 {
			continue
		}
		lo, _ := r[0].(int64)
		hi, _ := r[1].(int64)
		m, ok := r[2].([]any)
		if !ok || len(m) < 2 {
			continue
		}
		host, _ := m[0].(string)
		port, _ := m[1].(int64)
		out = append(out, slotRange{lo: int(lo), hi: int(hi), master: net.JoinHostPort(host, strconv.FormatInt(port, 10))})
	}
	return out, nil
}

func slotOwner(addr string, slot int) (string, error) {
	ranges, err := clusterSlots(addr)
	if err != nil {
		return "", err
	}
	for _, r := range ranges {
		if slot >= r.lo && slot <= r.hi {
			return r.master, nil
		}
	}
	return "", fmt.Errorf("node %s: slot %d not served", addr, slot)
}

// ownSlots is the first slot range the node at addr serves itself
// (every master here has one), or -1, -1.
func ownSlots(addr string) (lo, hi int, err error) {
	ranges, err := clusterSlots(addr)
	if err != nil {
		return -1, -1, err
	}
	for _, r := range ranges {
		if r.master == addr {
			return r.lo, r.hi, nil
		}
	}
	return -1, -1, nil
}
