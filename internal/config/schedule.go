package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Schedule is a timer trigger schedule in every form the Functions timer
// accepts (azure-webjobs-sdk-extensions TimerSchedule.Create): an NCRONTAB
// expression of 6 fields (second minute hour day month day-of-week) or of
// 5 (no seconds: CronSchedule counts the fields and parses with
// IncludingSeconds only when there are not 5), else a .NET TimeSpan such
// as "00:10:00" (a ConstantSchedule: one run per period). Build it with
// ParseSchedule. The host, not Offload, runs the schedule; Offload checks
// its settings with it, and tests/hostsim runs it as the host would.
type Schedule struct {
	// Cron is the parsed NCRONTAB expression; nil for a TimeSpan.
	Cron *Cron
	// Period is a TimeSpan schedule's interval; zero for NCRONTAB.
	Period time.Duration
}

// Cron holds, for each NCRONTAB field, the allowed values as a bit set: bit
// v is set when value v matches (Second 0 only, for a 5-field expression).
type Cron struct {
	Second, Minute, Hour, Day, Month, Weekday uint64
}

// ParseSchedule reads s the way TimerSchedule.Create does: NCRONTAB first,
// then TimeSpan.TryParse. The error names what was expected.
func ParseSchedule(s string) (Schedule, error) {
	text := strings.TrimSpace(s)
	if text == "" {
		return Schedule{}, errors.New("empty schedule: give an NCRONTAB expression (6 or 5 fields) or a TimeSpan such as 00:10:00")
	}
	c, cronErr := parseCron(text)
	if cronErr == nil {
		return Schedule{Cron: c}, nil
	}
	if d, ok := parseTimeSpan(text); ok {
		if d <= 0 {
			return Schedule{}, fmt.Errorf("%q: a TimeSpan schedule must be a positive period", text)
		}
		return Schedule{Period: d}, nil
	}
	return Schedule{}, fmt.Errorf("%q is neither an NCRONTAB expression (6 fields: second minute hour day month day-of-week, or 5 without seconds: %v) nor a TimeSpan such as 00:10:00", text, cronErr)
}

// ValidSchedule checks that s is a schedule the timer trigger accepts.
func ValidSchedule(s string) error {
	_, err := ParseSchedule(s)
	return err
}

type cronField struct {
	name     string
	min, max int
	names    []string // index+min is the value, e.g. "jan" = 1
}

var (
	monthNames   = []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}
	weekdayNames = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}
	cronFields   = []cronField{
		{name: "second", min: 0, max: 59},
		{name: "minute", min: 0, max: 59},
		{name: "hour", min: 0, max: 23},
		{name: "day", min: 1, max: 31},
		{name: "month", min: 1, max: 12, names: monthNames},
		{name: "day-of-week", min: 0, max: 6, names: weekdayNames},
	}
)

func parseCron(s string) (*Cron, error) {
	parts := strings.Fields(s)
	fields := cronFields
	switch len(parts) {
	case 6:
	case 5:
		fields = cronFields[1:]
	default:
		return nil, fmt.Errorf("%d fields", len(parts))
	}
	sets := make([]uint64, 6)
	sets[0] = 1 // second 0 when there are 5 fields
	off := 6 - len(parts)
	for i, p := range parts {
		set, err := fields[i].parse(p)
		if err != nil {
			return nil, fmt.Errorf("%s field %q: %w", fields[i].name, p, err)
		}
		sets[off+i] = set
	}
	return &Cron{Second: sets[0], Minute: sets[1], Hour: sets[2], Day: sets[3], Month: sets[4], Weekday: sets[5]}, nil
}

// parse reads one field: a comma list of *, N, N-M, each optionally /STEP
// (N/STEP runs from N to the field's maximum), with month and day names.
func (f cronField) parse(s string) (uint64, error) {
	var set uint64
	for _, item := range strings.Split(s, ",") {
		if item == "" {
			return 0, errors.New("empty list item")
		}
		rng, stepText, hasStep := strings.Cut(item, "/")
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepText)
			if err != nil || n <= 0 {
				return 0, fmt.Errorf("step %q is not a positive number", stepText)
			}
			step = n
		}
		lo, hi := f.min, f.max
		if rng != "*" {
			a, b, isRange := strings.Cut(rng, "-")
			var err error
			if lo, err = f.value(a); err != nil {
				return 0, err
			}
			switch {
			case isRange:
				if hi, err = f.value(b); err != nil {
					return 0, err
				}
				if hi < lo {
					return 0, fmt.Errorf("range %s is backwards", rng)
				}
			case !hasStep:
				hi = lo
			}
		}
		for v := lo; v <= hi; v += step {
			set |= 1 << uint(v)
		}
	}
	return set, nil
}

