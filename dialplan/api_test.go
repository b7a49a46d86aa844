package dialplan

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRoute(t *testing.T) {
	c, err := Load(deployConfig)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		number string
		want   NumberRoute
		ok     bool
	}{
		{"0800300100", NumberRoute{Number: "0800300100", Menu: "main", Lang: "uk"}, true},
		{"0800300300", NumberRoute{Number: "0800300300", Topic: "audit", Lang: "uk"}, true},
		{"+48221234500", NumberRoute{Number: "+48221234500", Menu: "main", Lang: "pl"}, true},
		{"48221234500", NumberRoute{Number: "+48221234500", Menu: "main", Lang: "pl"}, true}, // trunk without +
		{"+0800300402", NumberRoute{Number: "0800300402", Topic: "service", Lang: "ru"}, true},
		{"0800999999", NumberRoute{}, false},
		{"", NumberRoute{}, false},
		{"+", NumberRoute{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.number, func(t *testing.T) {
			got, ok := c.Route(tc.number)
			if got != tc.want || ok != tc.ok {
				t.Errorf("Route(%q) = %+v, %v; want %+v, %v", tc.number, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestTopicOpen(t *testing.T) {
	c, err := Load(deployConfig)
	if err != nil {
		t.Fatal(err)
	}
	sunday := utc("2026-03-22T10:00:00Z") // 12:00 in Kyiv
	tests := []struct {
		topic string
		open  bool
		next  string
	}{
		{"connections", false, "2026-03-23T06:00:00Z"},
		{"service", true, "2026-03-22T10:00:00Z"}, // service works on Sundays
		{"nosuch", false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.topic, func(t *testing.T) {
			if got := c.TopicOpen(tc.topic, sunday); got != tc.open {
				t.Errorf("TopicOpen = %v", got)
			}
			next := c.TopicNextOpen(tc.topic, sunday)
			if (tc.next == "" && !next.IsZero()) || (tc.next != "" && !next.Equal(utc(tc.next))) {
				t.Errorf("TopicNextOpen = %s, want %s", next, tc.next)
			}
		})
	}
	c.Topics["always"] = &Topic{Name: "always"}
	if !c.TopicOpen("always", sunday) || !c.TopicNextOpen("always", sunday).Equal(sunday) {
		t.Error("a topic without hours must always be open")
	}
}

func TestDialString(t *testing.T) {
	cb := Callback{DialTemplate: "PJSIP/${NUMBER}@trunk"}
	tests := []struct {
		number, want string
		err          error
	}{
		{"+380441234567", "PJSIP/+380441234567@trunk", nil},
		{"0441234567", "PJSIP/0441234567@trunk", nil},
		{"044&Local/1", "", ErrBadNumber},
		{"", "", ErrBadNumber},
	}
	for _, tc := range tests {
		t.Run(tc.number, func(t *testing.T) {
			got, err := cb.DialString(tc.number)
			if got != tc.want || !errors.Is(err, tc.err) {
				t.Errorf("DialString(%q) = %q, %v", tc.number, got, err)
			}
		})
	}
}

func TestProblemString(t *testing.T) {
	tests := []struct {
		p    Problem
		want string
	}{
		{Problem{File: "h.yaml", Line: 3, Message: "bad"}, "h.yaml:3: bad"},
		{Problem{File: "h.yaml", Line: 3, Message: "odd", Warning: true}, "h.yaml:3: warning: odd"},
		{Problem{File: "h.yaml", Message: "unreadable"}, "h.yaml: unreadable"},
		{Problem{Line: 7, Message: "built in code"}, "line 7: built in code"},
		{Problem{Message: "bare"}, "bare"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			if got := tc.p.String(); got != tc.want {
				t.Errorf("String() = %q", got)
			}
		})
	}
	ps := Problems{{File: "a", Line: 1, Message: "x"}, {File: "a", Line: 2, Message: "y"}}
	if got := ps.Error(); got != "a:1: x\na:2: y" {
		t.Errorf("Error() = %q", got)
	}
}

func TestSecretNeverPrints(t *testing.T) {
	s := Secret("hunter2")
	j, err := json.Marshal(struct{ P Secret }{s})
	if err != nil {
		t.Fatal(err)
	}
	var logged strings.Builder
	slog.New(slog.NewTextHandler(&logged, nil)).Info("x", "password", s)
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("x", "password", s)
	outs := []string{
		fmt.Sprint(s), fmt.Sprintf("%v %s %+v %#v %q", s, s, s, s, s), string(j), logged.String(),
		fmt.Sprintf("%+v", ARI{Password: SecretRef{Env: "X"}}),
	}
	for _, out := range outs {
		if strings.Contains(out, "hunter2") {
			t.Errorf("secret leaked: %s", out)
		}
	}
	if s.Value() != "hunter2" {
		t.Errorf("Value() = %q", s.Value())
	}
}

func TestSecretRefRead(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "pw")
	if err := os.WriteFile(file, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOTLINE_TEST_PW", "from-env")
	t.Setenv("HOTLINE_TEST_EMPTY", "")
	tests := []struct {
		name string
		ref  SecretRef
		want string
		err  error
	}{
		{"file without its newline", SecretRef{File: file}, "s3cret", nil},
		{"env", SecretRef{Env: "HOTLINE_TEST_PW"}, "from-env", nil},
		{"unset ref", SecretRef{}, "", nil},
		{"empty env", SecretRef{Env: "HOTLINE_TEST_EMPTY"}, "", ErrSecretNotSet},
		{"missing env", SecretRef{Env: "HOTLINE_TEST_NOPE_NOT_SET"}, "", ErrSecretNotSet},
		{"empty file", SecretRef{File: empty}, "", ErrSecretNotSet},
		{"missing file", SecretRef{File: filepath.Join(dir, "nope")}, "", os.ErrNotExist},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.ref.Read()
			if got.Value() != tc.want || !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
				t.Errorf("Read() = %q, %v; want %q, %v", got.Value(), err, tc.want, tc.err)
			}
		})
	}
}

func TestParseTokens(t *testing.T) {
	const file = `
"0123456789abcdef0123": admin
"senior-token-0123456789": senior
"agent-token-101-abcdef": agent:101
`
	tok, err := ParseTokens("tokens.yaml", []byte(file))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		token string
		want  Grant
		ok    bool
	}{
		{"0123456789abcdef0123", Grant{Role: RoleAdmin}, true},
		{"senior-token-0123456789", Grant{Role: RoleSenior}, true},
		{"agent-token-101-abcdef", Grant{Role: RoleAgent, Agent: "101"}, true},
		{"agent-token-101-abcde", Grant{}, false},
		{"", Grant{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.token, func(t *testing.T) {
			got, ok := tok.Lookup(tc.token)
			if got != tc.want || ok != tc.ok {
				t.Errorf("Lookup = %+v, %v", got, ok)
			}
		})
	}
	if tok.Len() != 3 {
		t.Errorf("Len = %d", tok.Len())
	}

	bad := `"short": admin
"0123456789abcdef0123": root
"0123456789abcdef0123": admin
"agent-token-abcdefghij": "agent:"
- list
`
	_, err = ParseTokens("tokens.yaml", []byte(bad))
	if err == nil {
		t.Fatal("no error for a bad token file")
	}
	if strings.Contains(err.Error(), "0123456789abcdef0123") {
		t.Errorf("token leaked in %q", err)
	}
	_, err = ParseTokens("tokens.yaml", []byte(`"short": admin
"0123456789abcdef0123": root
"0123456789abcdef0123": admin
"agent-token-abcdefghij": "agent:"
`))
	want := `tokens.yaml:1: token shorter than 16 characters
tokens.yaml:2: role "root": role must be "admin", "senior" or "agent:ID"
tokens.yaml:3: duplicate token (first at line 2)
tokens.yaml:4: role "agent:": role must be "admin", "senior" or "agent:ID"`
	if err == nil || err.Error() != want {
		t.Errorf("problems:\n%v\nwant:\n%s", err, want)
	}

	// Tokens written where they do not belong are not repeated: one as a
	// role, one unquoted starting with * (an alias to YAML).
	for _, tc := range []struct{ file, want string }{
		{`admin-0123456789abcdef: "0123456789abcdef0123"`, `tokens.yaml:1: role (not shown, 20 characters): role must be "admin", "senior" or "agent:ID"`},
		{`*0123456789abcdef0123: admin`, `tokens.yaml:1: invalid YAML: unknown anchor referenced (quote tokens that start with *)`},
	} {
		_, err := ParseTokens("tokens.yaml", []byte(tc.file))
		if err == nil || err.Error() != tc.want {
			t.Errorf("ParseTokens(%q) = %v, want %s", tc.file, err, tc.want)
		}
	}
}

func TestLoadTokensAndCheckSecrets(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("tokens.yaml", `"agent-token-1-abcdefgh": agent:1`+"\n")
	write("ari", "pw\n")
	cfg := write("hotline.yaml", withMinimal(`
ari: {password_file: ari}
http: {tokens_file: tokens.yaml}
redis: {password_env: HOTLINE_TEST_REDIS_PW}
`))
	c, err := Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOTLINE_TEST_REDIS_PW", "redispw")
	if err := c.CheckSecrets(); err != nil {
		t.Fatalf("CheckSecrets: %v", err)
	}
	tok, err := c.LoadTokens()
	if err != nil {
		t.Fatal(err)
	}
	if g, ok := tok.Lookup("agent-token-1-abcdefgh"); !ok || g.Agent != "1" {
		t.Errorf("Lookup = %+v, %v", g, ok)
	}
	if pw, _ := c.ARI.Password.Read(); pw.Value() != "pw" {
		t.Errorf("ARI password = %q (relative file not resolved against the config's directory?)", pw.Value())
	}

	// A token for an agent that is not configured, and an unset variable.
	write("tokens.yaml", `"agent-token-9-abcdefgh": agent:9`+"\n")
	os.Unsetenv("HOTLINE_TEST_REDIS_PW")
	err = c.CheckSecrets()
	var probs Problems
	if !errors.As(err, &probs) || len(probs) != 2 {
		t.Fatalf("CheckSecrets = %v, want two problems", err)
	}
	if want := cfg + ":4: redis.password_env: read secret $HOTLINE_TEST_REDIS_PW: secret not set"; probs[0].String() != want {
		t.Errorf("problem = %q\nwant      %q", probs[0], want)
	}
	// A problem inside the tokens file is at the tokens file's own line.
	if want := filepath.Join(dir, "tokens.yaml") + `:1: token for unknown agent "9" (not in agents)`; probs[1].String() != want {
		t.Errorf("problem = %q\nwant      %q", probs[1], want)
	}
}

func TestValidateBuiltInCode(t *testing.T) {
	c := &Config{
		File:      "built-in",
		Languages: Languages{Default: "en", Supported: []string{"en"}},
		Topics:    map[string]*Topic{"sales": {Name: "sales", Hours: "none"}},
		Numbers:   map[string]*Number{"100": {Number: "100", Topic: "sales"}},
		Agents:    []*Agent{{ID: "1", Endpoint: "PJSIP/1", Topics: map[string]int{"sales": 0}}},
		Callback:  Callback{DialTemplate: "PJSIP/${NUMBER}"},
	}
	err := c.Validate()
	if err == nil || err.Error() != `built-in: topics.sales.hours: unknown hours "none"` {
		t.Errorf("Validate = %v", err)
	}
	c.Topics["sales"].Hours = ""
	if err := c.Validate(); err != nil {
		t.Errorf("Validate = %v", err)
	}
	if w := c.Warnings(); len(w) != 0 {
		t.Errorf("warnings = %v", w)
	}
}
