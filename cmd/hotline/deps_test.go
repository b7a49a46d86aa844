package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestNoTestCodeInTheBinary: the daemon links no test tooling. demo and
// bench are development modes of the one binary (the simulator, the
// embedded store, redis-server processes), but nothing of the testing
// package or the test helpers.
func TestNoTestCodeInTheBinary(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	for _, bad := range []string{
		"testing",
		"github.com/hotline-project/hotline/internal/harness",
		"github.com/hotline-project/hotline/internal/redistest",
		"github.com/hotline-project/hotline/internal/testclock",
		"github.com/hotline-project/hotline/internal/baresip",
	} {
		if slices.Contains(deps, bad) {
			t.Errorf("cmd/hotline links %s", bad)
		}
	}
}
