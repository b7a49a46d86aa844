package dialplan

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// syntaxSite is a line of the reference configuration that a syntax error
// is injected at, by its exact text (first match).
type syntaxSite struct {
	name string
	line string
}

// syntaxEdit breaks one line: it returns the lines that replace it and
// which of them (from 0) holds the error.
type syntaxEdit struct {
	name string
	// want is part of the message the problem must have.
	want string
	edit func(line string) (repl []string, bad int)
	// applies says whether the edit makes sense on a line; nil: always.
	applies func(line string) bool
}

// indent returns the leading spaces of a line.
func indent(l string) string { return l[:len(l)-len(strings.TrimLeft(l, " "))] }

func hasValue(l string) bool {
	_, v, ok := strings.Cut(strings.TrimSpace(l), ": ")
	return ok && v != "" && !strings.HasPrefix(v, "#")
}

func plainValue(l string) bool {
	_, v, ok := strings.Cut(strings.TrimSpace(l), ": ")
	return ok && v != "" && strings.IndexAny(v[:1], `"'{[#&*!|>`) < 0
}

func isKeyLine(l string) bool {
	t := strings.TrimSpace(l)
	return t != "" && !strings.HasPrefix(t, "#") && !strings.HasPrefix(t, "-") && strings.Contains(t, ":")
}

// The sites: every section of the file, at the top level, nested, in
// lists, in flow collections, first and last lines of blocks.
var syntaxSites = []syntaxSite{
	{"ari.url", "  url: http://127.0.0.1:8088/ari"},
	{"ari.reconnect.max", "    max: 30s"},
	{"redis.db", "  db: 0                       # must be 0 for a cluster"},
	{"http.tokens_file", "  tokens_file: /etc/hotline/tokens.yaml"},
	{"topics.audit.description", "    description: Billing, contracts and documents"},
	{"topics.service.handle_time", "    handle_time: 6m             # repairs take longer than the 3m default"},
	{"hours.office.open", `        open: "09:00"`},
	{"menus.main.option", `      "3": {topic: service}`},
	{"numbers.first", `  "0800300100": {menu: main}`},
	{"agents.topics", "    topics: [service, requests]"},
	{"agents.name", "    name: Oksana Lysenko"},
	{"prompts.goodbye", "  goodbye: vm-goodbye"},
}

