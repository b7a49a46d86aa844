package demo

import (
	"fmt"
	"sort"
	"strings"

	dto "github.com/prometheus/client_model/go"
)

// Stats is the demo's running total, read from the daemon's own metrics
// registry: what the summary line prints and the test checks.
type Stats struct {
	Offered, Answered, Abandoned int
	Waiting                      map[string]int // topic → callers in its queue now
	Agents                       map[string]int // agent state → agents
	Transfers                    map[string]int // result or refusal code → transfers
	Callbacks                    map[string]int // state → callbacks that entered it
	Ratings                      map[string]int // score → ratings
	Topics                       []string       // configured topics, in order
}

// nonRefusals are the transfer results that are outcomes of a consult
// rather than refusals before one.
var nonRefusals = map[string]bool{"completed": true, "declined": true, "no_answer": true, "cancelled": true}

// TransferAttempts counts every transfer asked for: refused or consulted.
func (s Stats) TransferAttempts() int {
	n := 0
	for _, v := range s.Transfers {
		n += v
	}
	return n
}

// TransfersRefused counts the transfers refused by a rule (loop, hops, …).
func (s Stats) TransfersRefused() int {
	n := 0
	for k, v := range s.Transfers {
		if !nonRefusals[k] {
			n += v
		}
	}
	return n
}

// RatingsTotal counts the ratings recorded.
func (s Stats) RatingsTotal() int {
	n := 0
	for _, v := range s.Ratings {
		n += v
	}
	return n
}

// Stats reads the daemon's metrics registry.
func (d *Demo) Stats() (Stats, error) {
	fams, err := d.Registry().Gather()
	if err != nil {
		return Stats{}, fmt.Errorf("gather metrics: %w", err)
	}
	s := statsFrom(fams)
	s.Topics = d.cfg.TopicNames()
	return s, nil
}

func statsFrom(fams []*dto.MetricFamily) Stats {
	s := Stats{
		Waiting: map[string]int{}, Agents: map[string]int{}, Transfers: map[string]int{},
		Callbacks: map[string]int{}, Ratings: map[string]int{},
	}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			v := int(m.GetCounter().GetValue() + m.GetGauge().GetValue())
			switch f.GetName() {
			case "hotline_calls_offered_total":
				s.Offered += v
			case "hotline_calls_answered_total":
				s.Answered += v
			case "hotline_calls_abandoned_total":
				s.Abandoned += v
			case "hotline_queue_depth":
				s.Waiting[label(m, "topic")] += v
			case "hotline_agents":
				s.Agents[label(m, "state")] += v
			case "hotline_transfers_total":
				s.Transfers[label(m, "result")] += v
			case "hotline_callbacks_total":
				s.Callbacks[label(m, "state")] += v
			case "hotline_ratings_total":
				s.Ratings[label(m, "score")] += v
			}
		}
	}
	return s
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// agentStates is the order the summary prints agent states in.
var agentStates = []struct{ state, short string }{
	{"available", "available"}, {"ringing", "ringing"}, {"on_call", "on call"},
	{"wrap_up", "wrap-up"}, {"paused", "paused"}, {"offline", "offline"},
}

// Line is the one-line summary the terminal shows.
func (s Stats) Line() string {
	var b strings.Builder
	fmt.Fprintf(&b, "calls %d offered, %d answered, %d abandoned", s.Offered, s.Answered, s.Abandoned)
	topics := s.Topics
	if topics == nil {
		for t := range s.Waiting {
			topics = append(topics, t)
		}
		sort.Strings(topics)
	}
	b.WriteString(" | waiting")
	for _, t := range topics {
		fmt.Fprintf(&b, " %s %d", t, s.Waiting[t])
	}
	b.WriteString(" | agents")
	for _, st := range agentStates {
		if n := s.Agents[st.state]; n > 0 {
			fmt.Fprintf(&b, " %d %s", n, st.short)
		}
	}
	fmt.Fprintf(&b, " | transfers %d completed, %d declined, %d refused",
		s.Transfers["completed"], s.Transfers["declined"]+s.Transfers["no_answer"], s.TransfersRefused())
	fmt.Fprintf(&b, " | callbacks %d offered, %d scheduled, %d completed",
		s.Callbacks["offered"], s.Callbacks["scheduled"], s.Callbacks["completed"])
	fmt.Fprintf(&b, " | ratings %d good, %d bad", s.Ratings["1"], s.Ratings["2"])
	return b.String()
}
