package config

import (
	"strings"
	"testing"
	"time"
)

// Every form the timer trigger takes (TimerSchedule.Create): 6-field and
// 5-field NCRONTAB, and a TimeSpan; anything else is refused with a line
// that says what was expected. tests/hostsim runs the parsed schedules.
func TestParseScheduleForms(t *testing.T) {
	for _, c := range []struct {
		expr string
		want Schedule
	}{
		{"0 9 * * Mon-Fri", Schedule{Cron: &Cron{Second: 1, Minute: 1, Hour: 1 << 9, Day: 1<<32 - 2, Month: 1<<13 - 2, Weekday: 0b0111110}}},
		{"*/20 0/30 * * * sunday", Schedule{Cron: &Cron{Second: 1 | 1<<20 | 1<<40, Minute: 1 | 1<<30, Hour: 1<<24 - 1, Day: 1<<32 - 2, Month: 1<<13 - 2, Weekday: 1}}},
		{"15,45 7 10 1 JAN *", Schedule{Cron: &Cron{Second: 1<<15 | 1<<45, Minute: 1 << 7, Hour: 1 << 10, Day: 1 << 1, Month: 1 << 1, Weekday: 1<<7 - 1}}},
		{"00:10:00", Schedule{Period: 10 * time.Minute}},
		{"1.02:03:04", Schedule{Period: 26*time.Hour + 3*time.Minute + 4*time.Second}},
		{"00:00:02.5", Schedule{Period: 2500 * time.Millisecond}},
		{"2", Schedule{Period: 48 * time.Hour}},
	} {
		s, err := ParseSchedule(c.expr)
		if err != nil {
			t.Errorf("%q refused: %v", c.expr, err)
			continue
		}
		if s.Period != c.want.Period || (s.Cron == nil) != (c.want.Cron == nil) || (s.Cron != nil && *s.Cron != *c.want.Cron) {
			t.Errorf("%q = %+v %+v, want %+v %+v", c.expr, s, s.Cron, c.want, c.want.Cron)
		}
	}
	for _, bad := range []string{"", "every five minutes", "* * * *", "* * * * * * *", "61 * * * * *", "0 0 25 * * *",
		"*/0 * * * * *", "5-2 * * * * *", "0 0 0 * Foo *", "00:00:00", "-00:10:00", "24:00:00", "00:60:00"} {
		if _, err := ParseSchedule(bad); err == nil {
			t.Errorf("%q accepted", bad)
		} else if strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: error is not one line: %v", bad, err)
		}
	}
}

func TestSettingsFormsAccepted(t *testing.T) {
	for _, sched := range []string{"0 */10 * * * *", "*/5 * * * *", "00:10:00"} {
		c, err := Load(env(map[string]string{SettingSQL: "sqlite:x.db", SettingStorage: "UseDevelopmentStorage=true",
			SettingVerifySchedule: sched, SettingOutboxSchedule: sched, SettingSegmentQueue: "Segment-Migration"}))
		if err != nil {
			t.Fatalf("VERIFY_SCHEDULE/OUTBOX_SCHEDULE %q: %v", sched, err)
		}
		if c.SegmentQueue != "segment-migration" {
			t.Fatalf("queue name not lower-cased as the host does: %q", c.SegmentQueue)
		}
	}
}
