// Package storetest is the contract of the routing stores: table tests of
// every rule the routing core relies on them for — queues and pairing,
// the agent state machine, dead nodes, offers, transfers and their path
// check, cases, callbacks and their leases, requests — run through the
// Router and the services where a rule is theirs to apply, and against
// the store interfaces directly where it is the store's.
//
// Every store runs it: routing's own tests against the reference model
// (routing/model), redisstore's against a real Redis. A rule one store
// keeps and the other breaks fails in one of them.
package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/hotline-project/hotline/internal/testclock"
	"github.com/hotline-project/hotline/routing"
)

// Stores are one hotline's stores, as every node sees them: tests that
// run several nodes give each its own Router on the same Stores.
type Stores struct {
	Queue     routing.QueueStore
	Cases     routing.CaseStore
	Callbacks routing.CallbackStore
	Requests  routing.RequestStore
}

// Open returns new, empty stores, for t alone.
type Open func(t *testing.T) Stores

// Run runs every test of the contract against stores from open.
func Run(t *testing.T, open Open) {
	for _, tc := range contract {
		t.Run(tc.name, func(t *testing.T) { tc.f(t, open) })
	}
}

// contract is every test of the suite, by the rule it checks.
var contract = []struct {
	name string
	f    func(*testing.T, Open)
}{
	// Queues, pairing and the agent state machine (queue.go).
	{"QueueFIFOAndLongestIdle", testQueueFIFOAndLongestIdle},
	{"LongestIdleAndPriority", testLongestIdleAndPriority},
	{"OnlyAvailableAgentsAreOffered", testOnlyAvailableAgentsAreOffered},
	{"RingTimeoutKeepsPlace", testRingTimeoutKeepsPlace},
	{"AgentTransitions", testAgentTransitions},
	{"UnknownAgent", testUnknownAgent},
	{"FreedAgentTakesNextCaller", testFreedAgentTakesNextCaller},
	{"Leave", testLeave},
	{"EnqueueKeepsPlaceAndCallback", testEnqueueKeepsPlaceAndCallback},
	{"EnqueueNewCase", testEnqueueNewCase},
	{"QueueInfo", testQueueInfo},
	{"TopicStats", testTopicStats},
	{"HandleTimeMean", testHandleTimeMean},
	{"TopicStatsCounts", testTopicStatsCounts},
	{"SyncRemovesAgents", testSyncRemovesAgents},
	{"PauseWithoutReason", testPauseWithoutReason},
	{"ReleaseOffer", testReleaseOffer},
	// Nodes: heartbeats, dead nodes' callers, offers between nodes, the
	// sweep (nodes.go).
	{"HeartbeatRevived", testHeartbeatRevived},
	{"DeadNodesCallersAreSkipped", testDeadNodesCallersAreSkipped},
	{"DeadCallersAreLookedPast", testDeadCallersAreLookedPast},
	{"LiveCallersKeepTheirOrder", testLiveCallersKeepTheirOrder},
	{"StoppedNodeIsDeadAtOnce", testStoppedNodeIsDeadAtOnce},
	{"DeadNodesCallersDoNotCount", testDeadNodesCallersDoNotCount},
	{"TakeOverDeadNodesCaller", testTakeOverDeadNodesCaller},
	{"TakeOverOffersAtOnce", testTakeOverOffersAtOnce},
	{"LostOfferRecovered", testLostOfferRecovered},
	{"OffersReachTheOwningNode", testOffersReachTheOwningNode},
	{"SweepAfterNodeDied", testSweepAfterNodeDied},
	{"RunEndsWrapUp", testRunEndsWrapUp},
	// Transfers and cases (transfer.go, cases.go).
	{"TransferRules", testTransferRules},
	{"TransferAcceptAndCancel", testTransferAcceptAndCancel},
	{"ConsultOutlivesRingDeadline", testConsultOutlivesRingDeadline},
	{"FollowUpFailureKeepsCommittedState", testFollowUpFailureKeepsCommittedState},
	{"ClaimForCallback", testClaimForCallback},
	{"CaseLifecycle", testCaseLifecycle},
	{"WithheldNumbersNotIndexed", testWithheldNumbersNotIndexed},
	{"CloseCase", testCloseCase},
	// Callbacks: the store's lease rules (callbackstore.go), the service
	// on them (callbacks.go).
	{"CallbackCreateGetDedupe", testCallbackCreateGetDedupe},
	{"CallbackLeaseRules", testCallbackLeaseRules},
	{"CallbackAttemptsAndSpacing", testCallbackAttemptsAndSpacing},
	{"CallbackEscalation", testCallbackEscalation},
	{"CallbackListFilters", testCallbackListFilters},
	{"OwnerCallback", testOwnerCallback},
	{"AgentMissedCountsNoAttempt", testAgentMissedCountsNoAttempt},
	{"CallbackAttemptsThenFailed", testCallbackAttemptsThenFailed},
	{"KeepPosition", testKeepPosition},
	{"KeepPositionEnqueueFailsThenRun", testKeepPositionEnqueueFailsThenRun},
	{"KeepPositionOff", testKeepPositionOff},
	{"KeepPositionAt", testKeepPositionAt},
	{"CallbackDurability", testCallbackDurability},
	{"CallbackConcurrentNodes", testCallbackConcurrentNodes},
	{"CallbacksRunStopsWithContext", testCallbacksRunStopsWithContext},
	// Requests (requests.go).
	{"RequestStore", testRequestStore},
	{"Requests", testRequests},
	// Many nodes at once (race.go).
	{"ManyNodesRace", testManyNodesRace},
}

