package redisproc_test

import (
	"testing"
	"time"

	"github.com/hotline-project/hotline/internal/redisproc"
	"github.com/hotline-project/hotline/internal/redistest"
)

func TestKeySlot(t *testing.T) {
	// Values from the Cluster specification and CLUSTER KEYSLOT.
	tests := map[string]int{
		"foo":                   12182,
		"bar":                   5061,
		"somekey":               11058,
		"{user1000}.following":  redisproc.KeySlot("user1000"),
		"foo{}{bar}":            redisproc.KeySlot("foo{}{bar}"), // empty tag: the whole key
		"hotline:{r}:agents":    redisproc.KeySlot("r"),
		"{call:42}:path":        redisproc.KeySlot("call:42"),
		"no}tag{here":           redisproc.KeySlot("no}tag{here"),
		"{unclosed":             redisproc.KeySlot("{unclosed"),
		"hotline:{case:7}:path": redisproc.KeySlot("case:7"),
	}
	for key, want := range tests {
		if got := redisproc.KeySlot(key); got != want {
			t.Errorf("redisproc.KeySlot(%q) = %d, want %d", key, got, want)
		}
	}
	if redisproc.KeySlot("foo{}{bar}") == redisproc.KeySlot("bar") {
		t.Error("an empty hash tag must not select the next one")
	}
}

// TestAOFShutdownResume: a StartAOF server shut down and resumed has what
// was written before, on the same address, and does not answer between.
func TestAOFShutdownResume(t *testing.T) {
	s := redistest.StartAOF(t)
	if _, err := s.Do("SET", "k", "v"); err != nil {
		t.Fatal(err)
	}
	s.Shutdown()
	if s.Running() {
		t.Fatal("running after Shutdown")
	}
	if _, err := s.Do("PING"); err == nil {
		t.Fatal("answers after Shutdown")
	}
	if err := s.Resume(); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Do("GET", "k"); err != nil || v != "v" {
		t.Fatalf("after Resume: GET k = %v, %v", v, err)
	}
	// A server without persistence comes back empty from Restart.
	plain := redistest.Start(t)
	if _, err := plain.Do("SET", "k", "v"); err != nil {
		t.Fatal(err)
	}
	if err := plain.Restart(); err != nil {
		t.Fatal(err)
	}
	if v, err := plain.Do("GET", "k"); err != nil || v != nil {
		t.Fatalf("after Restart: GET k = %v, %v; want nil", v, err)
	}
}

// TestSentinelFailover: killing the master promotes the replica, with
// what was replicated before the kill.
func TestSentinelFailover(t *testing.T) {
	s := redistest.StartSentinel(t)
	m, err := s.Master()
	if err != nil {
		t.Fatal(err)
	}
	if m != s.Data[0] {
		t.Fatalf("master %s, want %s", m.Addr, s.Data[0].Addr)
	}
	if _, err := m.Do("SET", "k", "v"); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitReplicated(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	m.Kill()
	start := time.Now()
	nm, err := s.WaitFailover(m, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Sentinel failover after kill -9: %v", time.Since(start).Round(time.Millisecond))
	if nm != s.Data[1] {
		t.Fatalf("new master %s, want %s", nm.Addr, s.Data[1].Addr)
	}
	if v, err := nm.Do("GET", "k"); err != nil || v != "v" {
		t.Fatalf("new master: GET k = %v, %v", v, err)
	}
	if _, err := nm.Do("SET", "k2", "v"); err != nil {
		t.Fatalf("new master refuses writes: %v", err)
	}
}

// TestClusterFailover: killing the master of a slot moves the slot to
// its replica, with what was replicated before the kill; the other
// masters keep theirs.
func TestClusterFailover(t *testing.T) {
	c := redistest.StartCluster(t)
	for _, key := range []string{"foo", "hotline:{r}:agents", "{call:1}:path"} {
		v, err := c.Nodes[0].Do("CLUSTER", "KEYSLOT", key)
		if err != nil || v != int64(redisproc.KeySlot(key)) {
			t.Errorf("CLUSTER KEYSLOT %s = %v (%v), KeySlot %d", key, v, err, redisproc.KeySlot(key))
		}
	}
	const key = "hotline:{r}:agents"
	m, err := c.MasterOf(key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Do("SET", key, "v"); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitReplicated(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	m.Kill()
	start := time.Now()
	nm, err := c.WaitFailover(key, m, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Cluster failover after kill -9: %v", time.Since(start).Round(time.Millisecond))
	if v, err := nm.Do("GET", key); err != nil || v != "v" {
		t.Fatalf("new master: GET = %v, %v", v, err)
	}
	if got, err := c.MasterOf(key); err != nil || got != nm {
		t.Errorf("MasterOf after the failover: %v; want %s", err, nm.Addr)
		if got != nil {
			t.Errorf("MasterOf after the failover: %s", got.Addr)
		}
	}
	// The promoted master has no replica left: nothing can acknowledge.
	if err := c.WaitReplicated(200 * time.Millisecond); err == nil {
		t.Error("WaitReplicated succeeded for a master without a replica")
	}
}
