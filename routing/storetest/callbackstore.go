package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hotline-project/hotline/routing"
)

// The callback store's own rules: dedupe, leases, attempts, escalation,
// listing.

func cbOwner(id string, due time.Time) routing.Callback {
	return routing.Callback{
		ID: id, CaseID: "case-" + id, Number: "+380441234567", Topic: "service", Lang: "uk",
		Owner: "100", Note: "router reboots nightly", Kind: routing.CallbackOwner,
		State: routing.CallbackScheduled, DueAt: due, Deadline: due.Add(time.Hour),
		MaxAttempts: 3, CreatedAt: Start, UpdatedAt: Start, CallID: id,
	}
}

func mustCreate(tb testing.TB, s routing.CallbackStore, cb routing.Callback) routing.Callback {
	tb.Helper()
	out, created, err := s.CreateCallback(context.Background(), cb, "", true)
	if err != nil || !created {
		tb.Fatalf("create %s: created=%v err=%v", cb.ID, created, err)
	}
	return out
}

func testCallbackCreateGetDedupe(t *testing.T, open Open) {
	ctx := context.Background()
	s := open(t).Callbacks
	want := cbOwner("cb-1", Start.Add(time.Minute))
	want.EnqueuedAt = Start.Add(-time.Minute)
	got, created, err := s.CreateCallback(ctx, want, "owner:case-cb-1", true)
	if err != nil || !created {
		t.Fatalf("create: created=%v err=%v", created, err)
	}
	if got != want {
		t.Fatalf("create returned\n%+v\nwant\n%+v", got, want)
	}
	if got, err := s.GetCallback(ctx, "cb-1"); err != nil || got != want {
		t.Fatalf("get: %+v, %v", got, err)
	}
	if _, err := s.GetCallback(ctx, "nope"); !errors.Is(err, routing.ErrNotFound) {
		t.Fatalf("get missing: %v, want ErrNotFound", err)
	}

	// The same dedupe key returns the unfinished callback.
	dup := cbOwner("cb-2", Start)
	got, created, err = s.CreateCallback(ctx, dup, "owner:case-cb-1", true)
	if err != nil || created || got.ID != "cb-1" {
		t.Fatalf("dedupe: got %s created=%v err=%v, want cb-1 not created", got.ID, created, err)
	}
	if _, err := s.GetCallback(ctx, "cb-2"); !errors.Is(err, routing.ErrNotFound) {
		t.Fatalf("deduplicated callback was stored: %v", err)
	}

	// Once finished, the key is free again.
	claimed, err := s.ClaimCallback(ctx, "cb-1", "a", Start.Add(time.Minute), Start.Add(2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CompleteCallback(ctx, claimed.ID, "a", Start.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, created, err = s.CreateCallback(ctx, dup, "owner:case-cb-1", true); err != nil || !created {
		t.Fatalf("after finish: created=%v err=%v", created, err)
	}
	// An id is never overwritten.
	if _, _, err := s.CreateCallback(ctx, dup, "", true); err == nil {
		t.Fatal("second create of the same id succeeded")
	}
}

// step is one store operation of a lease scenario and what it must give.
type step struct {
	name    string
	do      func(ctx context.Context, s routing.CallbackStore) error
	wantErr error // nil: must succeed
}

func testCallbackLeaseRules(t *testing.T, open Open) {
	ctx := context.Background()
	lease := 30 * time.Second
	at := func(d time.Duration) time.Time { return Start.Add(d) }
	claimDue := func(node string, now time.Duration, want ...string) func(context.Context, routing.CallbackStore) error {
		return func(ctx context.Context, s routing.CallbackStore) error {
			got, err := s.ClaimDueCallbacks(ctx, node, at(now), at(now+lease), 10)
			if err != nil {
				return err
			}
			var ids []string
			for _, c := range got {
				ids = append(ids, c.ID)
				if c.State != routing.CallbackDialing || c.LeaseNode != node || !c.LeaseUntil.Equal(at(now+lease)) {
					return fmt.Errorf("claimed %s: state %s node %s until %v", c.ID, c.State, c.LeaseNode, c.LeaseUntil)
				}
			}
			if fmt.Sprint(ids) != fmt.Sprint(want) {
				return fmt.Errorf("claimed %v, want %v", ids, want)
			}
			return nil
		}
	}
	complete := func(node string, now time.Duration, wantChanged bool) func(context.Context, routing.CallbackStore) error {
		return func(ctx context.Context, s routing.CallbackStore) error {
			cb, changed, err := s.CompleteCallback(ctx, "cb-1", node, at(now))
			if err != nil {
				return err
			}
			if changed != wantChanged || cb.State != routing.CallbackCompleted {
				return fmt.Errorf("complete: changed=%v state=%s", changed, cb.State)
			}
			return nil
		}
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"not due yet, then due", []step{
			{"before due", claimDue("a", 59*time.Second), nil},
			{"at due", claimDue("a", time.Minute, "cb-1"), nil},
			{"claimed once", claimDue("b", time.Minute), nil},
		}},
		{"holder completes once, idempotently", []step{
			{"claim", claimDue("a", time.Minute, "cb-1"), nil},
			{"other node cannot complete", complete("b", time.Minute, true), routing.ErrLeaseLost},
			{"holder completes", complete("a", 2*time.Minute, true), nil},
			{"again is a no-op", complete("a", 2*time.Minute, false), nil},
			{"other node still refused", complete("b", 2*time.Minute, false), routing.ErrLeaseLost},
			{"finished is not claimable", func(ctx context.Context, s routing.CallbackStore) error {
				_, err := s.ClaimCallback(ctx, "cb-1", "b", at(time.Hour), at(time.Hour+lease))
				return err
			}, routing.ErrCallbackFinished},
		}},
		{"live lease is not taken; lapsed lease is", []step{
			{"claim", claimDue("a", time.Minute, "cb-1"), nil},
			{"peer before lapse", claimDue("b", time.Minute+lease-time.Millisecond), nil},
			{"peer claim by id before lapse", func(ctx context.Context, s routing.CallbackStore) error {
				_, err := s.ClaimCallback(ctx, "cb-1", "b", at(time.Minute), at(time.Minute+lease))
				return err
			}, routing.ErrCallbackBusy},
			{"peer after lapse", claimDue("b", time.Minute+lease, "cb-1"), nil},
			{"old holder cannot renew", func(ctx context.Context, s routing.CallbackStore) error {
				lost, err := s.RenewCallbackLeases(ctx, "a", at(2*time.Minute), []string{"cb-1"})
				if err == nil && len(lost) != 1 {
					return fmt.Errorf("renew by old holder: lost %v", lost)
				}
				return err
			}, nil},
			{"old holder cannot complete", complete("a", 2*time.Minute, true), routing.ErrLeaseLost},
			{"new holder completes", complete("b", 2*time.Minute, true), nil},
		}},
		{"renewed lease is not taken", []step{
			{"claim", claimDue("a", time.Minute, "cb-1"), nil},
			{"renew", func(ctx context.Context, s routing.CallbackStore) error {
				lost, err := s.RenewCallbackLeases(ctx, "a", at(time.Minute+2*lease), []string{"cb-1"})
				if err == nil && len(lost) != 0 {
					return fmt.Errorf("lost %v", lost)
				}
				return err
			}, nil},
			{"peer at the old expiry", claimDue("b", time.Minute+lease), nil},
			{"lapsed but untaken lease is still the holder's", complete("a", time.Hour, true), nil},
		}},
		{"release parks or reschedules without an attempt", []step{
			{"claim", claimDue("a", time.Minute, "cb-1"), nil},
			{"peer cannot release", func(ctx context.Context, s routing.CallbackStore) error {
				_, err := s.ReleaseCallback(ctx, "cb-1", "b", at(time.Minute), at(2*time.Minute))
				return err
			}, routing.ErrLeaseLost},
			{"release to later", func(ctx context.Context, s routing.CallbackStore) error {
				cb, err := s.ReleaseCallback(ctx, "cb-1", "a", at(time.Minute), at(2*time.Minute))
				if err == nil && (cb.State != routing.CallbackScheduled || cb.Attempts != 0 || cb.LeaseNode != "") {
					return fmt.Errorf("released: %+v", cb)
				}
				return err
			}, nil},
			{"not before the new due time", claimDue("b", 2*time.Minute-time.Millisecond), nil},
			{"due again", claimDue("b", 2*time.Minute, "cb-1"), nil},
			{"park", func(ctx context.Context, s routing.CallbackStore) error {
				_, err := s.ReleaseCallback(ctx, "cb-1", "b", at(2*time.Minute), time.Time{})
				return err
			}, nil},
			{"parked is never due", claimDue("b", time.Hour), nil},
			{"parked is claimed by id (a queue offer)", func(ctx context.Context, s routing.CallbackStore) error {
				cc, err := s.ClaimCallback(ctx, "cb-1", "a", at(time.Hour), at(time.Hour+lease))
				if err == nil && cc.PrevState != routing.CallbackScheduled {
					return fmt.Errorf("prev state %s", cc.PrevState)
				}
				return err
			}, nil},
			{"holder re-claims by id (next agent after no answer)", func(ctx context.Context, s routing.CallbackStore) error {
				cc, err := s.ClaimCallback(ctx, "cb-1", "a", at(time.Hour), at(time.Hour+lease))
				if err == nil && (cc.PrevState != routing.CallbackDialing || cc.TookOver()) {
					return fmt.Errorf("re-claim: %+v", cc)
				}
				return err
			}, nil},
		}},
		{"missing callback", []step{
			{"claim", func(ctx context.Context, s routing.CallbackStore) error {
				_, err := s.ClaimCallback(ctx, "nope", "a", at(0), at(lease))
				return err
			}, routing.ErrNotFound},
			{"complete", func(ctx context.Context, s routing.CallbackStore) error {
				_, _, err := s.CompleteCallback(ctx, "nope", "a", at(0))
				return err
			}, routing.ErrNotFound},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t).Callbacks
			mustCreate(t, s, cbOwner("cb-1", at(time.Minute)))
			for _, st := range tc.steps {
				err := st.do(ctx, s)
				if st.wantErr == nil && err != nil {
					t.Fatalf("%s: %v", st.name, err)
				}
				if st.wantErr != nil && !errors.Is(err, st.wantErr) {
					t.Fatalf("%s: err %v, want %v", st.name, err, st.wantErr)
				}
			}
		})
	}
}

func testCallbackAttemptsAndSpacing(t *testing.T, open Open) {
	ctx := context.Background()
	spacing := 10 * time.Minute
	for _, max := range []int{1, 2, 3} {
		t.Run(fmt.Sprintf("max %d", max), func(t *testing.T) {
			s := open(t).Callbacks
			cb := cbOwner("cb-1", Start)
			cb.MaxAttempts = max
			mustCreate(t, s, cb)
			now := Start
			for attempt := 1; attempt <= max; attempt++ {
				got, err := s.ClaimDueCallbacks(ctx, "a", now, now.Add(time.Minute), 10)
				if err != nil || len(got) != 1 {
					t.Fatalf("attempt %d: claimed %d, err %v", attempt, len(got), err)
				}
				// Not due again before the spacing has passed.
				after, err := s.FailCallbackAttempt(ctx, "cb-1", "a", now, now.Add(spacing), "no answer")
				if err != nil {
					t.Fatalf("attempt %d: %v", attempt, err)
				}
				if after.Attempts != attempt || after.LastError != "no answer" {
					t.Fatalf("attempt %d: attempts %d err %q", attempt, after.Attempts, after.LastError)
				}
				if attempt == max {
					if after.State != routing.CallbackFailed {
						t.Fatalf("after last attempt: state %s", after.State)
					}
					break
				}
				if after.State != routing.CallbackScheduled || !after.DueAt.Equal(now.Add(spacing)) {
					t.Fatalf("attempt %d: state %s due %v", attempt, after.State, after.DueAt)
				}
				if early, _ := s.ClaimDueCallbacks(ctx, "a", now.Add(spacing-time.Millisecond), now.Add(spacing), 10); len(early) != 0 {
					t.Fatalf("attempt %d: claimed before the spacing passed", attempt)
				}
				now = now.Add(spacing)
			}
			if late, _ := s.ClaimDueCallbacks(ctx, "a", now.Add(24*time.Hour), now.Add(25*time.Hour), 10); len(late) != 0 {
				t.Fatal("failed callback claimed again")
			}
			// Failing an attempt needs the lease too.
			if _, err := s.FailCallbackAttempt(ctx, "cb-1", "a", now, now, "x"); !errors.Is(err, routing.ErrCallbackFinished) {
				t.Fatalf("fail after failed: %v", err)
			}
		})
	}
}

func testCallbackEscalation(t *testing.T, open Open) {
	ctx := context.Background()
	cases := []struct {
		name      string
		claimed   bool // dialing at the deadline
		now       time.Duration
		escalated bool
	}{
		{"before deadline", false, time.Hour - time.Millisecond, false},
		{"at deadline", false, time.Hour, true},
		{"dialing at deadline is left alone", true, 2 * time.Hour, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t).Callbacks
			cb := cbOwner("cb-1", Start)
			cb.Deadline = Start.Add(time.Hour)
			mustCreate(t, s, cb)
			if tc.claimed {
				if _, err := s.ClaimCallback(ctx, "cb-1", "a", Start, Start.Add(5*time.Hour)); err != nil {
					t.Fatal(err)
				}
			}
			now := Start.Add(tc.now)
			escs, err := s.EscalateOverdueCallbacks(ctx, now, 2, 10)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.escalated {
				if len(escs) != 0 {
					t.Fatalf("escalated %+v", escs)
				}
				return
			}
			if len(escs) != 1 {
				t.Fatalf("escalations: %d", len(escs))
			}
			from, to := escs[0].From, escs[0].To
			if from.State != routing.CallbackEscalated || from.EscalatedTo != to.ID {
				t.Fatalf("from: %+v", from)
			}
			if to.Kind != routing.CallbackSenior || to.State != routing.CallbackScheduled || to.EscalatedFrom != "cb-1" ||
				to.Note != cb.Note || to.Number != cb.Number || to.CaseID != cb.CaseID || to.MaxAttempts != 2 ||
				!to.DueAt.Equal(now) || to.CallID != to.ID || to.Owner != "" {
				t.Fatalf("to: %+v", to)
			}
			// Once: a second pass finds nothing, and only the senior one is due.
			if again, _ := s.EscalateOverdueCallbacks(ctx, now.Add(time.Hour), 2, 10); len(again) != 0 {
				t.Fatalf("escalated twice: %+v", again)
			}
			got, err := s.ClaimDueCallbacks(ctx, "a", now, now.Add(time.Minute), 10)
			if err != nil || len(got) != 1 || got[0].ID != to.ID {
				t.Fatalf("due after escalation: %+v %v", got, err)
			}
		})
	}
}

