package api

import (
	"net/http"
	"strings"

	"github.com/hotline-project/hotline/dialplan"
)

// Roles a token can carry (README, HTTP API).
const (
	RoleAgent  = "agent"  // bound to one agent id; acts on its own state and calls
	RoleSenior = "senior" // sees and acts on everything
	RoleAdmin  = "admin"  // sees and acts on everything
)

// Token is what a bearer token grants.
type Token struct {
	Role    string
	AgentID string // set only for RoleAgent
}

// privileged reports whether the token sees and acts beyond one agent.
func (t Token) privileged() bool { return t.Role == RoleSenior || t.Role == RoleAdmin }

// actor names the token holder in records (notes, requests): the agent id,
// or the role for senior and admin tokens, which carry no id.
func (t Token) actor() string {
	if t.Role == RoleAgent {
		return t.AgentID
	}
	return t.Role
}

// GrantToken is what a token file's grant allows in the API. The daemon
// authenticates against the configuration's dialplan.Tokens through it.
func GrantToken(g dialplan.Grant) Token { return Token{Role: string(g.Role), AgentID: g.Agent} }

// StaticTokens authenticates against a fixed map of secret → grant (tests,
// the demo), with the same table as the daemon's token file.
func StaticTokens(tokens map[string]Token) func(secret string) (Token, bool) {
	grants := make(map[string]dialplan.Grant, len(tokens))
	for secret, tok := range tokens {
		grants[secret] = dialplan.Grant{Role: dialplan.Role(tok.Role), Agent: tok.AgentID}
	}
	table := dialplan.NewTokens(grants)
	return func(secret string) (Token, bool) {
		g, ok := table.Lookup(secret)
		return GrantToken(g), ok
	}
}

// bearer extracts the token from "Authorization: Bearer X". When
// allowQuery is set (the events stream only, because EventSource cannot set
// headers) it falls back to ?token=.
func bearer(r *http.Request, allowQuery bool) string {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(tok)
		}
		return ""
	}
	if allowQuery {
		return r.URL.Query().Get("token")
	}
	return ""
}
