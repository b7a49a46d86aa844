package app

import (
	"testing"
	"time"

	"github.com/hotline-project/hotline/routing"
)

func TestCallbackOverdue(t *testing.T) {
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		cb   routing.Callback
		want bool
	}{
		{"queue kind parked for an hour", routing.Callback{Kind: routing.CallbackQueue, DueAt: now.Add(-time.Hour)}, false},
		{"owner before its deadline", routing.Callback{Kind: routing.CallbackOwner, DueAt: now.Add(-time.Hour), Deadline: now.Add(time.Minute)}, false},
		{"owner past its deadline", routing.Callback{Kind: routing.CallbackOwner, DueAt: now.Add(-time.Hour), Deadline: now.Add(-time.Second)}, true},
		{"owner without deadline within grace", routing.Callback{Kind: routing.CallbackOwner, DueAt: now.Add(-30 * time.Second)}, false},
		{"owner without deadline past grace", routing.Callback{Kind: routing.CallbackOwner, DueAt: now.Add(-2 * time.Minute)}, true},
		{"senior due within grace", routing.Callback{Kind: routing.CallbackSenior, DueAt: now.Add(-30 * time.Second)}, false},
		{"senior due past grace", routing.Callback{Kind: routing.CallbackSenior, DueAt: now.Add(-2 * time.Minute)}, true},
		{"senior not yet due", routing.Callback{Kind: routing.CallbackSenior, DueAt: now.Add(time.Hour)}, false},
		{"owner past deadline but dialling", routing.Callback{Kind: routing.CallbackOwner, State: routing.CallbackDialing, Deadline: now.Add(-time.Hour)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.cb.State == "" {
				tt.cb.State = routing.CallbackScheduled
			}
			if got := callbackOverdue(tt.cb, now); got != tt.want {
				t.Errorf("callbackOverdue = %v, want %v", got, tt.want)
			}
		})
	}
}
