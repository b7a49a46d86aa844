package metrics

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotline-project/hotline/routing"
)

// DefaultSnapshotTimeout bounds one scrape's read of the shared store. It is
// short because Prometheus' own scrape timeout (10 s by default) covers the
// whole scrape, and a slow Redis must not make the node look down.
const DefaultSnapshotTimeout = 2 * time.Second

// Snapshot is the cluster-wide state that no single node can count by
// itself, read from the shared store at scrape time. Maps are keyed by topic
// (QueueDepth, LongestWait, EstimatedWait) or agent state (Agents).
type Snapshot struct {
	QueueDepth       map[string]int
	LongestWait      map[string]time.Duration
	EstimatedWait    map[string]time.Duration
	Agents           map[string]int
	CallbacksOverdue int
}

// SnapshotFunc reads a Snapshot from the shared store. It must honour ctx's
// deadline.
type SnapshotFunc func(ctx context.Context) (Snapshot, error)

type snapshotSource struct {
	fn      SnapshotFunc
	timeout time.Duration
}

// snapshotCollector reports the cluster-wide gauges. Reading Redis on scrape
// (rather than keeping gauges up to date from events) means every node
// reports the same, correct value even for calls other nodes handle, and a
// node that lost Redis stops reporting instead of reporting stale numbers.
type snapshotCollector struct {
	queueDepth    *prometheus.Desc
	longestWait   *prometheus.Desc
	estimatedWait *prometheus.Desc
	agents        *prometheus.Desc
	overdue       *prometheus.Desc
	errors        prometheus.Counter

	mu     sync.Mutex
	src    *snapshotSource
	topics map[string]struct{}
}

func newSnapshotCollector(errors prometheus.Counter) *snapshotCollector {
	return &snapshotCollector{
		queueDepth: prometheus.NewDesc("hotline_queue_depth",
			"Callers waiting in a topic's queue now, across all nodes.", []string{"topic"}, nil),
		longestWait: prometheus.NewDesc("hotline_longest_wait_seconds",
			"How long the oldest caller waiting in a topic's queue has waited so far, across all nodes.", []string{"topic"}, nil),
		estimatedWait: prometheus.NewDesc("hotline_estimated_wait_seconds",
			"Wait a caller entering a topic's queue now is told to expect.", []string{"topic"}, nil),
		agents: prometheus.NewDesc("hotline_agents",
			"Agents in each state, across all nodes.", []string{"state"}, nil),
		overdue: prometheus.NewDesc("hotline_callbacks_overdue",
			"Callbacks past their deadline and not yet completed, across all nodes.", nil, nil),
		errors: errors,
		topics: make(map[string]struct{}),
	}
}

func (c *snapshotCollector) setSource(fn SnapshotFunc, timeout time.Duration) {
	if timeout <= 0 {
		timeout = DefaultSnapshotTimeout
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if fn == nil {
		c.src = nil
		return
	}
	c.src = &snapshotSource{fn: fn, timeout: timeout}
}

func (c *snapshotCollector) addTopics(topics []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, t := range topics {
		c.topics[t] = struct{}{}
	}
}

// Describe implements prometheus.Collector.
func (c *snapshotCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.queueDepth
	ch <- c.longestWait
	ch <- c.estimatedWait
	ch <- c.agents
	ch <- c.overdue
}

// Collect implements prometheus.Collector. Collect has no context of its
// own, so the deadline starts here.
func (c *snapshotCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	src := c.src
	topics := make([]string, 0, len(c.topics))
	for t := range c.topics {
		topics = append(topics, t)
	}
	c.mu.Unlock()
	if src == nil {
		return
	}

	ctx, cancel := context.WithTimeout(context.Background(), src.timeout)
	defer cancel()
	snap, err := src.fn(ctx)
	if err != nil {
		// Reporting nothing rather than stale or zero values keeps a Redis
		// outage from looking like an empty queue; the error counter and
		// hotline_redis_up say why the series went missing.
		c.errors.Inc()
		return
	}

	topicSet := nameSet(topics)
	addKeys(topicSet, snap.QueueDepth)
	addKeys(topicSet, snap.LongestWait)
	addKeys(topicSet, snap.EstimatedWait)
	for _, t := range sorted(topicSet) {
		ch <- prometheus.MustNewConstMetric(c.queueDepth, prometheus.GaugeValue, float64(snap.QueueDepth[t]), t)
		ch <- prometheus.MustNewConstMetric(c.longestWait, prometheus.GaugeValue, snap.LongestWait[t].Seconds(), t)
		ch <- prometheus.MustNewConstMetric(c.estimatedWait, prometheus.GaugeValue, snap.EstimatedWait[t].Seconds(), t)
	}
	states := routing.AgentStates()
	stateSet := make(map[string]struct{}, len(states))
	for _, s := range states {
		stateSet[string(s)] = struct{}{}
	}
	addKeys(stateSet, snap.Agents)
	for _, s := range sorted(stateSet) {
		ch <- prometheus.MustNewConstMetric(c.agents, prometheus.GaugeValue, float64(snap.Agents[s]), s)
	}
	ch <- prometheus.MustNewConstMetric(c.overdue, prometheus.GaugeValue, float64(snap.CallbacksOverdue))
}

func nameSet(names []string) map[string]struct{} {
	set := make(map[string]struct{}, len(names))
	for _, n := range names {
		set[n] = struct{}{}
	}
	return set
}

// addKeys adds m's keys to set: a topic or state another node's
// configuration knows still shows up here.
func addKeys[V any](set map[string]struct{}, m map[string]V) {
	for k := range m {
		set[k] = struct{}{}
	}
}

// sorted returns set's members in order, so scrapes are stable.
func sorted(set map[string]struct{}) []string {
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
