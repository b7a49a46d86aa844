package dialplan

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Secret is a password or token. It prints as "<secret>" however it is
// formatted, logged or encoded, so it cannot leak by accident; Value is the
// one deliberate way to the real text.
type Secret string

const redacted = "<secret>"

// Value returns the secret itself.
func (s Secret) Value() string { return string(s) }

// String hides the secret.
func (s Secret) String() string { return redacted }

// GoString hides the secret from %#v too.
func (s Secret) GoString() string { return redacted }

// MarshalText hides the secret from text encoders (slog, YAML).
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// MarshalJSON hides the secret from JSON.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// ErrSecretNotSet is returned when a secret's environment variable is unset
// or empty, or its file is empty.
var ErrSecretNotSet = errors.New("secret not set")

// SecretRef says where a secret comes from: a file or an environment
// variable, never the configuration file itself. It is read when needed
// (Read), not at load time, so `hotline check` works on a machine without
// the secrets and a rotated file is picked up on reload.
type SecretRef struct {
	File string // absolute, or relative to the working directory if the config was given so
	Env  string

	key  string // the YAML key that set it, for problems
	line int
}

// IsSet reports whether the configuration names a source for the secret.
func (r SecretRef) IsSet() bool { return r.File != "" || r.Env != "" }

// Read returns the secret. A file's trailing newline is not part of it. An
// unset reference reads as the empty secret with no error: not every
// deployment needs every password.
func (r SecretRef) Read() (Secret, error) {
	switch {
	case r.File != "":
		data, err := os.ReadFile(r.File)
		if err != nil {
			return "", fmt.Errorf("read secret: %w", err)
		}
		s := strings.TrimRight(string(data), "\r\n")
		if s == "" {
			return "", fmt.Errorf("read secret %s: %w", r.File, ErrSecretNotSet)
		}
		return Secret(s), nil
	case r.Env != "":
		s, ok := os.LookupEnv(r.Env)
		if !ok || s == "" {
			return "", fmt.Errorf("read secret $%s: %w", r.Env, ErrSecretNotSet)
		}
		return Secret(s), nil
	}
	return "", nil
}

// Role is what an API token may do.
type Role string

// API roles (README, HTTP API).
const (
	RoleAgent  Role = "agent"
	RoleSenior Role = "senior"
	RoleAdmin  Role = "admin"
)

// Grant is what one token allows.
type Grant struct {
	Role  Role
	Agent string // the agent an agent token is bound to; empty otherwise
}

// Tokens maps API bearer tokens to grants. Tokens are kept only as SHA-256
// digests, so a dump of the process's structures does not show them.
type Tokens struct {
	byDigest map[[sha256.Size]byte]Grant
}

// NewTokens builds a token table from secret → grant, for tables that do
// not come from a token file (tests, the demo). Unlike ParseTokens it does
// not check token length or roles: the caller made them.
func NewTokens(grants map[string]Grant) Tokens {
	t := Tokens{byDigest: make(map[[sha256.Size]byte]Grant, len(grants))}
	for secret, g := range grants {
		t.byDigest[sha256.Sum256([]byte(secret))] = g
	}
	return t
}

// Len returns the number of tokens.
func (t Tokens) Len() int { return len(t.byDigest) }

// Lookup returns the grant of a bearer token.
func (t Tokens) Lookup(token string) (Grant, bool) {
	want := sha256.Sum256([]byte(token))
	for d, g := range t.byDigest {
		// Compare every digest in constant time rather than indexing the
		// map, so response time says nothing about how close a guess was.
		if subtle.ConstantTimeCompare(d[:], want[:]) == 1 {
			return g, true
		}
	}
	return Grant{}, false
}

// MinTokenLength keeps API tokens long enough not to be guessed.
const MinTokenLength = 16

// ParseTokens reads a token file: a YAML mapping from token to role, where
// the role is "admin", "senior" or "agent:ID":
//
//	# token: role
//	"c2b1f6c0a3d94e0b9d7a": admin
//	"7f3e9a1d5b2c4e8f9a0b": senior
//	"a9d04c7e1b3f5a2d8c6e": agent:101
//
// Every problem is reported as Problems at name's own lines, with the
// token hidden.
func ParseTokens(name string, data []byte) (Tokens, error) {
	t, _, probs := parseTokens(name, data)
	if len(probs) > 0 {
		return t, probs
	}
	return t, nil
}

