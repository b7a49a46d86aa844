package bench

import "testing"

// TestFreePortBlockBelowEphemeral: the throwaway Asterisk's ports lie
// below the kernel's ephemeral range, where no outgoing connection can
// take one between the pick and Asterisk's bind.
func TestFreePortBlockBelowEphemeral(t *testing.T) {
	low := ephemeralLow()
	for range 20 {
		base, err := freePortBlock(12)
		if err != nil {
			t.Fatal(err)
		}
		if base < 10000 || base+12 > low {
			t.Fatalf("block %d..%d is not in 10000..%d", base, base+11, low-1)
		}
	}
}
