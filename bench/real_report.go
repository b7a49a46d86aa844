package bench

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// AsteriskReport is what a real-Asterisk bench measured.
type AsteriskReport struct {
	Options    AsteriskOptions
	Started    time.Time
	Elapsed    time.Duration
	Machine    string
	LoadBefore string // /proc/loadavg at the start and the end
	LoadAfter  string
	// OthersBefore is the share of the machine's CPU other processes used
	// just before the run.
	OthersBefore float64
	Asterisk     string
	// CPUKnown: Asterisk's process is known, so its CPU is measured.
	CPUKnown bool
	Handoff  []HandoffResult
	Decision []LevelResult // the light-load series, one per system
	Levels   []LevelResult
	Notes    []string
}

// HandoffResult is one handoff series.
type HandoffResult struct {
	System   string
	Announce bool
	Samples  Dist // agent freed → next waiting caller's agent channel created
	Calls    int
	Unwaited int  // agent calls that ended with nobody waiting (not counted)
	Lag      Dist // the observer's delay behind Asterisk's timestamps
	CPU      map[string]time.Duration
	Err      string
}

// LevelResult is one system at one Poisson rate.
type LevelResult struct {
	System  string
	Rate    float64
	Skipped bool // not offered: the system (for the floor, the hotline) failed a lower rate

	Offered, Completed int
	OriginateErrors    int
	LastError          string
	OfferedFor         time.Duration
	Forced             bool // the bench had to hang up callers left after the drain
	Waits              Dist // entry (caller's channel created) → agent's phone answered
	Decisions          Dist // caller enters Stasis()/Queue() → agent channel created
	Lag                Dist
	CPU                map[string]time.Duration // by process: asterisk, hotline, redis, floor
	MachineBusy        float64                  // the machine's CPU busy meanwhile, 0..1 of all CPUs
	Others             float64                  // of it, processes not the run's
	Sustained          bool
	Why                string
	Internals          map[string]string // hotline: mean ARI request and Redis command times
}

// CPUPerCall is a process's CPU per completed call.
func (r LevelResult) CPUPerCall(role string) time.Duration {
	if r.Completed == 0 {
		return 0
	}
	return r.CPU[role] / time.Duration(r.Completed)
}

func (r *AsteriskReport) handoff(system string, announce bool) *HandoffResult {
	for i := range r.Handoff {
		if h := &r.Handoff[i]; h.System == system && h.Announce == announce && h.Err == "" {
			return h
		}
	}
	return nil
}

func (r *AsteriskReport) level(system string, rate float64) *LevelResult {
	for i := range r.Levels {
		if l := &r.Levels[i]; l.System == system && l.Rate == rate && !l.Skipped {
			return l
		}
	}
	return nil
}

// Sustained is the highest rate a system sustained with every lower rate
// sustained too; with maxP99 > 0 the level's p99 entry → answer must also
// be within it. top says it was the highest rate offered.
func (r *AsteriskReport) Sustained(system string, maxP99 time.Duration) (rate float64, top bool) {
	rates := slices.Clone(r.Options.Rates)
	slices.Sort(rates)
	for _, x := range rates {
		l := r.level(system, x)
		if l == nil || !l.Sustained || (maxP99 > 0 && l.Waits.Q(0.99) > maxP99) {
			return rate, false
		}
		rate = x
	}
	return rate, rate > 0
}

// Target is one docs/performance.md target with what this run measured.
type Target struct {
	Name, Measured string
	Pass           bool
	Measurable     bool // false: a system it compares was not measured
}

