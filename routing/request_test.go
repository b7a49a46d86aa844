package routing_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/hotline-project/hotline/routing"
	"github.com/hotline-project/hotline/routing/storetest"
)

func TestRequestValidate(t *testing.T) {
	cases := []struct {
		name  string
		r     func() routing.Request
		field string // "" means valid
	}{
		{"request ok", storetest.ValidRequest, ""},
		{"complaint ok", storetest.ValidComplaint, ""},
		{"complaint needs no organisation", func() routing.Request { r := storetest.ValidComplaint(); r.Organisation = ""; return r }, ""},
		{"unknown kind", func() routing.Request { r := storetest.ValidRequest(); r.Kind = "praise"; return r }, "kind"},
		{"request without city", func() routing.Request { r := storetest.ValidRequest(); r.City = " "; return r }, "city"},
		{"request without organisation", func() routing.Request { r := storetest.ValidRequest(); r.Organisation = ""; return r }, "organisation"},
		{"request without position", func() routing.Request { r := storetest.ValidRequest(); r.Position = ""; return r }, "position"},
		{"request without name", func() routing.Request { r := storetest.ValidRequest(); r.FullName = ""; return r }, "full_name"},
		{"request without phone", func() routing.Request { r := storetest.ValidRequest(); r.Phone = ""; return r }, "phone"},
		{"request without purpose", func() routing.Request { r := storetest.ValidRequest(); r.Purpose = ""; return r }, "purpose"},
		{"request without agent", func() routing.Request { r := storetest.ValidRequest(); r.CreatedBy = ""; return r }, "created_by"},
		{"complaint without failed number", func() routing.Request { r := storetest.ValidComplaint(); r.FailedNumber = ""; return r }, "failed_number"},
		{"complaint without where found", func() routing.Request { r := storetest.ValidComplaint(); r.FoundWhere = ""; return r }, "found_where"},
		{"complaint without name", func() routing.Request { r := storetest.ValidComplaint(); r.FullName = ""; return r }, "full_name"},
		{"phone with letters", func() routing.Request { r := storetest.ValidRequest(); r.Phone = "call me"; return r }, "phone"},
		{"phone too short", func() routing.Request { r := storetest.ValidRequest(); r.Phone = "12"; return r }, "phone"},
		{"plus only in front", func() routing.Request { r := storetest.ValidRequest(); r.Phone = "380+441234567"; return r }, "phone"},
		{"failed number malformed", func() routing.Request { r := storetest.ValidComplaint(); r.FailedNumber = "0800-HOTLINE"; return r }, "failed_number"},
		{"too long", func() routing.Request { r := storetest.ValidRequest(); r.Purpose = strings.Repeat("x", 501); return r }, "purpose"},
		// The limit is in characters: 500 Cyrillic letters are 1000 bytes.
		{"500 Cyrillic letters fit", func() routing.Request { r := storetest.ValidRequest(); r.Purpose = strings.Repeat("я", 500); return r }, ""},
		{"501 Cyrillic letters do not", func() routing.Request { r := storetest.ValidRequest(); r.City = strings.Repeat("я", 501); return r }, "city"},
		{"request with a failed number", func() routing.Request { r := storetest.ValidRequest(); r.FailedNumber = "0800"; return r }, "failed_number"},
		{"request with where found", func() routing.Request { r := storetest.ValidRequest(); r.FoundWhere = "bill"; return r }, "found_where"},
		{"control characters", func() routing.Request { r := storetest.ValidRequest(); r.City = "Lviv\x1b[2J"; return r }, "city"},
		{"newline is fine", func() routing.Request { r := storetest.ValidRequest(); r.Purpose = "line one\nline two"; return r }, ""},
		{"invalid UTF-8", func() routing.Request { r := storetest.ValidRequest(); r.FullName = "Olena \xff"; return r }, "full_name"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.r().Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			var ve *routing.ValidationError
			if !errors.As(err, &ve) || ve.Field != tc.field || !errors.Is(err, routing.ErrInvalid) {
				t.Fatalf("got %v, want a validation error on %s", err, tc.field)
			}
		})
	}
}

func FuzzRequestValidate(f *testing.F) {
	f.Add("request", "Lviv", "+380 44 123 45 67", "0800", "100")
	f.Add("complaint", "", "12", "+", "")
	f.Fuzz(func(t *testing.T, kind, city, phone, failed, by string) {
		r := storetest.ValidRequest()
		r.Kind, r.City, r.Phone, r.FailedNumber, r.CreatedBy = routing.RequestKind(kind), city, phone, failed, by
		err := r.Validate()
		if err == nil {
			if strings.TrimSpace(r.Phone) == "" || strings.TrimSpace(r.CreatedBy) == "" {
				t.Fatalf("valid without phone or agent: %+v", r)
			}
			return
		}
		var ve *routing.ValidationError
		if !errors.As(err, &ve) || ve.Field == "" {
			t.Fatalf("error does not name a field: %v", err)
		}
	})
}
