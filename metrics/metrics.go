// Package metrics holds every Prometheus metric the hotline exports. All of
// them are created on a registerer passed in by the caller, so each test and
// each in-process daemon has its own registry and nothing is global.
//
// Label values are a small fixed set: configured topics, agent states,
// transfer results and refusal codes, callback states, rating digits, and
// fixed operation names. Caller numbers, call ids and agent ids never become
// labels.
//
// Metrics (name, type, labels: meaning):
//
//	hotline_calls_offered_total            counter    topic   calls that entered a topic's queue
//	hotline_calls_answered_total           counter    topic   queued calls connected to an agent
//	hotline_calls_abandoned_total          counter    topic   callers who hung up while waiting
//	hotline_wait_seconds                   histogram  topic   time in queue until an agent answered
//	hotline_handle_seconds                 histogram  topic   time from agent answer to the end of the agent's talk
//	hotline_consult_seconds                histogram  result  attended-transfer consult time (caller on hold) by outcome
//	hotline_transfers_total                counter    result  transfers by outcome: completed, declined, no_answer, cancelled, or a refusal code
//	hotline_callbacks_total                counter    state   callbacks entering a state: offered, scheduled, completed, failed, escalated
//	hotline_ratings_total                  counter    score   post-call ratings by key pressed (1..9, other)
//	hotline_agents_per_resolved_call       histogram  -       how many agents the caller talked to on a resolved case
//	hotline_call_mailbox_overflows_total   counter    -       calls aborted because their event mailbox filled up (an event storm or a stuck call)
//	hotline_queue_depth                    gauge      topic   callers waiting now, cluster-wide (from the shared store)
//	hotline_longest_wait_seconds           gauge      topic   wait so far of the oldest waiting caller, cluster-wide
//	hotline_estimated_wait_seconds         gauge      topic   wait a new caller is told to expect, cluster-wide
//	hotline_agents                         gauge      state   agents in each state, cluster-wide
//	hotline_callbacks_overdue              gauge      -       callbacks past their deadline, cluster-wide
//	hotline_snapshot_errors_total          counter    -       scrapes where the shared store could not be read
//	hotline_ari_connected                  gauge      -       1 while this node's ARI event websocket is up
//	hotline_ari_reconnects_total           counter    -       ARI websocket reconnections of this node
//	hotline_ari_request_seconds            histogram  op      ARI REST request latency by operation
//	hotline_redis_command_seconds          histogram  op      Redis command/script latency by operation
//	hotline_redis_up                       gauge      -       1 while this node's last Redis health check succeeded
//	hotline_build_info                     gauge      version, goversion   always 1; carries the build's version
//
// The cluster-wide gauges are read from Redis at scrape time, so every node
// reports the same values: dashboards aggregate them with max, not sum.
package metrics

import (
	"runtime"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/hotline-project/hotline/routing"
)

const namespace = "hotline"

// TransferResult is how a transfer ended when it was not refused.
type TransferResult string

// Transfer results besides the refusal codes (routing.RefusalCodes()).
const (
	TransferCompleted TransferResult = "completed"
	TransferDeclined  TransferResult = "declined"
	TransferNoAnswer  TransferResult = "no_answer"
	TransferCancelled TransferResult = "cancelled"
)

// TransferResults lists the non-refusal results, for pre-created labels.
var transferResults = []TransferResult{TransferCompleted, TransferDeclined, TransferNoAnswer, TransferCancelled}

// CallbackState is a step in a callback's life that the counter records.
type CallbackState string

// Callback states counted by hotline_callbacks_total.
const (
	CallbackOffered   CallbackState = "offered"
	CallbackScheduled CallbackState = "scheduled"
	CallbackCompleted CallbackState = "completed"
	CallbackFailed    CallbackState = "failed"
	CallbackEscalated CallbackState = "escalated"
)

var callbackStates = []CallbackState{CallbackOffered, CallbackScheduled, CallbackCompleted, CallbackFailed, CallbackEscalated}

