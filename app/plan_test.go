package app

import (
	"strings"
	"testing"
	"time"

	"github.com/hotline-project/hotline/dialplan"
)

// TestPlanSettings: configuration keys the call flow must honour reach its
// Settings (announce_every 0s is "never", not the default).
func TestPlanSettings(t *testing.T) {
	tests := []struct {
		name, extra string
		check       func(t *testing.T, p *plan)
	}{
		{name: "announce_every 0s is off", extra: "queue: {announce_every: 0s}\n", check: func(t *testing.T, p *plan) {
			if got := p.Settings().AnnounceInterval; got >= 0 {
				t.Errorf("announce interval %v, want negative (off)", got)
			}
		}},
		{name: "announce_every set", extra: "queue: {announce_every: 20s}\n", check: func(t *testing.T, p *plan) {
			if got := p.Settings().AnnounceInterval; got != 20*time.Second {
				t.Errorf("announce interval %v", got)
			}
		}},
		{name: "transfer keys", extra: "transfer: {consult_timeout: 50s, whisper: off}\n", check: func(t *testing.T, p *plan) {
			if s := p.Settings(); s.ConsultTimeout != 50*time.Second || !s.NoWhisper {
				t.Errorf("consult %v, no whisper %v", s.ConsultTimeout, s.NoWhisper)
			}
		}},
		{name: "callback caller id", extra: "callback: {dial_template: \"PJSIP/${NUMBER}@trunk\", caller_id: \"0800300100\"}\n", check: func(t *testing.T, p *plan) {
			if got := p.Settings().CallbackCallerID; got != "0800300100" {
				t.Errorf("caller id %q", got)
			}
			if got := p.CallbackEndpoint("anonymous"); got != "" {
				t.Errorf("withheld number dialable: %q", got)
			}
		}},
		{name: "next open", check: func(t *testing.T, p *plan) {
			now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
			if got := p.NextOpen("audit", now); !got.Equal(now) {
				t.Errorf("open topic opens at %v", got)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := dialplan.Parse("test.yaml", []byte(strings.NewReplacer("{{ARI_URL}}", "http://127.0.0.1:1", "{{REDIS}}", "127.0.0.1:1").Replace(TestConfig)+tt.extra))
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, NewPlan(cfg).(*plan))
		})
	}
}