// Targets judges the run against docs/performance.md.
func (r *AsteriskReport) Targets() []Target {
	var out []Target
	for _, ann := range []bool{false, true} {
		what := "no announcements"
		if ann {
			what = fmt.Sprintf("announcements every %s", r.Options.Announce)
		}
		h, q := r.handoff(SysHotline, ann), r.handoff(SysQueue, ann)
		t := Target{Name: "handoff median ≤ 1/50 of app_queue's (" + what + ")"}
		if h != nil && q != nil && len(h.Samples) > 0 && len(q.Samples) > 0 {
			t.Measurable = true
			t.Pass = h.Samples.Median()*50 <= q.Samples.Median()
			t.Measured = fmt.Sprintf("%s vs %s (1/%.0f)", fmtDur(h.Samples.Median()), fmtDur(q.Samples.Median()),
				float64(q.Samples.Median())/float64(max(h.Samples.Median(), 1)))
		}
		out = append(out, t)
		t = Target{Name: "handoff max ≤ 50ms (" + what + ")"}
		if h != nil && len(h.Samples) > 0 {
			t.Measurable, t.Pass, t.Measured = true, h.Samples.Max() <= 50*time.Millisecond, fmtDur(h.Samples.Max())
		}
		out = append(out, t)
	}

	t := Target{Name: "sustained Poisson rate ≥ 1.5× app_queue's, p99 entry → answer ≤ 100ms"}
	hr, htop := r.Sustained(SysHotline, 100*time.Millisecond)
	qr, qtop := r.Sustained(SysQueue, 0)
	if r.ran(SysHotline) && r.ran(SysQueue) {
		t.Measurable = true
		t.Pass = hr > 0 && hr >= 1.5*qr
		t.Measured = fmt.Sprintf("%s vs %s (%s)", rateText(hr, htop), rateText(qr, qtop), ratioOf(hr, qr))
		if qr == 0 {
			t.Measured += "; app_queue sustained no rate offered: offer lower ones"
		}
	}
	out = append(out, t)

	out = append(out, r.perLevel("Asterisk CPU per routed call ≤ app_queue's", SysQueue, 1,
		func(l *LevelResult) time.Duration { return l.CPUPerCall("asterisk") }, !r.CPUKnown))
	t = Target{Name: "StasisStart → agent originate median ≤ 2× the floor's (light load)"}
	if h, f := r.decision(SysHotline), r.decision(SysFloor); h != nil && f != nil && len(h.Decisions) > 0 && len(f.Decisions) > 0 {
		t.Measurable = true
		ratio := float64(h.Decisions.Median()) / float64(max(f.Decisions.Median(), 1))
		t.Pass = ratio <= 2
		t.Measured = fmt.Sprintf("%s vs %s (×%.2f)", fmtDur(h.Decisions.Median()), fmtDur(f.Decisions.Median()), ratio)
	}
	out = append(out, t)
	return out
}

// perLevel compares the hotline with another system at every rate both
// sustained: pass if hotline ≤ limit × other at each; the worst is shown.
func (r *AsteriskReport) perLevel(name, other string, limit float64, fig func(*LevelResult) time.Duration, unknown bool) Target {
	t := Target{Name: name}
	if unknown || !r.ran(SysHotline) || !r.ran(other) {
		return t
	}
	worst, worstRate, n := 0.0, 0.0, 0
	for _, x := range r.Options.Rates {
		h, o := r.level(SysHotline, x), r.level(other, x)
		if h == nil || o == nil || !h.Sustained || !o.Sustained || fig(o) <= 0 {
			continue
		}
		ratio := float64(fig(h)) / float64(fig(o))
		if n == 0 || ratio > worst {
			worst, worstRate = ratio, x
		}
		n++
	}
	if n == 0 {
		t.Measured = "no rate both sustained"
		return t
	}
	t.Measurable, t.Pass = true, worst <= limit
	t.Measured = fmt.Sprintf("worst ×%.2f (at %.0f/s; %d rates both sustained)", worst, worstRate, n)
	return t
}

func (r *AsteriskReport) decision(system string) *LevelResult {
	for i := range r.Decision {
		if r.Decision[i].System == system {
			return &r.Decision[i]
		}
	}
	return nil
}

func (r *AsteriskReport) ran(system string) bool { return slices.Contains(r.Options.Systems, system) }

// OK reports whether every measurable target passed and every target
// could be measured.
func (r *AsteriskReport) OK() bool {
	for _, t := range r.Targets() {
		if !t.Pass {
			return false
		}
	}
	return true
}

func rateText(rate float64, top bool) string {
	switch {
	case rate == 0:
		return "none"
	case top:
		return fmt.Sprintf("≥ %.0f/s (the highest offered)", rate)
	}
	return fmt.Sprintf("%.0f/s", rate)
}

