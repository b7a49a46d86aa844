package api

import (
	"maps"
	"strings"
	"testing"
)

func TestLoadTokens(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		want    map[string]Token
		errs    []string // substrings, each must appear
		noLeaks []string // must not appear in the error
	}{
		{
			name: "valid",
			file: "# desk tokens\n\nagent-100-secret-token agent:100\n  senior-secret-token-1\tsenior  \nadmin-secret-token-01 admin\n",
			want: map[string]Token{
				"agent-100-secret-token": {Role: RoleAgent, AgentID: "100"},
				"senior-secret-token-1":  {Role: RoleSenior},
				"admin-secret-token-01":  {Role: RoleAdmin},
			},
		},
		{name: "empty file", file: "# nothing yet\n", want: map[string]Token{}},
		{
			name:    "every problem with its line",
			file:    "agent-100-secret-token agent\ntiny1 senior\nsenior-secret-token-1 boss\nadmin-secret-token-01 admin extra\nsenior-secret-token-2 senior:5\n",
			errs:    []string{"tokens:1: agent role needs an agent id", "tokens:2: token shorter than 16", "tokens:3: unknown role \"boss\"", "tokens:4: want TOKEN ROLE, got 3 fields", "tokens:5: role senior takes no agent id"},
			noLeaks: []string{"agent-100-secret-token", "tiny1", "senior-secret-token-1", "admin-secret-token-01"},
		},
		{
			name:    "duplicate",
			file:    "agent-100-secret-token agent:100\nagent-100-secret-token agent:200\n",
			errs:    []string{"tokens:2: token already defined on line 1"},
			noLeaks: []string{"agent-100-secret-token"},
		},
		{name: "agent with empty id", file: "agent-100-secret-token agent:\n", errs: []string{"tokens:1: agent role needs an agent id"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LoadTokens(strings.NewReader(tt.file), "tokens")
			if len(tt.errs) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if !maps.Equal(got, tt.want) {
					t.Errorf("tokens %v, want %v", got, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, got %v", got)
			}
			for _, want := range tt.errs {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			for _, secret := range tt.noLeaks {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error leaks a token: %q", err)
				}
			}
		})
	}
}

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
