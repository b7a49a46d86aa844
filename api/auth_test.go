package api

import "testing"

func TestTokenTable(t *testing.T) {
	table := newTokenTable(map[string]Token{"agent-100-secret-token": {Role: RoleAgent, AgentID: "100"}})
	tests := []struct {
		secret string
		ok     bool
	}{
		{"agent-100-secret-token", true},
		{"agent-100-secret-toke", false},
		{"agent-100-secret-token ", false},
		{"", false},
	}
	for _, tt := range tests {
		t.Run(tt.secret, func(t *testing.T) {
			tok, ok := table.lookup(tt.secret)
			if ok != tt.ok || (ok && tok.AgentID != "100") {
				t.Errorf("lookup = %v, %v", tok, ok)
			}
		})
	}
}
