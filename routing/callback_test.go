package routing_test

import (
	"testing"
	"time"

	"github.com/hotline-project/hotline/routing"
)

func cbPolicy() routing.Policy {
	return routing.Policy{
		OfferWaitThreshold: 2 * time.Minute,
		CallbackAttempts:   3,
		CallbackSpacing:    10 * time.Minute,
		OwnerDeadline:      time.Hour,
		KeepPosition:       true,
	}
}

func TestOfferCallback(t *testing.T) {
	p := cbPolicy()
	cases := []struct {
		name   string
		p      routing.Policy
		q      routing.QueueInfo
		open   bool
		reason string
		ok     bool
	}{
		{"closed beats everything", p, routing.QueueInfo{AgentsLoggedIn: 5, AgentsAvailable: 5}, false, "closed", true},
		{"no agent logged in", p, routing.QueueInfo{Position: 1}, true, "no_agents", true},
		{"long wait", p, routing.QueueInfo{AgentsLoggedIn: 2, EstimatedWait: 2*time.Minute + time.Second}, true, "long_wait", true},
		{"wait at the threshold is not long", p, routing.QueueInfo{AgentsLoggedIn: 2, EstimatedWait: 2 * time.Minute}, true, "", false},
		{"short wait", p, routing.QueueInfo{AgentsLoggedIn: 2, EstimatedWait: 10 * time.Second}, true, "", false},
		{"zero threshold offers for any wait", routing.Policy{}, routing.QueueInfo{AgentsLoggedIn: 1, EstimatedWait: time.Second}, true, "long_wait", true},
		{"zero threshold, no wait, no offer", routing.Policy{}, routing.QueueInfo{AgentsLoggedIn: 1}, true, "", false},
		{"logged in but none available is a wait question", p, routing.QueueInfo{AgentsLoggedIn: 3, EstimatedWait: time.Second}, true, "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			reason, ok := routing.OfferCallback(tc.p, tc.q, tc.open)
			if reason != tc.reason || ok != tc.ok {
				t.Fatalf("got (%q, %v), want (%q, %v)", reason, ok, tc.reason, tc.ok)
			}
		})
	}
}
