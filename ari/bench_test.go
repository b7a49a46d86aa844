package ari

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
)

func BenchmarkDecodeEvent(b *testing.B) {
	lines := readLines(b, "testdata/events.jsonl")
	for _, bc := range []struct {
		name string
		line int
	}{{"StasisStart", 0}, {"ChannelVarset", 8}, {"ChannelTransfer", 10}} {
		b.Run(bc.name, func(b *testing.B) {
			msg := lines[bc.line]
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := DecodeEvent(msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAnswer measures the adapter's own cost per REST call (request
// building, auth, response mapping) against a loopback server that
// answers at once.
func BenchmarkAnswer(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	c, err := New(Options{URL: srv.URL + "/ari", Application: "hotline", Username: testUser, Password: testPassword})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := c.Answer(ctx, "1795305073.1"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