// WriteTable prints the report: both systems' figures side by side with
// their ratio, then the targets with pass or fail.
func (r *AsteriskReport) WriteTable(w io.Writer) error {
	o := r.Options
	fmt.Fprintf(w, "hotline bench --asterisk: %s; %s\n", r.Asterisk, r.Machine)
	fmt.Fprintf(w, "load average %s at the start, %s at the end; other processes used %.0f%% of the CPUs before the run; %s\n",
		r.LoadBefore, r.LoadAfter, 100*r.OthersBefore, r.Elapsed.Round(time.Second))
	fmt.Fprintf(w, "callers and agents: Local channels, formats=ulaw; agents answer with Answer(,i), talk %s, hang up\n", o.Talk)
	fmt.Fprintf(w, "times: an ARI observer subscribed to every channel (one clock for all systems); the events it gets\n")
	fmt.Fprintf(w, "cost Asterisk CPU too, alike for every system (the same channels)\n")

	if len(r.Handoff) > 0 {
		fmt.Fprintf(w, "\nHANDOFF: agent freed (phone hung up) → next waiting caller's agent channel created\n")
		fmt.Fprintf(w, "1 agent, %d callers waiting ahead, %d rounds\n\n", o.Depth, o.Rounds)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "system\tannouncements\tmin\tmedian\tp90\tmax\tmedian vs app_queue")
		for _, ann := range []bool{false, true} {
			q := r.handoff(SysQueue, ann)
			for _, h := range r.Handoff {
				if h.Announce != ann {
					continue
				}
				a := "none"
				if ann {
					a = "every " + o.Announce.String()
				}
				if h.Err != "" {
					fmt.Fprintf(tw, "%s\t%s\tfailed: %s\t\t\t\t\n", h.System, a, h.Err)
					continue
				}
				vs := ""
				if q != nil && h.System != SysQueue && len(q.Samples) > 0 {
					vs = "1/" + fmt.Sprintf("%.0f", float64(q.Samples.Median())/float64(max(h.Samples.Median(), 1)))
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", h.System, a, fmtDur(h.Samples.Min()), fmtDur(h.Samples.Median()),
					fmtDur(h.Samples.Q(0.9)), fmtDur(h.Samples.Max()), vs)
			}
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		for _, h := range r.Handoff {
			if h.Unwaited > 0 {
				fmt.Fprintf(w, "note: %s: %d agent calls ended with nobody waiting (not counted)\n", h.System, h.Unwaited)
			}
			if len(h.Samples) < o.Rounds && h.Err == "" {
				fmt.Fprintf(w, "note: %s: only %d rounds measured\n", h.System, len(h.Samples))
			}
		}
	}

	if len(r.Decision) > 0 {
		fmt.Fprintf(w, "\nDECISION: caller enters Stasis() / Queue() → agent channel created\n")
		fmt.Fprintf(w, "%.0f calls/s Poisson for %s, %d agents (always one free)\n\n", o.DecisionRate, o.DecisionDuration, o.Agents)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "system\tn\tmin\tmedian\tp90\tp99\tmax\tmedian vs floor\tAsterisk CPU/call\tsystem's CPU/call")
		f := r.decision(SysFloor)
		for _, l := range r.Decision {
			d := l.Decisions
			vs := ""
			if f != nil && l.System != SysFloor && len(f.Decisions) > 0 {
				vs = fmt.Sprintf("×%.2f", float64(d.Median())/float64(max(f.Decisions.Median(), 1)))
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", l.System, len(d), fmtDur(d.Min()), fmtDur(d.Median()),
				fmtDur(d.Q(0.9)), fmtDur(d.Q(0.99)), fmtDur(d.Max()), vs, cpuText(&l, "asterisk", !r.CPUKnown), ownCPU(&l))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}

	if len(r.Levels) > 0 {
		fmt.Fprintf(w, "\nCAPACITY: %d agents × %s talk, Poisson arrivals, %s per rate\n", o.Agents, o.Talk, o.Duration)
		fmt.Fprintf(w, "sustained: every caller answered and done, no failure, nobody waiting a whole second\n")
		fmt.Fprintf(w, "wait: caller's channel created → agent's phone answered; to agent: caller's channel created → agent channel created\n")
		fmt.Fprintf(w, "CPU: utime+stime from /proc per completed call; machine: all CPUs busy during the rate, and the share of it not this run's\n\n")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "calls/s\tsystem\tserved\twait p50\twait p99\twait max\tto agent p50\tto agent p99\tAsterisk CPU/call\tsystem's CPU/call\tmachine / not ours\tsustained")
		rates := slices.Clone(o.Rates)
		slices.Sort(rates)
		for _, x := range rates {
			for _, sys := range o.Systems {
				var l *LevelResult
				for i := range r.Levels {
					if r.Levels[i].System == sys && r.Levels[i].Rate == x {
						l = &r.Levels[i]
					}
				}
				if l == nil {
					continue
				}
				if l.Skipped {
					fmt.Fprintf(tw, "%.0f\t%s\t—\t\t\t\t\t\t\t\t\tnot offered (a lower rate failed)\n", x, sys)
					continue
				}
				if l.Offered == 0 {
					fmt.Fprintf(tw, "%.0f\t%s\t—\t\t\t\t\t\t\t\t\tNO: %s\n", x, sys, l.Why)
					continue
				}
				sus := "yes"
				if !l.Sustained {
					sus = "NO: " + l.Why
				}
				fmt.Fprintf(tw, "%.0f\t%s\t%d/%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.0f%% / %.0f%%\t%s\n", x, sys, l.Completed, l.Offered,
					fmtDur(l.Waits.Q(0.5)), fmtDur(l.Waits.Q(0.99)), fmtDur(l.Waits.Max()),
					fmtDur(l.Decisions.Q(0.5)), fmtDur(l.Decisions.Q(0.99)),
					cpuText(l, "asterisk", !r.CPUKnown), ownCPU(l), 100*l.MachineBusy, 100*l.Others, sus)
			}
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintln(w)
		var parts []string
		for _, sys := range o.Systems {
			rate, top := r.Sustained(sys, 0)
			parts = append(parts, sys+" "+rateText(rate, top))
		}
		fmt.Fprintf(w, "highest rate sustained: %s\n", strings.Join(parts, ", "))
		if r.ran(SysHotline) {
			h, _ := r.Sustained(SysHotline, 0)
			for _, other := range []string{SysQueue, SysFloor} {
				if r.ran(other) {
					x, _ := r.Sustained(other, 0)
					fmt.Fprintf(w, "hotline / %s sustained rate: %s\n", other, ratioOf(h, x))
				}
			}
		}
		for _, l := range r.Levels {
			if l.Skipped || len(l.Lag) == 0 {
				continue
			}
			if p := l.Lag.Q(0.99); p > 20*time.Millisecond {
				fmt.Fprintf(w, "note: %s at %.0f/s: the observer ran up to %s behind Asterisk (p99); its times there are late by as much\n", l.System, l.Rate, fmtDur(p))
			}
		}
	}

	fmt.Fprintf(w, "\nTARGETS (docs/performance.md, hotline against app_queue and the floor in this run)\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, t := range r.Targets() {
		res := "FAIL"
		switch {
		case !t.Measurable:
			res, t.Measured = "not measured", strings.TrimSpace(t.Measured+" (a system it needs was not measured)")
		case t.Pass:
			res = "pass"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", t.Name, t.Measured, res)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	return nil
}

func cpuText(l *LevelResult, role string, unknown bool) string {
	if unknown {
		return "?"
	}
	return fmtDur(l.CPUPerCall(role))
}

// ownCPU is the CPU per call of the system's own processes (the daemon
// and its Redis; the floor; nothing for app_queue, which is Asterisk).
func ownCPU(l *LevelResult) string {
	switch l.System {
	case SysHotline:
		return fmt.Sprintf("%s + redis %s", fmtDur(l.CPUPerCall("hotline")), fmtDur(l.CPUPerCall("redis")))
	case SysFloor:
		return fmtDur(l.CPUPerCall("floor"))
	}
	return "(in Asterisk)"
}

// WriteInternals prints the daemon's own view of each level (mean ARI
// request and Redis command times from its /metrics).
func (r *AsteriskReport) WriteInternals(w io.Writer) {
	for _, l := range r.Levels {
		if len(l.Internals) == 0 {
			continue
		}
		keys := make([]string, 0, len(l.Internals))
		for k := range l.Internals {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		fmt.Fprintf(w, "hotline at %.0f/s, from its /metrics (mean × count):\n", l.Rate)
		for _, k := range keys {
			fmt.Fprintf(w, "  %s %s\n", k, l.Internals[k])
		}
	}
}
