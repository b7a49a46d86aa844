package metrics

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/hotline-project/hotline/routing"
)

var testTopics = []string{"connections", "audit", "service", "requests"}

// exercise touches every metric once, so that vectors without pre-created
// children (ARI and Redis operations) appear in a gather.
func exercise(m *Metrics) {
	m.CallOffered("audit")
	m.CallAnswered("audit", 42*time.Second)
	m.CallAbandoned("service")
	m.CallHandled("audit", 5*time.Minute)
	m.CaseResolved(2)
	m.TransferEnded(TransferCompleted, 12*time.Second)
	m.TransferRefused(routing.RefuseLoop)
	m.Callback(CallbackScheduled)
	m.Rating(1)
	m.ARIConnected(true)
	m.ARIReconnected()
	m.ObserveARIRequest("originate", 3*time.Millisecond)
	m.ObserveRedis("route", 400*time.Microsecond)
	m.RedisUp(true)
	m.PlaybackFailed("hotline-closed")
	m.AgentUnreachable()
	m.HandedBack("unavailable")
	m.SetSnapshotSource(func(context.Context) (Snapshot, error) {
		return Snapshot{QueueDepth: map[string]int{"audit": 3}}, nil
	}, 0)
}

func TestPreCreatedLabelsReportZero(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	New(reg, testTopics)

	want := `
# HELP hotline_callbacks_total Callbacks entering a state: offered, scheduled, completed, failed, escalated.
# TYPE hotline_callbacks_total counter
hotline_callbacks_total{state="completed"} 0
hotline_callbacks_total{state="escalated"} 0
hotline_callbacks_total{state="failed"} 0
hotline_callbacks_total{state="offered"} 0
hotline_callbacks_total{state="scheduled"} 0
# HELP hotline_calls_offered_total Calls that entered a topic's queue.
# TYPE hotline_calls_offered_total counter
hotline_calls_offered_total{topic="audit"} 0
hotline_calls_offered_total{topic="connections"} 0
hotline_calls_offered_total{topic="requests"} 0
hotline_calls_offered_total{topic="service"} 0
# HELP hotline_transfers_total Transfers by result: completed, declined, no_answer, cancelled, or the refusal code.
# TYPE hotline_transfers_total counter
hotline_transfers_total{result="blind_transfer_forbidden"} 0
hotline_transfers_total{result="cancelled"} 0
hotline_transfers_total{result="completed"} 0
hotline_transfers_total{result="declined"} 0
hotline_transfers_total{result="max_hops"} 0
hotline_transfers_total{result="no_answer"} 0
hotline_transfers_total{result="note_required"} 0
hotline_transfers_total{result="target_unavailable"} 0
hotline_transfers_total{result="transfer_loop"} 0
hotline_transfers_total{result="transfer_pending"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"hotline_callbacks_total", "hotline_calls_offered_total", "hotline_transfers_total"); err != nil {
		t.Fatal(err)
	}
	// Every refusal code must have its series, including codes added to
	// routing later than this test.
	if n, want := testutil.CollectAndCount(New(nil, nil).Transfers), len(transferResults)+len(routing.RefusalCodes()); n != want {
		t.Errorf("transfers_total pre-created %d series, want %d", n, want)
	}
	if n := testutil.CollectAndCount(New(nil, nil).Ratings); n != 9 {
		t.Errorf("ratings_total pre-created %d series, want 9 (digits 1..9)", n)
	}
}

func TestRecordingMethods(t *testing.T) {
	tests := []struct {
		name   string
		record func(m *Metrics)
		read   func(m *Metrics) prometheus.Collector
		want   float64
	}{
		{"offered", func(m *Metrics) { m.CallOffered("audit"); m.CallOffered("audit") },
			func(m *Metrics) prometheus.Collector { return m.CallsOffered.WithLabelValues("audit") }, 2},
		{"answered counts", func(m *Metrics) { m.CallAnswered("service", time.Second) },
			func(m *Metrics) prometheus.Collector { return m.CallsAnswered.WithLabelValues("service") }, 1},
		{"abandoned", func(m *Metrics) { m.CallAbandoned("requests") },
			func(m *Metrics) prometheus.Collector { return m.CallsAbandoned.WithLabelValues("requests") }, 1},
		{"refusal by code", func(m *Metrics) { m.TransferRefused(routing.RefuseMaxHops) },
			func(m *Metrics) prometheus.Collector { return m.Transfers.WithLabelValues("max_hops") }, 1},
		{"declined transfer", func(m *Metrics) { m.TransferEnded(TransferDeclined, 8*time.Second) },
			func(m *Metrics) prometheus.Collector { return m.Transfers.WithLabelValues("declined") }, 1},
		{"callback escalated", func(m *Metrics) { m.Callback(CallbackEscalated); m.Callback(CallbackEscalated) },
			func(m *Metrics) prometheus.Collector { return m.Callbacks.WithLabelValues("escalated") }, 2},
		{"rating digit", func(m *Metrics) { m.Rating(2) },
			func(m *Metrics) prometheus.Collector { return m.Ratings.WithLabelValues("2") }, 1},
		{"rating out of range", func(m *Metrics) { m.Rating(0); m.Rating(12) },
			func(m *Metrics) prometheus.Collector { return m.Ratings.WithLabelValues(ratingOther) }, 2},
		{"ari up", func(m *Metrics) { m.ARIConnected(true) },
			func(m *Metrics) prometheus.Collector { return m.ARIConnectedGauge }, 1},
		{"ari down after up", func(m *Metrics) { m.ARIConnected(true); m.ARIConnected(false) },
			func(m *Metrics) prometheus.Collector { return m.ARIConnectedGauge }, 0},
		{"reconnects", func(m *Metrics) { m.ARIReconnected(); m.ARIReconnected(); m.ARIReconnected() },
			func(m *Metrics) prometheus.Collector { return m.ARIReconnects }, 3},
		{"mailbox overflows", func(m *Metrics) { m.CallMailboxOverflowed(); m.CallMailboxOverflowed() },
			func(m *Metrics) prometheus.Collector { return m.MailboxOverflows }, 2},
		{"redis up", func(m *Metrics) { m.RedisUp(true) },
			func(m *Metrics) prometheus.Collector { return m.RedisUpGauge }, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New(prometheus.NewRegistry(), testTopics)
			tt.record(m)
			if got := testutil.ToFloat64(tt.read(m)); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestHistogramsObserveSeconds(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg, testTopics)
	m.CallAnswered("audit", 90*time.Second)
	m.CallHandled("audit", 10*time.Minute)
	m.TransferEnded(TransferCompleted, 1500*time.Millisecond)
	m.CaseResolved(3)
	m.CaseResolved(0) // unresolved: not observed
	m.ObserveARIRequest("answer", 2*time.Millisecond)
	m.ObserveRedis("transfer_check", 250*time.Microsecond)

	tests := []struct {
		family string
		labels map[string]string
		count  uint64
		sum    float64
	}{
		{"hotline_wait_seconds", map[string]string{"topic": "audit"}, 1, 90},
		{"hotline_handle_seconds", map[string]string{"topic": "audit"}, 1, 600},
		{"hotline_consult_seconds", map[string]string{"result": "completed"}, 1, 1.5},
		{"hotline_agents_per_resolved_call", nil, 1, 3},
		{"hotline_ari_request_seconds", map[string]string{"op": "answer"}, 1, 0.002},
		{"hotline_redis_command_seconds", map[string]string{"op": "transfer_check"}, 1, 0.00025},
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.family, func(t *testing.T) {
			for _, mf := range mfs {
				if mf.GetName() != tt.family {
					continue
				}
				for _, mt := range mf.GetMetric() {
					if !labelsMatch(mt.GetLabel(), tt.labels) {
						continue
					}
					h := mt.GetHistogram()
					if h.GetSampleCount() != tt.count || !near(h.GetSampleSum(), tt.sum) {
						t.Errorf("count %d sum %v, want %d and %v", h.GetSampleCount(), h.GetSampleSum(), tt.count, tt.sum)
					}
					return
				}
			}
			t.Errorf("no series %s%v", tt.family, tt.labels)
		})
	}
}

func near(a, b float64) bool { d := a - b; return d < 1e-9 && d > -1e-9 }

func labelsMatch(got []*dto.LabelPair, want map[string]string) bool {
	if len(got) != len(want) {
		return false
	}
	for _, l := range got {
		if want[l.GetName()] != l.GetValue() {
			return false
		}
	}
	return true
}

func TestNilMetricsIsNoOp(t *testing.T) {
	var m *Metrics
	exercise(m) // must not panic
	m.AddTopics("x")
	m.SetBuildInfo("v1")
}

func TestBuildInfo(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg, nil)
	m.SetBuildInfo("v1.2.3")
	want := fmt.Sprintf(`
# HELP hotline_build_info Always 1; labels carry the hotline version and the Go version it was built with.
# TYPE hotline_build_info gauge
hotline_build_info{goversion=%q,version="v1.2.3"} 1
`, runtime.Version())
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "hotline_build_info"); err != nil {
		t.Fatal(err)
	}
}

func TestAddTopicsAfterReload(t *testing.T) {
	m := New(prometheus.NewRegistry(), []string{"audit"})
	m.AddTopics("billing")
	if n := testutil.CollectAndCount(m.CallsOffered); n != 2 {
		t.Errorf("calls_offered_total has %d series, want 2", n)
	}
}

func TestLintClean(t *testing.T) {
	reg := NewRegistry()
	exercise(New(reg, testTopics))
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

// TestNamesMatchRegistry keeps Names() in step with what New registers: the
// dashboard and alert tests trust Names().
func TestNamesMatchRegistry(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	exercise(New(reg, testTopics))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, mf := range mfs {
		got = append(got, mf.GetName())
	}
	slices.Sort(got)
	if want := Names(); !slices.Equal(got, want) {
		t.Errorf("registered families differ from Names()\n got: %v\nwant: %v", got, want)
	}
}

func TestNewRegistryHasRuntimeCollectors(t *testing.T) {
	mfs, err := NewRegistry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var goSeen, processSeen bool
	for _, mf := range mfs {
		goSeen = goSeen || mf.GetName() == "go_goroutines"
		processSeen = processSeen || strings.HasPrefix(mf.GetName(), "process_")
	}
	if !goSeen || !processSeen {
		t.Errorf("go collector %v, process collector %v; want both", goSeen, processSeen)
	}
}

func TestDoubleRegistrationPanics(t *testing.T) {
	reg := prometheus.NewRegistry()
	New(reg, nil)
	defer func() {
		if recover() == nil {
			t.Error("second New on the same registry did not panic")
		}
	}()
	New(reg, nil)
}

func TestSnapshotCollector(t *testing.T) {
	errStore := errors.New("store down")
	tests := []struct {
		name       string
		source     SnapshotFunc
		timeout    time.Duration
		want       string // exposition of the snapshot families; empty means none
		wantErrors float64
	}{
		{
			name: "values with defaults for configured topics and every state",
			source: func(context.Context) (Snapshot, error) {
				return Snapshot{
					QueueDepth:       map[string]int{"audit": 4},
					LongestWait:      map[string]time.Duration{"audit": 95 * time.Second},
					EstimatedWait:    map[string]time.Duration{"audit": 2 * time.Minute, "billing": 30 * time.Second},
					Agents:           map[string]int{"available": 2, "on_call": 5},
					CallbacksOverdue: 1,
				}, nil
			},
			want: `
# HELP hotline_agents Agents in each state, across all nodes.
# TYPE hotline_agents gauge
hotline_agents{state="available"} 2
hotline_agents{state="offline"} 0
hotline_agents{state="on_call"} 5
hotline_agents{state="paused"} 0
hotline_agents{state="ringing"} 0
hotline_agents{state="wrap_up"} 0
# HELP hotline_callbacks_overdue Callbacks past their deadline and not yet completed, across all nodes.
# TYPE hotline_callbacks_overdue gauge
hotline_callbacks_overdue 1
# HELP hotline_estimated_wait_seconds Wait a caller entering a topic's queue now is told to expect.
# TYPE hotline_estimated_wait_seconds gauge
hotline_estimated_wait_seconds{topic="audit"} 120
hotline_estimated_wait_seconds{topic="billing"} 30
hotline_estimated_wait_seconds{topic="service"} 0
# HELP hotline_longest_wait_seconds How long the oldest caller waiting in a topic's queue has waited so far, across all nodes.
# TYPE hotline_longest_wait_seconds gauge
hotline_longest_wait_seconds{topic="audit"} 95
hotline_longest_wait_seconds{topic="billing"} 0
hotline_longest_wait_seconds{topic="service"} 0
# HELP hotline_queue_depth Callers waiting in a topic's queue now, across all nodes.
# TYPE hotline_queue_depth gauge
hotline_queue_depth{topic="audit"} 4
hotline_queue_depth{topic="billing"} 0
hotline_queue_depth{topic="service"} 0
`,
		},
		{
			name:       "store error reports nothing and counts",
			source:     func(context.Context) (Snapshot, error) { return Snapshot{}, errStore },
			wantErrors: 1,
		},
		{
			name:    "slow store is cut off by the timeout",
			timeout: 20 * time.Millisecond,
			source: func(ctx context.Context) (Snapshot, error) {
				<-ctx.Done() // a store that honours ctx, stuck on a dead Redis
				return Snapshot{}, ctx.Err()
			},
			wantErrors: 1,
		},
		{name: "no source yet reports nothing"},
	}
	snapshotFamilies := []string{"hotline_agents", "hotline_callbacks_overdue",
		"hotline_estimated_wait_seconds", "hotline_longest_wait_seconds", "hotline_queue_depth"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := prometheus.NewPedanticRegistry()
			m := New(reg, []string{"audit", "service"})
			if tt.source != nil {
				m.SetSnapshotSource(tt.source, tt.timeout)
			}
			if err := testutil.GatherAndCompare(reg, strings.NewReader(tt.want), snapshotFamilies...); err != nil {
				t.Error(err)
			}
			if got := testutil.ToFloat64(m.SnapshotErrors); got != tt.wantErrors {
				t.Errorf("snapshot errors %v, want %v", got, tt.wantErrors)
			}
		})
	}
}

func TestSnapshotDeadlineIsSet(t *testing.T) {
	m := New(prometheus.NewRegistry(), nil)
	var got time.Duration
	m.SetSnapshotSource(func(ctx context.Context) (Snapshot, error) {
		d, ok := ctx.Deadline()
		if !ok {
			return Snapshot{}, errors.New("no deadline")
		}
		got = time.Until(d)
		return Snapshot{}, nil
	}, 0)
	testutil.CollectAndCount(m.snapshot)
	if got <= 0 || got > DefaultSnapshotTimeout {
		t.Errorf("deadline %v away, want within (0, %v]", got, DefaultSnapshotTimeout)
	}
}

// TestConcurrentScrapeAndReload runs under -race: reloads add topics and
// swap the snapshot source while scrapes run.
func TestConcurrentScrapeAndReload(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg, testTopics)
	src := func(context.Context) (Snapshot, error) { return Snapshot{}, nil }
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 50 {
				if i%2 == 0 {
					if _, err := reg.Gather(); err != nil {
						t.Error(err)
						return
					}
					continue
				}
				m.AddTopics(fmt.Sprintf("t%d", j%5))
				m.SetSnapshotSource(src, time.Second)
				m.CallOffered("audit")
			}
		}()
	}
	wg.Wait()
}
