package demo

import (
	"strings"
	"testing"
)

// TestConfig checks the embedded configuration: valid without warnings,
// pointed at the given simulator and store, always open, and every
// agent's phone played by the phones driver.
func TestConfig(t *testing.T) {
	cfg, err := Config("http://127.0.0.1:1234/ari", "127.0.0.1:6390")
	if err != nil {
		t.Fatal(err)
	}
	if w := cfg.Warnings(); len(w) > 0 {
		t.Errorf("warnings: %v", w)
	}
	if cfg.ARI.URL != "http://127.0.0.1:1234/ari" || cfg.ARI.WebsocketURL != "" {
		t.Errorf("ARI: %q %q", cfg.ARI.URL, cfg.ARI.WebsocketURL)
	}
	if len(cfg.Redis.Addrs) != 1 || cfg.Redis.Addrs[0] != "127.0.0.1:6390" {
		t.Errorf("Redis: %v", cfg.Redis.Addrs)
	}
	seniors := 0
	for _, ag := range cfg.Agents {
		if ag.Endpoint != "Local/"+ag.ID+"@phones" {
			t.Errorf("agent %s: endpoint %s", ag.ID, ag.Endpoint)
		}
		if ag.Senior {
			seniors++
		}
	}
	if len(cfg.Agents) < 8 || seniors != 2 {
		t.Errorf("%d agents, %d seniors", len(cfg.Agents), seniors)
	}
	for name, tp := range cfg.Topics {
		if tp.Hours != "" {
			t.Errorf("topic %s has hours %q: the demo must be open at any time", name, tp.Hours)
		}
		if _, ok := topicDigit[name]; !ok {
			t.Errorf("topic %s has no menu digit in the traffic script", name)
		}
	}
	if !strings.Contains(cfg.Callback.DialTemplate, "@phones") {
		t.Errorf("callbacks dial %q, not the phones driver", cfg.Callback.DialTemplate)
	}
}
