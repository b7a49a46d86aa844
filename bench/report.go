package bench

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is what a bench run measured.
type Report struct {
	Options   Options
	CPUs      int
	GoVersion string

	Throughput *Throughput // nil unless Options.Calls > 0
	Floor      *FloorRun   // the same calls through the floor router; nil if not run
	Handoff    *SimHandoff // nil unless Options.HandoffRounds > 0
	Concurrent *Concurrent // nil unless Options.Concurrent > 0

	GoroutinesBaseline int // everything started, no call yet
	GoroutinesPeak     int
	GoroutinesAfter    int // every call ended
	SimEventsDropped   uint64
}

// Throughput is the calls-at-a-rate scenario.
type Throughput struct {
	Calls, Connected, Lost int
	LostWhy                map[string]int
	Misrouted              []string
	UnknownOriginates      int // agent legs for callers never seen arriving

	OfferedRate float64 // calls placed per second
	RoutedRate  float64 // callers connected per second, first placed → last connected

	StartToOriginate []time.Duration // StasisStart sent → agent originate received
	FreedToOriginate []time.Duration // caller hangup received → freed agent's next originate
	TransferCheck    []time.Duration
	TransferFailures []string
	TransferChecks   int
	TransferTrips    int64 // Redis round trips of the transfer checks

	RedisTrips, RedisCmds int64 // the daemon's, during the scenario
	// Events the simulator wrote to websockets during the scenario (the
	// hotline's and the phones'), a measure of the event load per call.
	Events uint64
}

// FloorRun is the throughput scenario's calls through the floor router.
type FloorRun struct {
	Calls, Connected, Lost int
	StartToOriginate       []time.Duration
}

// SimHandoff is the handoff scenario: one agent, callers queued ahead.
type SimHandoff struct {
	Rounds, Lost     int
	FreedToOriginate []time.Duration // caller hangup received → the agent's next originate
}

// Concurrent is the held-calls scenario.
type Concurrent struct {
	Calls       int
	Placed      time.Duration // time to place the hotline's callers and see them queued
	HeapBase    uint64        // live heap, no call
	HeapIdle    uint64        // Calls held outside the hotline: simulator + phones
	HeapHotline uint64        // Calls waiting in the hotline's queue
	// Goroutine stacks in use at the same three moments.
	StackBase, StackIdle, StackHotline uint64
	Goroutines                         int
	Lost                               int // callers the hotline hung up, or that could not be placed
	Abandoned                          int // callers the script hung up, as planned
}

// DaemonBytesPerCall is the daemon's share of the live heap per held call.
func (c *Concurrent) DaemonBytesPerCall() float64 {
	if c.Calls == 0 {
		return 0
	}
	return (float64(c.HeapHotline) - float64(c.HeapIdle)) / float64(c.Calls)
}

// DaemonStackPerCall is the daemon's share of goroutine stacks per call.
func (c *Concurrent) DaemonStackPerCall() float64 {
	if c.Calls == 0 {
		return 0
	}
	return (float64(c.StackHotline) - float64(c.StackIdle)) / float64(c.Calls)
}

// Problems lists why the run failed: lost or misrouted calls, failed
// transfer checks, goroutines that did not return to the baseline.
func (r *Report) Problems() []string {
	var out []string
	if t := r.Throughput; t != nil {
		if t.Lost > 0 {
			out = append(out, fmt.Sprintf("%d of %d calls lost: %v", t.Lost, t.Calls, t.LostWhy))
		}
		if n := len(t.Misrouted); n > 0 {
			out = append(out, fmt.Sprintf("%d misrouted, e.g. %s", n, t.Misrouted[0]))
		}
		if t.UnknownOriginates > 0 {
			out = append(out, fmt.Sprintf("%d agent legs for callers never seen arriving", t.UnknownOriginates))
		}
		if n := len(t.TransferFailures); n > 0 {
			out = append(out, fmt.Sprintf("%d transfer checks went wrong, e.g. %s", n, t.TransferFailures[0]))
		}
	}
	if c := r.Concurrent; c != nil && c.Lost > 0 {
		out = append(out, fmt.Sprintf("%d of %d held calls lost", c.Lost, c.Calls))
	}
	if f := r.Floor; f != nil && f.Lost > 0 {
		out = append(out, fmt.Sprintf("the floor router lost %d of %d calls", f.Lost, f.Calls))
	}
	if h := r.Handoff; h != nil && h.Lost > 0 {
		out = append(out, fmt.Sprintf("%d callers of the handoff scenario lost", h.Lost))
	}
	return out
}