// ratingOther is the score label for a key outside 1..9. The survey only
// accepts configured digits, so this should stay at zero; it exists so a bug
// cannot turn the label into an unbounded set.
const ratingOther = "other"

// Bucket layouts. Waits span a one-second pickup to a half-hour queue;
// handling spans a short answer to a two-hour case; consults are meant to be
// seconds (docs/behaviour.md, Transfers), so their buckets are fine below a minute.
var (
	waitBuckets    = []float64{1, 2, 5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 600, 900, 1200, 1800}
	handleBuckets  = []float64{10, 30, 60, 120, 180, 300, 450, 600, 900, 1200, 1800, 2700, 3600, 7200}
	consultBuckets = []float64{1, 2, 3, 5, 8, 10, 15, 20, 30, 45, 60, 90, 120}
	agentsBuckets  = []float64{1, 2, 3, 4, 5, 6, 8, 10}
	ariBuckets     = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}
	redisBuckets   = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1}
)

// Metrics is the set of hotline metrics on one registry. The fields are
// exported so tests can read them with testutil.ToFloat64; the rest of the
// code calls the methods, which keep the label values in their fixed sets.
// Every method is a no-op on a nil *Metrics, so components can run without
// metrics in tests.
type Metrics struct {
	CallsOffered          *prometheus.CounterVec
	CallsAnswered         *prometheus.CounterVec
	CallsAbandoned        *prometheus.CounterVec
	WaitSeconds           *prometheus.HistogramVec
	HandleSeconds         *prometheus.HistogramVec
	ConsultSeconds        *prometheus.HistogramVec
	Transfers             *prometheus.CounterVec
	Callbacks             *prometheus.CounterVec
	Ratings               *prometheus.CounterVec
	AgentsPerResolvedCall prometheus.Histogram
	MailboxOverflows      prometheus.Counter
	PlaybackFailures      *prometheus.CounterVec
	AgentsUnreachable     prometheus.Counter
	CallsHandedBack       *prometheus.CounterVec
	SnapshotErrors        prometheus.Counter
	ARIConnectedGauge     prometheus.Gauge
	ARIReconnects         prometheus.Counter
	ARIRequestSeconds     *prometheus.HistogramVec
	RedisCommandSeconds   *prometheus.HistogramVec
	RedisUpGauge          prometheus.Gauge
	BuildInfo             *prometheus.GaugeVec

	snapshot *snapshotCollector
}

