package dialplan

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const deployConfig = "../deploy/hotline.yaml"

func TestDeployConfigLoads(t *testing.T) {
	c, err := Load(deployConfig)
	if err != nil {
		t.Fatalf("Load(%s):\n%v", deployConfig, err)
	}
	for _, w := range c.Warnings() {
		t.Errorf("unexpected warning: %s", w)
	}
	want := deployConfig + ": 4 topics, 36 numbers, 3 menus, 9 agents (2 senior)"
	if got := c.Summary(); got != want {
		t.Errorf("Summary() = %q, want %q", got, want)
	}
}

// A copy of the reference configuration with three mistakes in different
// sections reports all three, each at its own line, and nothing else.
func TestDeployConfigWithMistakes(t *testing.T) {
	data, err := os.ReadFile(deployConfig)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	edit := func(from, to string, last bool) int {
		t.Helper()
		found := -1
		for i, l := range lines {
			if l == from {
				found = i
				if !last {
					break
				}
			}
		}
		if found < 0 {
			t.Fatalf("line %q not in %s", from, deployConfig)
		}
		lines[found] = to
		return found + 1
	}
	unknown := edit("  moh_class: default          # musiconhold.conf class; default \"default\"", "  music_on_hold: jazz", false)
	digit := edit(`      "4": {topic: requests}`, `      "44": {topic: requests}`, true)
	cycle := edit(`      "4": {lang: en, menu: topics}`, `      "4": {lang: en, menu: main}`, false)

	const name = "hotline-broken.yaml"
	_, err = Parse(name, []byte(strings.Join(lines, "\n")))
	var probs Problems
	if !errors.As(err, &probs) {
		t.Fatalf("Parse error = %v, want Problems", err)
	}
	want := []string{
		fmt.Sprintf("%s:%d: queue: unknown key \"music_on_hold\"", name, unknown),
		fmt.Sprintf("%s:%d: menus.topics.options: \"44\" is not a DTMF digit (0-9, \"*\" or \"#\")", name, digit),
		fmt.Sprintf("%s:%d: menus.language.options.4: menu cycle main → language → main", name, cycle),
	}
	slices.SortFunc(want, func(a, b string) int { return lineOf(a) - lineOf(b) })
	if got := strings.Split(err.Error(), "\n"); !slices.Equal(got, want) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func lineOf(problem string) int {
	_, rest, _ := strings.Cut(problem, ":")
	n, _ := strconv.Atoi(rest[:strings.Index(rest, ":")])
	return n
}
