package hostsim

import (
	"time"

	"github.com/hartonomous/offload/internal/config"
)

// nextRun is the first occurrence of s strictly after t, in t's location
// (the host evaluates NCRONTAB in local time: WEBSITE_TIME_ZONE, UTC by
// default). A period schedule's next run is t + period. The zero time means
// none within five years (e.g. 30 February).
func nextRun(s config.Schedule, t time.Time) time.Time {
	if s.Cron == nil {
		if s.Period <= 0 {
			return time.Time{}
		}
		return t.Add(s.Period)
	}
	return cronNext(s.Cron, t)
}

// cronNext walks forward day by day (at most five years), then within a day
// by hour, minute and second. Day of month and day of week must both match,
// as in NCrontab (which, unlike Vixie cron, does not OR them).
func cronNext(c *config.Cron, t time.Time) time.Time {
	t = t.Truncate(time.Second).Add(time.Second)
	loc := t.Location()
	limit := t.AddDate(5, 0, 0)
	for day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc); day.Before(limit); day = day.AddDate(0, 0, 1) {
		if !has(c.Month, int(day.Month())) || !has(c.Day, day.Day()) || !has(c.Weekday, int(day.Weekday())) {
			continue
		}
		if at, ok := firstInDay(c, day, t); ok {
			return at
		}
	}
	return time.Time{}
}

// firstInDay is the first time of day that c allows, not before t.
func firstInDay(c *config.Cron, day, t time.Time) (time.Time, bool) {
	for h := 0; h < 24; h++ {
		if !has(c.Hour, h) {
			continue
		}
		for m := 0; m < 60; m++ {
			if !has(c.Minute, m) {
				continue
			}
			for s := 0; s < 60; s++ {
				if !has(c.Second, s) {
					continue
				}
				at := time.Date(day.Year(), day.Month(), day.Day(), h, m, s, 0, day.Location())
				if !at.Before(t) {
					return at, true
				}
			}
		}
	}
	return time.Time{}, false
}

func has(set uint64, v int) bool { return set&(1<<uint(v)) != 0 }