// Start is where every test clock starts: a millisecond, since the stores
// keep milliseconds.
var Start = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// Clock is the tests' one clock (internal/testclock): it moves only when a
// test moves it.
type Clock = testclock.Clock

// NewClock returns a clock at Start.
func NewClock() *Clock { return testclock.New(Start) }

// offerLog records delivered offers.
type offerLog struct {
	mu     sync.Mutex
	offers []routing.Offer
}

func (l *offerLog) add(o routing.Offer) {
	l.mu.Lock()
	l.offers = append(l.offers, o)
	l.mu.Unlock()
}

func (l *offerLog) all() []routing.Offer {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]routing.Offer(nil), l.offers...)
}

func (l *offerLog) last(t testing.TB) routing.Offer {
	t.Helper()
	all := l.all()
	if len(all) == 0 {
		t.Fatal("no offer delivered")
	}
	return all[len(all)-1]
}

// env is one node: its Router on the stores, with the clock and the
// offers delivered to it.
type env struct {
	r      *routing.Router
	st     Stores
	clk    *Clock
	offers *offerLog
}

func defaultPolicy() routing.Policy {
	return routing.Policy{
		RingTimeout: 15 * time.Second, WrapUp: 10 * time.Second, MaxHops: 3,
		MinNoteLength: 5, Blind: routing.BlindRefuse,
	}
}

type envOpt func(*routing.Options)

// newEnv is node n1 on new stores, its clock at Start.
func newEnv(t *testing.T, open Open, agents []routing.Agent, opts ...envOpt) *env {
	t.Helper()
	return newNode(t, open(t), "n1", NewClock(), agents, opts...)
}

// newNode is a node of the hotline whose stores are st.
func newNode(t testing.TB, st Stores, node string, clk *Clock, agents []routing.Agent, opts ...envOpt) *env {
	t.Helper()
	log := &offerLog{}
	o := routing.Options{Node: node, Clock: clk, Policy: defaultPolicy(), Deliver: log.add}
	for _, f := range opts {
		f(&o)
	}
	r := routing.New(st.Queue, st.Cases, o)
	if agents != nil {
		if err := r.SyncAgents(context.Background(), agents); err != nil {
			t.Fatal(err)
		}
	}
	return &env{r: r, st: st, clk: clk, offers: log}
}

func agent(id string, topics ...string) routing.Agent {
	m := map[string]int{}
	for _, tp := range topics {
		m[tp] = 0
	}
	return routing.Agent{ID: id, Name: "Agent " + id, Endpoint: "PJSIP/" + id, Topics: m}
}

func (e *env) login(t testing.TB, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if err := e.r.Login(context.Background(), id); err != nil {
			t.Fatalf("login %s: %v", id, err)
		}
		// Distinct idle times make "longest idle" well defined.
		e.clk.Advance(time.Second)
	}
}

func (e *env) enqueue(t testing.TB, id, topic string) routing.QueueInfo {
	t.Helper()
	info, err := e.r.Enqueue(context.Background(), routing.Call{ID: id, Topic: topic, CallerNumber: "+380" + id})
	if err != nil {
		t.Fatalf("enqueue %s: %v", id, err)
	}
	e.clk.Advance(time.Second)
	return info
}

func (e *env) state(t testing.TB, id string) routing.AgentStatus {
	t.Helper()
	a, err := e.r.Agent(context.Background(), id)
	if err != nil {
		t.Fatalf("agent %s: %v", id, err)
	}
	return a
}

// connect enqueues a call and answers it with the agent it is offered to.
func (e *env) connect(t testing.TB, callID, topic string) routing.Offer {
	t.Helper()
	n := len(e.offers.all())
	e.enqueue(t, callID, topic)
	all := e.offers.all()
	if len(all) != n+1 || all[n].CallID != callID {
		t.Fatalf("call %s not offered: %+v", callID, all[n:])
	}
	if err := e.r.Answered(context.Background(), all[n]); err != nil {
		t.Fatalf("answer %s: %v", callID, err)
	}
	return all[n]
}

func offeredPairs(offers []routing.Offer) []string {
	out := make([]string, len(offers))
	for i, o := range offers {
		out[i] = o.CallID + "->" + o.Agent.ID
	}
	return out
}
