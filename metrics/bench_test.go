package metrics

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The recording methods sit on the routing hot path (docs/performance.md: p99 ≤ 2 ms
// from StasisStart to originate); these keep their cost visible.

func BenchmarkCallAnswered(b *testing.B) {
	m := New(prometheus.NewRegistry(), testTopics)
	for b.Loop() {
		m.CallAnswered("audit", 42*time.Second)
	}
}

func BenchmarkObserveRedis(b *testing.B) {
	m := New(prometheus.NewRegistry(), testTopics)
	for b.Loop() {
		m.ObserveRedis("route", 300*time.Microsecond)
	}
}

func BenchmarkObserveRedisParallel(b *testing.B) {
	m := New(prometheus.NewRegistry(), testTopics)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.ObserveRedis("route", 300*time.Microsecond)
		}
	})
}

// BenchmarkGather is one scrape of a node with four topics, everything
// exercised and a snapshot that costs nothing to read.
func BenchmarkGather(b *testing.B) {
	reg := prometheus.NewRegistry()
	exercise(New(reg, testTopics))
	for b.Loop() {
		if _, err := reg.Gather(); err != nil {
			b.Fatal(err)
		}
	}
}
