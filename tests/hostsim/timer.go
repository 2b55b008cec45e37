package hostsim

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hartonomous/offload/internal/config"
)

// timerStatus is the schedule monitor's record of one timer (kept in
// memory: the host keeps it in storage).
type timerStatus struct {
	last, next time.Time
}

// startTimer schedules f (TimerListener) when Config.RunTimers, after a run
// at start when runOnStartup.
func (s *Sim) startTimer(f *Function) error {
	sched, err := config.ParseSchedule(f.Trigger.Schedule)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.timerLocks[f.Name] = &sync.Mutex{}
	s.timerState[f.Name] = &timerStatus{}
	s.mu.Unlock()
	if !s.cfg.RunTimers {
		return nil
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if f.Trigger.RunOnStartup {
			s.FireTimer(s.ctx, f.Name, false)
		}
		now := time.Now()
		for s.ctx.Err() == nil {
			next := nextRun(sched, now)
			if next.IsZero() {
				s.logf("timer %s: no next occurrence of %q", f.Name, f.Trigger.Schedule)
				return
			}
			select {
			case <-s.ctx.Done():
				return
			case <-time.After(time.Until(next)):
			}
			s.FireTimer(s.ctx, f.Name, false)
			now = next
			if sched.Cron == nil {
				now = time.Now() // ConstantSchedule counts from the run
			}
		}
	}()
	return nil
}

// FireTimer invokes the timer function fn once, as its schedule would (one
// run at a time per function), with IsPastDue as given.
func (s *Sim) FireTimer(ctx context.Context, fn string, pastDue bool) Invocation {
	s.mu.Lock()
	lock, st := s.timerLocks[fn], s.timerState[fn]
	f := s.fns[fn]
	s.mu.Unlock()
	if lock == nil || f == nil {
		inv := Invocation{Function: fn, Started: time.Now(), Err: errors.New("no such timer function indexed").Error()}
		return inv
	}
	lock.Lock()
	defer lock.Unlock()
	sched, _ := config.ParseSchedule(f.Trigger.Schedule)
	now := time.Now()
	timer := map[string]any{
		"Schedule":       map[string]any{"AdjustForDST": sched.Cron != nil},
		"ScheduleStatus": nil,
		"IsPastDue":      pastDue,
	}
	if f.Trigger.UseMonitor == nil || *f.Trigger.UseMonitor {
		if !st.last.IsZero() {
			timer["ScheduleStatus"] = map[string]any{
				"Last":        st.last.Format(time.RFC3339Nano),
				"Next":        st.next.Format(time.RFC3339Nano),
				"LastUpdated": now.Format(time.RFC3339Nano),
			}
		}
	}
	inv := s.invoke(ctx, fn, map[string]any{
		"Data":     map[string]any{f.Trigger.Name: timer},
		"Metadata": map[string]any{"sys": sysMetadata(fn, now)},
	})
	st.last, st.next = now, nextRun(sched, now)
	if inv.Succeeded() { // failures are logged where they happen
		s.logf("Executed 'Functions.%s' (Succeeded, Id=%s, Duration=%s)", fn, inv.ID, inv.Duration.Round(time.Millisecond))
	}
	return inv
}

// String helps a test message name an invocation.
func (i Invocation) String() string {
	return fmt.Sprintf("%s %s: status %d after %s, err %q", i.Function, i.ID, i.Status, i.Duration.Round(time.Millisecond), i.Err)
}
