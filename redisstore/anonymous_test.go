package redisstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/hotline-project/hotline/internal/redistest"
	"github.com/hotline-project/hotline/redisstore"
	"github.com/hotline-project/hotline/routing"
)

// TestWithheldNumbersNotIndexed: callers without a real number must not
// find each other's open case.
func TestWithheldNumbersNotIndexed(t *testing.T) {
	srv := redistest.Start(t)
	st, _ := newStore(t, srv.Addr, redisstore.Options{})
	ctx := context.Background()
	now := time.Now()
	tests := []struct {
		number  string
		indexed bool
	}{
		{"anonymous", false},
		{"unknown", false},
		{"", false},
		{"+", false},
		{"555 1234", false},
		{"5551234", true},
		{"+380441234567", true},
	}
	for i, tt := range tests {
		t.Run(tt.number, func(t *testing.T) {
			id := "w" + string(rune('a'+i))
			if err := st.CreateCase(ctx, routing.Case{ID: id, CallerNumber: tt.number, Topic: "audit", Status: routing.CaseOpen, CreatedAt: now, UpdatedAt: now}); err != nil {
				t.Fatal(err)
			}
			cs, ok, err := st.OpenCaseByNumber(ctx, tt.number)
			if err != nil {
				t.Fatal(err)
			}
			if ok != tt.indexed || (ok && cs.ID != id) {
				t.Errorf("open case of %q: %q found=%v, want found=%v", tt.number, cs.ID, ok, tt.indexed)
			}
		})
	}
}
