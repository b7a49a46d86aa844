package routing_test

import (
	"container/heap"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/hotline-project/hotline/routing"
)

func TestEstimateWait(t *testing.T) {
	h := 4 * time.Minute
	tests := []struct {
		name     string
		position int
		s        routing.TopicStats
		wrap     time.Duration
		want     time.Duration
	}{
		{"free agent takes the caller", 1, routing.TopicStats{AgentsLoggedIn: 3, AgentsAvailable: 1, HandleTime: h}, 0, 0},
		{"no handle time yet", 3, routing.TopicStats{AgentsLoggedIn: 3, HandleTime: 0}, 0, 0},
		{"nobody logged in", 3, routing.TopicStats{AgentsLoggedIn: 0, HandleTime: h}, 0, 0},
		{"first in line, one agent", 1, routing.TopicStats{AgentsLoggedIn: 1, HandleTime: h}, 0, h},
		{"third in line, four agents", 3, routing.TopicStats{AgentsLoggedIn: 4, HandleTime: h}, 0, 3 * h / 4},
		{"wrap-up counts", 2, routing.TopicStats{AgentsLoggedIn: 2, HandleTime: h}, time.Minute, 5 * time.Minute},
		{"free agents shorten the line", 3, routing.TopicStats{AgentsLoggedIn: 4, AgentsAvailable: 1, HandleTime: h}, 0, 2 * h / 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := routing.EstimateWait(tc.position, tc.s, tc.wrap); got != tc.want {
				t.Errorf("EstimateWait = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPolicyEstimateWait(t *testing.T) {
	p := routing.Policy{WrapUp: 30 * time.Second, DefaultHandleTime: 3 * time.Minute,
		HandleTimes: map[string]time.Duration{"audit": 5 * time.Minute}}
	tests := []struct {
		name  string
		topic string
		s     routing.TopicStats
		want  time.Duration
	}{
		{"a measured handle time wins", "audit", routing.TopicStats{AgentsLoggedIn: 1, HandleTime: time.Minute}, 2 * (time.Minute + 30*time.Second)},
		{"the topic's starting handle time", "audit", routing.TopicStats{AgentsLoggedIn: 1}, 2 * (5*time.Minute + 30*time.Second)},
		{"the default for other topics", "service", routing.TopicStats{AgentsLoggedIn: 2}, 2 * (3*time.Minute + 30*time.Second) / 2},
		{"nobody logged in: no estimate", "audit", routing.TopicStats{}, 0},
		{"a free agent: no wait", "audit", routing.TopicStats{AgentsLoggedIn: 2, AgentsAvailable: 2}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := p.EstimateWait(tc.topic, 2, tc.s); got != tc.want {
				t.Errorf("EstimateWait = %v, want %v", got, tc.want)
			}
		})
	}
}

type callEnd struct{ at, handle time.Duration }

type endHeap []callEnd

func (h endHeap) Len() int           { return len(h) }
func (h endHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h endHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *endHeap) Push(x any)        { *h = append(*h, x.(callEnd)) }
func (h *endHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

type freeHeap []time.Duration

func (h freeHeap) Len() int           { return len(h) }
func (h freeHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h freeHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *freeHeap) Push(x any)        { *h = append(*h, x.(time.Duration)) }
func (h *freeHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// TestEstimateWaitAccuracy simulates a topic on a virtual clock — Poisson
// arrivals, random handle times, N agents serving in FIFO order with a
// wrap-up after each call — and compares the estimate each caller would
// have been told on arrival (EstimateWait with the position, free agents
// and exponentially weighted handle time known at that moment) with the
// wait that actually followed. The figures go to the log; the assertion is
// only a loose sanity bound.
func TestEstimateWaitAccuracy(t *testing.T) {
	const alpha = 0.1 // as redisstore's default
	tests := []struct {
		name   string
		agents int
		load   float64 // offered load per agent
		handle func(r *rand.Rand) time.Duration
	}{
		{"exponential 3m, 10 agents, 90% load", 10, 0.9, func(r *rand.Rand) time.Duration {
			return time.Duration(r.ExpFloat64() * float64(3*time.Minute))
		}},
		{"lognormal 3m cv~1, 10 agents, 95% load", 10, 0.95, func(r *rand.Rand) time.Duration {
			// sigma 0.83 gives a coefficient of variation of about 1.
			const sigma = 0.83
			mu := math.Log(float64(3*time.Minute)) - sigma*sigma/2
			return time.Duration(math.Exp(mu + sigma*r.NormFloat64()))
		}},
		{"uniform 1-5m, 3 agents, 85% load", 3, 0.85, func(r *rand.Rand) time.Duration {
			return time.Minute + time.Duration(r.Float64()*float64(4*time.Minute))
		}},
		{"exponential 3m, 50 agents, 97% load", 50, 0.97, func(r *rand.Rand) time.Duration {
			return time.Duration(r.ExpFloat64() * float64(3*time.Minute))
		}},
	}
	const calls = 20000
	wrap := 10 * time.Second
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, 11))
			meanHandle := 3 * time.Minute
			rate := tc.load * float64(tc.agents) / float64(meanHandle+wrap) // calls per ns
			free := make(freeHeap, tc.agents)
			heap.Init(&free)
			ends := &endHeap{}
			var starts []time.Duration
			var now time.Duration
			var ewma time.Duration
			var absErr, sumActual, sumEst float64
			var waited, waitedAbs, waitedActual float64
			for i := range calls {
				now += time.Duration(rng.ExpFloat64() / rate)
				// The handle time known now: calls ended by now, in order.
				for ends.Len() > 0 && (*ends)[0].at <= now {
					h := heap.Pop(ends).(callEnd).handle
					if ewma == 0 {
						ewma = h
					} else {
						ewma = time.Duration(float64(ewma)*(1-alpha) + float64(h)*alpha)
					}
				}
				// Position: earlier callers not yet started, plus this one.
				pos := 1
				for j := len(starts) - 1; j >= 0 && starts[j] > now; j-- {
					pos++
				}
				avail := 0
				for _, f := range free {
					if f <= now {
						avail++
					}
				}
				est := routing.EstimateWait(pos, routing.TopicStats{AgentsLoggedIn: tc.agents, AgentsAvailable: avail, HandleTime: ewma}, wrap)
				start := max(now, heap.Pop(&free).(time.Duration))
				h := tc.handle(rng)
				heap.Push(&free, start+h+wrap)
				heap.Push(ends, callEnd{at: start + h, handle: h})
				starts = append(starts, start)
				actual := start - now
				if i < calls/10 {
					continue // warm-up: the handle time is still being learnt
				}
				diff := math.Abs(float64(est - actual))
				absErr += diff
				sumActual += float64(actual)
				sumEst += float64(est)
				if actual > 0 {
					waited++
					waitedAbs += diff
					waitedActual += float64(actual)
				}
			}
			n := float64(calls - calls/10)
			mae := time.Duration(absErr / n)
			rel := absErr / sumActual
			t.Logf("%d callers: mean actual wait %v, mean estimate %v, mean absolute error %v, relative error %.0f%%; "+
				"of the %.0f%% who waited: MAE %v, relative %.0f%%",
				int(n), time.Duration(sumActual/n).Round(time.Second), time.Duration(sumEst/n).Round(time.Second),
				mae.Round(time.Second), 100*rel, 100*waited/n,
				time.Duration(waitedAbs/waited).Round(time.Second), 100*waitedAbs/waitedActual)
			if sumActual == 0 || rel > 1.5 {
				t.Errorf("estimates are no better than noise: relative error %.0f%%", 100*rel)
			}
		})
	}
}
