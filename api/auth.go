package api

import (
	"bufio"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
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

// ErrTokenFile wraps every problem LoadTokens finds.
var ErrTokenFile = errors.New("invalid token file")

// LoadTokens reads a token file: one token per line followed by its grant,
//
//	# comment
//	s3cr3t-token-for-100   agent:100
//	s3cr3t-token-senior    senior
//	s3cr3t-token-admin     admin
//
// Every problem is reported as "NAME:LINE: message" (all of them, joined);
// the token text itself never appears in an error, since errors get logged.
func LoadTokens(r io.Reader, name string) (map[string]Token, error) {
	tokens := make(map[string]Token)
	firstLine := make(map[string]int)
	var errs []error
	fail := func(line int, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s:%d: %s: %w", name, line, fmt.Sprintf(format, args...), ErrTokenFile))
	}
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		fields := strings.Fields(text)
		if len(fields) != 2 {
			fail(line, "want TOKEN ROLE, got %d fields", len(fields))
			continue
		}
		secret, grant := fields[0], fields[1]
		tok, err := parseGrant(grant)
		if err != nil {
			fail(line, "%v", err)
			continue
		}
		if len(secret) < MinTokenLength {
			fail(line, "token shorter than %d characters", MinTokenLength)
			continue
		}
		if prev, dup := firstLine[secret]; dup {
			fail(line, "token already defined on line %d", prev)
			continue
		}
		firstLine[secret] = line
		tokens[secret] = tok
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return tokens, nil
}

func parseGrant(s string) (Token, error) {
	role, id, hasID := strings.Cut(s, ":")
	switch role {
	case RoleAgent:
		if !hasID || id == "" {
			return Token{}, errors.New("agent role needs an agent id: agent:ID")
		}
		return Token{Role: RoleAgent, AgentID: id}, nil
	case RoleSenior, RoleAdmin:
		if hasID {
			return Token{}, fmt.Errorf("role %s takes no agent id", role)
		}
		return Token{Role: role}, nil
	}
	return Token{}, fmt.Errorf("unknown role %q (want agent:ID, senior or admin)", role)
}

// tokenTable looks tokens up by their SHA-256 so that the comparison time
// does not depend on how many leading bytes of a guess were right.
type tokenTable map[[sha256.Size]byte]Token

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
