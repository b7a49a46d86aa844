package demo

import (
	_ "embed"
	"fmt"

	"github.com/hotline-project/hotline/dialplan"
)

// configYAML is the demo's hotline configuration.
//
//go:embed demo.yaml
var configYAML []byte

// Config parses the embedded demo configuration and points it at the
// simulated Asterisk (ariURL) and the embedded store (redisAddr).
func Config(ariURL, redisAddr string) (*dialplan.Config, error) {
	cfg, err := dialplan.Parse("demo.yaml", configYAML)
	if err != nil {
		return nil, fmt.Errorf("demo configuration: %w", err)
	}
	cfg.ARI.URL = ariURL
	// Derived again by the ARI client from the URL just set.
	cfg.ARI.WebsocketURL = ""
	cfg.Redis.Addrs = []string{redisAddr}
	return cfg, nil
}