var syntaxEdits = []syntaxEdit{
	{
		name: "indented one more", want: "invalid YAML",
		// A key one column deeper than the key before it: YAML reads it as a
		// continuation of the previous value, and a continuation cannot
		// hold a ": ".
		applies: func(l string) bool { return isKeyLine(l) },
		edit:    func(l string) ([]string, int) { return []string{l, " " + l}, 1 },
	},
	{
		name: "indented one less", want: "invalid YAML",
		applies: func(l string) bool { return isKeyLine(l) && len(indent(l)) >= 4 },
		edit:    func(l string) ([]string, int) { return []string{l, l[1:]}, 1 },
	},
	{
		name: "stray indented line", want: "invalid YAML",
		edit: func(l string) ([]string, int) { return []string{l, indent(l) + "      stray: line"}, 1 },
	},
	{
		name: "stray list item", want: "invalid YAML",
		applies: func(l string) bool { return isKeyLine(l) },
		edit:    func(l string) ([]string, int) { return []string{l, indent(l) + "- stray"}, 1 },
	},
	{
		name: "unclosed double quote", want: "invalid YAML",
		applies: hasValue,
		edit: func(l string) ([]string, int) {
			k, v, _ := strings.Cut(l, ": ")
			v = strings.TrimLeft(v, " ")
			if i := strings.LastIndex(v, `"`); strings.HasPrefix(v, `"`) && i > 0 {
				return []string{k + ": " + v[:i] + v[i+1:]}, 0
			}
			return []string{k + `: "` + v}, 0
		},
	},
	{
		name: "unclosed single quote", want: "invalid YAML",
		applies: plainValue,
		edit: func(l string) ([]string, int) {
			k, v, _ := strings.Cut(l, ": ")
			return []string{k + ": '" + strings.TrimLeft(v, " ")}, 0
		},
	},
	{
		name: "unclosed flow mapping", want: "invalid YAML",
		applies: func(l string) bool { return strings.Contains(l, "}") },
		edit:    func(l string) ([]string, int) { return []string{strings.Replace(l, "}", "", 1)}, 0 },
	},
	{
		name: "unclosed flow sequence", want: "invalid YAML",
		applies: func(l string) bool { return strings.Contains(l, "]") },
		edit:    func(l string) ([]string, int) { return []string{strings.Replace(l, "]", "", 1)}, 0 },
	},
	{
		name: "extra closing bracket", want: "invalid YAML",
		applies: func(l string) bool { return strings.Contains(l, "}") || strings.Contains(l, "]") },
		edit: func(l string) ([]string, int) {
			l = strings.Replace(l, "}", "}}", 1)
			if !strings.Contains(l, "}}") {
				l = strings.Replace(l, "]", "]]", 1)
			}
			return []string{l}, 0
		},
	},
	{
		name: "tab indentation", want: "invalid YAML",
		edit: func(l string) ([]string, int) { return []string{"\t" + strings.TrimLeft(l, " ")}, 0 },
	},
	{
		name: "duplicate key", want: "duplicate",
		applies: func(l string) bool { return isKeyLine(l) && !strings.HasPrefix(strings.TrimSpace(l), `"`) },
		edit:    func(l string) ([]string, int) { return []string{l, l}, 1 },
	},
	{
		name: "colon in plain scalar", want: "invalid YAML",
		applies: plainValue,
		edit:    func(l string) ([]string, int) { return []string{strings.Replace(l, ": ", ": a: ", 1)}, 0 },
	},
	{
		name: "missing space after colon", want: "invalid YAML",
		applies: func(l string) bool { return plainValue(l) && !strings.HasPrefix(strings.TrimSpace(l), "-") },
		edit: func(l string) ([]string, int) {
			return []string{l, indent(l) + "extra:" + strings.TrimSpace(strings.SplitN(l, ": ", 2)[1])}, 1
		},
	},
	{
		name: "character that cannot start a token", want: "invalid YAML",
		applies: hasValue,
		edit:    func(l string) ([]string, int) { return []string{strings.Replace(l, ": ", ": @", 1)}, 0 },
	},
	{
		name: "unknown alias", want: "unknown anchor",
		applies: hasValue,
		edit: func(l string) ([]string, int) {
			k, _, _ := strings.Cut(l, ": ")
			return []string{k + ": *nowhere"}, 0
		},
	},
	{
		name: "second document", want: "only one YAML document",
		// At the end of the file: earlier, the second document would be
		// the rest of the file, broken in its own ways.
		applies: func(l string) bool { return l == syntaxSites[len(syntaxSites)-1].line },
		edit:    func(l string) ([]string, int) { return []string{l, "---", "extra: document"}, 1 },
	},
	{
		name: "control character", want: "invalid YAML",
		applies: hasValue,
		edit:    func(l string) ([]string, int) { return []string{strings.Replace(l, ": ", ": \x01", 1)}, 0 },
	},
	{
		name: "NUL byte", want: "invalid YAML",
		applies: hasValue,
		edit:    func(l string) ([]string, int) { return []string{l + "\x00"}, 0 },
	},
	{
		name: "invalid UTF-8", want: "invalid YAML",
		applies: hasValue,
		edit:    func(l string) ([]string, int) { return []string{strings.Replace(l, ": ", ": \xff", 1)}, 0 },
	},
	{
		name: "unknown escape", want: "invalid YAML",
		applies: func(l string) bool { return strings.Contains(l, `"`) },
		edit:    func(l string) ([]string, int) { return []string{strings.Replace(l, `"`, `"\q`, 1)}, 0 },
	},
}

// TestSyntaxErrorLines injects one syntax error at a known line of the
// reference configuration, for every edit at every site it applies to, and
// expects it reported at that line.
func TestSyntaxErrorLines(t *testing.T) {
	data, err := os.ReadFile(deployConfig)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	find := func(text string) int {
		for i, l := range lines {
			if l == text {
				return i
			}
		}
		t.Fatalf("line %q not in %s", text, deployConfig)
		return -1
	}
	n, wrong := 0, 0
	for _, e := range syntaxEdits {
		for _, s := range syntaxSites {
			at := find(s.line)
			if e.applies != nil && !e.applies(lines[at]) {
				continue
			}
			n++
			t.Run(e.name+"/"+s.name, func(t *testing.T) {
				repl, bad := e.edit(lines[at])
				mutated := append(append(append([]string(nil), lines[:at]...), repl...), lines[at+1:]...)
				want := at + bad + 1
				_, err := Parse("x.yaml", []byte(strings.Join(mutated, "\n")))
				var probs Problems
				if !errors.As(err, &probs) {
					t.Fatalf("no problem for:\n%s", strings.Join(repl, "\n"))
				}
				ok := false
				for _, p := range probs {
					if strings.Contains(p.Message, e.want) {
						ok = p.Line == want
					}
				}
				if !ok {
					wrong++
					t.Errorf("error at line %d:\n%s\nreported as\n%v", want, strings.Join(repl, "\n"), err)
				}
			})
		}
	}
	t.Logf("%d syntax-error cases, %d at the wrong line", n, wrong)
	if n < 80 {
		t.Errorf("only %d cases: the corpus lost its edits or sites", n)
	}
}

