package dialplan

import (
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