// New creates every hotline metric on reg and pre-creates the label values
// known in advance (topics, agent states, transfer results and refusal
// codes, callback states, rating digits) so they report 0 before the first
// event. It panics if a metric is already registered on reg, as promauto
// does: that is a wiring bug, not a runtime condition.
func New(reg prometheus.Registerer, topics []string) *Metrics {
	f := promauto.With(reg)
	m := &Metrics{
		CallsOffered: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "calls_offered_total",
			Help: "Calls that entered a topic's queue.",
		}, []string{"topic"}),
		CallsAnswered: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "calls_answered_total",
			Help: "Queued calls connected to an agent.",
		}, []string{"topic"}),
		CallsAbandoned: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "calls_abandoned_total",
			Help: "Callers who hung up while waiting in a topic's queue.",
		}, []string{"topic"}),
		WaitSeconds: f.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "wait_seconds",
			Help:    "Time a caller waited in a topic's queue until an agent answered.",
			Buckets: waitBuckets,
		}, []string{"topic"}),
		HandleSeconds: f.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "handle_seconds",
			Help:    "Time from an agent answering a call to the end of that agent's part of it.",
			Buckets: handleBuckets,
		}, []string{"topic"}),
		ConsultSeconds: f.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "consult_seconds",
			Help:    "Duration of attended-transfer consults (caller on hold, two agents busy) by outcome.",
			Buckets: consultBuckets,
		}, []string{"result"}),
		Transfers: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "transfers_total",
			Help: "Transfers by result: completed, declined, no_answer, cancelled, or the refusal code.",
		}, []string{"result"}),
		Callbacks: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "callbacks_total",
			Help: "Callbacks entering a state: offered, scheduled, completed, failed, escalated.",
		}, []string{"state"}),
		Ratings: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "ratings_total",
			Help: "Post-call ratings by the key the caller pressed.",
		}, []string{"score"}),
		AgentsPerResolvedCall: f.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Name: "agents_per_resolved_call",
			Help:    "How many agents a caller talked to before their case was resolved.",
			Buckets: agentsBuckets,
		}),
		SnapshotErrors: f.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "snapshot_errors_total",
			Help: "Scrapes in which the cluster-wide snapshot could not be read from the shared store.",
		}),
		ARIConnectedGauge: f.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "ari_connected",
			Help: "1 while this node's ARI event websocket is connected, else 0.",
		}),
		MailboxOverflows: f.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "call_mailbox_overflows_total",
			Help: "Calls this node aborted because their event mailbox was full.",
		}),
		CallsHandedBack: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "calls_handed_back_total",
			Help: "Calls given back to the dialplan's fallback because the hotline could not route them (unavailable: the store is down).",
		}, []string{"reason"}),
		AgentsUnreachable: f.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "agents_unreachable_total",
			Help: "Agents paused \"unreachable\" because Asterisk refused to dial their phone again and again.",
		}),
		PlaybackFailures: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "playback_failures_total",
			Help: "Sounds that did not play (missing in Asterisk, or no playback events within bounds), by sound name.",
		}, []string{"sound"}),
		ARIReconnects: f.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "ari_reconnects_total",
			Help: "Times this node reconnected its ARI event websocket.",
		}),
		ARIRequestSeconds: f.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "ari_request_seconds",
			Help:    "Latency of ARI REST requests by operation.",
			Buckets: ariBuckets,
		}, []string{"op"}),
		RedisCommandSeconds: f.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "redis_command_seconds",
			Help:    "Latency of Redis commands and scripts by operation.",
			Buckets: redisBuckets,
		}, []string{"op"}),
		RedisUpGauge: f.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "redis_up",
			Help: "1 while this node's last Redis health check succeeded, else 0.",
		}),
		BuildInfo: f.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "build_info",
			Help: "Always 1; labels carry the hotline version and the Go version it was built with.",
		}, []string{"version", "goversion"}),
	}
	m.snapshot = newSnapshotCollector(m.SnapshotErrors)
	// Like promauto, a nil registerer gives working but unregistered metrics.
	if reg != nil {
		reg.MustRegister(m.snapshot)
	}

	m.AddTopics(topics...)
	for _, r := range transferResults {
		m.Transfers.WithLabelValues(string(r))
		m.ConsultSeconds.WithLabelValues(string(r))
	}
	for _, c := range routing.RefusalCodes() {
		m.Transfers.WithLabelValues(string(c))
	}
	m.CallsHandedBack.WithLabelValues("unavailable")
	for _, s := range callbackStates {
		m.Callbacks.WithLabelValues(string(s))
	}
	for score := 1; score <= 9; score++ {
		m.Ratings.WithLabelValues(strconv.Itoa(score))
	}
	m.SetBuildInfo(defaultVersion())
	return m
}

// defaultVersion is the main module's version as the Go toolchain recorded
// it, until main calls SetBuildInfo with the release version.
func defaultVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "unknown"
}

// AddTopics pre-creates the per-topic series for topics, so that a topic
// added by a configuration reload reports 0 instead of being absent.
func (m *Metrics) AddTopics(topics ...string) {
	if m == nil {
		return
	}
	for _, t := range topics {
		m.CallsOffered.WithLabelValues(t)
		m.CallsAnswered.WithLabelValues(t)
		m.CallsAbandoned.WithLabelValues(t)
		m.WaitSeconds.WithLabelValues(t)
		m.HandleSeconds.WithLabelValues(t)
	}
	m.snapshot.addTopics(topics)
}