// simTarget is a speed target the regression bench judges: ratios to the
// same run's floor router, and the absolute bounds that hold on any
// machine (a handoff's maximum, Redis round trips, memory; docs/performance.md).
type simTarget struct {
	key  string // the figure's row
	text string
	pass bool
}

// targets judges what was measured.
func (r *Report) targets() []simTarget {
	var out []simTarget
	if t, f := r.Throughput, r.Floor; t != nil && f != nil && len(t.StartToOriginate) > 0 && len(f.StartToOriginate) > 0 {
		h, fl := NewDist(t.StartToOriginate).Median(), NewDist(f.StartToOriginate).Median()
		ratio := float64(h) / float64(max(fl, 1))
		out = append(out, simTarget{"start", fmt.Sprintf("median ≤ 2× the floor's: ×%.2f", ratio), ratio <= 2})
	}
	if h := r.Handoff; h != nil && len(h.FreedToOriginate) > 0 {
		m := NewDist(h.FreedToOriginate).Max()
		out = append(out, simTarget{"handoff", "max ≤ 50ms", m <= 50*time.Millisecond})
	}
	if t := r.Throughput; t != nil && t.TransferChecks > 0 {
		out = append(out, simTarget{"transfer", "exactly 1", t.TransferTrips == int64(t.TransferChecks)})
	}
	if c := r.Concurrent; c != nil {
		per := (c.DaemonBytesPerCall() + c.DaemonStackPerCall()) / 1024
		out = append(out, simTarget{"memory", "≤ 50 KB", per <= 50})
	}
	return out
}

// TargetsMet reports whether every speed target judged was met.
func (r *Report) TargetsMet() bool {
	for _, t := range r.targets() {
		if !t.pass {
			return false
		}
	}
	return true
}

func (r *Report) verdict(key string) string {
	for _, t := range r.targets() {
		if t.key == key {
			if t.pass {
				return t.text + ": pass"
			}
			return t.text + ": FAIL"
		}
	}
	return ""
}

// OK reports whether no call was lost or misrouted.
func (r *Report) OK() bool { return len(r.Problems()) == 0 }

// GoroutinesReturned reports whether the goroutine count came back to the
// baseline once every call ended.
func (r *Report) GoroutinesReturned() bool { return r.GoroutinesAfter <= r.GoroutinesBaseline }

