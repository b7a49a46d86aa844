package api

import "testing"

func TestStaticTokens(t *testing.T) {
	lookup := StaticTokens(map[string]Token{
		"agent-100-secret-token":  {Role: RoleAgent, AgentID: "100"},
		"senior-secret-token-xyz": {Role: RoleSenior},
	})
	tests := []struct {
		secret string
		want   Token
		ok     bool
	}{
		{"agent-100-secret-token", Token{Role: RoleAgent, AgentID: "100"}, true},
		{"senior-secret-token-xyz", Token{Role: RoleSenior}, true},
		{"agent-100-secret-toke", Token{}, false},
		{"agent-100-secret-token ", Token{}, false},
		{"", Token{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.secret, func(t *testing.T) {
			tok, ok := lookup(tt.secret)
			if ok != tt.ok || tok != tt.want {
				t.Errorf("lookup = %+v, %v; want %+v, %v", tok, ok, tt.want, tt.ok)
			}
		})
	}
}