// SetBuildInfo sets hotline_build_info to the given version (and the Go
// version of this binary), replacing any earlier value.
func (m *Metrics) SetBuildInfo(version string) {
	if m == nil {
		return
	}
	m.BuildInfo.Reset()
	m.BuildInfo.WithLabelValues(version, runtime.Version()).Set(1)
}

// CallOffered counts a call entering topic's queue.
func (m *Metrics) CallOffered(topic string) {
	if m == nil {
		return
	}
	m.CallsOffered.WithLabelValues(topic).Inc()
}

// CallAnswered counts a queued call connected to an agent after waiting.
func (m *Metrics) CallAnswered(topic string, waited time.Duration) {
	if m == nil {
		return
	}
	m.CallsAnswered.WithLabelValues(topic).Inc()
	m.WaitSeconds.WithLabelValues(topic).Observe(waited.Seconds())
}

// CallAbandoned counts a caller who hung up while waiting. Abandoned waits
// are not observed in hotline_wait_seconds, which measures time to answer.
func (m *Metrics) CallAbandoned(topic string) {
	if m == nil {
		return
	}
	m.CallsAbandoned.WithLabelValues(topic).Inc()
}

// CallHandled observes how long an agent handled a call of topic.
func (m *Metrics) CallHandled(topic string, handled time.Duration) {
	if m == nil {
		return
	}
	m.HandleSeconds.WithLabelValues(topic).Observe(handled.Seconds())
}

// CaseResolved observes how many agents the caller talked to before the case
// was resolved. Zero is not observed: a case nobody answered is not resolved.
func (m *Metrics) CaseResolved(agents int) {
	if m == nil || agents <= 0 {
		return
	}
	m.AgentsPerResolvedCall.Observe(float64(agents))
}

// TransferEnded counts an attended transfer that reached the consult and
// observes how long the consult held the caller.
func (m *Metrics) TransferEnded(result TransferResult, consult time.Duration) {
	if m == nil {
		return
	}
	m.Transfers.WithLabelValues(string(result)).Inc()
	m.ConsultSeconds.WithLabelValues(string(result)).Observe(consult.Seconds())
}

// TransferRefused counts a transfer refused by a rule; no consult took place.
func (m *Metrics) TransferRefused(code routing.RefusalCode) {
	if m == nil {
		return
	}
	m.Transfers.WithLabelValues(string(code)).Inc()
}

// Callback counts a callback entering state.
func (m *Metrics) Callback(state CallbackState) {
	if m == nil {
		return
	}
	m.Callbacks.WithLabelValues(string(state)).Inc()
}

// Rating counts a caller's rating. Scores are the DTMF digit pressed; anything
// outside 1..9 is counted as "other" so the label set stays fixed.
func (m *Metrics) Rating(score int) {
	if m == nil {
		return
	}
	label := ratingOther
	if score >= 1 && score <= 9 {
		label = strconv.Itoa(score)
	}
	m.Ratings.WithLabelValues(label).Inc()
}

// ARIConnected records whether the ARI event websocket is up.
func (m *Metrics) ARIConnected(up bool) {
	if m == nil {
		return
	}
	m.ARIConnectedGauge.Set(boolToFloat(up))
}

// CallMailboxOverflowed counts one call aborted because its event mailbox
// was full. Any increase is worth a look: a call's loop fell behind its
// events, or Asterisk sent a storm.
func (m *Metrics) CallMailboxOverflowed() {
	if m == nil {
		return
	}
	m.MailboxOverflows.Inc()
}

// PlaybackFailed counts one sound that did not play. sound is a configured
// sound name or, for numbers, the media kind ("number"): a bounded set.
func (m *Metrics) PlaybackFailed(sound string) {
	if m == nil {
		return
	}
	m.PlaybackFailures.WithLabelValues(sound).Inc()
}

