package hostproto

import (
	"encoding/json"
	"fmt"
	"time"
)

// TimerInfo is the value of a timer trigger binding (the host's TimerInfo).
type TimerInfo struct {
	// IsPastDue is true when this run stands in for a missed occurrence
	// (the app was down at the scheduled time).
	IsPastDue bool
	Schedule  Schedule
	// ScheduleStatus is nil unless the timer uses the schedule monitor
	// (useMonitor) and has a recorded occurrence.
	ScheduleStatus *ScheduleStatus
}

// Schedule is what the host tells of the timer's schedule.
type Schedule struct {
	AdjustForDST bool
}

// ScheduleStatus is the schedule monitor's record.
type ScheduleStatus struct {
	Last        time.Time
	Next        time.Time
	LastUpdated time.Time
}

// Timer reads a timer trigger binding. The host sends a JSON object:
//
//	"timer":{"Schedule":{"AdjustForDST":true},"ScheduleStatus":null,"IsPastDue":false}
//
// and the same object may arrive encoded as a JSON string
// ("timer":"{\"Schedule\":…}"); both are read. A missing or null binding, a
// value that is neither, and dates that do not parse wrap ErrMalformed.
func (inv Invocation) Timer(binding string) (TimerInfo, error) {
	raw, err := inv.binding(binding)
	if err != nil {
		return TimerInfo{}, err
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return TimerInfo{}, fmt.Errorf("hostproto: binding %q is not a valid JSON string: %v: %w", binding, err, ErrMalformed)
		}
		raw = json.RawMessage(s)
	}
	var w struct {
		IsPastDue bool
		Schedule  *struct {
			AdjustForDST bool
		}
		ScheduleStatus *struct {
			Last, Next, LastUpdated string
		}
	}
	if len(raw) == 0 || raw[0] != '{' {
		return TimerInfo{}, fmt.Errorf("hostproto: binding %q is %s, want a timer object: %w", binding, kind(raw), ErrMalformed)
	}
	if err := json.Unmarshal(raw, &w); err != nil {
		return TimerInfo{}, fmt.Errorf("hostproto: binding %q is not a timer object: %v: %w", binding, err, ErrMalformed)
	}
	t := TimerInfo{IsPastDue: w.IsPastDue}
	if w.Schedule != nil {
		t.Schedule.AdjustForDST = w.Schedule.AdjustForDST
	}
	if st := w.ScheduleStatus; st != nil {
		t.ScheduleStatus = &ScheduleStatus{}
		for _, f := range []struct {
			name string
			src  string
			dst  *time.Time
		}{
			{"Last", st.Last, &t.ScheduleStatus.Last},
			{"Next", st.Next, &t.ScheduleStatus.Next},
			{"LastUpdated", st.LastUpdated, &t.ScheduleStatus.LastUpdated},
		} {
			if *f.dst, err = parseHostTime(f.src); err != nil {
				return TimerInfo{}, fmt.Errorf("hostproto: binding %q ScheduleStatus.%s: %w", binding, f.name, err)
			}
		}
	}
	return t, nil
}
