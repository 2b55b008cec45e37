package hostproto_test

import (
	"errors"
	"testing"
	"time"

	"github.com/hartonomous/offload/internal/hostproto"
)

func TestTimer(t *testing.T) {
	utc := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct {
		name    string
		payload string
		binding string
		want    hostproto.TimerInfo
		wantErr bool
	}{
		{"host payload", timerPlain, "timer", hostproto.TimerInfo{Schedule: hostproto.Schedule{AdjustForDST: true}}, false},
		{"double-encoded with status", timerDoubleEncoded, "timer", hostproto.TimerInfo{
			IsPastDue: true,
			ScheduleStatus: &hostproto.ScheduleStatus{
				Last:        utc("2024-05-01T09:50:00Z"),
				Next:        utc("2024-05-01T10:00:00Z"),
				LastUpdated: utc("2024-05-01T09:50:00.0000001Z"),
			},
		}, false},
		{"past due, lower-case keys", `{"Data":{"timer":{"isPastDue":true}}}`, "timer", hostproto.TimerInfo{IsPastDue: true}, false},
		{"empty object", `{"Data":{"timer":{}}}`, "timer", hostproto.TimerInfo{}, false},

		{"missing binding", timerPlain, "myTimer", hostproto.TimerInfo{}, true},
		{"null", `{"Data":{"timer":null}}`, "timer", hostproto.TimerInfo{}, true},
		{"number", `{"Data":{"timer":5}}`, "timer", hostproto.TimerInfo{}, true},
		{"array", `{"Data":{"timer":[]}}`, "timer", hostproto.TimerInfo{}, true},
		{"string not JSON", `{"Data":{"timer":"every ten minutes"}}`, "timer", hostproto.TimerInfo{}, true},
		{"string holding an array", `{"Data":{"timer":"[1]"}}`, "timer", hostproto.TimerInfo{}, true},
		{"IsPastDue not a boolean", `{"Data":{"timer":{"IsPastDue":"yes"}}}`, "timer", hostproto.TimerInfo{}, true},
		{"bad status date", `{"Data":{"timer":{"ScheduleStatus":{"Last":"soon"}}}}`, "timer", hostproto.TimerInfo{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decode(t, tc.payload).Timer(tc.binding)
			if tc.wantErr {
				if !errors.Is(err, hostproto.ErrMalformed) {
					t.Fatalf("Timer = %+v, %v; want ErrMalformed", got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Timer: %v", err)
			}
			if got.IsPastDue != tc.want.IsPastDue || got.Schedule != tc.want.Schedule ||
				(got.ScheduleStatus == nil) != (tc.want.ScheduleStatus == nil) {
				t.Fatalf("Timer = %+v, want %+v", got, tc.want)
			}
			if w := tc.want.ScheduleStatus; w != nil {
				g := got.ScheduleStatus
				if !g.Last.Equal(w.Last) || !g.Next.Equal(w.Next) || !g.LastUpdated.Equal(w.LastUpdated) {
					t.Fatalf("ScheduleStatus = %+v, want %+v", *g, *w)
				}
			}
		})
	}
}
