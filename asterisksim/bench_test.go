package asterisksim

import (
	"fmt"
	"net/http"
	"net/url"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkOriginateStasisHangup measures the full REST round: originate a
// Local caller into Stasis(hotline) (StasisStart on the websocket), then hang
// it up, from parallel HTTP clients. Reported as originates/s; every event
// must reach the websocket client before the benchmark ends.
func BenchmarkOriginateStasisHangup(b *testing.B) {
	s := startSim(b, Options{})
	ws := dialEvents(b, s, "hotline")
	var starts atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case ev := <-ws.events:
				if ev["type"] == "StasisStart" {
					starts.Add(1)
				}
			case <-stop:
				return
			}
		}
	}()
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	defer tr.CloseIdleConnections()
	base := s.URL()
	var seq atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	begin := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		rc := &restClient{base: base, user: testUser, pass: testPass, hc: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
		for pb.Next() {
			n := seq.Add(1)
			id := fmt.Sprintf("bench-%d", n)
			st, body := rc.do(b, "POST", "/channels", url.Values{"endpoint": {"Local/100@hotline"},
				"context": {"agents"}, "extension": {"100"}, "channelId": {id}, "formats": {"ulaw"}}, nil)
			if st != 200 {
				b.Errorf("originate: %d %s", st, body)
				return
			}
			if st, body := rc.do(b, "DELETE", "/channels/"+id, nil, nil); st != 204 {
				b.Errorf("hangup: %d %s", st, body)
				return
			}
		}
	})
	elapsed := time.Since(begin)
	b.StopTimer()
	deadline := time.Now().Add(10 * time.Second)
	for starts.Load() < int64(b.N) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	close(stop)
	<-done
	if got := starts.Load(); got < int64(b.N) {
		b.Fatalf("%d StasisStart events for %d originates", got, b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "originates/s")
	if n := s.Stats().Channels; n != 0 {
		b.Fatalf("%d channels leaked", n)
	}
}

// BenchmarkHoldChannels holds 10,000 callers (20,000 channels: Local pairs
// with the ;2 half in Stasis and a no-answer timer armed on the ;1 half) and
// reports the heap cost per channel.
func BenchmarkHoldChannels(b *testing.B) {
	const calls = 10000
	for range b.N {
		func() {
			s := startSim(b, Options{})
			ws := dialEvents(b, s, "hotline")
			go func() {
				for range ws.events { // keep the client reading
				}
			}()
			heap := func() uint64 {
				runtime.GC()
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				return m.HeapAlloc
			}
			before := heap()
			s.mu.Lock()
			for i := range calls {
				if _, aerr := s.originate(originateReq{endpoint: "Local/100@hotline", context: "agents",
					exten: "100", timeout: time.Hour, chanID: fmt.Sprintf("hold-%d", i)}); aerr != nil {
					s.mu.Unlock()
					b.Fatalf("originate: %v", aerr.body)
				}
			}
			s.mu.Unlock()
			// Let the writer flush so queued events are not counted.
			deadline := time.Now().Add(30 * time.Second)
			for s.eventsSent.Load() < calls && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			after := heap()
			st := s.Stats()
			if st.Channels != 2*calls {
				b.Fatalf("holding %d channels, want %d", st.Channels, 2*calls)
			}
			b.ReportMetric(float64(after-before)/float64(st.Channels), "heapB/channel")
			b.ReportMetric(float64(st.Channels), "channels")
		}()
	}
}
