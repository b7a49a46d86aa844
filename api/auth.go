package api

import (
	"crypto/sha256"
	"net/http"
	"strings"
)

// Roles a token can carry (SPEC §2.3).
const (
	RoleAgent  = "agent"  // bound to one agent id; acts on its own state and calls
	RoleSenior = "senior" // sees and acts on everything
	RoleAdmin  = "admin"  // sees and acts on everything
)

// MinTokenLength keeps guessable tokens out of the token file.
const MinTokenLength = 16

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

// tokenTable looks tokens up by their SHA-256 so that the comparison time
// does not depend on how many leading bytes of a guess were right.
type tokenTable map[[sha256.Size]byte]Token

// StaticTokens authenticates against a fixed map of secret → grant (tests,
// the demo). The daemon uses the configuration's token file instead.
func StaticTokens(tokens map[string]Token) func(secret string) (Token, bool) {
	return newTokenTable(tokens).lookup
}

func newTokenTable(tokens map[string]Token) tokenTable {
	t := make(tokenTable, len(tokens))
	for secret, tok := range tokens {
		t[sha256.Sum256([]byte(secret))] = tok
	}
	return t
}

func (t tokenTable) lookup(secret string) (Token, bool) {
	if secret == "" {
		return Token{}, false
	}
	tok, ok := t[sha256.Sum256([]byte(secret))]
	return tok, ok
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
