package dialplan

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// FuzzParse feeds Parse arbitrary bytes, seeded with every testdata case
// and the reference configuration. Parse must never panic, must always
// return a configuration, and must report problems only as Problems, each
// with a message.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.yaml")
	seeds = append(seeds, deployConfig)
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("a: &a [*a]"))
	f.Add([]byte("topics: {<<: [*x]}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.yaml", data)
		if c == nil {
			t.Fatal("nil config")
		}
		if err != nil {
			var probs Problems
			if !errors.As(err, &probs) || len(probs) == 0 {
				t.Fatalf("error %v (%T) is not Problems", err, err)
			}
			for _, p := range probs {
				if p.Message == "" || p.Warning || !strings.HasPrefix(p.String(), "fuzz.yaml") {
					t.Fatalf("bad problem %+v", p)
				}
			}
		}
		_ = c.Summary()
		for _, w := range c.Warnings() {
			if !w.Warning {
				t.Fatalf("warning %+v not marked", w)
			}
		}
	})
}

func BenchmarkParseDeployConfig(b *testing.B) {
	data, err := os.ReadFile(deployConfig)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Parse(deployConfig, data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRoute(b *testing.B) {
	c, err := Load(deployConfig)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := c.Route("48221234500"); !ok {
			b.Fatal("no route")
		}
	}
}

func BenchmarkOpenAt(b *testing.B) {
	c, err := Load(deployConfig)
	if err != nil {
		b.Fatal(err)
	}
	h := c.Hours["office"]
	at := utc("2026-03-23T10:00:00Z")
	b.ReportAllocs()
	for b.Loop() {
		h.OpenAt(at)
	}
}

// Merge keys with aliases can refer to the mapping they are in or fan out
// exponentially; Parse must still answer quickly with a problem.
func TestMergeBombs(t *testing.T) {
	many := strings.Repeat("*a, ", 40)
	tests := []struct {
		name, yaml, want string
	}{
		{"self merge", "topics: &a {<<: [" + many + "]}", "a mapping cannot merge itself"},
		{"fan out", `topics:
  base: &a {description: x}
  l1: &b {<<: [` + strings.Repeat("*a, ", 30) + `]}
  l2: &c {<<: [` + strings.Repeat("*b, ", 30) + `]}
  l3: &d {<<: [` + strings.Repeat("*c, ", 30) + `]}
  l4: &e {<<: [` + strings.Repeat("*d, ", 30) + `]}
  l5: {<<: [` + strings.Repeat("*e, ", 30) + `]}
`, "merges in the file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("bomb.yaml", []byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// FuzzParseTokens feeds the token file parser arbitrary bytes. It must
// never panic, must report problems only as Problems at the file's lines,
// and must never repeat a token (a mapping key as long as one) in them.
func FuzzParseTokens(f *testing.F) {
	f.Add([]byte(`"0123456789abcdef0123": admin` + "\n" + `"senior-token-0123456789": senior` + "\n"))
	f.Add([]byte(`"agent-token-101-abcdef": agent:101` + "\n" + `"agent-token-101-abcdef": root` + "\n"))
	f.Add([]byte(`admin-0123456789abcdef: "0123456789abcdef0123"`))
	f.Add([]byte(`*0123456789abcdef0123: admin`))
	f.Add([]byte(`{"0123456789abcdef0123": admin, "x": [1]}`))
	f.Add([]byte("- a\n- b\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := ParseTokens("tokens.yaml", data)
		if err == nil {
			return
		}
		var probs Problems
		if !errors.As(err, &probs) || len(probs) == 0 {
			t.Fatalf("error %v (%T) is not Problems", err, err)
		}
		lines := len(lineEnds(data)) + 1
		for _, p := range probs {
			if p.File != "tokens.yaml" || p.Message == "" || p.Line < 0 || p.Line > lines {
				t.Fatalf("bad problem %+v (%d lines)", p, lines)
			}
		}
		root, _, perr := parseYAML(data)
		if perr != nil || root == nil || root.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(root.Content); i += 2 {
			if k := root.Content[i].Value; len(k) >= MinTokenLength && strings.Contains(err.Error(), k) {
				t.Fatalf("token %q repeated in:\n%v", k, err)
			}
			if v := root.Content[i+1].Value; len(v) >= MinTokenLength && !strings.HasPrefix(v, "agent:") && strings.Contains(err.Error(), v) {
				t.Fatalf("token-long role %q repeated in:\n%v", v, err)
			}
		}
	})
}