// TestSyntaxErrorConstructs: errors in constructs that span lines, where
// the line of the error is a matter of reading the construct, and errors
// the YAML library reports with no line at all.
func TestSyntaxErrorConstructs(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{
			// The comma is missing after "b": the parser stumbles on c, but
			// the list cannot go on validly past the end of line 3 already.
			name: "missing comma in a flow list over lines",
			yaml: "topics: [\n  a,\n  \"b\"\n  c]\n",
			want: "x.yaml:3: invalid YAML: did not find expected ',' or ']'",
		},
		{
			// A flow mapping left open over lines: YAML cannot know that the
			// "}" was meant after b rather than later, and reports the line
			// where the next entry fails to follow one, inside the mapping.
			name: "flow mapping over lines left open",
			yaml: "topics: {\n  a: 1,\n  b: 2\nnumbers: x\n",
			want: "x.yaml:3: invalid YAML: did not find expected ',' or '}'",
		},
		{
			// A string that spans lines on purpose is not taken for an
			// unclosed quote: the error after it is its own.
			name: "quoted string over lines, then a stray line",
			yaml: "topics:\n  a:\n    description: \"one\n      two\"\n    prompt: x\n     bad: 1\nnumbers: 1\n",
			want: "x.yaml:6: invalid YAML: mapping values are not allowed in this context",
		},
		{
			name: "unclosed single quote with a doubled quote in it",
			yaml: "topics:\n  a:\n    description: 'it''s\n    prompt: x\n  b:\n    description: 'other'\n",
			want: "x.yaml:3: invalid YAML: quoted string not closed on this line (it runs on to line 6)",
		},
		{
			name: "unclosed quote at the end of the file",
			yaml: "topics:\n  a:\n    description: \"one\n    prompt: x\n",
			want: "x.yaml:3: invalid YAML: quoted string not closed (the file ends inside it)",
		},
		{
			name: "block scalar then a line indented less than it, more than its key",
			yaml: "topics:\n  a:\n    description: |\n      text\n     prompt: x\n",
			want: "x.yaml:5: invalid YAML: did not find expected key",
		},
		{
			name: "alias to no anchor",
			yaml: "topics:\n  a: {}\nnumbers:\n  \"1\": *nope\n",
			want: "x.yaml:4: invalid YAML: unknown anchor 'nope' referenced",
		},
		{
			name: "control character",
			yaml: "topics:\n  a: {}\nnumbers:\n  \"1\": {topic: a\x07}\n",
			want: "x.yaml:4: invalid YAML: control characters are not allowed",
		},
		{
			name: "not UTF-8",
			yaml: "topics:\n  a:\n    description: caf\xe9\n",
			want: "x.yaml:3: invalid YAML: incomplete UTF-8 octet sequence",
		},
		{
			name: "CRLF line breaks",
			yaml: "topics:\r\n  a:\r\n    description: x\r\n    prompt: y\r\n     bad: 1\r\nnumbers: {}\r\n",
			want: "x.yaml:5: invalid YAML: mapping values are not allowed in this context",
		},
		{
			name: "old Mac line breaks",
			yaml: "topics:\r  a:\r    description: \"x\r    prompt: y\r  b: {description: \"z\"}\r",
			want: "x.yaml:3: invalid YAML: quoted string not closed on this line",
		},
		{
			name: "document end marker mid-file",
			yaml: "topics:\n  a: {}\n...\nnumbers: {}\n",
			want: "x.yaml:4: invalid YAML: did not find expected <document start>",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("x.yaml", []byte(tc.yaml))
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("Parse error:\n%v\nwant:\n%s", err, tc.want)
			}
		})
	}
}

func BenchmarkSyntaxErrorLine(b *testing.B) {
	data, err := os.ReadFile(deployConfig)
	if err != nil {
		b.Fatal(err)
	}
	broken := []byte(strings.Replace(string(data), "    description: Billing, contracts and documents", `    description: "Billing, contracts and documents`, 1))
	for b.Loop() {
		if _, err := Parse("x.yaml", broken); err == nil {
			b.Fatal("no error")
		}
	}
}
