package bench

import (
	"strings"
	"sync"
	"time"
)

// Recorder keeps what the Tap saw, per caller, and turns it into the
// latency samples and the routing check. Calls are keyed by the id of the
// hotline's half of the caller's Local pair (the channel its StasisStart
// names, and the call id its agent legs carry in their args).
type Recorder struct {
	mu          sync.Mutex
	topicOf     map[string]string          // service number → topic
	agentTopics map[string]map[string]bool // agent extension → topics it serves
	calls       map[string]*callRec        // hotline channel id → call
	phones      map[string]string          // phone's channel id → hotline channel id
	waiting     map[string]int             // topic → callers with no agent rung yet
	freedAt     map[string]time.Time       // agent → freed while a caller waited

	startLat  []time.Duration // StasisStart → first agent originate
	freedLat  []time.Duration // agent freed → that agent's next originate
	misrouted []string
}

type callRec struct {
	topic     string
	started   time.Time
	rung      bool
	rungAt    time.Time // first agent originate
	agent     string    // extension of the agent rung last
	callID    string    // the hotline's call id (from the agent leg's args)
	agentID   string
	connected bool
}

// NewRecorder knows the numbers' topics and the agents' topics (agent
// extension → topics) so it can tell a misrouted call.
func NewRecorder(topicOf map[string]string, agentTopics map[string][]string) *Recorder {
	r := &Recorder{
		topicOf:     topicOf,
		agentTopics: make(map[string]map[string]bool, len(agentTopics)),
		calls:       make(map[string]*callRec),
		phones:      make(map[string]string),
		waiting:     make(map[string]int),
		freedAt:     make(map[string]time.Time),
	}
	for ext, ts := range agentTopics {
		m := make(map[string]bool, len(ts))
		for _, t := range ts {
			m[t] = true
		}
		r.agentTopics[ext] = m
	}
	return r
}

func (r *Recorder) stasisStarted(now time.Time, channel, number string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.call(channel)
	c.started = now
	c.topic = r.topicOf[number]
	if !c.rung {
		r.waiting[c.topic]++
		return
	}
	// The agent leg's request overtook the StasisStart's bookkeeping (the
	// daemon read the frame before the tap's Write returned): settle now.
	r.settle(c)
}

func (r *Recorder) call(channel string) *callRec {
	c := r.calls[channel]
	if c == nil {
		c = &callRec{}
		r.calls[channel] = c
	}
	return c
}

// originated records an agent leg requested for the caller on channel.
func (r *Recorder) originated(now time.Time, channel, endpoint, callID, agentID string) {
	ext := extension(endpoint)
	r.mu.Lock()
	defer r.mu.Unlock()
	if t, ok := r.freedAt[ext]; ok {
		r.freedLat = append(r.freedLat, now.Sub(t))
		delete(r.freedAt, ext)
	}
	c := r.call(channel)
	c.agent, c.callID, c.agentID = ext, callID, agentID
	if c.rung {
		r.checkRoute(c) // a re-offer after no answer
		return
	}
	c.rung, c.rungAt = true, now
	if !c.started.IsZero() {
		r.waiting[c.topic]--
		r.settle(c)
		r.dropStaleFreed()
	}
}

// settle records the first originate of a caller whose arrival is known.
// Callers hold r.mu.
func (r *Recorder) settle(c *callRec) {
	r.startLat = append(r.startLat, c.rungAt.Sub(c.started))
	r.checkRoute(c)
}

func (r *Recorder) checkRoute(c *callRec) {
	if c.started.IsZero() {
		return
	}
	if !r.agentTopics[c.agent][c.topic] {
		r.misrouted = append(r.misrouted, "call "+c.callID+" ("+c.topic+") rang agent "+c.agent)
	}
}

// dropStaleFreed forgets freed agents none of whose topics has a caller
// waiting any more: another agent took the caller, so the freed agent's
// next originate measures nothing. Callers hold r.mu.
func (r *Recorder) dropStaleFreed() {
	for ext := range r.freedAt {
		if !r.someoneWaits(ext) {
			delete(r.freedAt, ext)
		}
	}
}

func (r *Recorder) someoneWaits(ext string) bool {
	for t := range r.agentTopics[ext] {
		if r.waiting[t] > 0 {
			return true
		}
	}
	return false
}

// link ties a caller's phone channel to the hotline's half of its pair.
func (r *Recorder) link(phone, hotline string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.phones[phone] = hotline
}

// connected marks a caller as talking to its agent and returns the
// hotline's call id and agent id, for a transfer check.
func (r *Recorder) connected(hotline string) (callID, agentID, topic string, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.calls[hotline]
	if c == nil || !c.rung {
		return "", "", "", false
	}
	c.connected = true
	return c.callID, c.agentID, c.topic, true
}

// hungUp records a phone hanging up. If the phone was a connected caller
// and a caller of one of its agent's topics is waiting, the agent is freed
// now and its next originate is what the waiting caller gets.
func (r *Recorder) hungUp(now time.Time, phone string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.calls[r.phones[phone]]
	if c == nil || !c.connected || c.agent == "" {
		return
	}
	if r.someoneWaits(c.agent) {
		r.freedAt[c.agent] = now
	}
}

// samples copies what was measured so far. unknown counts agent legs for
// callers whose arrival the tap never saw.
func (r *Recorder) samples() (start, freed []time.Duration, misrouted []string, unknown int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.calls {
		if c.rung && c.started.IsZero() {
			unknown++
		}
	}
	return append([]time.Duration(nil), r.startLat...), append([]time.Duration(nil), r.freedLat...),
		append([]string(nil), r.misrouted...), unknown
}

// extension is the agent's extension in an endpoint Local/<ext>@<context>.
func extension(endpoint string) string {
	_, res, _ := strings.Cut(endpoint, "/")
	ext, _, _ := strings.Cut(res, "@")
	return ext
}
