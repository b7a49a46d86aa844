package storetest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hotline-project/hotline/routing"
)

// ValidRequest is a complete request: one every check accepts.
func ValidRequest() routing.Request {
	return routing.Request{
		Kind: routing.KindRequest, City: "Lviv", Organisation: "Kabel Ltd", Position: "sales manager",
		FullName: "Olena Koval", Phone: "+380 (32) 123-45-67", Purpose: "offers fibre splicing services",
		CreatedBy: "100",
	}
}

// ValidComplaint is a complete complaint: one every check accepts.
func ValidComplaint() routing.Request {
	return routing.Request{
		Kind: routing.KindComplaint, FailedNumber: "0 800 300 100", FoundWhere: "printed invoice",
		FullName: "Jan Nowak", Phone: "+48 22 123 45 67", CreatedBy: "101",
	}
}

func testRequests(t *testing.T, open Open) {
	ctx := context.Background()
	st := open(t)
	clock := NewClock()
	var created []routing.Request
	svc := routing.NewRequests(st.Requests, routing.RequestOptions{
		Clock: clock, OnCreate: func(r routing.Request) { created = append(created, r) },
	})
	if _, err := svc.Create(ctx, routing.Request{Kind: routing.KindRequest}); !errors.Is(err, routing.ErrInvalid) {
		t.Fatalf("invalid request stored: %v", err)
	}
	r1, err := svc.Create(ctx, ValidRequest())
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	in := ValidComplaint()
	in.State, in.DoneBy = routing.RequestDone, "x" // the caller cannot preset these
	r2, err := svc.Create(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if r1.ID == "" || r1.ID == r2.ID || r2.State != routing.RequestNew || r2.DoneBy != "" || !r2.CreatedAt.Equal(Start.Add(time.Minute)) {
		t.Fatalf("created: %+v %+v", r1, r2)
	}
	if len(created) != 2 {
		t.Fatalf("OnCreate called %d times", len(created))
	}
	if got, err := svc.Get(ctx, r1.ID); err != nil || got != r1 {
		t.Fatalf("get: %+v %v, want %+v", got, err, r1)
	}
	if _, err := svc.Get(ctx, "rq-none"); !errors.Is(err, routing.ErrNotFound) {
		t.Fatalf("get missing: %v", err)
	}
	clock.Advance(time.Minute)
	done, err := svc.Done(ctx, r1.ID, "900")
	if err != nil || done.State != routing.RequestDone || done.DoneBy != "900" || !done.DoneAt.Equal(Start.Add(2*time.Minute)) {
		t.Fatalf("done: %+v %v", done, err)
	}
	clock.Advance(time.Minute)
	if again, err := svc.Done(ctx, r1.ID, "901"); err != nil || again.DoneBy != "900" || !again.DoneAt.Equal(done.DoneAt) {
		t.Fatalf("second done changed it: %+v %v", again, err)
	}
	if _, err := svc.Done(ctx, "rq-none", "900"); !errors.Is(err, routing.ErrNotFound) {
		t.Fatalf("done missing: %v", err)
	}
	cases := []struct {
		f    routing.RequestFilter
		want []string
	}{
		{routing.RequestFilter{}, []string{r2.ID, r1.ID}},
		{routing.RequestFilter{Kind: "complaint"}, []string{r2.ID}},
		{routing.RequestFilter{State: "new"}, []string{r2.ID}},
		{routing.RequestFilter{State: "done", Kind: "request"}, []string{r1.ID}},
		{routing.RequestFilter{State: "done", Kind: "complaint"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.f.Kind+"/"+tc.f.State, func(t *testing.T) {
			got, err := svc.List(ctx, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, r := range got {
				ids = append(ids, r.ID)
			}
			if strings.Join(ids, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("got %v, want %v", ids, tc.want)
			}
		})
	}
}

// testRequestStore: a request is stored as given, listed newest first and
// marked done once.
func testRequestStore(t *testing.T, open Open) {
	ctx := context.Background()
	s := open(t).Requests
	r := routing.Request{
		ID: "rq-1", Kind: routing.KindComplaint, City: "Kraków", FullName: "Jan Nowak", Phone: "+48 12 345 67 89",
		FailedNumber: "800 100 200", FoundWhere: "website", CaseID: "case-1", CreatedBy: "101",
		CreatedAt: Start, State: routing.RequestNew,
	}
	if err := s.CreateRequest(ctx, r); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetRequest(ctx, "rq-1")
	if err != nil || got != r {
		t.Fatalf("get: %+v %v\nwant %+v", got, err, r)
	}
	older := r
	older.ID, older.CreatedAt, older.Kind = "rq-0", Start.Add(-time.Hour), routing.KindRequest
	if err := s.CreateRequest(ctx, older); err != nil {
		t.Fatal(err)
	}
	list, err := s.ListRequests(ctx, routing.RequestFilter{})
	if err != nil || len(list) != 2 || list[0].ID != "rq-1" || list[1].ID != "rq-0" {
		t.Fatalf("list newest first: %+v %v", list, err)
	}
	done, err := s.MarkRequestDone(ctx, "rq-0", "900", Start)
	if err != nil || done.State != routing.RequestDone || done.DoneBy != "900" || !done.DoneAt.Equal(Start) {
		t.Fatalf("done: %+v %v", done, err)
	}
	if again, err := s.MarkRequestDone(ctx, "rq-0", "901", Start.Add(time.Minute)); err != nil || again != done {
		t.Fatalf("done again: %+v %v, want the first kept", again, err)
	}
	if _, err := s.MarkRequestDone(ctx, "rq-9", "900", Start); !errors.Is(err, routing.ErrNotFound) {
		t.Fatalf("done missing: %v", err)
	}
	if _, err := s.GetRequest(ctx, "rq-9"); !errors.Is(err, routing.ErrNotFound) {
		t.Fatalf("get missing: %v", err)
	}
	list, err = s.ListRequests(ctx, routing.RequestFilter{State: routing.RequestNew})
	if err != nil || len(list) != 1 || list[0].ID != "rq-1" {
		t.Fatalf("list new: %+v %v", list, err)
	}
}
