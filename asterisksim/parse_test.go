package asterisksim

import (
	"errors"
	"strings"
	"testing"
)

func TestParseCallerID(t *testing.T) {
	tests := []struct {
		in   string
		want callerJSON
	}{
		{`"Test Caller" <5551234>`, callerJSON{"Test Caller", "5551234"}},
		{`Hotline <5550000>`, callerJSON{"Hotline", "5550000"}},
		{`5551234`, callerJSON{"", "5551234"}},
		{``, callerJSON{}},
		{`<100>`, callerJSON{"", "100"}},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			if got := parseCallerID(tc.in); got != tc.want {
				t.Errorf("parseCallerID(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseBehaviour(t *testing.T) {
	tests := []struct {
		in      Behaviour
		app     string
		data    string
		wantErr bool
	}{
		{"stasis:hotline,${EXTEN}", "hotline", "hotline,100", false},
		{"stasis:hotline,agent,${EXTEN}", "hotline", "hotline,agent,100", false},
		{"stasis:phones", "phones", "phones", false},
		{"answer-wait", "", "", false},
		{"stasis:", "", "", true},
		{"stasis:,x", "", "", true},
		{"dance", "", "", true},
	}
	for _, tc := range tests {
		t.Run(string(tc.in), func(t *testing.T) {
			st, err := parseBehaviour(tc.in)
			if tc.wantErr {
				if !errors.Is(err, ErrBadBehaviour) {
					t.Fatalf("err %v, want ErrBadBehaviour", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if st.kind == kindStasis {
				data := strings.Join(append([]string{st.app}, st.stasisArgs("100")...), ",")
				if st.app != tc.app || data != tc.data {
					t.Errorf("app %q data %q, want %q %q", st.app, data, tc.app, tc.data)
				}
			}
		})
	}
}

func FuzzParseCallerID(f *testing.F) {
	for _, s := range []string{`"A" <1>`, `x <y`, `<>`, `a>b<c`, `5551234`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c := parseCallerID(s)
		if strings.Contains(s, "<") && strings.Contains(c.Number, "<") && strings.LastIndex(s, ">") > strings.LastIndex(s, "<") {
			t.Errorf("number %q keeps the bracket of %q", c.Number, s)
		}
	})
}

func FuzzParseEndpoint(f *testing.F) {
	for _, s := range []string{"Local/100@hotline", "PJSIP/agent100", "PJSIP/", "justtext", "Bogus/1", "Local/", "/x"} {
		f.Add(s)
	}
	s := New(Options{})
	f.Fuzz(func(t *testing.T, ep string) {
		tech, res, ok := splitEndpoint(ep)
		if !ok {
			return // 400 "Invalid endpoint specified"
		}
		tg, aerr := s.resolve(tech, res)
		if aerr != nil {
			if aerr.status != 400 && aerr.status != 500 {
				t.Errorf("%q: status %d", ep, aerr.status)
			}
			return
		}
		if tg.kind == kindLocal && tg.context == "" && !strings.Contains(ep, "@") {
			t.Errorf("%q: empty context", ep)
		}
	})
}
