package redisstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hotline-project/hotline/internal/redistest"
	"github.com/hotline-project/hotline/redisstore"
	"github.com/hotline-project/hotline/routing"
)

func TestRequestStore(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	s := redisstore.NewRequests(cbClient(t, srv.Addr), "test:")
	r := routing.Request{
		ID: "rq-1", Kind: routing.KindComplaint, City: "Kraków", FullName: "Jan Nowak", Phone: "+48 12 345 67 89",
		FailedNumber: "800 100 200", FoundWhere: "website", CaseID: "case-1", CreatedBy: "101",
		CreatedAt: cbT0, State: routing.RequestNew,
	}
	if err := s.CreateRequest(ctx, r); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetRequest(ctx, "rq-1")
	if err != nil || got != r {
		t.Fatalf("get: %+v %v\nwant %+v", got, err, r)
	}
	older := r
	older.ID, older.CreatedAt, older.Kind = "rq-0", cbT0.Add(-time.Hour), routing.KindRequest
	if err := s.CreateRequest(ctx, older); err != nil {
		t.Fatal(err)
	}
	list, err := s.ListRequests(ctx, routing.RequestFilter{})
	if err != nil || len(list) != 2 || list[0].ID != "rq-1" || list[1].ID != "rq-0" {
		t.Fatalf("list newest first: %+v %v", list, err)
	}
	done, err := s.MarkRequestDone(ctx, "rq-0", "900", cbT0)
	if err != nil || done.State != routing.RequestDone || done.DoneBy != "900" || !done.DoneAt.Equal(cbT0) {
		t.Fatalf("done: %+v %v", done, err)
	}
	if _, err := s.MarkRequestDone(ctx, "rq-9", "900", cbT0); !errors.Is(err, routing.ErrNotFound) {
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