// parseTokens is ParseTokens that also returns the line of each token, by
// digest.
func parseTokens(name string, data []byte) (Tokens, map[[sha256.Size]byte]int, Problems) {
	t := Tokens{byDigest: map[[sha256.Size]byte]Grant{}}
	lines := map[[sha256.Size]byte]int{}
	n, extra, err := parseYAML(data)
	if err != nil {
		p := yamlProblem(name, data, err)
		// The one syntax error that quotes the file: an unquoted token
		// starting with * reads as an alias, named in the message.
		if strings.HasPrefix(p.Message, "invalid YAML: unknown anchor") {
			p.Message = "invalid YAML: unknown anchor referenced (quote tokens that start with *)"
		}
		return t, lines, Problems{p}
	}
	var probs Problems
	add := func(line int, format string, args ...any) {
		probs = append(probs, Problem{File: name, Line: line, Message: fmt.Sprintf(format, args...)})
	}
	if extra > 0 {
		add(extra, "only one YAML document is allowed")
	}
	if isNull(n) {
		return t, lines, probs
	}
	if n.Kind != yaml.MappingNode {
		add(n.Line, "tokens: expected a mapping of token: role")
		return t, lines, probs
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || v.Kind != yaml.ScalarNode {
			add(k.Line, "token entry must be token: role")
			continue
		}
		if len(k.Value) < MinTokenLength {
			add(k.Line, "token shorter than %d characters", MinTokenLength)
			continue
		}
		d := sha256.Sum256([]byte(k.Value))
		if first, dup := lines[d]; dup {
			add(k.Line, "duplicate token (first at line %d)", first)
			continue
		}
		lines[d] = k.Line
		g, err := parseRole(v.Value)
		if err != nil {
			add(v.Line, "%v", err)
			continue
		}
		t.byDigest[d] = g
	}
	return t, lines, probs
}

// ErrBadRole is returned for a role that is not admin, senior or agent:ID.
var ErrBadRole = errors.New(`role must be "admin", "senior" or "agent:ID"`)

func parseRole(s string) (Grant, error) {
	switch Role(s) {
	case RoleAdmin, RoleSenior:
		return Grant{Role: Role(s)}, nil
	}
	if id, ok := strings.CutPrefix(s, "agent:"); ok && agentIDRe.MatchString(id) {
		return Grant{Role: RoleAgent, Agent: id}, nil
	}
	if len(s) >= MinTokenLength && !strings.HasPrefix(s, "agent:") {
		// As long as a token: perhaps one, written where the role goes.
		return Grant{}, fmt.Errorf("role (not shown, %d characters): %w", len(s), ErrBadRole)
	}
	return Grant{}, fmt.Errorf("role %q: %w", s, ErrBadRole)
}

// LoadTokens reads and parses the API tokens, as the daemon does at start
// and on reload. Grants for agents that are not configured are refused:
// such a token could never act on a call. Problems inside the tokens file
// (or variable) are Problems at its own lines, wrapped.
func (c *Config) LoadTokens() (Tokens, error) {
	t, probs, err := c.loadTokens()
	if err != nil {
		return t, fmt.Errorf("load tokens: %w", err)
	}
	if len(probs) > 0 {
		return t, fmt.Errorf("load tokens: %w", probs)
	}
	return t, nil
}

// loadTokens returns the tokens, the problems inside their source, or the
// error reading the source.
func (c *Config) loadTokens() (Tokens, Problems, error) {
	src := c.HTTP.Tokens
	if !src.IsSet() {
		return Tokens{byDigest: map[[sha256.Size]byte]Grant{}}, nil, nil
	}
	s, err := src.Read()
	if err != nil {
		return Tokens{}, nil, err
	}
	name := src.File
	if name == "" {
		name = "$" + src.Env
	}
	t, lines, probs := parseTokens(name, []byte(s.Value()))
	for d, g := range t.byDigest {
		if g.Role != RoleAgent {
			continue
		}
		if _, ok := c.Agent(g.Agent); !ok {
			probs = append(probs, Problem{File: name, Line: lines[d], Message: fmt.Sprintf("token for unknown agent %q (not in agents)", g.Agent)})
		}
	}
	sortProblems(probs)
	return t, probs, nil
}

// CheckSecrets reads every secret the configuration refers to (ARI and
// Redis passwords, API tokens) as the daemon does, and reports every
// problem: a secret that cannot be read (missing, unreadable or empty file,
// unset or empty variable) at the line of the configuration key that names
// it, a problem inside the tokens file at that file's own line (the
// variable's, "$NAME", for tokens_env). No secret is ever part of a
// problem. Load does not do this, so that a configuration can be checked
// away from the machine that holds the secrets; `hotline serve` and
// `hotline check` call it.
func (c *Config) CheckSecrets() error {
	var probs Problems
	for _, r := range []SecretRef{c.ARI.Password, c.Redis.Password} {
		if _, err := r.Read(); err != nil {
			probs = append(probs, Problem{File: c.File, Line: r.line, Message: fmt.Sprintf("%s: %v", r.key, err)})
		}
	}
	_, tokenProbs, err := c.loadTokens()
	if err != nil {
		probs = append(probs, Problem{File: c.File, Line: c.HTTP.Tokens.line, Message: fmt.Sprintf("%s: %v", c.HTTP.Tokens.key, err)})
	}
	sortProblems(probs)
	probs = append(probs, tokenProbs...)
	if len(probs) > 0 {
		return probs
	}
	return nil
}
