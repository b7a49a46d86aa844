package dialplan

import (
	"fmt"
	"strings"
	"time"

	// Business hours name IANA zones (Europe/Kyiv); the embedded database
	// answers when the machine's own is missing or older than the name.
	_ "time/tzdata"

	"go.yaml.in/yaml/v3"
)

// ClockTime is a wall-clock time of day in minutes after midnight, from
// 00:00 to 24:00 (the end of the day, for hours that close at midnight).
type ClockTime int

// EndOfDay is 24:00.
const EndOfDay ClockTime = 24 * 60

func (t ClockTime) String() string { return fmt.Sprintf("%02d:%02d", int(t)/60, int(t)%60) }

// parseClock reads "HH:MM".
func parseClock(s string) (ClockTime, bool) {
	h, m, ok := strings.Cut(s, ":")
	if !ok || len(h) < 1 || len(h) > 2 || len(m) != 2 {
		return 0, false
	}
	hh, mm := 0, 0
	for _, c := range h {
		if c < '0' || c > '9' {
			return 0, false
		}
		hh = hh*10 + int(c-'0')
	}
	for _, c := range m {
		if c < '0' || c > '9' {
			return 0, false
		}
		mm = mm*10 + int(c-'0')
	}
	t := ClockTime(hh*60 + mm)
	if mm > 59 || t > EndOfDay {
		return 0, false
	}
	return t, true
}

// Date is a calendar day in the hours set's time zone.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

func (d Date) String() string { return fmt.Sprintf("%04d-%02d-%02d", d.Year, int(d.Month), d.Day) }

// WeeklyHours is one opening window that repeats every week on Days.
type WeeklyHours struct {
	Days  []time.Weekday
	Open  ClockTime // inclusive
	Close ClockTime // exclusive; after Open
}

func (w WeeklyHours) on(day time.Weekday) bool {
	for _, d := range w.Days {
		if d == day {
			return true
		}
	}
	return false
}

// Hours is a named set of business hours: weekly windows in one time zone,
// and holidays closed all day. Times are wall-clock times, so a window keeps
// its local hours across daylight saving changes.
type Hours struct {
	Name     string
	Timezone string
	Location *time.Location // nil is UTC
	Weekly   []WeeklyHours
	Holidays []Date
}

func (h *Hours) loc() *time.Location {
	if h.Location == nil {
		return time.UTC
	}
	return h.Location
}

func (h *Hours) holiday(y int, m time.Month, d int) bool {
	for _, hd := range h.Holidays {
		if hd.Year == y && hd.Month == m && hd.Day == d {
			return true
		}
	}
	return false
}

// OpenAt reports whether t falls in an opening window.
func (h *Hours) OpenAt(t time.Time) bool {
	lt := t.In(h.loc())
	y, m, d := lt.Date()
	if h.holiday(y, m, d) {
		return false
	}
	now := ClockTime(lt.Hour()*60 + lt.Minute())
	day := lt.Weekday()
	for _, w := range h.Weekly {
		if w.on(day) && now >= w.Open && now < w.Close {
			return true
		}
	}
	return false
}

// NextOpen returns the first instant at or after t when the hours are open:
// t itself if open now, the zero time if they never open (no windows, or
// holidays covering every day searched — a little over two years).
func (h *Hours) NextOpen(t time.Time) time.Time {
	if h.OpenAt(t) {
		return t
	}
	loc := h.loc()
	y, m, d := t.In(loc).Date()
	for i := 0; i < 2*366+7; i++ {
		dy, dm, dd := time.Date(y, m, d+i, 12, 0, 0, 0, loc).Date()
		if h.holiday(dy, dm, dd) {
			continue
		}
		day := time.Date(dy, dm, dd, 12, 0, 0, 0, loc).Weekday()
		var best time.Time
		for _, w := range h.Weekly {
			if !w.on(day) {
				continue
			}
			// time.Date moves an opening that falls in a spring-forward gap
			// to a real instant, which OpenAt then agrees is open.
			open := time.Date(dy, dm, dd, int(w.Open)/60, int(w.Open)%60, 0, 0, loc)
			if open.After(t) && (best.IsZero() || open.Before(best)) {
				best = open
			}
		}
		if !best.IsZero() {
			return best
		}
	}
	return time.Time{}
}

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// parseDays reads "mon", "mon-fri" or a wrapping range such as "fri-mon".
func parseDays(s string) ([]time.Weekday, bool) {
	from, to, isRange := strings.Cut(strings.ToLower(strings.TrimSpace(s)), "-")
	a, ok := weekdays[strings.TrimSpace(from)]
	if !ok {
		return nil, false
	}
	if !isRange {
		return []time.Weekday{a}, true
	}
	b, ok := weekdays[strings.TrimSpace(to)]
	if !ok {
		return nil, false
	}
	var out []time.Weekday
	for day := a; ; day = (day + 1) % 7 {
		out = append(out, day)
		if day == b {
			return out, true
		}
	}
}

