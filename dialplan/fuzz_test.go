package dialplan

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
