package dialplan

import (
	"testing"
	"time"
)

func kyiv(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Kyiv")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// office is the reference hotline's office hours. Kyiv is UTC+2 in winter
// and UTC+3 in summer; in 2026 the clocks go forward on 29 March and back
// on 25 October.
func office(t *testing.T) *Hours {
	return &Hours{
		Name:     "office",
		Timezone: "Europe/Kyiv",
		Location: kyiv(t),
		Weekly: []WeeklyHours{
			{Days: []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday}, Open: 8 * 60, Close: 20 * 60},
			{Days: []time.Weekday{time.Saturday}, Open: 9 * 60, Close: 15 * 60},
		},
		Holidays: []Date{{2026, time.January, 1}},
	}
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestHoursOpenAt(t *testing.T) {
	h := office(t)
	tests := []struct {
		name string
		at   string // UTC
		open bool
	}{
		{"monday opening minute (winter)", "2026-03-23T06:00:00Z", true},
		{"monday before opening", "2026-03-23T05:59:59Z", false},
		{"monday last second", "2026-03-23T17:59:59Z", true},
		{"monday closing time is closed", "2026-03-23T18:00:00Z", false},
		{"saturday morning", "2026-03-28T07:00:00Z", true},
		{"saturday afternoon after close", "2026-03-28T13:00:00Z", false},
		{"sunday", "2026-03-29T10:00:00Z", false},
		{"05:30Z is 07:30 local in winter", "2026-03-23T05:30:00Z", false},
		{"05:30Z is 08:30 local in summer", "2026-03-30T05:30:00Z", true},
		{"19:30 local in summer", "2026-03-30T16:30:00Z", true},
		{"17:30Z is 20:30 local in summer", "2026-03-30T17:30:00Z", false},
		{"holiday at noon", "2026-01-01T10:00:00Z", false},
		{"day after the holiday", "2026-01-02T10:00:00Z", true},
		{"holiday is a local date: 23:30Z on 31 Dec is 01:30 on 1 Jan", "2025-12-31T23:30:00Z", false},
		{"the instant's zone does not matter", "2026-03-23T08:00:00+02:00", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := h.OpenAt(utc(tc.at)); got != tc.open {
				t.Errorf("OpenAt(%s) = %v, want %v", tc.at, got, tc.open)
			}
		})
	}
}

func TestHoursNextOpen(t *testing.T) {
	h := office(t)
	tests := []struct {
		name     string
		from     string
		want     string
		hours    *Hours
		wantZero bool
	}{
		{name: "open now is now", from: "2026-03-23T10:00:00Z", want: "2026-03-23T10:00:00Z"},
		{name: "before opening the same day", from: "2026-03-23T03:00:00Z", want: "2026-03-23T06:00:00Z"},
		{name: "friday evening to saturday", from: "2026-03-27T18:00:00Z", want: "2026-03-28T07:00:00Z"},
		{name: "over the spring change", from: "2026-03-28T13:00:00Z", want: "2026-03-30T05:00:00Z"},
		{name: "over the autumn change", from: "2026-10-24T12:00:00Z", want: "2026-10-26T06:00:00Z"},
		{name: "over a holiday", from: "2025-12-31T18:30:00Z", want: "2026-01-02T06:00:00Z"},
		{name: "sunday to monday", from: "2026-03-29T10:00:00Z", want: "2026-03-30T05:00:00Z"},
		{name: "never opens", from: "2026-03-23T10:00:00Z", hours: &Hours{Location: kyiv(t)}, wantZero: true},
		{name: "nil location is UTC", from: "2026-03-23T10:00:00Z", want: "2026-03-24T09:00:00Z",
			hours: &Hours{Weekly: []WeeklyHours{{Days: []time.Weekday{time.Tuesday}, Open: 9 * 60, Close: 10 * 60}}}},
		{name: "window closing at 24:00", from: "2026-03-23T21:59:00Z", want: "2026-03-23T21:59:00Z",
			hours: &Hours{Location: kyiv(t), Weekly: []WeeklyHours{{Days: []time.Weekday{time.Monday}, Open: 22 * 60, Close: EndOfDay}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hh := h
			if tc.hours != nil {
				hh = tc.hours
			}
			got := hh.NextOpen(utc(tc.from))
			if tc.wantZero {
				if !got.IsZero() {
					t.Errorf("NextOpen = %s, want zero", got)
				}
				return
			}
			if !got.Equal(utc(tc.want)) {
				t.Errorf("NextOpen(%s) = %s, want %s", tc.from, got.UTC().Format(time.RFC3339), tc.want)
			}
			if !hh.OpenAt(got) {
				t.Errorf("NextOpen returned %s, which OpenAt says is closed", got)
			}
		})
	}
}

// An opening time that falls in the hour skipped by the spring change
// (03:30 on 29 March 2026 in Kyiv) still yields an instant that is open.
func TestHoursNextOpenInDSTGap(t *testing.T) {
	h := &Hours{Location: kyiv(t), Weekly: []WeeklyHours{{Days: []time.Weekday{time.Sunday}, Open: 3*60 + 30, Close: 5 * 60}}}
	from := utc("2026-03-28T22:00:00Z")
	got := h.NextOpen(from)
	if !h.OpenAt(got) || got.Before(from) || got.After(utc("2026-03-29T02:00:00Z")) {
		t.Errorf("NextOpen = %s", got.UTC())
	}
}

func TestParseClock(t *testing.T) {
	tests := []struct {
		in   string
		want ClockTime
		ok   bool
	}{
		{"08:00", 480, true}, {"8:05", 485, true}, {"00:00", 0, true}, {"24:00", EndOfDay, true},
		{"24:01", 0, false}, {"23:60", 0, false}, {"8", 0, false}, {"8:5", 0, false}, {"aa:bb", 0, false},
		{"-1:00", 0, false}, {"123:00", 0, false}, {"", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, ok := parseClock(tc.in)
			if got != tc.want || ok != tc.ok {
				t.Errorf("parseClock(%q) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestParseDays(t *testing.T) {
	tests := []struct {
		in   string
		want []time.Weekday
	}{
		{"mon", []time.Weekday{time.Monday}},
		{"Mon-Wed", []time.Weekday{time.Monday, time.Tuesday, time.Wednesday}},
		{"fri-mon", []time.Weekday{time.Friday, time.Saturday, time.Sunday, time.Monday}},
		{"sun-sun", []time.Weekday{time.Sunday}},
		{"monday", nil},
		{"mon-", nil},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, ok := parseDays(tc.in)
			if ok != (tc.want != nil) || len(got) != len(tc.want) {
				t.Fatalf("parseDays(%q) = %v, %v", tc.in, got, ok)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("parseDays(%q) = %v, want %v", tc.in, got, tc.want)
				}
			}
		})
	}
}
