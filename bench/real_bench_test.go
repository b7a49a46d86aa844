package bench

import (
	"log/slog"
	"testing"
	"time"

	"github.com/hotline-project/hotline/ari"
)

// The observer is the real-Asterisk bench's instrument: it reads every
// channel event of every call, at up to some 5,000 events/s. These
// benchmarks keep its cost per event, and the analysis afterwards, in view.

func BenchmarkObserverHandle(b *testing.B) {
	o := &Observer{log: slog.New(slog.DiscardHandler), live: map[string]bool{}, ready: make(chan struct{})}
	raw := []byte(`{"type":"ChannelDialplan","timestamp":"2026-12-01T23:49:34.330+0000","dialplan_app":"Stasis","dialplan_app_data":"hlb-hotline,100","channel":{"id":"hlbc-ab12-7-in","name":"Local/100@hlb-in-hotline-0000000a;2","state":"Ring","caller":{"name":"","number":"380670000007"},"connected":{"name":"","number":""},"dialplan":{"context":"hlb-in-hotline","exten":"100","priority":1},"creationtime":"2026-12-01T23:49:34.330+0000","language":"en"},"application":"hlb-observer"}`)
	ev, err := ari.DecodeEvent(raw)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		o.handle(ev)
		if len(o.events) > 1<<16 {
			o.Take()
		}
	}
}

func BenchmarkBuildTrace(b *testing.B) {
	e := &evb{t0: time.Now()}
	for i := range int64(4000) { // a 20 s level at 200 calls/s
		at := float64(i) * 5
		e.call(i+1, at, at+2, at+202, "Local/5000@hlb-agents-"+time.Duration(i).String())
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = buildTrace(e.ev, false).capacity()
	}
}
