package dialplan

import "fmt"

// Line returns the line of the key at path, for checks that run after
// loading and report at the file (`hotline check --ari`). Paths are dotted
// keys with list items by index from 0: "prompts.closed",
// "topics.audit.prompt", "menus.main.prompt", "survey.prompt",
// "ari.password_file", "agents[2].endpoint", "agents[2]" (the item
// itself). It returns 0 when the file does not write the key (a default
// applies, or the configuration was built in code).
func (c *Config) Line(path string) int {
	return c.lines[path]
}

// AgentPath is the path of key in the i-th agent of the file (from 0), as
// Line takes it: AgentPath(2, "endpoint") is "agents[2].endpoint", and
// AgentPath(2, "") the item itself.
func AgentPath(i int, key string) string {
	p := fmt.Sprintf("agents[%d]", i)
	if key == "" {
		return p
	}
	return p + "." + key
}
