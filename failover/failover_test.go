package failover

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hotline-project/hotline/internal/redisproc"
	"github.com/hotline-project/hotline/internal/redistest"
)

// routingKey is a key of the routing set ({r}) under the tests' prefix:
// the master of its slot is the one whose loss stops routing.
const routingKey = "fo:{r}:agents"

// fault is how one test breaks the store and how it knows it is back.
type fault struct {
	what string
	// replicate waits until what was written is on the replicas (nil:
	// nothing to wait for).
	replicate func() error
	// inflict breaks the store; the time it returns is the fault's.
	inflict func() time.Time
	// recovered waits until the store takes routing writes again by its
	// own account (not the daemon's) and returns when.
	recovered func() time.Time
	// restart: the store came back by a restart after an imposed outage,
	// not by a failover; routing must work again within the limit after
	// it is back rather than after the fault.
	restart bool
}

// TestSentinelKillMaster: kill -9 of the Sentinel master under traffic.
func TestSentinelKillMaster(t *testing.T) {
	s := redistest.StartSentinel(t)
	w := newWorld(t, fmt.Sprintf("  addrs: [%s]\n  master_name: %s", strings.Join(s.Addrs(), ", "), s.MasterName))
	var old *redistest.Server
	w.run(fault{
		what:      "kill -9 of the Sentinel master",
		replicate: func() error { return s.WaitReplicated(5 * time.Second) },
		inflict: func() time.Time {
			m, err := s.Master()
			if err != nil {
				t.Fatal(err)
			}
			old = m
			m.Kill()
			t.Logf("killed the master %s", m.Addr)
			return time.Now()
		},
		recovered: func() time.Time {
			m, err := s.WaitFailover(old, recoverLimit)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("Sentinel promoted %s", m.Addr)
			return time.Now()
		},
	})
}

// TestClusterKillRoutingMaster: kill -9 of the Cluster master owning the
// routing keys' slot under traffic.
func TestClusterKillRoutingMaster(t *testing.T) {
	c := redistest.StartCluster(t)
	w := newWorld(t, fmt.Sprintf("  addrs: [%s]", strings.Join(c.Addrs(), ", ")))
	var old *redistest.Server
	w.run(fault{
		what:      "kill -9 of the Cluster master of the {r} slot",
		replicate: func() error { return c.WaitReplicated(5 * time.Second) },
		inflict: func() time.Time {
			m, err := c.MasterOf(routingKey)
			if err != nil {
				t.Fatal(err)
			}
			old = m
			m.Kill()
			t.Logf("killed %s, master of slot %d", m.Addr, redisproc.KeySlot(routingKey))
			return time.Now()
		},
		recovered: func() time.Time {
			m, err := c.WaitFailover(routingKey, old, recoverLimit)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("the Cluster promoted %s", m.Addr)
			return time.Now()
		},
	})
}

// standaloneOutage is how long the standalone server stays stopped.
const standaloneOutage = 30 * time.Second

// TestStandaloneStopped: a standalone server with AOF stopped for 30 s
// under traffic, then started again.
func TestStandaloneStopped(t *testing.T) {
	srv := redistest.StartAOF(t)
	w := newWorld(t, fmt.Sprintf("  addrs: [%s]", srv.Addr))
	var stopped time.Time
	w.run(fault{
		what: "standalone Redis (AOF) stopped for 30 s",
		inflict: func() time.Time {
			srv.Shutdown()
			stopped = time.Now()
			return stopped
		},
		recovered: func() time.Time {
			time.Sleep(time.Until(stopped.Add(standaloneOutage)))
			if err := srv.Resume(); err != nil {
				t.Fatal(err)
			}
			return time.Now()
		},
		restart: true,
	})
}

// run is one test's scenario: traffic; callbacks scheduled and cases
// opened; the fault; routing measured until it works again; then the
// checks once every call is over.
func (w *world) run(f fault) {
	t := w.t
	stopTraffic := w.traffic()
	trafficStopped := false
	defer func() {
		if !trafficStopped {
			stopTraffic()
		}
	}()
	warm := time.Now()
	w.eventually(setupLimit, "traffic flowing (8 callers talked)", func() bool { return w.connectedSince(warm) >= 8 })
	scheduled := w.scheduleCallbacks(4)
	time.Sleep(time.Second) // calls ringing and talking when the store goes
	before := w.snapshot()
	if f.replicate != nil {
		if err := f.replicate(); err != nil {
			t.Fatalf("replicas in sync before the fault: %v", err)
		}
	}
	goRedisBefore := w.logs.count("go-redis")

	tFault := f.inflict()
	tBack := f.recovered()
	storeTime := tBack.Sub(tFault)
	tRoute, first := w.waitRouting(tFault)
	routeTime := tRoute.Sub(tFault)
	w.eventually(recoverLimit, "routing steady again (5 callers placed since the store came back talked)", func() bool {
		return w.connectedSince(tBack) >= 5
	})
	tEnd := time.Now()
	stopTraffic()
	trafficStopped = true
	goRedisLines := w.logs.count("go-redis") - goRedisBefore

	t.Logf("FIGURES %s:", f.what)
	t.Logf("  the store's own recovery: %.2fs after the fault", storeTime.Seconds())
	t.Logf("  routing works again: %.2fs after the fault (%.2fs after the store recovered; ratio %.2f): caller %s placed %.2fs after the fault reached agent %s",
		routeTime.Seconds(), tRoute.Sub(tBack).Seconds(), routeTime.Seconds()/storeTime.Seconds(),
		first.number, first.placed.Sub(tFault).Seconds(), first.agent)
	t.Logf("  callers placed during the outage: %s", w.outcomes(tFault, tBack))
	t.Logf("  callers placed after it: %s", w.outcomes(tBack, tEnd))
	for _, u := range w.unusual(tFault, tBack, tFault) {
		t.Logf("  during the outage: %s", u)
	}
	// Once the store is back every caller is served: one who waits in
	// vain with agents free, or is hung up before an agent, was not.
	for _, u := range w.unusual(tBack, tEnd, tFault) {
		t.Errorf("after the store recovered: %s", u)
	}
	t.Logf("  go-redis log lines from the fault to the end of traffic (%.0fs): %d", tEnd.Sub(tFault).Seconds(), goRedisLines)

	if f.restart {
		if after := tRoute.Sub(tBack); after > routeAgainLimit {
			t.Errorf("routing worked again %.2fs after Redis was back; the limit is %v", after.Seconds(), routeAgainLimit)
		}
	} else if routeTime > routeAgainLimit {
		t.Errorf("routing worked again %.2fs after the fault; the limit is %v", routeTime.Seconds(), routeAgainLimit)
	}
	if routeTime > routeAgainFactor*storeTime {
		t.Errorf("routing worked again %.2fs after the fault, more than %d× the store's own %.2fs", routeTime.Seconds(), routeAgainFactor, storeTime.Seconds())
	}
	// go-redis writes a line per failed dial, several a second during an
	// outage; the daemon's log takes one of a kind per 10 s.
	if perSecond := float64(goRedisLines) / tEnd.Sub(tFault).Seconds(); perSecond > 1 {
		t.Errorf("%d go-redis log lines in %.0fs: %.1f a second", goRedisLines, tEnd.Sub(tFault).Seconds(), perSecond)
	}

	w.checkReadyz(tFault)
	w.checkAgents()
	w.checkData(before, scheduled)
}
