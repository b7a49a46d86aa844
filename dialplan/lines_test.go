package dialplan

import "testing"

func TestLine(t *testing.T) {
	const file = `ari:
  url: http://127.0.0.1:8088/ari
  password_file: /run/ari-password
topics:
  audit:
    prompt: hotline-topic-audit
menus:
  main:
    prompt: hotline-main-menu
    default: audit
    options:
      "1": {topic: audit}
numbers:
  "100": {menu: main}
agents:
  - id: "101"
    endpoint: PJSIP/101
    topics: [audit]
  - {id: "102", endpoint: PJSIP/102, topics: [audit]}
prompts:
  closed: hotline-closed
`
	c, err := Parse("hotline.yaml", []byte(file))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path string
		want int
	}{
		{"ari.url", 2},
		{"ari.password_file", 3},
		{"topics.audit.prompt", 6},
		{"menus.main.prompt", 9},
		{AgentPath(0, ""), 16},
		{AgentPath(0, "endpoint"), 17},
		{AgentPath(1, ""), 19},
		{AgentPath(1, "endpoint"), 19},
		{"prompts.closed", 21},
		{"prompts.goodbye", 0}, // a default: not in the file
		{"survey.prompt", 0},
		{"agents[2].endpoint", 0},
		{"", 0},
	} {
		if got := c.Line(tc.path); got != tc.want {
			t.Errorf("Line(%q) = %d, want %d", tc.path, got, tc.want)
		}
	}
	if got := (&Config{}).Line("prompts.closed"); got != 0 {
		t.Errorf("a configuration built in code: Line = %d, want 0", got)
	}
}
