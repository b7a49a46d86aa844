package storetest

import (
	"context"
	"testing"

	"github.com/hotline-project/hotline/routing"
)

// testWithheldNumbersNotIndexed: callers without a real number must not
// find each other's open case.
func testWithheldNumbersNotIndexed(t *testing.T, open Open) {
	st := open(t).Cases
	ctx := context.Background()
	tests := []struct {
		number  string
		indexed bool
	}{
		{"anonymous", false},
		{"unknown", false},
		{"", false},
		{"+", false},
		{"555 1234", false},
		{"5551234", true},
		{"+380441234567", true},
	}
	for i, tt := range tests {
		t.Run(tt.number, func(t *testing.T) {
			id := "w" + string(rune('a'+i))
			if err := st.CreateCase(ctx, routing.Case{ID: id, CallerNumber: tt.number, Topic: "audit", Status: routing.CaseOpen, CreatedAt: Start, UpdatedAt: Start}); err != nil {
				t.Fatal(err)
			}
			cs, ok, err := st.OpenCaseByNumber(ctx, tt.number)
			if err != nil {
				t.Fatal(err)
			}
			if ok != tt.indexed || (ok && cs.ID != id) {
				t.Errorf("open case of %q: %q found=%v, want found=%v", tt.number, cs.ID, ok, tt.indexed)
			}
		})
	}
}

// testCloseCase checks what closing a case reports (how many agents the
// caller talked to: each change of agent counts) and that it drops the
// caller number's index only while the index still names that case.
func testCloseCase(t *testing.T, open Open) {
	st := open(t).Cases
	ctx := context.Background()
	openCase := func(id, number string) {
		t.Helper()
		if err := st.CreateCase(ctx, routing.Case{ID: id, CallerNumber: number, Topic: "audit", Status: routing.CaseOpen, CreatedAt: Start, UpdatedAt: Start}); err != nil {
			t.Fatal(err)
		}
	}
	openCase("k1", "+100")
	for _, a := range []string{"a", "b", "b", "a"} {
		if err := st.Talked(ctx, "call1", "k1", a, Start); err != nil {
			t.Fatal(err)
		}
	}
	openCase("k2", "+200")
	openCase("k3", "+200") // a newer case of the same number took the index
	tests := []struct {
		id, number string
		agents     int
		indexed    string // the number's open case after closing, "" for none
	}{
		{"k1", "+100", 3, ""},
		{"k2", "+200", 0, "k3"},
		{"k3", "+200", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			agents, err := st.CloseCase(ctx, tt.id, Start)
			if err != nil {
				t.Fatal(err)
			}
			if agents != tt.agents {
				t.Errorf("agents %d, want %d", agents, tt.agents)
			}
			cs, ok, err := st.OpenCaseByNumber(ctx, tt.number)
			if err != nil {
				t.Fatal(err)
			}
			if got := map[bool]string{true: cs.ID}[ok]; got != tt.indexed {
				t.Errorf("open case of %s: %q, want %q", tt.number, got, tt.indexed)
			}
			if c, err := st.Case(ctx, tt.id); err != nil || c.Status != routing.CaseClosed {
				t.Errorf("closed case %+v %v", c, err)
			}
		})
	}
}