func (f cronField) value(s string) (int, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n < f.min || n > f.max {
			return 0, fmt.Errorf("%d is outside %d-%d", n, f.min, f.max)
		}
		return n, nil
	}
	l := strings.ToLower(s)
	for i, name := range f.names {
		if l == name || l == fullName(name) {
			return f.min + i, nil
		}
	}
	return 0, fmt.Errorf("%q is not a number", s)
}

// fullName spells a three-letter month or day name out, so "monday" and
// "january" are read like "mon" and "jan".
func fullName(short string) string {
	for _, n := range []string{"january", "february", "march", "april", "may", "june", "july", "august",
		"september", "october", "november", "december",
		"sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"} {
		if strings.HasPrefix(n, short) {
			return n
		}
	}
	return short
}

// parseTimeSpan reads the invariant-culture forms of .NET's
// TimeSpan.TryParse: [-]d, [-][d.]hh:mm[:ss[.fffffff]] and
// [-]d:hh:mm:ss[.fffffff]. Hours above 23 are refused: .NET reads
// "24:00:00" as 24 days, which is never what a schedule means.
func parseTimeSpan(s string) (time.Duration, bool) {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	num := func(x string, maxv int64) (int64, bool) {
		if x == "" || len(x) > 8 || strings.Trim(x, "0123456789") != "" {
			return 0, false
		}
		n, err := strconv.ParseInt(x, 10, 64)
		return n, err == nil && n <= maxv
	}
	const maxDays = 10675199
	var days, frac int64
	var fracOK = true
	if d, ok := num(s, maxDays); ok {
		days = d
		s = ""
	} else if dot, colon := strings.Index(s, "."), strings.Index(s, ":"); dot >= 0 && (colon < 0 || dot < colon) {
		if days, ok = num(s[:dot], maxDays); !ok {
			return 0, false
		}
		s = s[dot+1:]
	}
	var hms []int64
	if s != "" {
		if f := strings.LastIndex(s, "."); f >= 0 {
			digits := s[f+1:]
			if len(digits) > 7 {
				return 0, false
			}
			frac, fracOK = num(digits+strings.Repeat("0", 7-len(digits)), 9999999)
			s = s[:f]
		}
		parts := strings.Split(s, ":")
		if len(parts) == 4 && days == 0 {
			d, ok := num(parts[0], maxDays)
			if !ok {
				return 0, false
			}
			days, parts = d, parts[1:]
		}
		if len(parts) < 2 || len(parts) > 3 || (len(parts) == 2 && frac != 0) {
			return 0, false
		}
		limits := []int64{23, 59, 59}
		for i, p := range parts {
			if len(p) > 2 {
				return 0, false
			}
			n, ok := num(p, limits[i])
			if !ok {
				return 0, false
			}
			hms = append(hms, n)
		}
	}
	if !fracOK {
		return 0, false
	}
	for len(hms) < 3 {
		hms = append(hms, 0)
	}
	v := time.Duration(days)*24*time.Hour + time.Duration(hms[0])*time.Hour + time.Duration(hms[1])*time.Minute +
		time.Duration(hms[2])*time.Second + time.Duration(frac)*100 // ticks of 100 ns
	if neg {
		v = -v
	}
	return v, true
}

// ParseTimeSpan reads a .NET TimeSpan as host.json writes durations
// ("00:10:00", "1.00:00:00"); a bare number is days, as in .NET.
func ParseTimeSpan(s string) (time.Duration, error) {
	d, ok := parseTimeSpan(strings.TrimSpace(s))
	if !ok {
		return 0, fmt.Errorf("%q is not a TimeSpan ([d.]hh:mm[:ss[.fffffff]])", s)
	}
	return d, nil
}
