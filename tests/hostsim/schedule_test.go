package hostsim

import (
	"testing"
	"time"

	"github.com/hartonomous/offload/internal/config"
)

// The next run of every form the timer trigger takes (TimerSchedule.Create):
// 6-field and 5-field NCRONTAB, and a TimeSpan.
func TestNextRun(t *testing.T) {
	base := time.Date(2026, 3, 14, 10, 7, 30, 0, time.UTC) // a Saturday
	for _, c := range []struct {
		expr string
		next time.Time
	}{
		{"0 */10 * * * *", time.Date(2026, 3, 14, 10, 10, 0, 0, time.UTC)},
		{"*/10 * * * * *", time.Date(2026, 3, 14, 10, 7, 40, 0, time.UTC)},
		{"*/5 * * * *", time.Date(2026, 3, 14, 10, 10, 0, 0, time.UTC)},
		{"0 9 * * Mon-Fri", time.Date(2026, 3, 16, 9, 0, 0, 0, time.UTC)},
		{"30 0 3 1 JAN *", time.Date(2027, 1, 1, 3, 0, 30, 0, time.UTC)},
		{"0 0 12 * * sunday", time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC)},
		{"15,45 7 10 * * *", time.Date(2026, 3, 14, 10, 7, 45, 0, time.UTC)},
		{"0 0/20 * * * *", time.Date(2026, 3, 14, 10, 20, 0, 0, time.UTC)},
		{"00:10:00", base.Add(10 * time.Minute)},
		{"1.02:03:04", base.Add(26*time.Hour + 3*time.Minute + 4*time.Second)},
		{"00:00:02.5", base.Add(2500 * time.Millisecond)},
		{"2", base.Add(48 * time.Hour)},
	} {
		s, err := config.ParseSchedule(c.expr)
		if err != nil {
			t.Errorf("%q refused: %v", c.expr, err)
			continue
		}
		if got := nextRun(s, base); !got.Equal(c.next) {
			t.Errorf("%q: next after %s = %s, want %s", c.expr, base, got, c.next)
		}
	}
	if s, _ := config.ParseSchedule("0 0 0 30 2 *"); !nextRun(s, base).IsZero() {
		t.Errorf("30 February has no occurrence")
	}
}