func (d *decoder) hoursSets(c *Config, path string, v *yaml.Node) {
	for _, e := range d.entries(path, v, "hours set") {
		name := e.k.Value
		p := join(path, name)
		if !nameRe.MatchString(name) {
			d.errorf(e.k.Line, "%s: hours name %q must be lowercase letters, digits, _ or -", path, name)
		}
		h := &Hours{Name: name}
		d.mapping(p, e.v, map[string]fieldFn{
			"timezone": func(p string, v *yaml.Node) {
				s, ok := d.scalar(p, v)
				if !ok {
					return
				}
				line := resolve(v).Line
				if s == "" || s == "Local" {
					d.errorf(line, "%s: name an IANA time zone such as Europe/Kyiv", p)
					return
				}
				loc, err := time.LoadLocation(s)
				if err != nil {
					d.errorf(line, "%s: unknown time zone %q", p, s)
					return
				}
				h.Timezone, h.Location = s, loc
			},
			"weekly":   func(p string, v *yaml.Node) { d.weekly(h, p, v) },
			"holidays": func(p string, v *yaml.Node) { d.holidays(h, p, v) },
		})
		if _, ok := d.lines[p+".timezone"]; !ok {
			d.errorf(e.k.Line, "%s: timezone is required", p)
		}
		c.Hours[name] = h
	}
}

func (d *decoder) weekly(h *Hours, path string, v *yaml.Node) {
	items := d.sequence(path, v)
	if n := resolve(v); len(items) == 0 && (isNull(n) || n.Kind == yaml.SequenceNode) {
		d.errorf(n.Line, "%s: no opening hours; a topic with these hours would never open", path)
		return
	}
	if len(items) > maxWeeklyRules {
		d.errorf(resolve(v).Line, "%s: more than %d entries", path, maxWeeklyRules)
		return
	}
	for i, it := range items {
		p := fmt.Sprintf("%s[%d]", path, i)
		d.lines[p] = it.Line
		var w WeeklyHours
		var open, close_ string
		ok := true
		d.mapping(p, it, map[string]fieldFn{
			"days": func(p string, v *yaml.Node) {
				var specs []*yaml.Node
				if n := resolve(v); n != nil && n.Kind == yaml.ScalarNode && !isNull(n) {
					specs = []*yaml.Node{n}
				} else {
					specs = d.sequence(p, v)
				}
				seen := map[time.Weekday]bool{}
				for _, sn := range specs {
					s, sok := d.scalar(p, sn)
					if !sok {
						ok = false
						continue
					}
					for _, part := range strings.Split(s, ",") {
						days, dok := parseDays(part)
						if !dok {
							d.errorf(sn.Line, "%s: %q is not a day or range of days (mon..sun, e.g. mon-fri)", p, strings.TrimSpace(part))
							ok = false
							continue
						}
						for _, day := range days {
							if seen[day] {
								d.errorf(sn.Line, "%s: %s listed twice", p, dayName(day))
								ok = false
								continue
							}
							seen[day] = true
							w.Days = append(w.Days, day)
						}
					}
				}
			},
			"open":  d.str(&open),
			"close": d.str(&close_),
		})
		if len(w.Days) == 0 && ok {
			d.errorf(it.Line, "%s: days is required", p)
			ok = false
		}
		for _, f := range []struct {
			key string
			val string
			dst *ClockTime
		}{{"open", open, &w.Open}, {"close", close_, &w.Close}} {
			line, set := d.lines[p+"."+f.key]
			if !set {
				d.errorf(it.Line, "%s: %s is required", p, f.key)
				ok = false
				continue
			}
			t, tok := parseClock(f.val)
			if !tok {
				d.errorf(line, "%s.%s: %q is not a time of day (HH:MM, 00:00 to 24:00)", p, f.key, f.val)
				ok = false
				continue
			}
			*f.dst = t
		}
		if !ok {
			continue
		}
		if w.Open >= w.Close {
			d.errorf(it.Line, "%s: open %s is not before close %s (split hours past midnight into two entries)", p, w.Open, w.Close)
			continue
		}
		// Invalid entries are left out of Weekly, so its indices are not the
		// file's: remember where each kept entry was written.
		d.lines[fmt.Sprintf("%s#%d", path, len(h.Weekly))] = it.Line
		h.Weekly = append(h.Weekly, w)
	}
}

func (d *decoder) holidays(h *Hours, path string, v *yaml.Node) {
	seen := map[Date]int{}
	for i, it := range d.sequence(path, v) {
		p := fmt.Sprintf("%s[%d]", path, i)
		s, ok := d.scalar(p, it)
		if !ok {
			continue
		}
		t, err := time.Parse("2006-01-02", s)
		if err != nil {
			d.errorf(it.Line, "%s: %q is not a date (YYYY-MM-DD)", p, s)
			continue
		}
		y, m, dd := t.Date()
		date := Date{y, m, dd}
		if first, dup := seen[date]; dup {
			d.errorf(it.Line, "%s: %s listed twice (first at line %d)", path, date, first)
			continue
		}
		seen[date] = it.Line
		h.Holidays = append(h.Holidays, date)
	}
}

func dayName(d time.Weekday) string { return strings.ToLower(d.String()[:3]) }
