package bench

import (
	"slices"
	"strconv"
	"strings"
	"time"
)

// A trace is one series' observed events turned into callers and agents'
// calls, all on the observer's clock.

// callerTrace is one caller as observed.
type callerTrace struct {
	Seq          int64
	Created      time.Time // its Local pair created: the call arrives
	Entered      time.Time // the far half starts Stasis() or Queue()
	AgentCreated time.Time // the first agent channel rung for it created
	Answered     time.Time // an agent's phone answered it
	Gone         time.Time // the last half destroyed
	halvesGone   int
}

// Done reports whether the caller was answered and both halves are gone.
func (c *callerTrace) Done() bool { return !c.Answered.IsZero() && c.halvesGone >= 2 }

// agentTrace is one agent's call (a Local pair Local/EXT@hlb-agents).
type agentTrace struct {
	Key, Ext string
	Caller   string    // the caller number it was rung for
	Created  time.Time // the system asked for it (ARI originate, app_queue's dial)
	Answered time.Time // the phone answered (its ;2 half Up)
	Freed    time.Time // the phone hung up (its dialplan's Hangup(); else the first half destroyed)
}

type trace struct {
	callers map[int64]*callerTrace
	agents  []*agentTrace // in order of creation
	lag     []time.Duration
}

// callerSeqOfNumber inverts benchCallerNumber.
func callerSeqOfNumber(n string) (int64, bool) {
	rest, ok := strings.CutPrefix(n, "38067")
	if !ok || len(rest) != 7 {
		return 0, false
	}
	seq, err := strconv.ParseInt(rest, 10, 64)
	return seq, err == nil
}

// buildTrace turns events into a trace. read times each event by when the
// observer read it (microseconds; right while the observer keeps up, as
// under light load), else by eventTime (Asterisk's own millisecond,
// unmoved by a backlog of events to the observer).
func buildTrace(events []obsEvent, read bool) *trace {
	t := &trace{callers: map[int64]*callerTrace{}}
	if read {
		events = slices.Clone(events)
		for i := range events {
			events[i].At = events[i].Read
		}
	}
	byKey := map[string]*agentTrace{}
	caller := func(seq int64) *callerTrace {
		c := t.callers[seq]
		if c == nil {
			c = &callerTrace{Seq: seq}
			t.callers[seq] = c
		}
		return c
	}
	for _, e := range events {
		t.lag = append(t.lag, e.Lag)
		if seq, in, ok := callerSeq(e.ID); ok {
			c := caller(seq)
			switch e.Kind {
			case evCreated:
				if c.Created.IsZero() {
					c.Created = e.At
				}
			case evDialplan:
				if in && c.Entered.IsZero() && (e.App == "Stasis" || e.App == "Queue") {
					c.Entered = e.At
				}
			case evDestroyed:
				c.halvesGone++
				c.Gone = e.At
			}
			continue
		}
		key, half, _ := strings.Cut(e.Name, ";")
		a := byKey[key]
		if a == nil {
			if e.Kind != evCreated {
				continue // created before the series began
			}
			ext, _, _ := strings.Cut(strings.TrimPrefix(key, "Local/"), "@")
			a = &agentTrace{Key: key, Ext: ext, Created: e.At}
			byKey[key] = a
			t.agents = append(t.agents, a)
		}
		if a.Caller == "" && e.Caller != "" {
			a.Caller = e.Caller
		}
		switch e.Kind {
		case evUp:
			if half == "2" && a.Answered.IsZero() {
				a.Answered = e.At
			}
		case evDialplan:
			// The phone hangs up when its dialplan runs Hangup(): before
			// either half is destroyed, and before any system can know.
			if half == "2" && e.App == "Hangup" && a.Freed.IsZero() {
				a.Freed = e.At
			}
		case evDestroyed:
			if a.Freed.IsZero() {
				a.Freed = e.At
			}
		}
	}
	for _, a := range t.agents {
		seq, ok := callerSeqOfNumber(a.Caller)
		if !ok {
			continue
		}
		c := caller(seq)
		if c.AgentCreated.IsZero() {
			c.AgentCreated = a.Created
		}
		if c.Answered.IsZero() && !a.Answered.IsZero() {
			c.Answered = a.Answered
		}
	}
	return t
}

// handoffs are, for each agent's call after the first, the time from the
// agent's previous call ending (its phone hung up) to this one's channel
// created — counted only when a caller was waiting at that moment, which
// the handoff series arranges. unwaited counts the others.
func (t *trace) handoffs() (samples []time.Duration, unwaited int) {
	for k := 1; k < len(t.agents); k++ {
		prev, cur := t.agents[k-1], t.agents[k]
		if prev.Freed.IsZero() || prev.Ext != cur.Ext {
			continue
		}
		if !t.someoneWaiting(prev.Freed, prev.Caller) {
			unwaited++
			continue
		}
		samples = append(samples, cur.Created.Sub(prev.Freed))
	}
	return samples, unwaited
}

// someoneWaiting reports whether a caller other than except had arrived,
// was not answered yet and had not left at t.
func (t *trace) someoneWaiting(at time.Time, except string) bool {
	skip, _ := callerSeqOfNumber(except)
	for seq, c := range t.callers {
		if seq == skip || c.Created.IsZero() || !c.Created.Before(at) {
			continue
		}
		answeredLater := c.Answered.IsZero() || c.Answered.After(at)
		stillThere := c.halvesGone == 0 || c.Gone.After(at)
		if answeredLater && stillThere {
			return true
		}
	}
	return false
}

// capacity is what a Poisson level's trace says.
type capacity struct {
	Completed int
	Waits     []time.Duration // entry (Local pair created) → agent's phone answered
	Decisions []time.Duration // entry into Stasis()/Queue() (else arrival) → the agent channel created
}

func (t *trace) capacity() capacity {
	var out capacity
	seqs := make([]int64, 0, len(t.callers))
	for s := range t.callers {
		seqs = append(seqs, s)
	}
	slices.Sort(seqs)
	for _, s := range seqs {
		c := t.callers[s]
		if c.Done() {
			out.Completed++
		}
		if !c.Answered.IsZero() && !c.Created.IsZero() {
			out.Waits = append(out.Waits, c.Answered.Sub(c.Created))
		}
		// From the entry into Stasis() or Queue() where ChannelDialplan
		// events were observed, else from the caller's arrival.
		from := c.Entered
		if from.IsZero() {
			from = c.Created
		}
		if !c.AgentCreated.IsZero() && !from.IsZero() {
			out.Decisions = append(out.Decisions, c.AgentCreated.Sub(from))
		}
	}
	return out
}