// WriteTable prints the figures as an aligned table, with the docs/performance.md
// target beside each one that has one.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(name, value, target string) { fmt.Fprintf(tw, "%s\t%s\t%s\n", name, value, target) }
	row("figure", "measured", "target (ratios to this run's floor)")
	row("------", "--------", "--------------")
	if t := r.Throughput; t != nil {
		o := r.Options
		row("scenario", fmt.Sprintf("%d calls at %.0f/s (%s), %d agents, hold %s", t.Calls, o.Rate, arrivals(o.Poisson), o.Agents, o.Hold), "")
		row("calls connected / lost / misrouted", fmt.Sprintf("%d / %d / %d", t.Connected, t.Lost, len(t.Misrouted)), "no call lost or misrouted")
		row("calls/s offered", fmt.Sprintf("%.1f", t.OfferedRate), "")
		row("calls/s routed", fmt.Sprintf("%.1f", t.RoutedRate), "")
		row("StasisStart → agent originate (incl. queue wait)", dist(t.StartToOriginate, 0.5, 0.99, 1), r.verdict("start"))
		if f := r.Floor; f != nil {
			row("  the floor (bare ARI router), same calls", dist(f.StartToOriginate, 0.5, 0.99, 1)+
				fmt.Sprintf(", %d / %d connected", f.Connected, f.Calls), "")
		}
		if waited := len(t.FreedToOriginate); waited > 0 {
			row("agents freed while callers waited", fmt.Sprintf("%d (of %d calls): the agents were saturated at times", waited, t.Calls), "")
		}
		row("transfer check (own topic: loop)", dist(t.TransferCheck, 0.5, 0.99), "")
		row("Redis round trips per transfer check", ratio(float64(t.TransferTrips), t.TransferChecks), r.verdict("transfer"))
		row("Redis round trips per call", ratio(float64(t.RedisTrips), t.Calls), "≤ 1 per routing decision")
		row("Redis commands per call", ratio(float64(t.RedisCmds), t.Calls), "")
		row("ARI events per call (all applications)", ratio(float64(t.Events), t.Calls), "")
	}
	if h := r.Handoff; h != nil {
		row("handoff: agent freed → next caller's originate", dist(h.FreedToOriginate, 0.5, 0.9, 1)+
			fmt.Sprintf(" (1 agent, %d rounds)", h.Rounds), r.verdict("handoff"))
	}
	if c := r.Concurrent; c != nil {
		row("concurrent calls held", fmt.Sprintf("%d (lost %d, abandoned by script %d)", c.Calls, c.Lost, c.Abandoned), "≥ 10000 (--concurrent 10000)")
		row("held callers placed and all queued in", c.Placed.Round(time.Millisecond).String(), "")
		row("live heap: base / +held outside / +held in hotline",
			fmt.Sprintf("%s / %+.1f MB / %+.1f MB", mb(int64(c.HeapBase)), mbDelta(c.HeapIdle, c.HeapBase), mbDelta(c.HeapHotline, c.HeapBase)), "")
		row("goroutine stacks: base / +held outside / +held in hotline",
			fmt.Sprintf("%s / %+.1f MB / %+.1f MB", mb(int64(c.StackBase)), mbDelta(c.StackIdle, c.StackBase), mbDelta(c.StackHotline, c.StackBase)), "")
		row("memory per active call (daemon)", fmt.Sprintf("%.1f KB heap + %.1f KB stacks = %.1f KB",
			c.DaemonBytesPerCall()/1024, c.DaemonStackPerCall()/1024, (c.DaemonBytesPerCall()+c.DaemonStackPerCall())/1024), r.verdict("memory"))
		row("goroutines with calls held", fmt.Sprint(c.Goroutines), "")
	}
	row("goroutines baseline / peak / after", fmt.Sprintf("%d / %d / %d", r.GoroutinesBaseline, r.GoroutinesPeak, r.GoroutinesAfter), "after = baseline")
	if r.SimEventsDropped > 0 {
		row("simulator events dropped", fmt.Sprint(r.SimEventsDropped), "0")
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	if r.Concurrent != nil {
		fmt.Fprintln(w, "\nmemory method: the live heap (after GC) with K calls held outside the hotline")
		fmt.Fprintln(w, "(Local pairs answered in a plain context: simulator + phones + tap) is subtracted")
		fmt.Fprintln(w, "from the live heap with K callers waiting in the hotline's queue (no agent")
		fmt.Fprintln(w, "logged in), and the difference divided by K. It includes the simulator's")
		fmt.Fprintln(w, "hold-music playback and Stasis state per call, so it slightly overstates the daemon.")
		fmt.Fprintln(w, "Goroutine stacks are measured the same way and added.")
	}
	if !r.GoroutinesReturned() {
		fmt.Fprintf(w, "\nWARNING: goroutines did not return to the baseline (%d after, %d before)\n", r.GoroutinesAfter, r.GoroutinesBaseline)
	}
	if ps := r.Problems(); len(ps) > 0 {
		fmt.Fprintf(w, "\nFAILED:\n  %s\n", strings.Join(ps, "\n  "))
	}
	return nil
}

func arrivals(poisson bool) string {
	if poisson {
		return "Poisson"
	}
	return "even"
}

// dist formats p50/p99/max style figures; q == 1 is the maximum.
func dist(d []time.Duration, qs ...float64) string {
	if len(d) == 0 {
		return "no samples"
	}
	s := slices.Clone(d)
	slices.Sort(s)
	parts := make([]string, 0, len(qs)+1)
	for _, q := range qs {
		name := fmt.Sprintf("p%g", q*100)
		if q == 1 {
			name = "max"
		}
		parts = append(parts, name+" "+fmtDur(quantile(s, q)))
	}
	return strings.Join(parts, ", ") + fmt.Sprintf(" (n=%d)", len(s))
}

func fmtDur(d time.Duration) string {
	return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
}

func ratio(n float64, d int) string {
	if d == 0 {
		return "no samples"
	}
	return fmt.Sprintf("%.2f", n/float64(d))
}

func mb(b int64) string { return fmt.Sprintf("%.1f MB", float64(b)/(1<<20)) }

// mbDelta is a-b in MB; the heap may shrink between samples.
func mbDelta(a, b uint64) float64 { return (float64(a) - float64(b)) / (1 << 20) }