// HandedBack counts one call given back to the dialplan's fallback.
func (m *Metrics) HandedBack(reason string) {
	if m == nil {
		return
	}
	m.CallsHandedBack.WithLabelValues(reason).Inc()
}

// AgentUnreachable counts one agent paused "unreachable".
func (m *Metrics) AgentUnreachable() {
	if m == nil {
		return
	}
	m.AgentsUnreachable.Inc()
}

// KnownSounds pre-creates the failure count of every sound the daemon may
// play, so each reports 0 until it fails.
func (m *Metrics) KnownSounds(sounds []string) {
	if m == nil {
		return
	}
	for _, s := range sounds {
		m.PlaybackFailures.WithLabelValues(s)
	}
}

// ARIReconnected counts one reconnection of the ARI event websocket.
func (m *Metrics) ARIReconnected() {
	if m == nil {
		return
	}
	m.ARIReconnects.Inc()
}

// ObserveARIRequest records one ARI REST request's latency. op must be a
// fixed operation name ("originate", "answer", "play", "bridge_add", ...),
// never a channel or bridge id.
func (m *Metrics) ObserveARIRequest(op string, d time.Duration) {
	if m == nil {
		return
	}
	m.ARIRequestSeconds.WithLabelValues(op).Observe(d.Seconds())
}

// ObserveRedis records one Redis command or script's latency. op must be a
// fixed name (the script or command, e.g. "route", "transfer_check"), never
// a key.
func (m *Metrics) ObserveRedis(op string, d time.Duration) {
	if m == nil {
		return
	}
	m.RedisCommandSeconds.WithLabelValues(op).Observe(d.Seconds())
}

// RedisUp records the result of the latest Redis health check.
func (m *Metrics) RedisUp(up bool) {
	if m == nil {
		return
	}
	m.RedisUpGauge.Set(boolToFloat(up))
}

// SetSnapshotSource installs the function the scrape-time collector calls to
// read the cluster-wide values from the shared store, with a deadline of
// timeout per scrape (a zero timeout means DefaultSnapshotTimeout). Until it
// is called, those gauges are not reported. It is separate from New because
// the store that provides the snapshot is itself built with these metrics.
func (m *Metrics) SetSnapshotSource(fn SnapshotFunc, timeout time.Duration) {
	if m == nil {
		return
	}
	m.snapshot.setSource(fn, timeout)
}

func boolToFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// names lists every metric family, kept in step with New and the snapshot
// collector by TestNamesMatchRegistry.
var names = [...]string{
	"hotline_agents",
	"hotline_agents_per_resolved_call",
	"hotline_agents_unreachable_total",
	"hotline_ari_connected",
	"hotline_ari_reconnects_total",
	"hotline_ari_request_seconds",
	"hotline_build_info",
	"hotline_call_mailbox_overflows_total",
	"hotline_callbacks_overdue",
	"hotline_callbacks_total",
	"hotline_calls_abandoned_total",
	"hotline_calls_answered_total",
	"hotline_calls_handed_back_total",
	"hotline_calls_offered_total",
	"hotline_consult_seconds",
	"hotline_estimated_wait_seconds",
	"hotline_handle_seconds",
	"hotline_longest_wait_seconds",
	"hotline_playback_failures_total",
	"hotline_queue_depth",
	"hotline_ratings_total",
	"hotline_redis_command_seconds",
	"hotline_redis_up",
	"hotline_snapshot_errors_total",
	"hotline_transfers_total",
	"hotline_wait_seconds",
}

// Names returns the name of every metric family the hotline exports, sorted.
// Dashboards and alert rules may use only these (plus _bucket, _sum and
// _count of the histograms).
func Names() []string {
	out := make([]string, len(names))
	copy(out, names[:])
	return out
}

// NewRegistry returns a registry with the Go runtime and process collectors,
// ready for New and promhttp.HandlerFor.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}
