package api

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hotline-project/hotline/routing"
)

// The fuzz targets feed arbitrary bytes through the same strict decoder and
// validation the handlers use. Beyond "no panic" they check the contract:
// a decode either fails with ErrBadRequest or yields a value that passes
// the rules the handlers rely on.

func badRequestOnly(t *testing.T, err error) {
	if err != nil && !errors.Is(err, ErrBadRequest) {
		t.Fatalf("error not marked bad request: %v", err)
	}
}

func FuzzDecodeTransfer(f *testing.F) {
	for _, s := range []string{
		`{"to":"topic:audit","note":"billing","mode":"attended"}`, `{"to":"agent:100","mode":"blind"}`,
		`{"to":"queue:x"}`, `{"to":"topic:"}`, `{"to":"topic:a b"}`, `{}`, `{"to":1}`, `{"to":"topic:a"} x`, ``, `null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var b transferBody
		err := decodeBytes(data, &b)
		badRequestOnly(t, err)
		if err != nil {
			return
		}
		in, err := b.validate()
		badRequestOnly(t, err)
		if err != nil {
			return
		}
		if in.Mode != routing.ModeAttended && in.Mode != routing.ModeBlind {
			t.Fatalf("mode %q", in.Mode)
		}
		if back, err := routing.ParseDestination(in.To.String()); err != nil || back != in.To {
			t.Fatalf("destination %v does not round-trip: %v", in.To, err)
		}
	})
}

func FuzzDecodeCallback(f *testing.F) {
	for _, s := range []string{
		`{"in":"30m","note":"n"}`, `{"at":"2025-03-04T12:00:00Z"}`, `{"in":"-1h"}`, `{"in":"1e9h"}`,
		`{"at":"2025-03-04T12:00:00Z","in":"1h"}`, `{"at":"yesterday"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var b callbackBody
		err := decodeBytes(data, &b)
		badRequestOnly(t, err)
		if err != nil {
			return
		}
		in, err := b.validate(testNow)
		badRequestOnly(t, err)
		if err != nil {
			return
		}
		if !in.At.After(testNow) || in.At.Sub(testNow) > maxCallbackIn {
			t.Fatalf("callback at %v accepted (now %v)", in.At, testNow)
		}
	})
}

func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{
		`{"kind":"request","city":"Lviv","organisation":"Acme","position":"CEO","full_name":"O S","contact_phone":"+380321234567","purpose":"ads"}`,
		`{"kind":"complaint","failed_number":"0800123456","found_at":"bill","full_name":"J K","contact_phone":"123"}`,
		`{"kind":"complaint"}`, `{"kind":"request","contact_phone":"++1"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var b requestBody
		err := decodeBytes(data, &b)
		badRequestOnly(t, err)
		if err != nil {
			return
		}
		req, err := b.request("100")
		badRequestOnly(t, err)
		if err != nil {
			return
		}
		if req.Kind != KindRequest && req.Kind != KindComplaint {
			t.Fatalf("kind %q", req.Kind)
		}
		if strings.TrimSpace(req.FullName) == "" || !routing.IsPhoneNumber(req.Phone) {
			t.Fatalf("accepted %+v", req)
		}
		if req.Kind == KindComplaint && !routing.IsPhoneNumber(req.FailedNumber) {
			t.Fatalf("complaint without a failed number: %+v", req)
		}
	})
}

func FuzzDecodeState(f *testing.F) {
	for _, s := range []string{`{"action":"pause","reason":"lunch"}`, `{"action":"login"}`, `{"action":"pause"}`, `{"action":"x"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var b stateBody
		err := decodeBytes(data, &b)
		badRequestOnly(t, err)
		if err != nil {
			return
		}
		err = b.validate()
		badRequestOnly(t, err)
		if err == nil && b.Action == "pause" && strings.TrimSpace(b.Reason) == "" {
			t.Fatal("pause accepted without a reason")
		}
	})
}

func FuzzDecodeNote(f *testing.F) {
	for _, s := range []string{`{"note":"x"}`, `{"note":null}`, `{}`, `{"note":"\ud800"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var b noteBody
		err := decodeBytes(data, &b)
		badRequestOnly(t, err)
		if err != nil {
			return
		}
		_, err = b.validate()
		badRequestOnly(t, err)
	})
}

// BenchmarkGetCall measures the API's own cost per request (routing,
// token lookup, access checks, encoding) over in-memory fakes.
func BenchmarkGetCall(b *testing.B) {
	e := newEnv(b)
	h := e.srv.Handler()
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("GET", "/api/v1/calls/c1", nil)
		req.Header.Set("Authorization", "Bearer "+tokAgent100)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatalf("status %d", rec.Code)
		}
	}
}
