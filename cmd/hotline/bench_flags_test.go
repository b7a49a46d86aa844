package main

import (
	"slices"
	"testing"

	"github.com/hotline-project/hotline/bench"
)

// TestRatesFlagDefault: the --rates default is the bench's own, and it
// parses back to the same rates.
func TestRatesFlagDefault(t *testing.T) {
	got, err := parseRates(formatRates(bench.DefaultRates))
	if err != nil || !slices.Equal(got, bench.DefaultRates) {
		t.Errorf("parseRates(%q) = %v, %v; want %v", formatRates(bench.DefaultRates), got, err, bench.DefaultRates)
	}
	if _, err := parseRates("100,-5"); err == nil {
		t.Error("a negative rate was accepted")
	}
}
