package routing

import (
	"slices"
	"testing"
)

// TestListsAreFresh: the label lists are handed out as new slices, so a
// caller that sorts or overwrites its copy changes nobody else's.
func TestListsAreFresh(t *testing.T) {
	tests := []struct {
		name   string
		list   func() []string
		change func()
	}{
		{"AgentStates", func() []string { return strs(AgentStates()) }, func() { AgentStates()[0] = "changed" }},
		{"RefusalCodes", func() []string { return strs(RefusalCodes()) }, func() { RefusalCodes()[0] = "changed" }},
		{"CallbackStates", func() []string { return strs(CallbackStates()) }, func() { CallbackStates()[0] = "changed" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.list()
			if len(want) == 0 {
				t.Fatal("empty list")
			}
			tt.change()
			if got := tt.list(); !slices.Equal(got, want) {
				t.Errorf("after changing a copy: %v, want %v", got, want)
			}
		})
	}
}

func strs[T ~string](in []T) []string {
	out := make([]string, len(in))
	for i, v := range in {
		out[i] = string(v)
	}
	return out
}