func testCallbackListFilters(t *testing.T, open Open) {
	ctx := context.Background()
	s := open(t).Callbacks
	mk := func(id, owner string, created time.Duration) {
		cb := cbOwner(id, Start)
		cb.Owner, cb.CreatedAt, cb.CaseID = owner, Start.Add(created), "case-"+owner
		mustCreate(t, s, cb)
	}
	mk("cb-a", "100", 3*time.Second)
	mk("cb-b", "101", 2*time.Second)
	mk("cb-c", "100", 1*time.Second)
	if _, err := s.ClaimCallback(ctx, "cb-a", "n", Start, Start.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CompleteCallback(ctx, "cb-a", "n", Start); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		f    routing.CallbackFilter
		want string
	}{
		{routing.CallbackFilter{}, "[cb-c cb-b cb-a]"},
		{routing.CallbackFilter{State: "scheduled"}, "[cb-c cb-b]"},
		{routing.CallbackFilter{State: "completed"}, "[cb-a]"},
		{routing.CallbackFilter{Owner: "100"}, "[cb-c cb-a]"},
		{routing.CallbackFilter{State: "scheduled", Owner: "100"}, "[cb-c]"},
		{routing.CallbackFilter{CaseID: "case-101"}, "[cb-b]"},
		{routing.CallbackFilter{State: "failed"}, "[]"},
		{routing.CallbackFilter{State: "no-such-state"}, "[]"},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%+v", tc.f), func(t *testing.T) {
			got, err := s.ListCallbacks(ctx, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			ids := []string{}
			for _, cb := range got {
				ids = append(ids, cb.ID)
				if !tc.f.Match(cb) {
					t.Errorf("%s does not match the filter", cb.ID)
				}
			}
			if fmt.Sprint(ids) != tc.want {
				t.Fatalf("got %v, want %s", ids, tc.want)
			}
		})
	}
}
